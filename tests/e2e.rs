//! `perf-run run` end to end on the real test cluster (4 Slurm nodes, sshd, MariaDB), driving
//! the stand-in TensorRT-LLM checkout: single-agg, multi-agg on 2 nodes, disagg on 3 nodes, a
//! test list with a skipped case, and the failure runs (worker crash, failed requests, time
//! limit). Every run ends with its rows checked in a TRT_perf database of its own.

mod common;

mod cluster {
    use std::path::Path;

    use super::common::{self, TestDb, only_run, perf_run, services, stub, summary};
    use serde_json::Value;

    const TINY: &str = "tiny_llama_fp8_grace_blackwell";
    const TINY_DISAGG: &str = "gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX";
    const DISAGG: &str =
        "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";

    /// Run perf-run with a fresh runs home and the test database; returns (exit code, run dir, stderr).
    fn run(home: &Path, db: Option<&TestDb>, args: &[&str]) -> (i32, std::path::PathBuf, String) {
        let mut c = perf_run();
        // The local-test profile names the cluster user (perfci); no CLUSTER_USER override.
        c.env_remove("CLUSTER_USER")
            .env("PERF_RUN_HOME", home)
            .args(["run", "--cluster", "local-test", "--trtllm-dir"])
            .arg(stub())
            .args(args)
            .timeout(std::time::Duration::from_secs(600));
        if let Some(db) = db {
            for (k, v) in db.env() {
                c.env(k, v);
            }
            c.arg("--upload");
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let code = out.status.code().unwrap_or(-1);
        (code, only_run(home), err)
    }

    /// How many nodes a Slurm node list names (`n[1-3]`, `n[1,3-4]`, `n2`).
    fn node_count(v: &Value) -> usize {
        let s = v.as_str().unwrap_or_default();
        match (s.find('['), s.find(']')) {
            (Some(a), Some(b)) => s[a + 1..b]
                .split(',')
                .map(|r| match r.split_once('-') {
                    Some((x, y)) => y.parse::<usize>().unwrap() - x.parse::<usize>().unwrap() + 1,
                    None => 1,
                })
                .sum(),
            _ if s.is_empty() => 0,
            _ => s.split(',').count(),
        }
    }

    fn cases(s: &Value) -> &Vec<Value> {
        s["cases"].as_array().unwrap()
    }

    /// Every valid client of the summary is one perf_result row whose throughput is the
    /// client's output token throughput.
    fn check_rows(db: &TestDb, s: &Value) {
        let valid: Vec<&Value> = cases(s)
            .iter()
            .flat_map(|c| c["clients"].as_array().unwrap().iter())
            .filter(|cl| cl["validity"] == "valid")
            .collect();
        assert!(!valid.is_empty());
        assert_eq!(db.count("runs"), 1);
        assert_eq!(db.count("perf_result"), valid.len());
        let rows = db.sql("SELECT throughput, perf_data FROM perf_result ORDER BY id");
        let mut got: Vec<f64> = rows
            .lines()
            .map(|l| l.split('\t').next().unwrap().parse().unwrap())
            .collect();
        let mut want: Vec<f64> = valid
            .iter()
            .map(|cl| cl["metrics"]["token_throughput"].as_f64().unwrap())
            .collect();
        got.sort_by(f64::total_cmp);
        want.sort_by(f64::total_cmp);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 0.01, "throughput {g} vs summary {w}");
        }
        assert!(rows.contains("tokens_per__sec"), "{rows}");
        // The summary records the upload, and where the run values came from.
        assert!(s["upload"]["run_id"].as_u64().is_some(), "{}", s["upload"]);
        // The TensorRT-LLM version the job read on the compute node (sysinfo/trtllm_version.txt).
        assert_eq!(db.sql("SELECT trtllm FROM runs").trim(), "1.2.0rc0-stub");
        let trtllm = &s["upload"]["run_values"]["trtllm"];
        assert_eq!(trtllm["source"], "detected", "{trtllm}");
        assert_eq!(trtllm["from"], "sysinfo/trtllm_version.txt", "{trtllm}");
    }

    /// B10: SIGTERM while `run --upload` writes to the database: exit 143 (not 0), the
    /// transaction is rolled back, the upload waits in the spool, and `upload --spool` commits
    /// it once.
    #[test]
    fn sigterm_during_the_upload_of_a_run_exits_143_and_spools_it() {
        let Some(svc) = services("sigterm_during_upload") else {
            return;
        };
        let db = TestDb::create(&svc);
        db.sql("CREATE TRIGGER slow BEFORE INSERT ON perf_result FOR EACH ROW DO SLEEP(4)");
        let home = tempfile::tempdir().unwrap();
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("perf-run"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CLUSTER_") || k.starts_with("DB_") || k.starts_with("PERF_RUN_") {
                c.env_remove(k);
            }
        }
        c.env("PERF_RUN_HOME", home.path())
            .envs(db.env())
            .current_dir(common::repo())
            .args(["run", "--cluster", "local-test", "--trtllm-dir"])
            .arg(stub())
            .args([
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
                "--upload",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = c.spawn().unwrap();
        let spool = home.path().join("spool");
        let t0 = std::time::Instant::now();
        // The in-flight entry appears when the upload starts (after the job and extraction).
        while !spool.is_dir() || std::fs::read_dir(&spool).unwrap().count() == 0 {
            assert!(t0.elapsed().as_secs() < 300, "the upload never started");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_millis(1500));
        // SAFETY: a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(143), "{err}");
        assert!(err.contains("perf-run upload --spool"), "{err}");
        let run = only_run(home.path());
        let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
        assert!(journal.contains("\"upload_pending\""), "{journal}");
        assert!(journal.contains("\"exit_code\":143"), "{journal}");
        assert!(run.join("results/perf-run-junit.xml").is_file());
        let t0 = std::time::Instant::now();
        while db.count("runs") != 0 {
            assert!(t0.elapsed().as_secs() < 30, "not rolled back");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        db.sql("DROP TRIGGER slow");
        let o = perf_run()
            .env("PERF_RUN_HOME", home.path())
            .envs(db.env())
            .args(["upload", "--spool"])
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(db.count("runs"), 1);
        let o = perf_run()
            .env("PERF_RUN_HOME", home.path())
            .envs(db.env())
            .args(["upload", "--spool"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(db.count("runs"), 1, "committed once");
    }

    #[test]
    fn single_agg_end_to_end_with_rows_in_trt_perf() {
        let Some(svc) = services("single_agg_end_to_end") else {
            return;
        };
        let db = TestDb::create(&svc);
        let home = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            home.path(),
            Some(&db),
            &["--config", TINY, "--server", "tiny_llama_fp8_tp1"],
        );
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        let c = &cases(&s)[0];
        assert_eq!(c["mode"], "single-agg");
        assert_eq!(c["status"], "passed");
        assert_eq!(c["job"]["state"], "COMPLETED");
        let cl = &c["clients"][0];
        assert_eq!(cl["validity"], "valid");
        // Deterministic numbers of the stub (tests/stub-trtllm/README.md): tp1, c4, isl 128, osl 64.
        assert_eq!(cl["metrics"]["token_throughput"].as_f64(), Some(875.75));
        assert_eq!(cl["metrics"]["mean_ttft"].as_f64(), Some(15.12));
        check_rows(&db, &s);
        let network = db.sql("SELECT network, batchsize, `precision`, format FROM cases");
        assert!(network.contains("tiny_llama_fp8_tp1"), "{network}");
        assert!(network.contains("FP8"), "{network}");
        assert!(err.contains("TRTPerf:"), "{err}");
        for f in [
            "perf_script_test_results.csv",
            "perf_summary.csv",
            "session_properties.csv",
            "perf-run-junit.xml",
        ] {
            assert!(run.join("results").join(f).is_file(), "{f}");
        }
    }

    #[test]
    fn multi_agg_on_two_nodes() {
        let Some(svc) = services("multi_agg_on_two_nodes") else {
            return;
        };
        let db = TestDb::create(&svc);
        let home = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            home.path(),
            Some(&db),
            &[
                "--config",
                "deepseek_r1_fp4_v2_2_nodes_grace_blackwell",
                "--server",
                "r1_fp4_v2_dep8_mtp1_1k1k",
            ],
        );
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        let c = &cases(&s)[0];
        assert_eq!(c["mode"], "multi-agg");
        assert_eq!(c["status"], "passed");
        assert_eq!(
            node_count(&c["job"]["node_list"]),
            2,
            "two nodes in accounting: {}",
            c["job"]
        );
        check_rows(&db, &s);
    }

    #[test]
    fn disagg_one_ctx_one_gen_on_three_nodes() {
        let Some(svc) = services("disagg_on_three_nodes") else {
            return;
        };
        let db = TestDb::create(&svc);
        let home = tempfile::tempdir().unwrap();
        let (code, run, err) = run(home.path(), Some(&db), &["--config", DISAGG]);
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        let c = &cases(&s)[0];
        assert_eq!(c["mode"], "disagg");
        assert_eq!(c["status"], "passed");
        assert_eq!(
            node_count(&c["job"]["node_list"]),
            3,
            "three nodes in accounting: {}",
            c["job"]
        );
        check_rows(&db, &s);
        let types = db.sql("SELECT perf_data FROM perf_result");
        assert!(
            types.contains("disagg_server_ttft") && types.contains("disagg_server_e2el"),
            "{types}"
        );
        let art = run
            .join("cases")
            .join(
                std::fs::read_dir(run.join("cases"))
                    .unwrap()
                    .next()
                    .unwrap()
                    .unwrap()
                    .file_name(),
            )
            .join("artifacts");
        // Role logs live in the test's case directory, where upstream's draft writes them, and
        // the gen log's sentinel was touched once its srun was reaped.
        let case = format!("disagg_upload-e2e-{DISAGG}");
        for f in [
            format!("{case}/gen_server_0.log"),
            format!("{case}/gen_server_0.done"),
            format!("{case}/ctx_server_0.log"),
            format!("{case}/disagg_server.log"),
            "results-GEN_0.xml".into(),
            "results-CTX_0.xml".into(),
            "results.xml".into(),
        ] {
            assert!(art.join(&f).is_file(), "{f} collected");
        }
    }

    #[test]
    fn test_list_with_a_skipped_case_one_summary_one_junit() {
        let Some(svc) = services("test_list") else {
            return;
        };
        let db = TestDb::create(&svc);
        let home = tempfile::tempdir().unwrap();
        let list = home.path().join("list.yml");
        std::fs::write(
            &list,
            format!(
                "version: 0.0.1\nperf_run_e2e:\n- condition:\n    terms:\n      stage: post_merge\n  tests:\n  - perf/test_perf_sanity.py::test_e2e[aggr_upload-{TINY}-tiny_llama_fp8_tp1] TIMEOUT (5)\n  - perf/test_perf_sanity.py::test_e2e[aggr_upload-{TINY}-tiny_llama_fp8_tp2] SKIP (nvbugs/123)\n  - perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{TINY_DISAGG}] TIMEOUT (5)\n"
            ),
        )
        .unwrap();
        let runs = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            runs.path(),
            Some(&db),
            &["--testlist", list.to_str().unwrap(), "--max-jobs", "2"],
        );
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        let st: Vec<&str> = cases(&s)
            .iter()
            .map(|c| c["status"].as_str().unwrap())
            .collect();
        assert_eq!(st, ["passed", "skipped", "passed"]);
        let junit = std::fs::read_to_string(run.join("results/perf-run-junit.xml")).unwrap();
        assert_eq!(junit.matches("<testcase").count(), 3, "{junit}");
        assert!(junit.contains("<skipped"), "{junit}");
        // TIMEOUT (5) became pytest's per-test limit; the job gets the profile's start-up
        // margin (1 minute on local-test) on top.
        let launch = std::fs::read_to_string(
            run.join("cases/00-aggr_upload-tiny_llama_fp8_grace_blackwell-tiny_llama_fp8_tp1/slurm_launch.sh"),
        )
        .unwrap();
        assert!(launch.contains("#SBATCH --time=00:06:00"), "{launch}");
        assert!(launch.contains("--timeout=300 "), "{launch}");
        check_rows(&db, &s);
    }

    #[test]
    fn worker_crash_fails_fast_as_test_failed_with_artifacts() {
        let Some(svc) = services("worker_crash") else {
            return;
        };
        let db = TestDb::create(&svc);
        let home = tempfile::tempdir().unwrap();
        let t0 = std::time::Instant::now();
        let (code, run, err) = run(
            home.path(),
            Some(&db),
            &[
                "--config",
                TINY_DISAGG,
                "--env",
                "PERF_RUN_STUB_FAIL=worker_crash",
            ],
        );
        assert_eq!(code, 1, "{err}");
        assert!(
            t0.elapsed().as_secs() < 120,
            "the job must fail fast, not wait for its time limit"
        );
        let s = summary(&run);
        let c = &cases(&s)[0];
        assert_eq!(c["status"], "failed");
        assert_eq!(c["failure_class"], "test_failed");
        assert_eq!(c["job"]["state"], "FAILED");
        assert_eq!(db.count("perf_result"), 0);
        let case_dir = std::fs::read_dir(run.join("cases"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let gen_log = std::fs::read_to_string(case_dir.join(format!(
            "artifacts/disagg_upload-e2e-{TINY_DISAGG}/gen_server_0.log"
        )))
        .unwrap();
        assert!(
            !gen_log.is_empty(),
            "the crashed worker's log was collected"
        );
    }

    #[test]
    fn failed_requests_are_an_invalid_measurement_and_not_uploaded() {
        let Some(svc) = services("failed_requests") else {
            return;
        };
        let db = TestDb::create(&svc);
        let home = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            home.path(),
            Some(&db),
            &[
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
                "--env",
                "PERF_RUN_STUB_FAIL=failed_requests",
            ],
        );
        assert_eq!(code, 3, "{err}");
        let s = summary(&run);
        let c = &cases(&s)[0];
        assert_eq!(c["failure_class"], "invalid_measurement");
        let reasons = c.to_string();
        assert!(reasons.contains("failed requests"), "{reasons}");
        assert_eq!(db.count("perf_result"), 0, "nothing uploaded as valid");
        assert_eq!(db.count("runs"), 0);
    }

    #[test]
    fn local_cluster_type_runs_on_the_login_node() {
        let Some(_svc) = services("local_cluster_type") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            home.path(),
            None,
            &[
                "--cluster-type",
                "local",
                "--workdir",
                work.path().to_str().unwrap(),
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("0 ssh connection"), "{err}");
        let s = summary(&run);
        assert_eq!(cases(&s)[0]["status"], "passed");
        assert!(
            work.path()
                .join("TensorRT-LLM/tests/integration/defs/perf/test_perf_sanity.py")
                .is_file()
        );
    }

    #[test]
    fn a_hang_ends_by_pytests_timeout_inside_slurms_limit() {
        let Some(_svc) = services("time_limit") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let t0 = std::time::Instant::now();
        let (code, run, err) = run(
            home.path(),
            None,
            &[
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
                "--time",
                "1",
                "--env",
                "PERF_RUN_STUB_FAIL=hang",
            ],
        );
        assert_eq!(code, 1, "{err}");
        // --time 1 is the test's limit: pytest stops the hang after 60 s, well inside Slurm's
        // 2 minutes, so the job ends with a test verdict instead of being killed.
        assert!(t0.elapsed().as_secs() < 115, "{:?}", t0.elapsed());
        let s = summary(&run);
        let c = &cases(&s)[0];
        assert_eq!(c["job"]["state"], "FAILED", "{c}");
        assert_eq!(c["failure_class"], "timeout", "{c}");
        assert!(c.to_string().contains("pytest's timeout stopped it"), "{c}");
        let _ = common::repo();
    }
}
