//! The generated batch script's way out, run by bash on this machine with stand-ins for
//! `srun` and `scontrol` (no cluster needed): what Slurm does at a time limit or `scancel`
//! is a SIGTERM to the script and its steps, then, KillWait seconds later, a SIGKILL to
//! whatever is left. The exit marker must exist by then, even when a step ignores SIGTERM.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_exe(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < end, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_exit_marker_is_written_before_slurm_kills_the_script() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let wd = t.path().join("wd");
    let st = Command::new(assert_cmd::cargo::cargo_bin("perf-run"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PERF_RUN_HOME", t.path().join("runs"))
        .args(["render", "--cluster", "local-test", "--workdir"])
        .arg(&wd)
        .args(["--trtllm-dir", "tests/stub-trtllm"])
        .args(["--config", "tiny_llama_fp8_grace_blackwell"])
        .args(["--server", "tiny_llama_fp8_tp1", "--output-dir"])
        .arg(&out)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "render failed");

    // A step that shrugs off SIGTERM (a worker stuck in a CUDA call, an srun waiting for its
    // tasks): only SIGKILL ends it.
    let bin = t.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let started = t.path().join("step-started");
    write_exe(
        &bin.join("srun"),
        &format!(
            "#!/bin/bash\ntrap '' TERM\ntouch '{}'\nfor _ in $(seq 1 600); do sleep 0.1; done\n",
            started.display()
        ),
    );
    write_exe(&bin.join("scontrol"), "#!/bin/bash\necho n1\n");

    let child = Command::new("setsid")
        .arg("bash")
        .arg(out.join("slurm_launch.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("SLURM_JOB_ID", "4242")
        .env("SLURM_JOB_NODELIST", "n1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the step to start", Duration::from_secs(20), || {
        started.exists()
    });
    let pid = child.id() as i32;
    // SAFETY: signals to the process group of a child we spawned (setsid made it a leader).
    unsafe { libc::kill(-pid, libc::SIGTERM) };
    // KillWait: 2 s here (5 s on the test cluster, 30 s by default).
    std::thread::sleep(Duration::from_secs(2));
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout);

    let marker = fs::read_dir(wd.join("runs"))
        .unwrap()
        .flatten()
        .flat_map(|run| fs::read_dir(run.path()).unwrap().flatten())
        .map(|case| case.path().join("perf_run_exit"))
        .next()
        .expect("a job workspace");
    let text = fs::read_to_string(&marker).unwrap_or_else(|_| {
        panic!(
            "no exit marker {} after SIGTERM + KillWait; the script printed:\n{log}",
            marker.display()
        )
    });
    assert_eq!(text.split_whitespace().next(), Some("143"), "{text}");
    assert!(log.contains("PERF_RUN_EXIT code=143 job=4242"), "{log}");
}

/// Render one mode into `out` (jobs write under `wd`) and return the script's path.
fn render_mode(t: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> std::path::PathBuf {
    let out = t.join(name).join("out");
    let wd = t.join(name).join("wd");
    let st = Command::new(assert_cmd::cargo::cargo_bin("perf-run"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PERF_RUN_HOME", t.join(name).join("runs"))
        .envs(env.iter().copied())
        .args(["render", "--cluster", "local-test", "--workdir"])
        .arg(&wd)
        .args(["--trtllm-dir", "tests/stub-trtllm", "--output-dir"])
        .arg(&out)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "render {name} failed");
    out.join("slurm_launch.sh")
}

/// A step as the fake `srun` plays it: seconds until it ends, and its exit code.
#[derive(Clone, Copy, Debug)]
struct Step {
    delay: f64,
    rc: i32,
}

/// A small deterministic generator, so a failing seed can be replayed.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// The exit codes the script may legitimately end with for these steps (no signal).
fn expected_codes(roles: &[(String, Step)]) -> Vec<i32> {
    let get = |n: &str| roles.iter().find(|(r, _)| r == n).map(|(_, s)| *s);
    if roles
        .iter()
        .any(|(r, s)| r.contains("_PRECHECK_") && s.rc != 0)
    {
        return vec![1];
    }
    let Some(bench) = get("BENCHMARK") else {
        // Aggregated: one step, whose code is the job's.
        return roles
            .iter()
            .filter(|(r, _)| !r.contains("PRECHECK"))
            .map(|(_, s)| s.rc)
            .collect();
    };
    let first_fail = roles
        .iter()
        .filter(|(r, s)| r != "BENCHMARK" && !r.contains("_PRECHECK_") && s.rc != 0)
        .map(|(_, s)| s.delay)
        .fold(f64::INFINITY, f64::min);
    if first_fail.is_infinite() {
        vec![bench.rc]
    } else if first_fail + 1.0 < bench.delay {
        vec![1]
    } else if bench.delay + 1.0 < first_fail {
        vec![bench.rc]
    } else {
        vec![1, bench.rc]
    }
}

/// The stand-in `srun`: FAKE_STEPS="NAME=delay:rc …"; a step not named ends at once with 0.
/// It touches $FAKE_STARTED when it starts (the script has set its traps by then).
const FAKE_SRUN: &str = r#"#!/bin/bash
name=""
[[ -n ${FAKE_STARTED:-} ]] && touch "$FAKE_STARTED"
for a in "$@"; do case $a in --job-name=*) name=${a#--job-name=};; esac; done
d=0; rc=0
for s in ${FAKE_STEPS:-}; do [[ ${s%%=*} == "$name" ]] && { v=${s#*=}; d=${v%%:*}; rc=${v##*:}; }; done
[[ $d == 0 ]] && exit "$rc"
trap 'kill $p 2>/dev/null; exit 143' TERM
sleep "$d" & p=$!
wait $p
exit "$rc"
"#;

/// A `bin/` under `dir` with the fake `srun` (FAKE_STEPS="NAME=delay:rc …"; a step not named
/// ends at once with 0), a `scontrol` that knows two nodes and an `nvidia-smi` that fails.
fn fake_bin(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    fs::create_dir(&bin).unwrap();
    write_exe(&bin.join("srun"), FAKE_SRUN);
    write_exe(&bin.join("scontrol"), "#!/bin/bash\necho n1; echo n2\n");
    write_exe(&bin.join("nvidia-smi"), "#!/bin/bash\nexit 1\n");
    bin
}

/// The srun roles of a rendered script, in launch order (not the preparatory steps).
fn step_roles(text: &str) -> Vec<String> {
    let mut roles: Vec<String> = text
        .split("--job-name=")
        .skip(1)
        .map(|r| r.split(' ').next().unwrap().to_string())
        .filter(|r| {
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && r != "SYSINFO"
                && r != "INSTALL"
        })
        .collect();
    roles.dedup();
    roles
}

/// What is wrong with a script's end: not exactly one PERF_RUN_EXIT line with the code it
/// exited with, a marker file that says otherwise, or a code outside `ok`.
fn wrong_end(code: i32, log: &str, marker: &str, ok: &[i32]) -> Vec<String> {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("PERF_RUN_EXIT"))
        .collect();
    let mut wrong = Vec::new();
    if lines.len() != 1 || !lines[0].starts_with(&format!("PERF_RUN_EXIT code={code} ")) {
        wrong.push(format!("exit {code} but printed {lines:?}"));
    }
    if marker.split_whitespace().next() != Some(code.to_string().as_str()) {
        wrong.push(format!("exit {code} but the marker file says {marker:?}"));
    }
    if !ok.contains(&code) {
        wrong.push(format!("exit {code}, expected one of {ok:?}"));
    }
    wrong
}

/// The issue-10 stress test: the rendered script of every mode under a fake `srun` whose
/// steps end in every order, fail or not, sometimes with a SIGTERM on top. The script must
/// print exactly one `PERF_RUN_EXIT`, with the code it really exits with, and the marker file
/// must hold that code too.
#[test]
fn the_exit_marker_never_lies_whatever_order_the_steps_fail_in() {
    let t = tempfile::tempdir().unwrap();
    let disagg = "gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX";
    let modes: Vec<(&str, std::path::PathBuf, usize)> = vec![
        (
            "single-agg",
            render_mode(
                t.path(),
                "single-agg",
                &["--config", "tiny_llama_fp8_grace_blackwell"],
                &[],
            ),
            10,
        ),
        (
            "multi-agg",
            render_mode(
                t.path(),
                "multi-agg",
                &["--config", "deepseek_r1_fp4_v2_2_nodes_grace_blackwell"],
                &[],
            ),
            8,
        ),
        (
            "disagg",
            render_mode(t.path(), "disagg", &["--config", disagg], &[]),
            24,
        ),
        (
            "gen_only",
            render_mode(
                t.path(),
                "gen_only",
                &["--config", disagg, "--benchmark-mode", "gen_only"],
                &[],
            ),
            14,
        ),
        (
            "precheck",
            render_mode(
                t.path(),
                "precheck",
                &["--config", disagg],
                &[("TRTLLM_DISAGG_CT_PRECHECK", "1")],
            ),
            14,
        ),
    ];

    let bin = fake_bin(t.path());

    let failures = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for (mi, (mode, script, runs)) in modes.iter().enumerate() {
            let (bin, failures) = (&bin, &failures);
            s.spawn(move || {
                let text = fs::read_to_string(script).unwrap();
                let roles = step_roles(&text);
                let mut rng = Lcg(0x5eed + mi as u64);
                for run in 0..*runs {
                    let steps: Vec<(String, Step)> = roles
                        .iter()
                        .map(|r| {
                            let delay = [0.0, 0.0, 0.05, 1.5][rng.next(4)];
                            let rc = [0, 0, 1, 3][rng.next(4)];
                            (r.clone(), Step { delay, rc })
                        })
                        .collect();
                    let spec: Vec<String> = steps
                        .iter()
                        .map(|(r, s)| format!("{r}={}:{}", s.delay, s.rc))
                        .collect();
                    let spec = spec.join(" ");
                    // A stop request while the job runs (Slurm's time limit, scancel): after the
                    // first srun (the script has set its traps by then; a SIGTERM before that
                    // kills it outright, as Slurm's would a script that never started), plus
                    // 0–0.8 s, in runs where a step lasts 1.5 s, so it lands while steps run.
                    // A signal racing the script's own normal exit: the test after `run_once`.
                    let long = steps.iter().any(|(_, s)| s.delay >= 1.5);
                    let pick = rng.next(4);
                    let term_after = (long && pick == 0).then(|| rng.next(9) as u64 * 100);
                    let job = format!("{}", 1000 * (mi + 1) + run);

                    let signals: Vec<(i32, u64)> = term_after
                        .map(|ms| vec![(libc::SIGTERM, ms)])
                        .unwrap_or_default();
                    let (code, log, marker, _) = run_once(script, bin, &spec, &job, &signals);
                    let mut ok = expected_codes(&steps);
                    if term_after.is_some() {
                        ok.push(143);
                    }
                    let wrong = wrong_end(code, &log, &marker, &ok);
                    if !wrong.is_empty() {
                        failures.lock().unwrap().push(format!(
                            "{mode} run {run} FAKE_STEPS='{spec}' term={term_after:?}: {}",
                            wrong.join("; ")
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The role monitor of a disaggregated job (live topology), under a fake `srun` whose roles
/// publish upstream's coordination files: the script prints one `PERF_RUN_ROLES` line per
/// change (ctx up before the slow gen worker), names the silent gen worker with its last log
/// line once the stall time has passed, writes heartbeat files, and prints nothing of the
/// monitor after its `PERF_RUN_EXIT` line.
#[test]
fn the_role_monitor_reports_each_change_once_and_ends_before_the_exit_line() {
    let t = tempfile::tempdir().unwrap();
    let disagg = "gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX";
    let script = render_mode(
        t.path(),
        "disagg",
        &["--config", disagg],
        &[("PERF_RUN_STALL_S", "2")],
    );
    let text = fs::read_to_string(&script).unwrap();
    assert!(
        text.contains("perf_run_stall_s=2\n"),
        "the stall time is rendered"
    );
    let bin = t.path().join("bin");
    fs::create_dir(&bin).unwrap();
    // Each role writes its srun output file itself and plays upstream's coordination files.
    write_exe(
        &bin.join("srun"),
        r#"#!/bin/bash
name=""; out=/dev/null
for a in "$@"; do case $a in --job-name=*) name=${a#--job-name=};; --output=*) out=${a#--output=};; esac; done
if [[ $name == BENCHMARK ]]; then
  # No --output: its lines go to the batch log. It waits for the router's address.
  until addr=$(compgen -G "$jobWorkspace/*/hostnames-$SLURM_JOB_ID-0/DISAGG_SERVER.0.addr"); do sleep 0.1; done
  echo "benchmarking"; sleep 2.5; echo Done > "${addr%/hostnames-*}/benchmark_status.0.txt"; exit 0
fi
[[ $out == /dev/null ]] && exit 0
dir=$(dirname "$out"); hn=$dir/hostnames-$SLURM_JOB_ID-0; mkdir -p "$hn"
status=$dir/benchmark_status.0.txt
wait_status() { for _ in $(seq 1 300); do [[ -e $status ]] && exit 0; sleep 0.1; done; exit 1; }
case $name in
  CTX_0) echo "ctx: starting" >> "$out"; sleep 0.3; touch "$hn/CTX_0.txt"; wait_status ;;
  GEN_0) echo "gen: loading the model weights" >> "$out"; sleep 6; echo "gen: up" >> "$out"; touch "$hn/GEN_0.txt"; wait_status ;;
  DISAGG_SERVER) until [[ -e $hn/CTX_0.txt && -e $hn/GEN_0.txt ]]; do sleep 0.1; done; sleep 0.5; touch "$hn/DISAGG_SERVER.0.addr"; wait_status ;;
esac
exit 0
"#,
    );
    write_exe(&bin.join("scontrol"), "#!/bin/bash\necho n1; echo n2\n");
    write_exe(&bin.join("nvidia-smi"), "#!/bin/bash\nexit 1\n");
    let out = Command::new("setsid")
        .arg("bash")
        .arg(&script)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("SLURM_JOB_ID", "77")
        .env("SLURM_JOB_NODELIST", "n[1-2]")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    let exit = lines
        .iter()
        .position(|l| l.starts_with("PERF_RUN_EXIT code=0 "))
        .unwrap_or_else(|| panic!("no exit line:\n{log}"));
    assert!(
        !lines[exit..].iter().any(|l| l.starts_with("PERF_RUN_ROLE")),
        "a monitor line after the exit line:\n{log}"
    );
    let roles: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("PERF_RUN_ROLES "))
        .copied()
        .collect();
    for w in roles.windows(2) {
        assert_ne!(w[0], w[1], "a line without a change:\n{log}");
    }
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| *l == needle)
            .unwrap_or_else(|| panic!("no line `{needle}`:\n{log}"))
    };
    let ctx_up = at("PERF_RUN_ROLES ctx=1/1 gen=0/1 router=waiting benchmark=waiting");
    let running = at("PERF_RUN_ROLES ctx=1/1 gen=1/1 router=ready benchmark=running");
    let stall = lines
        .iter()
        .position(|l| l.starts_with("PERF_RUN_ROLE_STALLED "))
        .unwrap_or_else(|| panic!("no stall line:\n{log}"));
    assert!(ctx_up < stall && stall < running, "{log}");
    let s = lines[stall];
    assert!(
        s.starts_with("PERF_RUN_ROLE_STALLED GEN_0 ")
            && s.ends_with("s: gen: loading the model weights"),
        "{s}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("PERF_RUN_ROLE_STALLED"))
            .count(),
        1,
        "one stall, reported once; the ctx worker and the waiting roles are not reported:\n{log}"
    );
    // The heartbeat files (in the job workspace: <wd>/runs/<run>/<case>/heartbeat/).
    let ws = fs::read_dir(t.path().join("disagg/wd/runs"))
        .unwrap()
        .flatten()
        .next()
        .and_then(|r| fs::read_dir(r.path()).ok()?.flatten().next())
        .unwrap()
        .path();
    let hb = fs::read_to_string(ws.join("heartbeat/GEN_0")).unwrap();
    assert!(hb.starts_with("state=up\n"), "{hb}");
    assert!(hb.contains("last_line=gen: up\n"), "{hb}");
    let hb = fs::read_to_string(ws.join("heartbeat/DISAGG_SERVER")).unwrap();
    assert!(hb.starts_with("state=ready\n"), "{hb}");
}

/// One run of a rendered script under the fake `srun`: its exit code, its log (stdout) and
/// its marker file. `signals` are sent after the first `srun` started, each after its delay
/// from the previous one: SIGTERM to the process group (Slurm's time limit, scancel), SIGUSR1
/// to the batch shell alone (Slurm's `--signal=B:USR1@N` warning).
fn run_once(
    script: &Path,
    bin: &Path,
    spec: &str,
    job: &str,
    signals: &[(i32, u64)],
) -> (i32, String, String, bool) {
    let wd = script.parent().unwrap().parent().unwrap().join("wd");
    let _ = fs::remove_dir_all(&wd);
    let started = script.parent().unwrap().join(format!("started-{job}"));
    let _ = fs::remove_file(&started);
    let mut child = Command::new("setsid")
        .arg("bash")
        .arg(script)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("FAKE_STARTED", &started)
        .env("FAKE_STEPS", spec)
        .env("SLURM_JOB_ID", job)
        .env("SLURM_JOB_NODELIST", "n[1-2]")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        use std::io::Read;
        out.read_to_string(&mut log).unwrap();
        log
    });
    if !signals.is_empty() {
        let until = Instant::now() + Duration::from_secs(60);
        while !started.exists() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        for &(sig, after_ms) in signals {
            std::thread::sleep(Duration::from_millis(after_ms));
            let target = if sig == libc::SIGTERM { -pid } else { pid };
            // SAFETY: a process (group) of a child we spawned (setsid).
            unsafe { libc::kill(target, sig) };
        }
    }
    let end = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > end {
            // SAFETY: as above.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = reader.join().unwrap();
    let case_dir = fs::read_dir(wd.join("runs"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|r| fs::read_dir(r.unwrap().path()).ok()?.next())
        .map(|c| c.unwrap().path());
    let marker = case_dir
        .as_ref()
        .and_then(|c| fs::read_to_string(c.join("perf_run_exit")).ok())
        .unwrap_or_default();
    let warned = case_dir.is_some_and(|c| c.join("time_limit_warning").is_file());
    (status.code().unwrap_or(-1), log, marker, warned)
}

/// Signals racing the script's own way out, and Slurm's time-limit warning on top of every
/// `wait`: a SIGTERM 0–40 ms after the first step started, while steps that end at once (or
/// fail at once) take the script to its EXIT trap, must still leave exactly one PERF_RUN_EXIT
/// and a marker with the real exit code (143 when the stop won). Three USR1 warnings while
/// steps run must change nothing but one warning line and its file: no `wait` may report the
/// interrupted 138 as a step's code.
#[test]
fn the_exit_marker_never_lies_when_a_stop_races_the_end_or_slurm_warns() {
    let t = tempfile::tempdir().unwrap();
    let disagg = "gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX";
    let modes = [
        (
            "single-agg",
            render_mode(
                t.path(),
                "single-agg",
                &["--config", "tiny_llama_fp8_grace_blackwell"],
                &[],
            ),
        ),
        (
            "disagg",
            render_mode(t.path(), "disagg", &["--config", disagg], &[]),
        ),
    ];
    let text = fs::read_to_string(&modes[0].1).unwrap();
    assert!(
        text.contains("#SBATCH --signal=B:USR1@"),
        "the job asks for Slurm's time-limit warning"
    );
    let bin = fake_bin(t.path());

    let failures = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for (mi, (mode, script)) in modes.iter().enumerate() {
            let (bin, failures) = (&bin, &failures);
            s.spawn(move || {
                let text = fs::read_to_string(script).unwrap();
                let roles = step_roles(&text);
                let mut rng = Lcg(0xface + mi as u64);
                for run in 0..16 {
                    let warn = run % 2 == 1;
                    let steps: Vec<(String, Step)> = roles
                        .iter()
                        .map(|r| {
                            let delay = if warn { [0.0, 0.3, 0.6][rng.next(3)] } else { 0.0 };
                            let rc = [0, 0, 1, 3][rng.next(4)];
                            (r.clone(), Step { delay, rc })
                        })
                        .collect();
                    let spec: Vec<String> = steps
                        .iter()
                        .map(|(r, s)| format!("{r}={}:{}", s.delay, s.rc))
                        .collect();
                    let spec = spec.join(" ");
                    let signals: Vec<(i32, u64)> = if warn {
                        vec![(libc::SIGUSR1, 0), (libc::SIGUSR1, 150), (libc::SIGUSR1, 200)]
                    } else {
                        vec![(libc::SIGTERM, rng.next(41) as u64)]
                    };
                    let job = format!("{}", 5000 + 100 * mi + run);
                    let (code, log, marker, warned) = run_once(script, bin, &spec, &job, &signals);
                    let warnings = log
                        .lines()
                        .filter(|l| l.starts_with("PERF_RUN_TIME_LIMIT_WARNING"))
                        .count();
                    let mut ok = expected_codes(&steps);
                    if !warn {
                        ok.push(143);
                    }
                    let mut wrong = wrong_end(code, &log, &marker, &ok);
                    if warn && (warnings != 1 || !warned) {
                        wrong.push(format!(
                            "{warnings} warning line(s), warning file {warned}; expected one of each"
                        ));
                    }
                    if !wrong.is_empty() {
                        failures.lock().unwrap().push(format!(
                            "{mode} run {run} FAKE_STEPS='{spec}' signals={signals:?}: {}",
                            wrong.join("; ")
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Slurm's warning that lands just as a step ends: bash 5.2 loses the status of a job it reaps
/// while a trapped signal interrupts `wait` (it reports -1, or 138 for the interrupted wait), so
/// the batch script takes each step's exit code from its launcher's record (step_exit/<ROLE>).
/// The warning is swept across the step's end; every run must end with the step's own code.
#[test]
fn a_warning_as_a_step_ends_keeps_the_steps_exit_code() {
    let t = tempfile::tempdir().unwrap();
    let script = render_mode(
        t.path(),
        "single-agg",
        &["--config", "tiny_llama_fp8_grace_blackwell"],
        &[],
    );
    let bin = fake_bin(t.path());
    let mut wrong = Vec::new();
    for run in 0..24u64 {
        // The step sleeps 60 ms and exits 3; the warning comes 5..74 ms after the first srun
        // started (the script may be gone by then: no warning is then right too).
        let after = 5 + run * 3;
        let (code, log, marker, warned) = run_once(
            &script,
            &bin,
            "AGGR=0.06:3",
            &format!("{}", 7000 + run),
            &[(libc::SIGUSR1, after)],
        );
        let mut w = wrong_end(code, &log, &marker, &[3]);
        if log.contains("PERF_RUN_TIME_LIMIT_WARNING") != warned {
            w.push("the warning line and the warning file disagree".into());
        }
        if !w.is_empty() {
            wrong.push(format!(
                "warning {after} ms after the start: {}",
                w.join("; ")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A requeued job's new attempt does not inherit the earlier attempt's time-limit warning:
/// the file is removed with the old marker, and a warning of this attempt is reported again.
#[test]
fn a_new_attempt_starts_without_the_last_attempts_time_limit_warning() {
    let t = tempfile::tempdir().unwrap();
    let script = render_mode(
        t.path(),
        "single-agg",
        &["--config", "tiny_llama_fp8_grace_blackwell"],
        &[],
    );
    let text = fs::read_to_string(&script).unwrap();
    let ws = text
        .lines()
        .find_map(|l| l.strip_prefix("export jobWorkspace="))
        .unwrap()
        .trim_matches('\'')
        .to_string();
    let bin = fake_bin(t.path());
    for (attempt, warn) in [("1", false), ("2", true)] {
        fs::create_dir_all(&ws).unwrap();
        fs::write(
            Path::new(&ws).join("time_limit_warning"),
            "from the last attempt\n",
        )
        .unwrap();
        fs::write(Path::new(&ws).join("perf_run_exit"), "143 1 0\n").unwrap();
        let started = t.path().join(format!("started-{attempt}"));
        let mut child = Command::new("setsid")
            .arg("bash")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .env("FAKE_STARTED", &started)
            .env("FAKE_STEPS", "AGGR=0.5:0")
            .env("SLURM_JOB_ID", "77")
            .env("SLURM_JOB_NODELIST", "n[1-2]")
            .env("SLURM_RESTART_COUNT", attempt)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if warn {
            wait_for("the first step", Duration::from_secs(30), || {
                started.exists()
            });
            // SAFETY: the batch shell we spawned.
            unsafe { libc::kill(child.id() as i32, libc::SIGUSR1) };
        }
        let mut log = String::new();
        use std::io::Read;
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(child.wait().unwrap().success(), "{log}");
        let marker = fs::read_to_string(Path::new(&ws).join("perf_run_exit")).unwrap();
        assert_eq!(marker.split_whitespace().nth(2), Some(attempt), "{marker}");
        let file = Path::new(&ws).join("time_limit_warning");
        let lines = log.matches("PERF_RUN_TIME_LIMIT_WARNING").count();
        if warn {
            assert_eq!(lines, 1, "{log}");
            assert_ne!(
                fs::read_to_string(&file).unwrap(),
                "from the last attempt\n"
            );
        } else {
            assert_eq!(lines, 0, "{log}");
            assert!(!file.exists(), "the last attempt's warning is left");
        }
    }
}
