//! The job lifecycle (stage → submit → watch → collect → resume) against the real test cluster
//! of `scripts/test-cluster`: sshd on 127.0.0.1:2222 (alias `slurm-login`, user `perfci`),
//! Slurm with 4 nodes × 4 fake GPUs, slurmdbd. The batch jobs run `tests/stub-trtllm`.
//!
//! The assertions are on what perf-run recorded (the run journal, `status --json`, the collected
//! `cases/*/artifacts/`) and on what Slurm itself says (`sacct`), not on perf-run's summary text.
//! Nothing waits a guessed time: every wait polls for a condition until a deadline.
//!
//! Every test gets its own PERF_RUN_HOME, its own ssh control directory (so a fault test can
//! kill exactly its own master) and its own remote work directory (so the checkout sync of one
//! test cannot change another's). Fault tests restore every service on the way out, also when
//! they fail (`Restore`); jobs a failed test leaves behind are cancelled (`JobSweeper`).
//!
//! Without the services (`scripts/test-cluster up`) the tests print a loud skip message and
//! pass, except under `CI=true`, where they fail.

const SUITE: &str = "lifecycle";
mod common;
include!("cluster_support/harness.rs");

// ------------------------------------------------------------------------------ tests

/// Plan-time refusal needs no cluster: a profile with fewer nodes than the config needs.
#[test]
fn plan_refuses_a_job_larger_than_the_cluster_before_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let profile = profile_file(
        dir.path(),
        "two_nodes",
        "/nonexistent",
        "    gpus_per_node: 4\n    nodes: 2\n",
    );
    let o = assert_cmd::Command::cargo_bin("perf-run")
        .unwrap()
        .env("PERF_RUN_HOME", dir.path().join("runs"))
        .current_dir(repo())
        .args(["run", "--clusters-file"])
        .arg(&profile)
        .args([
            "--cluster",
            "two_nodes",
            "--trtllm-dir",
            "tests/stub-trtllm",
            "--config",
            "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("needs 3 nodes") && err.contains("has only 2 nodes"),
        "{err}"
    );
}

mod cluster {
    use super::*;

    #[test]
    fn completed_job_is_confirmed_by_accounting_and_collected() {
        let Some(mut cx) = Ctx::new() else { return };
        // The default safety-poll pacing, so the scheduler call count means something.
        cx.env.clear();
        let d = cx.run(TINY);
        assert_eq!(d.code, Some(0), "{}", d.stderr);
        let rd = cx.run_dir();
        let id = rd.job_id();
        let rec = rd.finished();
        assert_eq!(rec["state"]["raw"], "COMPLETED", "{rec}");
        assert_eq!(rec["exit_code"], 0);
        assert_eq!(rd.one("marker_seen")["exit_code"], 0);
        let acct = sacct_job(&cx.svc, &id);
        let a = alloc_row(&acct, &id);
        assert_eq!((a.state.as_str(), a.exit.as_str()), ("COMPLETED", "0:0"));
        assert_eq!(a.name, rd.job_name());
        let col = rd.one("collected");
        assert!(col["error"].is_null(), "{col}");
        let art = rd.artifacts();
        assert_marker_collected(&art, &id, 0);
        assert!(art.join("results.xml").is_file());
        let fin = rd.run_finished();
        assert_eq!(fin["exit_code"], 0);
        assert_eq!(fin["ssh_connects"], 1, "one ssh handshake per run: {fin}");
        // sbatch + one sacct to confirm the marker; one more when slurmdbd still shows its
        // placeholder (then squeue answers). The target is 3.
        let calls = fin["scheduler_calls"].as_u64().unwrap();
        assert!(
            calls <= 3,
            "{calls} scheduler calls for a 2-second job: {fin}"
        );
        // status reads it back from the journal.
        let s = cx.output(&["status", &rd.path(), "--json"]);
        assert_eq!(s.code, Some(0));
        let v: Value = serde_json::from_str(&s.stdout).unwrap();
        assert_eq!(v[0]["state"], "COMPLETED");
        assert_eq!(v[0]["job_id"], id.as_str());
    }

    #[test]
    fn failed_job_keeps_its_exit_code() {
        let Some(cx) = Ctx::new() else { return };
        let mut a: Vec<&str> = TINY.to_vec();
        a.extend(["--env", "PERF_RUN_STUB_FAIL=worker_crash"]);
        let d = cx.run(&a);
        assert!(d.code.is_some_and(|c| c != 0), "{d:?}");
        let rd = cx.run_dir();
        let id = rd.job_id();
        let rec = rd.finished();
        assert_eq!(rec["state"]["raw"], "FAILED", "{rec}");
        assert_eq!(rec["exit_code"], 1, "{rec}");
        assert_eq!(rd.one("marker_seen")["exit_code"], 1);
        let acct = sacct_job(&cx.svc, &id);
        let a = alloc_row(&acct, &id);
        assert_eq!((a.state.as_str(), a.exit.as_str()), ("FAILED", "1:0"));
        assert_marker_collected(&rd.artifacts(), &id, 1);
        assert_ne!(rd.run_finished()["exit_code"], 0);
    }

    /// A job killed at its time limit. perf-run sets pytest's --timeout to the job's time
    /// limit, so with `--time 1` pytest-timeout usually fires first and the job ends FAILED,
    /// not TIMEOUT (a race, see the report). To get Slurm's own TIMEOUT the job is submitted
    /// with 5 minutes (pytest's limit) and its limit lowered to 1 minute once it is queued.
    /// Costs 60-90 s: the limit is checked about every 30 s.
    #[test]
    fn job_at_its_time_limit_ends_as_timeout_and_is_collected() {
        let Some(cx) = Ctx::new() else { return };
        let mut a: Vec<&str> = TINY.to_vec();
        a.extend(["--env", "PERF_RUN_STUB_FAIL=hang", "--time", "5"]);
        let mut r = cx.spawn(&a);
        let id = cx.await_submitted(&mut r);
        ssh_ok(&cx.svc, &format!("scontrol update JobId={id} TimeLimit=1"));
        let code = r.wait(Duration::from_secs(300));
        assert!(code.is_some_and(|c| c != 0), "{code:?}");
        let rd = cx.run_dir();
        assert_eq!(rd.finished()["state"]["raw"], "TIMEOUT");
        let acct = sacct_job(&cx.svc, &id);
        assert_eq!(alloc_row(&acct, &id).state, "TIMEOUT");
        // The batch script's exit trap ran (SIGTERM at the limit) and its marker was collected.
        assert_eq!(rd.one("marker_seen")["exit_code"], 143);
        assert_marker_collected(&rd.artifacts(), &id, 143);
    }

    /// Item 5: a job cut off by its time limit keeps the concurrency points that finished:
    /// their client logs are collected, they are valid rows in the results (and uploadable),
    /// and the case stays `timeout`.
    #[test]
    fn a_timeout_keeps_the_finished_concurrency_points() {
        let Some(cx) = Ctx::new() else { return };
        let two_points = fs::read_to_string(repo().join(
            "tests/stub-trtllm/tests/scripts/perf-sanity/aggregated/tiny_llama_fp8_grace_blackwell.yaml",
        ))
        .unwrap()
        .replacen(
            "        backend: \"openai\"\n",
            "        backend: \"openai\"\n      - name: \"con8_iter2_isl128_osl64\"\n        concurrency: 8\n        iterations: 2\n        isl: 128\n        osl: 64\n        backend: \"openai\"\n",
            1,
        );
        let tree = stub_copy_with(&[("two_points", two_points)]);
        let t = tree.path().display().to_string();
        let mut child = cx
            .cmd(&[
                "run",
                "--cluster",
                "local-test",
                "--workdir",
                &cx.workdir,
                "--trtllm-dir",
                &t,
                "--config",
                "two_points",
                "--server",
                "tiny_llama_fp8_tp1",
                "--env",
                "PERF_RUN_STUB_HANG_FROM_CONCURRENCY=8",
                "--time",
                "5",
                "-v",
            ])
            .stdout(Stdio::null())
            .stderr(fs::File::create(cx.home.path().join("timeout.stderr")).unwrap())
            .spawn()
            .unwrap();
        let id = wait_until("the job to be submitted", Duration::from_secs(60), || {
            assert!(child.try_wait().unwrap().is_none(), "perf-run ended early");
            fs::read_dir(cx.home.path())
                .ok()?
                .flatten()
                .map(|e| RunDir(e.path()))
                .find(|r| r.0.join("run.json").is_file())
                .and_then(|r| r.events("submitted").first().cloned())
                .map(|e| e["job_id"].as_str().unwrap().to_string())
        });
        ssh_ok(&cx.svc, &format!("scontrol update JobId={id} TimeLimit=1"));
        let st = wait_until("perf-run to exit", Duration::from_secs(300), || {
            child.try_wait().unwrap()
        });
        let err = fs::read_to_string(cx.home.path().join("timeout.stderr")).unwrap();
        assert_eq!(st.code(), Some(1), "{err}");
        let rd = cx.run_dir();
        assert_eq!(rd.finished()["state"]["raw"], "TIMEOUT");
        let s: Value =
            serde_json::from_str(&fs::read_to_string(rd.0.join("results/summary.json")).unwrap())
                .unwrap();
        let case = &s["cases"][0];
        assert_eq!(case["failure_class"], "timeout", "{case}");
        let clients = case["clients"].as_array().unwrap();
        assert_eq!(clients.len(), 2, "{case}");
        let validity: Vec<&str> = clients
            .iter()
            .map(|c| c["validity"].as_str().unwrap())
            .collect();
        assert_eq!(validity, ["valid", "invalid"], "{case}");
        assert!(clients[0]["metrics"]["token_throughput"].as_f64().unwrap() > 0.0);
        // The finished point is a valid row of the long CSV, which the uploader takes.
        let csv = fs::read_to_string(rd.0.join("results/perf_script_test_results.csv")).unwrap();
        let valid_rows = csv
            .lines()
            .filter(|l| l.contains("con:4") && l.contains(",valid,"))
            .count();
        assert!(valid_rows > 0, "{csv}");
        assert!(
            !csv.lines()
                .any(|l| l.contains("con:8") && l.contains(",valid,")),
            "{csv}"
        );
        // Slurm's warning before the limit (#SBATCH --signal=B:USR1@N) reached the batch
        // script, which said so once and went on; perf-run showed it and journaled it.
        let warned = rd.events("time_limit_warning");
        assert_eq!(warned.len(), 1, "{err}");
        assert_eq!(warned[0]["job_id"], id.as_str());
        assert!(
            err.contains("Slurm warns that the job reaches its time limit"),
            "{err}"
        );
        assert!(rd.artifacts().join("time_limit_warning").is_file());
        let log = fs::read_to_string(rd.artifacts().join(format!("slurm-{id}.log"))).unwrap();
        assert_eq!(
            log.matches("PERF_RUN_TIME_LIMIT_WARNING").count(),
            1,
            "{log}"
        );
    }

    #[test]
    fn cancelled_job_is_finished_and_collected_by_resume() {
        let Some(cx) = Ctx::new() else { return };
        let mut args = vec!["submit"];
        args.extend(cx.run_args(&[]).into_iter().skip(1));
        let sleeping = tiny_sleeping("120");
        args.extend(strs(&sleeping));
        let d = cx.output(&args);
        assert_eq!(d.code, Some(0), "{}", d.stderr);
        let rd = cx.run_dir();
        let id = rd.job_id();
        rd.one("detached");
        wait_until("the job to run", Duration::from_secs(60), || {
            (squeue_state(&cx.svc, &id).as_deref() == Some("RUNNING")).then_some(())
        });
        // squeue says RUNNING a moment before slurmd starts the batch script: wait until the
        // script has set its traps (it writes sysinfo/ right after), so the cancel below meets
        // a running script that writes its marker, not one that never started.
        wait_until("the batch script to start", Duration::from_secs(60), || {
            let out = ssh(&cx.svc, &format!("scontrol show job {id} -o"));
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let log = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("StdOut="))?
                .to_string();
            let dir = log.rsplit_once('/')?.0.to_string();
            ssh(&cx.svc, &format!("test -s '{dir}/sysinfo/hostname.txt'"))
                .status
                .success()
                .then_some(())
        });
        // While it runs: not final, and no exit code yet.
        let s = cx.output(&["status", &rd.id(), "--json"]);
        assert_eq!(s.code, Some(0), "{}", s.stderr);
        let v: Value = serde_json::from_str(&s.stdout).unwrap();
        assert_eq!(v[0]["job_id"], id.as_str());
        assert_eq!(v[0]["final"], false, "{v}");
        assert!(v[0]["exit_code"].is_null(), "{v}");
        let c = cx.output(&["cancel", &rd.id()]);
        assert_eq!(c.code, Some(0), "{}", c.stderr);
        assert_eq!(rd.one("cancel_requested")["jobs"][0], id.as_str());
        let r = cx.output(&["resume", &rd.id()]);
        assert!(r.code.is_some_and(|c| c != 0), "{r:?}");
        let rec = rd.finished();
        assert!(
            rec["state"]["raw"]
                .as_str()
                .unwrap()
                .starts_with("CANCELLED"),
            "{rec}"
        );
        let acct = sacct_job(&cx.svc, &id);
        assert!(alloc_row(&acct, &id).state.starts_with("CANCELLED"));
        // Collected right after scancel, yet with the marker the exit trap writes last.
        assert_marker_collected(&rd.artifacts(), &id, 143);
        assert_eq!(rd.events("submitted").len(), 1);
    }

    #[test]
    fn multi_node_aggregated_job_runs_2_nodes_by_4_tasks() {
        let Some(cx) = Ctx::new() else { return };
        let d = cx.run(&[
            "--config",
            "deepseek_r1_fp4_v2_2_nodes_grace_blackwell",
            "--server",
            "r1_fp4_v2_dep8_mtp1_1k1k",
        ]);
        assert_eq!(d.code, Some(0), "{}", d.stderr);
        let rd = cx.run_dir();
        let id = rd.job_id();
        let acct = sacct_job(&cx.svc, &id);
        let a = alloc_row(&acct, &id);
        assert_eq!((a.state.as_str(), a.nnodes), ("COMPLETED", 2), "{a:?}");
        let nodes = hostnames(&cx.svc, &a.nodes);
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        // By name: the SYSINFO probe step runs before it.
        let step = acct
            .iter()
            .find(|r| r.name == "AGGR")
            .expect("the server step");
        assert_eq!((step.nnodes, step.ntasks), (2, Some(8)), "{step:?}");
        assert_eq!(hostnames(&cx.svc, &step.nodes), nodes);
        assert_eq!(
            rd.finished()["node_list"].as_str(),
            Some(a.nodes.as_str()),
            "perf-run recorded the node list"
        );
        let art = rd.artifacts();
        let log = fs::read_to_string(art.join(format!("slurm-{id}.log"))).unwrap();
        let sid = step.id.rsplit('.').next().unwrap_or("1").to_string();
        for rank in 1..8 {
            assert!(
                log.contains(&format!("rank {rank}/8 (job {id} step {sid})")),
                "rank {rank} of 8 did not run:\n{log}"
            );
        }
        assert!(
            art.join(format!(".trtllm-llmapi-launch/job{id}_step{sid}.done"))
                .is_file()
        );
        assert_marker_collected(&art, &id, 0);
    }

    /// The 3-node disaggregated fixture: GEN_0 on 2 nodes × 4 tasks, CTX_0 on the third, the
    /// router and the benchmark on the first; then `status --json` and `logs --role` on it.
    #[test]
    fn disaggregated_job_on_3_nodes_with_role_logs_status_and_logs() {
        let Some(cx) = Ctx::new() else { return };
        let d = cx.run(&[
            "--config",
            "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
        ]);
        assert_eq!(d.code, Some(0), "{}", d.stderr);
        let rd = cx.run_dir();
        let id = rd.job_id();
        let acct = sacct_job(&cx.svc, &id);
        let a = alloc_row(&acct, &id);
        assert_eq!((a.state.as_str(), a.nnodes), ("COMPLETED", 3), "{a:?}");
        let all = hostnames(&cx.svc, &a.nodes);
        let step = |name: &str| {
            acct.iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("no step {name} in {acct:#?}"))
                .clone()
        };
        let (gen0, ctx0, router, bench) = (
            step("GEN_0"),
            step("CTX_0"),
            step("DISAGG_SERVER"),
            step("BENCHMARK"),
        );
        assert_eq!((gen0.nnodes, gen0.ntasks), (2, Some(8)), "{gen0:?}");
        assert_eq!((ctx0.nnodes, ctx0.ntasks), (1, Some(4)), "{ctx0:?}");
        assert_eq!((router.nnodes, router.ntasks), (1, Some(1)));
        assert_eq!((bench.nnodes, bench.ntasks), (1, Some(1)));
        let gen_nodes = hostnames(&cx.svc, &gen0.nodes);
        let ctx_nodes = hostnames(&cx.svc, &ctx0.nodes);
        assert_eq!(gen_nodes, all[0..2].to_vec());
        assert_eq!(ctx_nodes, all[2..3].to_vec());
        for s in [&gen0, &ctx0, &router, &bench] {
            assert_eq!((s.state.as_str(), s.exit.as_str()), ("COMPLETED", "0:0"));
        }
        let art = rd.artifacts();
        // Role logs live in the test's case directory, where upstream's launch draft puts them.
        let case = "disagg_upload-e2e-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";
        for (role, file) in [
            ("GEN_0", format!("{case}/gen_server_0.log")),
            ("CTX_0", format!("{case}/ctx_server_0.log")),
            ("DISAGG_SERVER", format!("{case}/disagg_server.log")),
        ] {
            let text = fs::read_to_string(art.join(&file))
                .unwrap_or_else(|e| panic!("{role}'s log {file} was not collected: {e}"));
            assert!(!text.trim().is_empty(), "{file} is empty");
            let l = cx.output(&["logs", &rd.id(), "--role", role]);
            assert_eq!(l.code, Some(0), "{}", l.stderr);
            assert_eq!(l.stdout.trim_end(), text.trim_end(), "logs --role {role}");
        }
        // The benchmark step writes into the batch log.
        let bl = cx.output(&["logs", &rd.id(), "--role", "BENCHMARK"]);
        let batch = fs::read_to_string(art.join(format!("slurm-{id}.log"))).unwrap();
        assert_eq!(bl.stdout.trim_end(), batch.trim_end());
        assert!(
            batch.contains("step BENCHMARK ended with exit code 0"),
            "{batch}"
        );
        let bad = cx.output(&["logs", &rd.id(), "--role", "GEN"]);
        assert_eq!(bad.code, Some(2), "an unknown role is a usage error");
        let s = cx.output(&["status", &rd.id(), "--json"]);
        assert_eq!(s.code, Some(0), "{}", s.stderr);
        let v: Value = serde_json::from_str(&s.stdout).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["job_id"], id.as_str());
        assert_eq!(v[0]["state"], "COMPLETED");
        assert_eq!(v[0]["final"], true);
        assert_eq!(v[0]["exit_code"], 0);
        assert!(
            v[0]["test_id"]
                .as_str()
                .unwrap()
                .contains("disagg_upload-e2e-")
        );
    }

    #[test]
    fn doctor_passes_on_the_test_cluster() {
        let Some(cx) = Ctx::new() else { return };
        let d = cx.output(&[
            "doctor",
            "--cluster",
            "local-test",
            "--workdir",
            &cx.workdir,
        ]);
        assert_eq!(d.code, Some(0), "{}", d.stderr);
        assert!(!d.stderr.contains("FAIL"), "{}", d.stderr);
        assert!(d.stderr.contains("sbatch --test-only"), "{}", d.stderr);
    }

    /// 8 GPUs per node on 4-GPU nodes, with a profile that states no capacity, so the plan
    /// cannot refuse it: sbatch does, and perf-run says why and stops at once.
    #[test]
    fn sbatch_refusal_is_a_quick_clear_failure() {
        let Some(cx) = Ctx::new() else { return };
        let tree = stub_copy_with(&[("eight_gpu_nodes", tiny_variant(8, 8))]);
        let dir = tempfile::tempdir().unwrap();
        let profile = profile_file(dir.path(), "nocap", &cx.workdir, "");
        let t = tree.path().display().to_string();
        let p = profile.display().to_string();
        let d = cx.output(&[
            "run",
            "--clusters-file",
            &p,
            "--cluster",
            "nocap",
            "--trtllm-dir",
            &t,
            "--config",
            "eight_gpu_nodes",
            "--server",
            "tiny_llama_fp8_tp8",
        ]);
        assert!(d.code.is_some_and(|c| c != 0), "{d:?}");
        assert!(
            d.stderr
                .contains("Requested node configuration is not available")
                && d.stderr.contains("cannot be satisfied by this cluster"),
            "{}",
            d.stderr
        );
        let rd = cx.run_dir();
        assert!(rd.events("submitted").is_empty());
        rd.one("submit_failed");
        assert_ne!(rd.run_finished()["exit_code"], 0);
    }

    /// 5 nodes on a 4-node partition, with a profile that states no capacity: sbatch accepts
    /// it, Slurm keeps it pending with the reason PartitionConfig forever, and perf-run
    /// cancels it as hopeless instead of waiting.
    #[test]
    fn job_that_can_never_start_is_cancelled_not_waited_for() {
        let Some(cx) = Ctx::new() else { return };
        let tree = stub_copy_with(&[("five_nodes", tiny_variant(20, 4))]);
        let dir = tempfile::tempdir().unwrap();
        let profile = profile_file(dir.path(), "nocap", &cx.workdir, "");
        let t = tree.path().display().to_string();
        let p = profile.display().to_string();
        let r = cx.output(&[
            "run",
            "--clusters-file",
            &p,
            "--cluster",
            "nocap",
            "--trtllm-dir",
            &t,
            "--config",
            "five_nodes",
            "--server",
            "tiny_llama_fp8_tp20",
        ]);
        assert!(r.code.is_some_and(|c| c != 0), "{r:?}");
        assert!(
            r.stderr.contains("can never start as submitted")
                && r.stderr.contains("PartitionConfig"),
            "{}",
            r.stderr
        );
        let rd = cx.run_dir();
        let id = rd.job_id();
        assert_eq!(rd.one("cancel_requested")["jobs"][0], id.as_str());
        assert!(
            rd.events("job_state")
                .iter()
                .any(|e| e["reason"] == "PartitionConfig"),
            "{:#?}",
            rd.journal()
        );
        let acct = sacct_job(&cx.svc, &id);
        assert!(alloc_row(&acct, &id).state.starts_with("CANCELLED"));
        assert!(
            rd.finished()["state"]["raw"]
                .as_str()
                .unwrap()
                .starts_with("CANCELLED")
        );
    }

    // ---------------------------------------------------------------- faults while watching

    /// Run a job whose benchmark sleeps `secs`, inject `fault` once it runs, and return the
    /// finished run (exit code checked by the caller).
    fn watch_through(
        cx: &Ctx,
        secs: &str,
        fault: impl FnOnce(&Ctx, &mut Running, &str),
    ) -> (Option<i32>, RunDir, String) {
        let sleeping = tiny_sleeping(secs);
        let mut r = cx.spawn(&strs(&sleeping));
        let id = cx.await_submitted(&mut r);
        cx.await_running(&mut r, &id);
        fault(cx, &mut r, &id);
        let code = r.wait(Duration::from_secs(240));
        (code, cx.run_dir(), id)
    }

    fn assert_completed(rd: &RunDir, code: Option<i32>, id: &str) {
        assert_eq!(code, Some(0));
        let rec = rd.finished();
        assert_eq!(rec["state"]["raw"], "COMPLETED", "{rec}");
        assert_eq!(rec["exit_code"], 0, "{rec}");
        assert_eq!(rd.one("marker_seen")["exit_code"], 0);
        assert_marker_collected(&rd.artifacts(), id, 0);
        assert_eq!(rd.events("submitted").len(), 1);
    }

    #[test]
    fn fault_ssh_master_killed_while_watching() {
        let Some(cx) = Ctx::new() else { return };
        let (code, rd, id) = watch_through(&cx, "10", |cx, _, _| {
            // Only this test's master: its control path is in this test's control directory.
            let pattern = format!("^ssh .*{}/.* -M ", cx.control.path().display());
            let st = Command::new("pkill")
                .args(["-f", &pattern])
                .status()
                .unwrap();
            assert!(st.success(), "no ssh master matched {pattern}");
        });
        assert_completed(&rd, code, &id);
        let fin = rd.run_finished();
        assert_eq!(fin["ssh_connects"], 2, "one reconnect: {fin}");
    }

    #[test]
    fn fault_sshd_restarted_dropping_connections_while_watching() {
        let Some(cx) = Ctx::new() else { return };
        let _restore = Restore {
            what: "restart-sshd",
        };
        let (code, rd, id) = watch_through(&cx, "10", |_, _, _| {
            test_cluster(&["restart-sshd", "--drop-connections"]);
        });
        assert_completed(&rd, code, &id);
        assert!(rd.run_finished()["ssh_connects"].as_u64().unwrap() >= 2);
    }

    #[test]
    fn fault_slurmctld_restarted_while_watching() {
        let Some(cx) = Ctx::new() else { return };
        let _restore = Restore {
            what: "restart-slurmctld",
        };
        let (code, rd, id) = watch_through(&cx, "10", |_, _, _| {
            test_cluster(&["restart-slurmctld"]);
        });
        assert_completed(&rd, code, &id);
        let acct = sacct_job(&cx.svc, &id);
        assert_eq!(alloc_row(&acct, &id).state, "COMPLETED");
    }

    /// slurmdbd down from while the job runs until after perf-run exits: sacct fails all the
    /// time, so the end is known from squeue/scontrol.
    #[test]
    fn fault_slurmdbd_down_while_watching_uses_the_fallbacks() {
        let Some(cx) = Ctx::new() else { return };
        let restore = Restore {
            what: "stop-slurmdbd",
        };
        let (code, rd, id) = watch_through(&cx, "8", |_, _, _| {
            test_cluster(&["stop-slurmdbd"]);
        });
        assert_completed(&rd, code, &id);
        let rec = rd.finished();
        assert_ne!(rec["source"], "sacct", "accounting was down: {rec}");
        test_cluster(&["start-slurmdbd"]);
        drop(restore);
        // Accounting catches up once slurmdbd is back.
        let acct = sacct_job(&cx.svc, &id);
        assert_eq!(alloc_row(&acct, &id).state, "COMPLETED");
    }

    #[test]
    fn fault_sigterm_cancels_the_job_collects_and_exits_143() {
        let Some(cx) = Ctx::new() else { return };
        let (code, rd, id) = watch_through(&cx, "120", |_, r, _| r.signal(libc::SIGTERM));
        assert_eq!(code, Some(143));
        let c = rd.one("cancel_requested");
        assert_eq!(c["jobs"][0], id.as_str());
        assert!(c["why"].as_str().unwrap().contains("SIGTERM"), "{c}");
        let acct = sacct_job(&cx.svc, &id);
        assert!(alloc_row(&acct, &id).state.starts_with("CANCELLED"));
        assert!(
            rd.finished()["state"]["raw"]
                .as_str()
                .unwrap()
                .starts_with("CANCELLED")
        );
        assert!(rd.one("collected")["error"].is_null());
        assert_marker_collected(&rd.artifacts(), &id, 143);
        assert_eq!(rd.run_finished()["exit_code"], 143);
    }

    /// The journal becomes unwritable while the job runs (`chattr +i` binds root too; a full
    /// disk is the real case). Its write failures are reported — once — never dropped, and they
    /// do not cost the measurement: the job is still watched to its end and the results are
    /// written (architecture review: "16 journal writes drop their errors").
    #[test]
    fn fault_unwritable_journal_is_reported_once_and_the_results_are_kept() {
        let Some(cx) = Ctx::new() else { return };
        let chattr = |flag: &str, p: &Path| {
            Command::new("chattr")
                .arg(flag)
                .arg(p)
                .status()
                .is_ok_and(|s| s.success())
        };
        let mut frozen: Option<PathBuf> = None;
        let (code, rd, _id) = watch_through(&cx, "6", |cx, _, _| {
            let dirs: Vec<PathBuf> = fs::read_dir(cx.home.path())
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("journal.jsonl").is_file())
                .collect();
            let j = dirs[0].join("journal.jsonl");
            if chattr("+i", &j) {
                frozen = Some(j);
            }
        });
        let Some(j) = frozen else {
            eprintln!("chattr +i does not work on this file system; the fault was not injected");
            return;
        };
        assert!(chattr("-i", &j), "cleanup: chattr -i {}", j.display());
        let err = fs::read_dir(cx.home.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "stderr"))
            .map(|p| fs::read_to_string(p).unwrap_or_default())
            .collect::<String>();
        assert_eq!(code, Some(0), "{err}");
        assert_eq!(
            err.matches("cannot write the run journal").count(),
            1,
            "reported once:\n{err}"
        );
        assert!(err.contains("`perf-run resume` will not see"), "{err}");
        let s: Value =
            serde_json::from_str(&fs::read_to_string(rd.0.join("results/summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["cases"][0]["status"], "passed", "{s}");
        assert!(rd.0.join("results/perf-run-junit.xml").is_file());
    }

    #[test]
    fn fault_sighup_while_watching_cancels_collects_and_exits_129() {
        let Some(cx) = Ctx::new() else { return };
        let (code, rd, id) = watch_through(&cx, "120", |_, r, _| r.signal(libc::SIGHUP));
        assert_eq!(code, Some(129));
        assert!(
            rd.one("cancel_requested")["why"]
                .as_str()
                .unwrap()
                .contains("SIGHUP")
        );
        assert_marker_collected(&rd.artifacts(), &id, 143);
        assert_eq!(rd.run_finished()["exit_code"], 129);
        assert_verdict(&rd, "");
    }

    /// results/ with a JUnit case per selected test, and a journal that `status` reads as
    /// finished.
    fn assert_verdict(rd: &RunDir, reason: &str) {
        let junit = fs::read_to_string(rd.0.join("results/perf-run-junit.xml"))
            .unwrap_or_else(|e| panic!("no JUnit file in {} ({e})", rd.path()));
        assert_eq!(junit.matches("<testcase ").count(), 1, "{junit}");
        assert!(junit.contains(reason), "{reason:?} not in {junit}");
        assert!(rd.0.join("results/summary.json").is_file());
        let st = Command::new(assert_cmd::cargo::cargo_bin("perf-run"))
            .args(["status", &rd.path()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&st.stderr);
        assert!(err.contains(": finished"), "status: {err}");
    }

    /// An abort before submission (a host that does not resolve) and a signal while
    /// connecting (a host that never answers) end like any run: results/, JUnit, a journal
    /// verdict, and the documented exit code.
    #[test]
    fn fault_failures_and_signals_before_submission_leave_a_verdict() {
        let Some(cx) = Ctx::new() else { return };
        let mut a: Vec<&str> = TINY.to_vec();
        a.extend(["--host", "no-such-host.invalid"]);
        let d = cx.run(&a);
        assert_eq!(d.code, Some(4), "{}", d.stderr);
        let rd = cx.run_dir();
        assert_eq!(rd.run_finished()["exit_code"], 4);
        assert!(rd.events("submitted").is_empty());
        assert_verdict(
            &rd,
            "the job was not submitted: cannot open an ssh connection",
        );
        fs::remove_dir_all(&rd.0).unwrap();

        // A login host that never answers: ssh waits for a banner that does not come.
        let cfg = cx.home.path().join("hang_ssh_config");
        fs::write(&cfg, "Host hang-host\n  ProxyCommand sleep 20\n").unwrap();
        let cfg = cfg.display().to_string();
        for (sig, code) in [
            (libc::SIGTERM, 143),
            (libc::SIGINT, 130),
            (libc::SIGHUP, 129),
        ] {
            let mut a: Vec<&str> = TINY.to_vec();
            a.extend(["--host", "hang-host", "--ssh-config", &cfg]);
            let mut r = cx.spawn(&a);
            wait_until("the run to start", Duration::from_secs(20), || {
                fs::read_to_string(&r.log)
                    .ok()
                    .filter(|l| l.contains("connecting to"))
            });
            r.signal(sig);
            let got = r.wait(Duration::from_secs(15));
            assert_eq!(got, Some(code), "signal {sig}");
            let rd = cx.run_dir();
            assert_eq!(rd.run_finished()["exit_code"], code);
            assert_verdict(
                &rd,
                "the run was interrupted before this case was submitted",
            );
            fs::remove_dir_all(&rd.0).unwrap();
        }
    }

    #[test]
    fn fault_kill_9_then_resume_finishes_without_a_second_sbatch() {
        let Some(cx) = Ctx::new() else { return };
        let (code, rd, id) = watch_through(&cx, "8", |_, r, _| r.signal(libc::SIGKILL));
        assert_eq!(code, None, "killed by a signal");
        assert!(rd.events("finished").is_empty());
        let d = cx.output(&["resume", &rd.path()]);
        assert_eq!(d.code, Some(0), "{}", d.stderr);
        assert_completed(&rd, d.code, &id);
        // Exactly one job with the run's (unique) job name ever reached Slurm.
        let name = rd.job_name();
        let jobs = ssh_ok(
            &cx.svc,
            &format!("sacct -X -n -P --starttime=now-1days --name='{name}' -o JobIDRaw"),
        );
        assert_eq!(
            jobs.split_whitespace().collect::<Vec<_>>(),
            vec![id.as_str()]
        );
    }

    /// Another perf-run (here `status`) connecting while a run watches must not take the
    /// watcher's ssh master away (openssh's clean_history_control_directory did).
    #[test]
    fn a_second_perf_run_does_not_break_the_watchers_connection() {
        let Some(cx) = Ctx::new() else { return };
        let (code, rd, id) = watch_through(&cx, "6", |cx, _, _| {
            let d = cx.output(&["status", &cx.run_dir().path()]);
            assert_eq!(d.code, Some(0), "{}", d.stderr);
        });
        assert_completed(&rd, code, &id);
        let fin = rd.run_finished();
        assert_eq!(
            fin["ssh_connects"], 1,
            "the watcher had to reconnect: {fin}"
        );
    }
}
