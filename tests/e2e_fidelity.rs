//! The upstream CI rules of issue 14, proven on the real test cluster (4 Slurm nodes, sshd)
//! with the stand-in checkout, which checks upstream's contracts itself: gen_only waits for
//! the launch script's `gen_server_<i>.done` and parses the gen worker's log; the
//! `gen_only_no_context` id runs the gen server alone on the aggregated path; a multi-node
//! aggregated job carries the YAML's env on every rank; a single-node aggregated job is one
//! task without the launcher; and an installed wheel is the TensorRT-LLM under test.
//!
//! Without the services (`scripts/test-cluster up`) each test prints a loud skip message and
//! passes, except under `CI=true`, where it fails.

mod common;

mod cluster {
    use std::path::{Path, PathBuf};

    use super::common::{only_run, perf_run, services, stub, summary};
    use serde_json::Value;

    const TINY: &str = "tiny_llama_fp8_grace_blackwell";
    const TINY_DISAGG: &str = "gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX";

    /// `perf-run run` on local-test; returns (exit code, run dir, stderr).
    fn run(home: &Path, args: &[&str]) -> (i32, PathBuf, String) {
        run_env(home, &[], args)
    }

    fn run_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, PathBuf, String) {
        let mut c = perf_run();
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c
            .env_remove("CLUSTER_USER")
            .env("PERF_RUN_HOME", home)
            .args(["run", "--cluster", "local-test", "--trtllm-dir"])
            .arg(stub())
            .args(args)
            .timeout(std::time::Duration::from_secs(600))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code().unwrap_or(-1), only_run(home), err)
    }

    fn case(s: &Value) -> &Value {
        &s["cases"][0]
    }

    /// The collected job workspace of the run's only case.
    fn artifacts(run: &Path) -> PathBuf {
        let dir = std::fs::read_dir(run.join("cases"))
            .unwrap()
            .flatten()
            .find(|e| e.path().is_dir())
            .unwrap()
            .path();
        dir.join("artifacts")
    }

    /// The collected batch log (`slurm-<job id>.log`).
    fn batch_log(art: &Path) -> String {
        let p = std::fs::read_dir(art)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("slurm-")
            })
            .unwrap();
        read(&p)
    }

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn gen_only_waits_for_the_gen_sentinel_and_parses_the_gen_log() {
        let Some(_svc) = services("gen_only_sentinels") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let id =
            format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-{TINY_DISAGG}]");
        let (code, run, err) = run(home.path(), &["--test", &id]);
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        let c = case(&s);
        assert_eq!(c["status"], "passed", "{c}");
        // tp2 gen worker, c8: 2.40 ms per iteration (tests/stub-trtllm/README.md), parsed by the
        // test from gen_server_0.log once the launch script touched gen_server_0.done.
        assert_eq!(
            c["clients"][0]["metrics"]["mean_gen_worker_per_iter_device_step_time"].as_f64(),
            Some(2.4),
            "{c}"
        );
        let dir = artifacts(&run).join(format!("disagg_upload-gen_only-{TINY_DISAGG}"));
        assert!(dir.join("gen_server_0.done").is_file());
        assert!(read(&dir.join("gen_server_0.log")).contains("prev_device_step_time"));
        // upstream keeps the ctx servers for plain gen_only (no_context comes from the YAML).
        assert!(dir.join("ctx_server_0.log").is_file());
        let launch = read(&run.join(format!(
            "cases/{}/slurm_launch.sh",
            artifacts(&run).parent().unwrap().file_name().unwrap().to_string_lossy()
        )));
        assert!(
            launch.contains("TLLM_BENCHMARK_REQ_QUEUES_SIZE=8"),
            "gen worker queue = min(mbs 64, concurrency 8)"
        );
        assert!(!launch.contains("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY"));
    }

    #[test]
    fn gen_only_no_context_runs_the_gen_server_alone_on_the_aggregated_path() {
        let Some(_svc) = services("gen_only_no_context") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let id = format!(
            "perf/test_perf_sanity.py::test_e2e[aggr_upload-gen_only_no_context-{TINY_DISAGG}]"
        );
        let (code, run, err) = run(home.path(), &["--test", &id]);
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        let c = case(&s);
        assert_eq!(c["status"], "passed", "{c}");
        assert_eq!(c["mode"], "single-agg", "the tp2 gen server fits one node");
        assert_eq!(
            c["clients"][0]["metrics"]["mean_gen_worker_per_iter_device_step_time"].as_f64(),
            Some(2.4),
            "{c}"
        );
        let dir = artifacts(&run).join(format!("aggr_upload-gen_only_no_context-{TINY_DISAGG}"));
        // The srun's output and the test's in-process lines, both appended to one log.
        let gen_log = read(&dir.join("gen_server_0.log"));
        assert!(gen_log.contains("prev_device_step_time"), "{gen_log}");
        assert!(
            gen_log.contains("PASSED"),
            "the srun output landed there too"
        );
    }

    #[test]
    fn yaml_env_reaches_every_rank_of_a_multi_node_aggregated_job() {
        let Some(_svc) = services("agg_env_every_rank") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            home.path(),
            &[
                "--config",
                "deepseek_r1_fp4_v2_2_nodes_grace_blackwell",
                "--server",
                "r1_fp4_v2_dep8_mtp1_1k1k",
            ],
        );
        // The stub's rank 0 fails the test when any rank lacks the server's env vars.
        assert_eq!(code, 0, "{err}");
        let launcher = artifacts(&run).join(".trtllm-llmapi-launch");
        let ranks: Vec<String> = std::fs::read_dir(&launcher)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".env"))
            .collect();
        assert_eq!(ranks.len(), 8, "2 nodes x 4 ranks: {ranks:?}");
        for r in &ranks {
            let env = read(&launcher.join(r));
            assert!(
                env.contains("TLLM_SPEC_DECODE_FORCE_NUM_ACCEPTED_TOKENS=1\n")
                    && env.contains("TRTLLM_FORCE_COMM_METHOD=DEEPEPLOWLATENCY\n"),
                "{r} lacks the YAML env"
            );
        }
    }

    #[test]
    fn single_node_aggregated_is_one_task_without_the_launcher() {
        let Some(_svc) = services("single_node_one_task") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let (code, run, err) = run(
            home.path(),
            &["--config", TINY, "--server", "tiny_llama_fp8_tp2"],
        );
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        assert_eq!(case(&s)["status"], "passed");
        let art = artifacts(&run);
        assert!(
            !art.join(".trtllm-llmapi-launch").exists(),
            "a 2-GPU server on one node runs in-process, without trtllm-llmapi-launch"
        );
        let launch = read(&art.join("slurm_launch.sh"));
        assert!(launch.contains("#SBATCH --ntasks=1\n"), "{launch}");
        assert!(launch.contains("${!SLURM@}"), "the PMI/SLURM scrub");
    }

    /// A real wheel of a tiny `tensorrt_llm` package, built offline.
    fn build_wheel(dir: &Path, version: &str) -> PathBuf {
        let src = dir.join("src/tensorrt_llm");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("__init__.py"),
            format!("__version__ = \"{version}\"\n"),
        )
        .unwrap();
        std::fs::write(
            dir.join("setup.py"),
            format!(
                "from setuptools import setup\nsetup(name=\"tensorrt_llm\", version=\"{version}\", packages=[\"tensorrt_llm\"], package_dir={{\"\": \"src\"}})\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new("/usr/bin/python3")
            .args([
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "-w",
                "dist",
                ".",
            ])
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip wheel: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_dir(dir.join("dist"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .unwrap()
    }

    #[test]
    fn the_installed_wheel_is_the_tensorrt_llm_under_test() {
        let Some(_svc) = services("install_wheel") else {
            return;
        };
        let build = tempfile::tempdir().unwrap();
        let wheel = build_wheel(build.path(), "1.9.9.post4242");
        let home = tempfile::tempdir().unwrap();
        // A node-local install left by a job with the same id on an earlier incarnation of the
        // cluster (job ids start again after a fresh slurmctld state): another build, marked
        // installed. It must not be taken for the wheel under test. Planted for the next job
        // ids, as the job's user.
        let ssh = |script: &str| {
            let o = std::process::Command::new("ssh")
                .args([
                    "-F",
                    &format!("{}/ssh/config", _svc.state),
                    "slurm-login",
                    script,
                ])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        let last: u64 = ssh("sbatch --parsable --wrap=true -o /dev/null")
            .split(';')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let planted = format!(
            "for i in $(seq {} {}); do d=/tmp/perf_run_trtllm_$i; [ -e $d ] && continue; mkdir -p $d/tensorrt_llm && echo '__version__ = \"0.0.1.stale\"' > $d/tensorrt_llm/__init__.py && echo /old/run/wheel/tensorrt_llm-0.0.1.stale-py3-none-any.whl > $d/.installed && echo $i; done",
            last + 1,
            last + 30
        );
        let planted: Vec<String> = ssh(&planted).lines().map(str::to_string).collect();
        // Removed however the test ends.
        struct Cleanup(String, Vec<String>);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::process::Command::new("ssh")
                    .args(["-F", &self.0, "slurm-login"])
                    .arg(format!(
                        "for i in {}; do rm -rf /tmp/perf_run_trtllm_$i; done",
                        self.1.join(" ")
                    ))
                    .output();
            }
        }
        let _cleanup = Cleanup(format!("{}/ssh/config", _svc.state), planted.clone());
        let (code, run, err) = run(
            home.path(),
            &[
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
                "--trtllm-wheel",
                wheel.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        assert_eq!(case(&s)["status"], "passed");
        let art = artifacts(&run);
        let log = read(&art.join("install.log"));
        assert!(
            log.contains("installed tensorrt_llm-1.9.9.post4242"),
            "{log}"
        );
        // The test imported the installed wheel (it fails when it does not), and perf-run
        // recorded it, probed inside the job, next to the checkout's own version.
        let si = &s["run"]["sysinfo"];
        assert_eq!(si["trtllm_installed_version"], "1.9.9.post4242", "{si}");
        assert!(
            si["trtllm_installed_location"]
                .as_str()
                .unwrap_or_default()
                .starts_with("/tmp/perf_run_trtllm_"),
            "{si}"
        );
        assert_eq!(si["trtllm_checkout_version"], "1.2.0rc0-stub", "{si}");
        assert!(
            err.contains("the numbers belong to the installed build"),
            "{err}"
        );
        let under_test = read(
            &art.join("aggr_upload-tiny_llama_fp8_grace_blackwell-tiny_llama_fp8_tp1/tensorrt_llm_under_test.txt"),
        );
        assert!(
            under_test.starts_with("1.9.9.post4242 /tmp/perf_run_trtllm_"),
            "{under_test}"
        );
        let job = s["cases"][0]["job"]["job_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            planted.contains(&job),
            "job {job} was to find a stale install (planted for {planted:?})"
        );
    }

    #[test]
    fn a_wheel_that_does_not_install_fails_before_any_test_with_its_log() {
        let Some(_svc) = services("install_broken_wheel") else {
            return;
        };
        let build = tempfile::tempdir().unwrap();
        let wheel = build.path().join("tensorrt_llm-0.0.1-py3-none-any.whl");
        std::fs::write(&wheel, "not a zip file").unwrap();
        let home = tempfile::tempdir().unwrap();
        let t0 = std::time::Instant::now();
        let (code, run, err) = run(
            home.path(),
            &[
                "--config",
                TINY,
                "--server",
                "tiny_llama_fp8_tp1",
                "--trtllm-wheel",
                wheel.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1, "{err}");
        assert!(t0.elapsed().as_secs() < 120);
        let art = artifacts(&run);
        let log = read(&art.join("install.log"));
        assert!(log.contains("pip failed (try 3 of 3)"), "{log}");
        let batch = batch_log(&art);
        assert!(
            batch.contains("installing the TensorRT-LLM wheel failed"),
            "the batch log says why"
        );
        assert!(
            !art.join("results.xml").exists(),
            "no test ran against the wrong build"
        );
    }

    #[test]
    fn the_cache_transceiver_precheck_runs_every_instance_before_the_servers() {
        let Some(_svc) = services("ct_precheck") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let id = format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{TINY_DISAGG}]");
        let (code, run, err) = run_env(
            home.path(),
            &[("TRTLLM_DISAGG_CT_PRECHECK", "1")],
            &["--test", &id],
        );
        assert_eq!(code, 0, "{err}");
        let s = summary(&run);
        assert_eq!(case(&s)["status"], "passed");
        // One status per rank of each instance: GEN_0 has 2 ranks, CTX_0 one; each rank got
        // its instance's worker env (the stub fails otherwise).
        let status = artifacts(&run).join(format!(
            "disagg_upload-e2e-{TINY_DISAGG}/cache_transceiver_precheck/status"
        ));
        let mut got: Vec<String> = std::fs::read_dir(&status)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                "ctx_0.rank0.status",
                "gen_0.rank0.status",
                "gen_0.rank1.status"
            ]
        );
    }

    #[test]
    fn a_failed_precheck_stops_the_job_before_any_server_starts() {
        let Some(_svc) = services("ct_precheck_fail") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let id = format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{TINY_DISAGG}]");
        let t0 = std::time::Instant::now();
        let (code, run, err) = run_env(
            home.path(),
            &[("TRTLLM_DISAGG_CT_PRECHECK", "1")],
            &["--test", &id, "--env", "PERF_RUN_STUB_FAIL=precheck_fail"],
        );
        assert_eq!(code, 1, "{err}");
        assert!(t0.elapsed().as_secs() < 120);
        let art = artifacts(&run);
        let batch = batch_log(&art);
        let text = batch;
        assert!(
            text.contains("the cache-transceiver precheck failed for"),
            "{text}"
        );
        let log = read(&art.join(format!(
            "disagg_upload-e2e-{TINY_DISAGG}/cache_transceiver_precheck/logs/gen_0.log"
        )));
        assert!(log.contains("FAIL: KV-cache transfer probe"), "{log}");
        assert!(
            !art.join("results-GEN_0.xml").exists(),
            "no server step was started"
        );
    }
}
