//! Slurm's own faults, end to end on the real test cluster of `scripts/test-cluster`: a node
//! that fails under a running job (with and without `--requeue`), an administrator's
//! `scontrol requeue`, partition-priority preemption in REQUEUE and CANCEL mode, `scontrol
//! suspend`/`resume`, and a job over its memory limit (docs/slurm-faults.md).
//!
//! Every test asserts the verdict, perf-run's exit code, the JUnit failure type, what was
//! collected, and that slurmctld holds no live job of the test afterwards (`squeue`). The
//! harness is `tests/cluster_support/harness.rs`, shared with `tests/cluster_lifecycle.rs`.
//!
//! The test cluster's `slurm.conf` (scripts/test-cluster.d/templates/slurm.conf.tmpl) has the
//! partitions these tests use: `lowrequeue`/`lowcancel` (preempted by `high`) and `tinymem`
//! (400 MB per node). A requeued job is held by Slurm for 2 minutes (BeginTime); the tests
//! release it at once with `scontrol update jobid=N starttime=now`. The fault commands
//! (`scontrol update nodename`, `requeue`, `suspend`) need Slurm's admin rights: the tests run
//! them as root on this host, like `scripts/test-cluster` itself.
#![allow(dead_code)]

const SUITE: &str = "fault";
mod common;
include!("cluster_support/harness.rs");

// ------------------------------------------------------------------------------ faults

/// A Slurm admin command on this host (the tests run as root, like scripts/test-cluster).
fn admin(args: &[&str]) -> Output {
    let o = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args.join(" ")));
    eprintln!(
        "# {} -> {} {}{}",
        args.join(" "),
        o.status,
        String::from_utf8_lossy(&o.stdout).trim(),
        String::from_utf8_lossy(&o.stderr).trim()
    );
    o
}

fn admin_ok(args: &[&str]) {
    let o = admin(args);
    assert!(
        o.status.success(),
        "`{}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The fault partitions of the test cluster's slurm.conf are there (an older `up` did not
/// have them): otherwise a loud skip, or a failure under CI=true.
fn fault_partitions_ready(needed: &[&str]) -> bool {
    let ok = needed.iter().all(|p| {
        Command::new("scontrol")
            .args(["show", "partition", p])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        let msg = format!(
            "the test cluster lacks the partitions {needed:?}: run 'scripts/test-cluster up' \
             from this checkout to render its slurm.conf"
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (CI=true: a cluster test may not skip)");
        }
        eprintln!("\n!!! SKIPPED Slurm fault test: {msg}\n");
    }
    ok
}

/// The node a running one-node job runs on.
fn job_node(svc: &Services, job_id: &str) -> String {
    let n = ssh_ok(svc, &format!("squeue -h -j {job_id} -o %N"))
        .trim()
        .to_string();
    assert!(!n.is_empty(), "job {job_id} has no node");
    n
}

/// `squeue -h -t all -j ID -O State,RestartCnt` → (state, restarts).
fn live_state(svc: &Services, job_id: &str) -> Option<(String, u32)> {
    let o = ssh(
        svc,
        &format!("squeue -h -t all -j {job_id} -O 'State:|,RestartCnt:|'"),
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let mut f = text.trim().split('|');
    let state = f.next()?.trim().to_string();
    let restarts = f.next()?.trim().parse().ok()?;
    (!state.is_empty()).then_some((state, restarts))
}

/// Wait until the test's own preempting job (`sleep 1` in `high`) has ended.
fn await_gone(svc: &Services, job_id: &str) {
    wait_until(
        &format!("job {job_id} to end"),
        Duration::from_secs(60),
        || {
            let o = ssh(svc, &format!("squeue -h -j {job_id} -o %T"));
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .is_empty()
                .then_some(())
        },
    );
}

/// Nothing of the job is left to run: slurmctld lists it in no live state (squeue's default
/// states: pending, running, suspended, completing, configuring, …).
fn assert_nothing_queued(svc: &Services, job_id: &str) {
    let o = ssh(svc, &format!("squeue -h -j {job_id} -o %T"));
    let live = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        live.is_empty(),
        "job {job_id} is still in the queue as {live} after perf-run exited"
    );
}

/// Wait until Slurm has requeued the job (restart count `n`, pending).
fn wait_requeued(svc: &Services, job_id: &str, n: u32) {
    wait_until(
        &format!("Slurm to requeue job {job_id}"),
        Duration::from_secs(60),
        || live_state(svc, job_id).filter(|(s, r)| s == "PENDING" && *r >= n),
    );
}

/// Wait until Slurm has requeued the job (restart count `n`), then let it start at once on
/// another node than `node`, the one of its earlier attempt. Slurm holds a requeued job for 2
/// minutes (BeginTime); released sooner onto the same node, whose slurmd still remembers the
/// job id, the launch fails ("Duplicate jobid"), the job is held and the node drained.
fn release_requeued(svc: &Services, job_id: &str, n: u32, node: &str) {
    wait_requeued(svc, job_id, n);
    admin_ok(&[
        "scontrol",
        "update",
        &format!("jobid={job_id}"),
        &format!("excnodelist={node}"),
        "starttime=now",
    ]);
}

/// Brings a node back when dropped (also when the test failed).
struct NodeBack(String);

impl Drop for NodeBack {
    fn drop(&mut self) {
        // Refused when the node is up already (ReturnToService=2 brings it back on its own).
        let _ = admin(&[
            "scontrol",
            "update",
            &format!("nodename={}", self.0),
            "state=resume",
        ]);
        let _ = wait_for_node(&self.0);
    }
}

fn wait_for_node(node: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let o = Command::new("sinfo")
            .args(["-h", "-n", node, "-o", "%t"])
            .output();
        if let Ok(o) = o {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
            if ["idle", "mix", "alloc"].contains(&s.as_str()) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    false
}

fn node_down(node: &str) -> NodeBack {
    admin_ok(&[
        "scontrol",
        "update",
        &format!("nodename={node}"),
        "state=down",
        "reason=perf-run-fault-test",
    ]);
    NodeBack(node.to_string())
}

impl RunDir {
    fn summary(&self) -> Value {
        serde_json::from_str(
            &fs::read_to_string(self.0.join("results/summary.json"))
                .unwrap_or_else(|e| panic!("no summary.json in {}: {e}", self.0.display())),
        )
        .unwrap()
    }
    fn case(&self) -> Value {
        self.summary()["cases"][0].clone()
    }
    /// The `type` of the JUnit `<failure>` (the failure class), if any.
    fn junit_failure_type(&self) -> Option<String> {
        let xml = fs::read_to_string(self.0.join("results/perf-run-junit.xml")).unwrap();
        let at = xml.find("<failure type=\"")? + "<failure type=\"".len();
        Some(xml[at..].split('"').next()?.to_string())
    }
}

/// A tiny job whose benchmark runs `secs` seconds, with perf-run flags `extra` (owned).
fn faulty(secs: &str, extra: &[&str]) -> Vec<String> {
    let mut v = tiny_sleeping(secs);
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The marker file's attempt (third word) and time (second word).
fn marker_attempt(art: &Path) -> (u32, i64) {
    let m = fs::read_to_string(art.join("perf_run_exit")).unwrap();
    let f: Vec<&str> = m.split_whitespace().collect();
    (
        f.get(2).and_then(|a| a.parse().ok()).unwrap_or(0),
        f.get(1).and_then(|t| t.parse().ok()).unwrap_or(0),
    )
}

/// A requeued job's second attempt ran to its end: asserts common to every requeue test.
fn assert_requeued_and_followed(cx: &Ctx, rd: &RunDir, code: Option<i32>, prev: &str) {
    let id = rd.job_id();
    // Measured, but on a restarted job: never valid.
    assert_eq!(code, Some(3), "exit code of an invalid measurement");
    let c = rd.case();
    assert_eq!(c["status"], "invalid", "{c}");
    assert_eq!(c["failure_class"], "invalid_measurement", "{c}");
    let job = &c["job"];
    assert_eq!(job["state"], "COMPLETED", "{job}");
    assert_eq!(job["restarts"], 1, "{job}");
    assert_eq!(job["restart_states"][0], prev, "{job}");
    // The time lost is reported; its size depends on how long the first attempt ran (sacct
    // counts whole seconds, so a fault within the first second of the attempt shows 0).
    assert!(job["lost_s"].as_f64().is_some_and(|s| s >= 0.0), "{job}");
    assert!(c["reasons"].to_string().contains("Slurm restarted"), "{c}");
    assert_eq!(
        rd.junit_failure_type().as_deref(),
        Some("invalid_measurement")
    );
    // The journal has the attempt; the displayed state after the requeue was PENDING.
    let att = rd.one("attempt");
    assert_eq!(att["attempt"], 1, "{att}");
    assert_eq!(att["job_id"], id.as_str());
    // What the scheduler said right after the requeue: the job waits (PENDING, or COMPLETING
    // while the old attempt's processes go), it does not run.
    let after: Vec<String> = rd
        .journal()
        .iter()
        .skip_while(|e| e["event"] != "attempt")
        .filter(|e| e["event"] == "job_state")
        .map(|e| e["state"].as_str().unwrap_or_default().to_string())
        .collect();
    // (Under load the released attempt can run and end between two looks: then the first state
    // seen is its end. What must never show is the old attempt's RUNNING.)
    assert!(
        after.first().is_some_and(|s| s.starts_with("PENDING")
            || s.starts_with("COMPLETING")
            || s.starts_with("COMPLETED")),
        "the scheduler's state after the requeue: {after:?}"
    );
    // Collected: the second attempt's marker and results, the first attempt's files aside.
    let art = rd.artifacts();
    let (attempt, marker_t) = marker_attempt(&art);
    assert_eq!(attempt, 1, "the marker is the second attempt's");
    assert!(art.join("results.xml").is_file());
    assert!(
        art.join("attempt-0").is_dir(),
        "attempt 0's files were moved aside"
    );
    let log = fs::read_to_string(art.join(format!("slurm-{id}.log"))).unwrap();
    assert!(
        log.contains("attempt=0") && log.contains("attempt=1"),
        "{log}"
    );
    assert!(
        log.contains(&format!("PERF_RUN_EXIT code=0 job={id} attempt=1")),
        "{log}"
    );
    // The end of the second attempt was seen from its log, not by a slow poll: the
    // marker_seen event follows the marker's time within a few seconds.
    let seen = rd
        .events("marker_seen")
        .last()
        .map(|e| e["ts"].as_str().unwrap().to_string())
        .unwrap();
    let seen = chrono::DateTime::parse_from_rfc3339(&seen)
        .unwrap()
        .timestamp();
    assert!(
        (seen - marker_t).abs() <= 3,
        "the end was seen {} s after the marker",
        seen - marker_t
    );
    assert_nothing_queued(&cx.svc, &id);
}

mod cluster {
    use super::*;

    #[test]
    fn node_failure_without_requeue_is_final_and_nothing_is_left() {
        if !fault_partitions_ready(&["debug"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("60", &[])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        let node = job_node(&cx.svc, &id);
        let _back = node_down(&node);
        let code = r.wait(Duration::from_secs(120));
        eprintln!("node failure without requeue: {:?}", t0.elapsed());
        assert_eq!(code, Some(4), "a node failure is an infrastructure failure");
        let rd = cx.run_dir();
        let c = rd.case();
        assert_eq!(c["failure_class"], "node_fail", "{c}");
        assert_eq!(c["job"]["state"], "NODE_FAIL", "{c}");
        assert_eq!(c["job"]["restarts"], 0, "{c}");
        assert!(c["reasons"].to_string().contains(&node), "{c}");
        assert_eq!(rd.junit_failure_type().as_deref(), Some("node_fail"));
        assert!(rd.events("attempt").is_empty());
        let launch = fs::read_to_string(
            rd.0.join("cases")
                .read_dir()
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path()
                .join("slurm_launch.sh"),
        )
        .unwrap();
        assert!(launch.contains("#SBATCH --no-requeue"), "explicit policy");
        let art = rd.artifacts();
        let log = fs::read_to_string(art.join(format!("slurm-{id}.log"))).unwrap();
        assert!(log.contains("NODE FAILURE"), "{log}");
        assert_nothing_queued(&cx.svc, &id);
        assert_eq!(
            live_state(&cx.svc, &id).map(|s| s.1),
            Some(0),
            "never requeued"
        );
    }

    #[test]
    fn node_failure_with_requeue_is_followed_to_the_end() {
        if !fault_partitions_ready(&["debug"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("6", &["--requeue"])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        let node = job_node(&cx.svc, &id);
        let back = node_down(&node);
        wait_requeued(&cx.svc, &id, 1);
        // The node back first: a job released onto a node that is just re-registering fails
        // to launch and is held (`launch failed requeued held`).
        drop(back);
        release_requeued(&cx.svc, &id, 1, &node);
        let code = r.wait(Duration::from_secs(180));
        eprintln!("node failure with requeue: {:?}", t0.elapsed());
        let rd = cx.run_dir();
        assert_requeued_and_followed(&cx, &rd, code, "NODE_FAIL");
        assert_eq!(rd.case()["job"]["restart_nodes"], node.as_str());
    }

    #[test]
    fn admin_requeue_is_followed_politely() {
        if !fault_partitions_ready(&["debug"]) {
            return;
        }
        let Some(mut cx) = Ctx::new() else { return };
        // The default safety-poll pacing, so the scheduler call count means something; an ssh
        // master that exits after 2 idle seconds, so the pending phase below would lose it
        // unless the log stream keeps it busy.
        cx.env.clear();
        cx.env
            .push(("PERF_RUN_SSH_IDLE_PERSIST".into(), "2".into()));
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("6", &["--requeue"])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        let node = job_node(&cx.svc, &id);
        admin_ok(&["scontrol", "requeue", &id]);
        // perf-run follows the requeue before Slurm lets the job start again.
        wait_until(
            "perf-run to journal the attempt",
            Duration::from_secs(60),
            || {
                r.assert_alive();
                let dirs: Vec<PathBuf> = fs::read_dir(cx.home.path())
                    .ok()?
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.join("journal.jsonl").is_file())
                    .collect();
                (!RunDir(dirs.first()?.clone()).events("attempt").is_empty()).then_some(())
            },
        );
        // A quiet phase: the job pends (Slurm's BeginTime hold), no output, no poll due.
        std::thread::sleep(Duration::from_secs(6));
        release_requeued(&cx.svc, &id, 1, &node);
        let code = r.wait(Duration::from_secs(180));
        eprintln!("admin requeue: {:?}", t0.elapsed());
        let rd = cx.run_dir();
        assert_requeued_and_followed(&cx, &rd, code, "REQUEUED");
        let err = r.stderr();
        assert!(err.contains("Slurm requeued job"), "{err}");
        assert!(
            err.contains("is PENDING") || err.contains("is COMPLETING"),
            "the scheduler's state is shown: {err}"
        );
        let fin = rd.run_finished();
        assert_eq!(fin["ssh_connects"], 1, "the ssh master stays up: {fin}");
        // sbatch; the first safety poll; after attempt 0's marker one sacct and one squeue
        // (accounting cannot tell a requeue), repeated while slurmdbd lags; one sacct for
        // attempt 1's end (two while slurmdbd shows its placeholder).
        let calls = fin["scheduler_calls"].as_u64().unwrap();
        assert!(
            calls <= 8,
            "{calls} scheduler calls through a requeue: {fin}"
        );
    }

    #[test]
    fn preemption_in_requeue_mode_is_followed_to_the_end() {
        if !fault_partitions_ready(&["lowrequeue", "high"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty(
            "6",
            &["--requeue", "--partition", "lowrequeue"],
        )));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        let node = job_node(&cx.svc, &id);
        let hi = ssh_ok(
            &cx.svc,
            &format!(
                "sbatch --parsable -p high -w {node} --exclusive -o /dev/null --wrap 'sleep 1'"
            ),
        );
        release_requeued(&cx.svc, &id, 1, &node);
        let code = r.wait(Duration::from_secs(180));
        eprintln!("preemption (REQUEUE): {:?}", t0.elapsed());
        let rd = cx.run_dir();
        assert_requeued_and_followed(&cx, &rd, code, "PREEMPTED");
        await_gone(&cx.svc, hi.trim());
    }

    #[test]
    fn preemption_in_cancel_mode_ends_the_job() {
        if !fault_partitions_ready(&["lowcancel", "high"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("60", &["--partition", "lowcancel"])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        let node = job_node(&cx.svc, &id);
        let hi = ssh_ok(
            &cx.svc,
            &format!(
                "sbatch --parsable -p high -w {node} --exclusive -o /dev/null --wrap 'sleep 1'"
            ),
        );
        let code = r.wait(Duration::from_secs(120));
        eprintln!("preemption (CANCEL): {:?}", t0.elapsed());
        assert_eq!(code, Some(7), "cancelled by someone else");
        let rd = cx.run_dir();
        let c = rd.case();
        assert_eq!(c["job"]["state"], "PREEMPTED", "{c}");
        assert_eq!(c["failure_class"], "cancelled", "{c}");
        assert!(c["reasons"].to_string().contains("preempted"), "{c}");
        assert_eq!(rd.junit_failure_type().as_deref(), Some("cancelled"));
        let art = rd.artifacts();
        let log = fs::read_to_string(art.join(format!("slurm-{id}.log"))).unwrap();
        assert!(log.contains("DUE TO PREEMPTION"), "{log}");
        assert!(
            art.join("perf_run_exit").is_file(),
            "the batch script's end was collected"
        );
        assert_nothing_queued(&cx.svc, &id);
        await_gone(&cx.svc, hi.trim());
    }

    #[test]
    fn a_suspended_benchmark_is_not_a_valid_measurement() {
        if !fault_partitions_ready(&["debug"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("6", &[])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        admin_ok(&["scontrol", "suspend", &id]);
        std::thread::sleep(Duration::from_secs(4));
        admin_ok(&["scontrol", "resume", &id]);
        let code = r.wait(Duration::from_secs(120));
        eprintln!("suspension: {:?}", t0.elapsed());
        assert_eq!(code, Some(3), "an invalid measurement");
        let rd = cx.run_dir();
        let c = rd.case();
        assert_eq!(c["status"], "invalid", "{c}");
        assert_eq!(c["failure_class"], "invalid_measurement", "{c}");
        assert!(c["job"]["suspended_s"].as_u64().unwrap_or(0) >= 3, "{c}");
        assert!(
            c["reasons"].to_string().contains("was suspended for"),
            "{c}"
        );
        assert_eq!(
            rd.junit_failure_type().as_deref(),
            Some("invalid_measurement")
        );
        // Measured (the numbers are there), but none of them is valid.
        let clients = c["clients"].as_array().unwrap();
        assert!(!clients.is_empty(), "{c}");
        assert!(rd.artifacts().join("results.xml").is_file());
        assert_nothing_queued(&cx.svc, &id);
    }

    #[test]
    fn a_job_over_its_memory_limit_is_oom() {
        if !fault_partitions_ready(&["tinymem"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let d = cx.run(&strs(&faulty(
            "10",
            &[
                "--partition",
                "tinymem",
                "--env",
                "PERF_RUN_STUB_ALLOC_MB=800",
            ],
        )));
        eprintln!("out of memory: {:?}", t0.elapsed());
        assert_eq!(d.code, Some(1), "{}", d.stderr);
        let rd = cx.run_dir();
        let id = rd.job_id();
        let c = rd.case();
        assert_eq!(c["failure_class"], "oom", "{c}");
        assert!(
            c["reasons"]
                .to_string()
                .contains("Exceeded job memory limit"),
            "{c}"
        );
        assert_eq!(rd.junit_failure_type().as_deref(), Some("oom"));
        let log = fs::read_to_string(rd.artifacts().join(format!("slurm-{id}.log"))).unwrap();
        assert!(log.contains("exceeded memory limit"), "{log}");
        assert_nothing_queued(&cx.svc, &id);
    }

    #[test]
    fn too_many_restarts_are_cancelled() {
        if !fault_partitions_ready(&["debug"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("30", &["--requeue", "--max-restarts", "0"])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        admin_ok(&["scontrol", "requeue", &id]);
        // No release: perf-run cancels the requeued job while Slurm holds it.
        let code = r.wait(Duration::from_secs(120));
        eprintln!("too many restarts: {:?}", t0.elapsed());
        assert_eq!(code, Some(7), "cancelled");
        let rd = cx.run_dir();
        let c = rd.case();
        assert_eq!(c["failure_class"], "cancelled", "{c}");
        assert_eq!(c["job"]["state"], "CANCELLED", "{c}");
        assert_eq!(c["job"]["restarts"], 1, "{c}");
        let reasons = c["reasons"].to_string();
        assert!(reasons.contains("more than --max-restarts 0"), "{reasons}");
        assert!(reasons.contains("Slurm restarted"), "{reasons}");
        assert_eq!(rd.junit_failure_type().as_deref(), Some("cancelled"));
        assert_eq!(rd.one("attempt")["attempt"], 1);
        assert!(rd.artifacts().join(format!("slurm-{id}.log")).is_file());
        assert_nothing_queued(&cx.svc, &id);
    }

    #[test]
    fn resume_after_a_crash_follows_the_requeued_attempt() {
        if !fault_partitions_ready(&["debug"]) {
            return;
        }
        let Some(cx) = Ctx::new() else { return };
        let t0 = Instant::now();
        let mut r = cx.spawn(&strs(&faulty("6", &["--requeue"])));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        let node = job_node(&cx.svc, &id);
        admin_ok(&["scontrol", "requeue", &id]);
        wait_until(
            "perf-run to journal the attempt",
            Duration::from_secs(60),
            || {
                r.assert_alive();
                (!cx.run_dir().events("attempt").is_empty()).then_some(())
            },
        );
        // perf-run dies (kill -9) while Slurm holds the requeued job.
        r.signal(libc::SIGKILL);
        assert_eq!(r.wait(Duration::from_secs(30)), None, "killed by a signal");
        release_requeued(&cx.svc, &id, 1, &node);
        let d = cx.output(&["resume", &cx.run_dir().path()]);
        eprintln!("resume after a crash during a requeue: {:?}", t0.elapsed());
        assert!(
            d.stderr.contains("following its attempt 1"),
            "resume says which attempt it follows: {}",
            d.stderr
        );
        let rd = cx.run_dir();
        assert_requeued_and_followed(&cx, &rd, d.code, "REQUEUED");
        assert_eq!(rd.events("submitted").len(), 1, "never submitted twice");
    }
}
