//! Live topology of a disaggregated job on the real test cluster (issue #12 item 7): the batch
//! script's role monitor prints `PERF_RUN_ROLES` / `PERF_RUN_ROLE_STALLED` lines into the job
//! log, and perf-run shows them from the log stream it already follows. The stub's GEN_0 starts
//! slowly (PERF_RUN_STUB_STARTUP_S), so the ctx worker is up well before the gen worker and
//! the gen worker is reported as stalled, by name, with its last log line.
//! Without a terminal: one line per change, in order. In a real terminal (tmux): the states in
//! the job's progress row.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{only_run, perf_run, repo, services, stub};

const TINY_DISAGG: &str = "gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX";
/// GEN_0's silent start (s) and the stall time (s): the stall is reported well before GEN_0 is up.
const STARTUP_S: &str = "14";
const STALL_S: &str = "4";
/// The stub's benchmark is over in a moment; this keeps it running for a few looks.
const BENCH_SLEEP: &str = "PERF_RUN_STUB_SLEEP_S=5";
const LOADING: &str = "[stub trtllm-serve GEN_0] loading the model weights (PERF_RUN_STUB_STARTUP_S=14: ready in 14 s)";

/// The run's only case directory's collected files.
fn artifacts(run: &Path) -> PathBuf {
    let cases = run.join("cases");
    let case = std::fs::read_dir(&cases)
        .unwrap()
        .flatten()
        .next()
        .expect("one case")
        .path();
    case.join("artifacts")
}

fn position(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the output:\n{text}"))
}

/// Without a terminal (Jenkins): one plain line per change of the role states, in the order the
/// job went through them, and the stalled gen worker by name with its last log line.
#[test]
fn without_a_terminal_every_change_is_one_line_in_order() {
    if services("topology_lines").is_none() {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let out = perf_run()
        .env_remove("CLUSTER_USER")
        .env("PERF_RUN_HOME", home.path())
        .env("PERF_RUN_STALL_S", STALL_S)
        .env("PERF_RUN_TIMESTAMPS", "0")
        .args(["run", "--cluster", "local-test", "--trtllm-dir"])
        .arg(stub())
        .args(["--config", TINY_DISAGG])
        .args(["--env", &format!("PERF_RUN_STUB_STARTUP_S={STARTUP_S}")])
        .args(["--env", BENCH_SLEEP])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");

    let roles: Vec<&str> = err.lines().filter(|l| l.contains(" roles: ")).collect();
    // One line per change: no two consecutive role lines say the same.
    for w in roles.windows(2) {
        assert_ne!(
            w[0].split(" roles: ").nth(1),
            w[1].split(" roles: ").nth(1),
            "a repeated line:\n{err}"
        );
    }
    let ctx_first = position(
        &err,
        "roles: ctx 1/1 up, gen 0/1 up, router waiting, benchmark waiting",
    );
    let gen_up = position(&err, "roles: ctx 1/1 up, gen 1/1 up");
    let running = position(&err, "router ready, benchmark running");
    assert!(
        ctx_first < gen_up && gen_up < running,
        "out of order:\n{err}"
    );
    let stall = position(&err, "GEN_0 has made no progress for ");
    assert!(
        stall > ctx_first && stall < gen_up,
        "stall reported while GEN_0 starts:\n{err}"
    );
    let stall_line = err[stall..].lines().next().unwrap();
    assert!(
        stall_line.ends_with(&format!("its last log line: {LOADING}")),
        "{stall_line}"
    );
    // Reported once the stall time has passed (the monitor looks every 2 s), not before.
    let secs: u64 = stall_line["GEN_0 has made no progress for ".len()..]
        .split('s')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no seconds in {stall_line}"));
    let stall_s: u64 = STALL_S.parse().unwrap();
    assert!((stall_s..stall_s + 4).contains(&secs), "{stall_line}");
    assert_eq!(
        err.matches("GEN_0 has made no progress").count(),
        1,
        "reported once per stall:\n{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning: [00] disagg_upload-e2e-")
                && l.contains("GEN_0 has made no progress")),
        "the stall names the case and is a warning:\n{err}"
    );

    // The job's own record: the monitor's lines come before the exit line, and its heartbeat
    // files hold each role's last state and log line.
    let run = only_run(home.path());
    let art = artifacts(&run);
    let log = std::fs::read_dir(&art)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("slurm-")
        })
        .map(|p| std::fs::read_to_string(p).unwrap())
        .expect("the batch log was collected");
    let last_roles = log
        .rfind("PERF_RUN_ROLES ")
        .expect("role lines in the batch log");
    let exit = log.find("PERF_RUN_EXIT code=0").expect("the exit line");
    assert!(
        last_roles < exit,
        "a monitor line after the exit line:\n{log}"
    );
    assert_eq!(log.matches("PERF_RUN_EXIT").count(), 1, "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("PERF_RUN_ROLE_STALLED GEN_0 ")
                && l.ends_with(&format!("s: {LOADING}"))),
        "{log}"
    );
    let hb = std::fs::read_to_string(art.join("heartbeat/GEN_0")).expect("heartbeat/GEN_0");
    assert!(hb.contains("state=up\n"), "{hb}");
    assert!(hb.contains("last_line="), "{hb}");
    let hb = std::fs::read_to_string(art.join("heartbeat/BENCHMARK")).unwrap();
    assert!(
        hb.contains("state=running\n") || hb.contains("state=done\n"),
        "{hb}"
    );
}

/// A tmux server of its own (its socket in the test's temporary directory), killed when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).args(["-f", "/dev/null"]);
        c
    }

    fn pane(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-t", "topo"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// The whole pane history.
    fn history(&self) -> String {
        let o = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "topo"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// In a real terminal: the role states are drawn in the job's progress row while it starts
/// (`--stall-after`, the flag for PERF_RUN_STALL_S).
#[test]
fn in_a_terminal_the_progress_row_shows_the_role_states() {
    if services("topology_tmux").is_none() {
        return;
    }
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!(
            "tmux is not installed (apt-get install -y tmux); this test draws in a real terminal"
        );
    }
    let home = tempfile::tempdir().unwrap();
    let done = home.path().join("exit-code");
    let script = home.path().join("run.sh");
    let bin = assert_cmd::cargo::cargo_bin("perf-run");
    std::fs::write(
        &script,
        format!(
            "cd '{}' && unset CLUSTER_USER && PERF_RUN_HOME='{}' '{}' run --cluster local-test --trtllm-dir '{}' --config {TINY_DISAGG} --env PERF_RUN_STUB_STARTUP_S={STARTUP_S} --env {BENCH_SLEEP} --stall-after {STALL_S}; echo $? > '{}.tmp' && mv '{}.tmp' '{}'; sleep 600\n",
            repo().display(),
            home.path().display(),
            bin.display(),
            stub().display(),
            done.display(),
            done.display(),
            done.display(),
        ),
    )
    .unwrap();
    let tmux = Tmux {
        socket: home.path().join("tmux.sock"),
    };
    let mut start = tmux.cmd();
    start.args([
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "50",
        "-s",
        "topo",
        "bash",
    ]);
    start.arg(&script);
    // The session gets this environment: the same clean one as every other cluster test.
    for (k, _) in std::env::vars() {
        if k.starts_with("CLUSTER_")
            || k.starts_with("PERF_RUN_")
            || k.starts_with("PERF_TEST_")
            || k.starts_with("DB_")
            || k.starts_with("TRTLLM_")
            || [
                "DOCKER_IMAGE",
                "MPI_TYPE",
                "EXTRA_SRUN_PARAMS",
                "USE_TRT_PERF_DB",
            ]
            .contains(&k.as_str())
        {
            start.env_remove(k);
        }
    }
    start.env("TERM", "xterm-256color");
    assert!(start.status().unwrap().success(), "tmux new-session failed");

    let end = Instant::now() + Duration::from_secs(240);
    let (mut saw_waiting, mut saw_up) = (None, None);
    while !done.exists() && Instant::now() < end {
        let pane = tmux.pane();
        for line in pane.lines() {
            if saw_waiting.is_none()
                && line.contains("disagg_upload-e2e-")
                && line.contains("[ctx 1/1 up, gen 0/1 up, router waiting, benchmark waiting]")
            {
                saw_waiting = Some(line.to_string());
            }
            if saw_up.is_none()
                && line.contains("disagg_upload-e2e-")
                && line.contains("gen 1/1 up")
            {
                saw_up = Some(line.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let history = tmux.history();
    let code = std::fs::read_to_string(&done).unwrap_or_default();
    assert_eq!(
        code.trim(),
        "0",
        "perf-run did not finish with 0; the pane:\n{history}"
    );
    let row = saw_waiting.unwrap_or_else(|| {
        panic!("no progress row with ctx up and gen starting; the pane:\n{history}")
    });
    eprintln!("the progress row while GEN_0 starts:\n{row}");
    assert!(
        row.contains("RUNNING"),
        "the row shows the job state too: {row}"
    );
    assert!(
        saw_up.is_some(),
        "no progress row with the gen worker up; the pane:\n{history}"
    );
    assert!(
        history.contains("GEN_0 has made no progress for "),
        "the stall warning stays on screen above the rows:\n{history}"
    );
    // A terminal gets no plain per-change lines: the states live in the row.
    assert!(
        !history.contains(" roles: "),
        "plain role lines on a terminal:\n{history}"
    );
}
