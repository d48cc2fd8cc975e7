// The harness of the test files that drive perf-run through whole job lifecycles on the real
// test cluster (`cluster_lifecycle.rs`, `slurm_faults.rs`): the services' settings, ssh and
// sacct helpers, `Ctx` (a runs home and a remote work dir per test, with `SUITE` in their
// names), `Running`, `RunDir` and the stub variants. Each file defines `const SUITE: &str`
// and `include!`s this one, so the helpers stay private to it and exist once.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const ENV_FILE: &str = "/tmp/perfci-svc/env";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------------------ services

/// The `PERFCI_*` settings: from the environment, else from the services' env file.
#[derive(Debug, Clone)]
struct Services {
    vars: BTreeMap<String, String>,
}

impl Services {
    fn get(&self, k: &str) -> &str {
        self.vars
            .get(k)
            .unwrap_or_else(|| panic!("{k} is missing from the test services' settings"))
    }
    fn alias(&self) -> &str {
        self.get("PERFCI_SSH_ALIAS")
    }
}

/// Parse `export NAME='value'` lines.
fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('\'').to_string(),
            )
        })
        .collect()
}

fn services() -> Option<Services> {
    let mut vars: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("PERFCI_"))
        .collect();
    if !vars.contains_key("PERFCI_SSH_ALIAS")
        && let Ok(text) = fs::read_to_string(ENV_FILE)
    {
        vars = parse_env_file(&text);
    }
    if vars.contains_key("PERFCI_SSH_ALIAS") && vars.contains_key("PERFCI_STATE") {
        return Some(Services { vars });
    }
    let msg = "the test services are not up (no PERFCI_* settings in the environment and no \
               /tmp/perfci-svc/env): start them with 'sudo scripts/test-cluster up'";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: a cluster test may not skip)");
    }
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    );
    eprintln!("!!! SKIPPED cluster lifecycle test: {msg}");
    eprintln!(
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
    None
}

/// `ssh -n <alias> <one pre-quoted command>`.
fn ssh(svc: &Services, command: &str) -> Output {
    Command::new("ssh")
        .args(["-n", "-o", "BatchMode=yes", svc.alias(), command])
        .stdin(Stdio::null())
        .output()
        .expect("cannot start ssh")
}

fn ssh_ok(svc: &Services, command: &str) -> String {
    let o = ssh(svc, command);
    assert!(
        o.status.success(),
        "`ssh {} {command}` failed ({}): {}",
        svc.alias(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One `sacct -P` row of a job or a step.
#[derive(Debug, Clone)]
struct AcctRow {
    id: String,
    name: String,
    state: String,
    exit: String,
    nnodes: u32,
    ntasks: Option<u32>,
    nodes: String,
}

const SACCT_FIELDS: &str = "JobIDRaw,JobName%200,State,ExitCode,NNodes,NTasks,NodeList";

fn parse_acct(text: &str) -> Vec<AcctRow> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            assert!(f.len() >= 7, "unexpected sacct row `{l}`");
            AcctRow {
                id: f[0].to_string(),
                name: f[1].to_string(),
                state: f[2].to_string(),
                exit: f[3].to_string(),
                nnodes: f[4].parse().unwrap_or(0),
                ntasks: f[5].parse().ok(),
                nodes: f[6].to_string(),
            }
        })
        .collect()
}

/// What Slurm's accounting says about a job and its steps. Waits until the allocation row is
/// final and complete (accounting may trail the job's end by a moment, or a restarted slurmdbd
/// may still be catching up).
fn sacct_job(svc: &Services, job_id: &str) -> Vec<AcctRow> {
    wait_until(
        &format!("sacct to report job {job_id} as ended"),
        Duration::from_secs(60),
        || {
            let o = ssh(
                svc,
                &format!("sacct -j {job_id} -n -P --starttime=now-1days -o {SACCT_FIELDS}"),
            );
            if !o.status.success() {
                return None;
            }
            let rows = parse_acct(&String::from_utf8_lossy(&o.stdout));
            let alloc = rows.iter().find(|r| r.id == job_id)?;
            let ended = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"]
                .iter()
                .any(|s| alloc.state.starts_with(s));
            // slurmdbd's placeholder (name `allocation`, one node) until the job's record
            // reaches it.
            (ended && alloc.name != "allocation").then_some(rows)
        },
    )
}

fn alloc_row<'a>(rows: &'a [AcctRow], job_id: &str) -> &'a AcctRow {
    rows.iter()
        .find(|r| r.id == job_id)
        .unwrap_or_else(|| panic!("no allocation row for job {job_id} in {rows:#?}"))
}

/// `scontrol show hostnames` of a Slurm node list.
fn hostnames(svc: &Services, list: &str) -> Vec<String> {
    ssh_ok(svc, &format!("scontrol show hostnames '{list}'"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The job's state as slurmctld sees it (`squeue -t all`), if it still knows the job.
fn squeue_state(svc: &Services, job_id: &str) -> Option<String> {
    let o = ssh(svc, &format!("squeue -h -t all -j {job_id} -o %T"));
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && !s.is_empty()).then_some(s)
}

/// Run a `scripts/test-cluster` command; panic with its output when it fails.
fn test_cluster(args: &[&str]) {
    let o = Command::new(repo().join("scripts/test-cluster"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run scripts/test-cluster");
    assert!(
        o.status.success(),
        "scripts/test-cluster {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Brings every service back when dropped, also when the test panicked: `start-slurmdbd`
/// and friends are covered by `up`, which starts what is not running and leaves the rest.
struct Restore {
    what: &'static str,
}

impl Drop for Restore {
    fn drop(&mut self) {
        let o = Command::new(repo().join("scripts/test-cluster"))
            .arg("up")
            .stdin(Stdio::null())
            .output();
        match o {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!(
                "!!! restoring the services after `{}` failed: {}{}",
                self.what,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => eprintln!("!!! cannot run scripts/test-cluster up: {e}"),
        }
    }
}

// ------------------------------------------------------------------------------ waiting

/// Poll `f` every 200 ms until it returns `Some`, or panic after `limit`.
fn wait_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < end,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ------------------------------------------------------------------------------ perf-run

/// One test's world: its runs home, ssh control directory and remote work directory.
struct Ctx {
    svc: Services,
    home: tempfile::TempDir,
    control: tempfile::TempDir,
    workdir: String,
    /// Extra environment for every perf-run started from this context.
    env: Vec<(String, String)>,
}

impl Ctx {
    fn new() -> Option<Ctx> {
        let svc = services()?;
        let home = tempfile::Builder::new()
            .prefix(&format!("perf-run-{SUITE}-"))
            .tempdir()
            .unwrap();
        // Short: unix socket paths are limited to ~108 bytes.
        let control = tempfile::Builder::new()
            .prefix("prt")
            .tempdir_in("/tmp")
            .unwrap();
        let tag = home
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches(&format!("perf-run-{SUITE}-"))
            .to_string();
        let workdir = format!("{}/{SUITE}-tests/{tag}", svc.get("PERFCI_WORKDIR"));
        Some(Ctx {
            svc,
            home,
            control,
            workdir,
            env: vec![
                ("PERF_RUN_POLL_MIN".into(), "0.5".into()),
                ("PERF_RUN_POLL_MAX".into(), "2".into()),
            ],
        })
    }

    /// `perf-run ARGS` with a clean environment (nothing from the host's CLUSTER_*/PERF_RUN_*).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("perf-run"));
        for (k, _) in std::env::vars() {
            if common::is_host_setting(&k)
            {
                c.env_remove(k);
            }
        }
        c.env("PERF_RUN_HOME", self.home.path())
            .env("PERF_RUN_SSH_CONTROL_DIR", self.control.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(repo())
            .stdin(Stdio::null())
            .args(args);
        c
    }

    /// `perf-run run --cluster local-test --workdir <own> --trtllm-dir tests/stub-trtllm ARGS`.
    fn run_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec![
            "run",
            "--cluster",
            "local-test",
            "--workdir",
            &self.workdir,
            "--trtllm-dir",
            "tests/stub-trtllm",
        ];
        a.extend_from_slice(extra);
        a
    }

    fn run(&self, extra: &[&str]) -> Done {
        self.output(&self.run_args(extra))
    }

    fn output(&self, args: &[&str]) -> Done {
        let t0 = Instant::now();
        let o = self.cmd(args).output().expect("cannot start perf-run");
        let d = Done {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            wall: t0.elapsed(),
        };
        eprintln!(
            "$ perf-run {} -> {:?} in {:.1} s\n{}",
            args.join(" "),
            d.code,
            d.wall.as_secs_f64(),
            d.stderr
        );
        d
    }

    /// Start `perf-run run …` as a child (to signal it); its stderr goes to a file.
    fn spawn(&self, extra: &[&str]) -> Running {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.home.path().join(format!("perf-run-{n}.stderr"));
        let child = self
            .cmd(&self.run_args(extra))
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("cannot start perf-run");
        Running {
            child: Some(child),
            log,
        }
    }

    /// The one run directory under this test's home.
    fn run_dir(&self) -> RunDir {
        let dirs: Vec<PathBuf> = fs::read_dir(self.home.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("run.json").is_file())
            .collect();
        assert_eq!(dirs.len(), 1, "expected one run directory, found {dirs:?}");
        RunDir(dirs[0].clone())
    }

    /// Wait until the run has submitted its (first) job; its id.
    fn await_submitted(&self, running: &mut Running) -> String {
        wait_until(
            "perf-run to submit the job",
            Duration::from_secs(60),
            || {
                running.assert_alive();
                let dirs: Vec<PathBuf> = fs::read_dir(self.home.path())
                    .ok()?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("journal.jsonl").is_file())
                    .collect();
                let rd = RunDir(dirs.first()?.clone());
                rd.events("submitted")
                    .first()
                    .map(|e| e["job_id"].as_str().unwrap().to_string())
            },
        )
    }

    /// Wait until slurmctld reports the job RUNNING and its log has output.
    fn await_running(&self, running: &mut Running, job_id: &str) {
        wait_until(
            &format!("job {job_id} to run"),
            Duration::from_secs(60),
            || {
                running.assert_alive();
                (squeue_state(&self.svc, job_id).as_deref() == Some("RUNNING")).then_some(())
            },
        );
        // The stub client writes its own log (pytest captures its stdout) once it sleeps.
        wait_until(
            &format!("job {job_id}'s benchmark to start"),
            Duration::from_secs(60),
            || {
                running.assert_alive();
                ssh(
                    &self.svc,
                    &format!(
                        "grep -rqs --include='trtllm-benchmark.*.log' 'the client runs for' {}/runs",
                        self.workdir
                    ),
                )
                .status
                .success()
                .then_some(())
            },
        );
    }
}

impl Drop for Ctx {
    /// Cancel whatever this test's runs left in the queue; remove the remote work directory
    /// unless the test failed (then keep it for a look and say where it is).
    fn drop(&mut self) {
        let mut ids = Vec::new();
        if let Ok(rd) = fs::read_dir(self.home.path()) {
            for e in rd.flatten() {
                let j = e.path().join("journal.jsonl");
                if j.is_file() {
                    for ev in RunDir(e.path()).events("submitted") {
                        ids.push(ev["job_id"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        if !ids.is_empty() {
            let _ = ssh(&self.svc, &format!("scancel {}", ids.join(" ")));
        }
        if std::thread::panicking() {
            eprintln!(
                "!!! kept for a look: runs home {} (remote work dir {})",
                self.home.path().display(),
                self.workdir
            );
            let _ = std::mem::replace(&mut self.home, tempfile::tempdir().unwrap()).keep();
        } else {
            let _ = ssh(&self.svc, &format!("rm -rf '{}'", self.workdir));
        }
    }
}

/// A finished perf-run command.
#[derive(Debug)]
struct Done {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    wall: Duration,
}

/// A perf-run started as a child process. Killed if the test ends before it does.
struct Running {
    child: Option<std::process::Child>,
    log: PathBuf,
}

impl Running {
    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill failed");
    }
    fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn assert_alive(&mut self) {
        if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "perf-run ended early ({st}); its stderr:\n{}",
                self.stderr()
            );
        }
    }
    /// Wait for the exit (with a generous deadline: a hang is a failure, not a slow pass).
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut().unwrap();
        let st = wait_until("perf-run to exit", limit, || child.try_wait().unwrap());
        self.child = None;
        eprintln!("perf-run exited with {st}; its stderr:\n{}", self.stderr());
        st.code()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A run directory and its journal.
struct RunDir(PathBuf);

impl RunDir {
    fn journal(&self) -> Vec<Value> {
        let text = fs::read_to_string(self.0.join("journal.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
    fn events(&self, name: &str) -> Vec<Value> {
        self.journal()
            .into_iter()
            .filter(|e| e["event"] == name)
            .collect()
    }
    fn one(&self, name: &str) -> Value {
        let mut v = self.events(name);
        assert_eq!(
            v.len(),
            1,
            "expected exactly one `{name}` event in {}: {:#?}",
            self.0.display(),
            self.journal()
        );
        v.pop().unwrap()
    }
    fn job_id(&self) -> String {
        self.one("submitted")["job_id"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn job_name(&self) -> String {
        self.one("run_started")["cases"][0]["job_name"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn finished(&self) -> Value {
        self.one("finished")["record"].clone()
    }
    fn run_finished(&self) -> Value {
        self.one("run_finished")
    }
    /// The collected job workspace of the (only) case.
    fn artifacts(&self) -> PathBuf {
        let cases: Vec<PathBuf> = fs::read_dir(self.0.join("cases"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(cases.len(), 1, "{cases:?}");
        cases[0].join("artifacts")
    }
    fn id(&self) -> String {
        self.0.file_name().unwrap().to_string_lossy().into_owned()
    }
    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

/// The collected batch log of `job_id`, and that it ends with the exit line of `code`.
fn assert_marker_collected(art: &Path, job_id: &str, code: i32) {
    let marker = fs::read_to_string(art.join("perf_run_exit")).unwrap_or_else(|e| {
        panic!(
            "the exit marker was not collected into {} ({e})",
            art.display()
        )
    });
    assert_eq!(
        marker.split_whitespace().next(),
        Some(code.to_string().as_str()),
        "marker `{marker}`"
    );
    let log = fs::read_to_string(art.join(format!("slurm-{job_id}.log"))).unwrap();
    assert!(
        log.contains(&format!("PERF_RUN_EXIT code={code} job={job_id}")),
        "the collected batch log lacks its exit line:\n{log}"
    );
}

const TINY: &[&str] = &[
    "--config",
    "tiny_llama_fp8_grace_blackwell",
    "--server",
    "tiny_llama_fp8_tp1",
];

/// The tiny job with a benchmark that runs `secs` seconds (stub knob PERF_RUN_STUB_SLEEP_S).
fn tiny_sleeping(secs: &str) -> Vec<String> {
    let mut v: Vec<String> = TINY.iter().map(|s| s.to_string()).collect();
    v.push("--env".into());
    v.push(format!("PERF_RUN_STUB_SLEEP_S={secs}"));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A copy of the stub checkout with extra aggregated configs (name, YAML text).
fn stub_copy_with(extra: &[(&str, String)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let ok = Command::new("cp")
        .arg("-a")
        .arg(repo().join("tests/stub-trtllm/."))
        .arg(t.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot copy the stub checkout");
    let agg = t.path().join("tests/scripts/perf-sanity/aggregated");
    for (name, text) in extra {
        fs::write(agg.join(format!("{name}.yaml")), text).unwrap();
    }
    t
}

/// The tiny config with its tp2 server turned into `tp` GPUs on nodes of `gpn` GPUs.
fn tiny_variant(tp: u32, gpn: u32) -> String {
    fs::read_to_string(
        repo().join("tests/stub-trtllm/tests/scripts/perf-sanity/aggregated/tiny_llama_fp8_grace_blackwell.yaml"),
    )
    .unwrap()
    .replace("gpus_per_node: 4", &format!("gpus_per_node: {gpn}"))
    .replace("tensor_parallel_size: 2", &format!("tensor_parallel_size: {tp}"))
    .replace("tiny_llama_fp8_tp2", &format!("tiny_llama_fp8_tp{tp}"))
}

/// A profile file with one cluster `name` like local-test, without the capacity limits
/// (`nodes`, `gpus_per_node`) unless given.
fn profile_file(dir: &Path, name: &str, workdir: &str, caps: &str) -> PathBuf {
    let p = dir.join("clusters.yaml");
    fs::write(
        &p,
        format!(
            "clusters:\n  {name}:\n    host: slurm-login\n    user: perfci\n    type: ssh\n    \
             workdir: {workdir}\n    partition: debug\n    account: \"\"\n    docker_image: \"\"\n    \
             mpi_type: none\n    gpu: TEST\n    time: \"00:10:00\"\n{caps}"
        ),
    )
    .unwrap();
    p
}
