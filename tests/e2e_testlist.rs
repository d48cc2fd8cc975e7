//! A test-db list run for real on the test cluster (4 Slurm nodes, sshd), the way upstream CI
//! runs one: blocks with conditions, a non-perf line and an id perf-run cannot plan. The lines
//! perf-run cannot run are skipped cases with their reasons in the summary and the JUnit; the
//! runnable case runs and passes.
//!
//! Without the services (`scripts/test-cluster up`) the test prints a loud skip message and
//! passes, except under `CI=true`, where it fails.

mod common;

mod cluster {
    use super::common::{only_run, perf_run, services, stub, summary};

    const TINY: &str = "tiny_llama_fp8_grace_blackwell";
    const MEGA_MOE: &str = "unittest/_torch/moe/test_mega_moe_symm_preflight.py";
    const KIMI: &str = "perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-gb200_kimi-k25-thinking-fp4_1k1k_con4096_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX]";

    #[test]
    fn test_db_list_with_conditions_and_unrunnable_lines() {
        let Some(_svc) = services("test_db_list_with_conditions") else {
            return;
        };
        let home = tempfile::tempdir().unwrap();
        let list = home.path().join("l0_test_perf_sanity.yml");
        // local-test: GPU type TEST, 4 nodes x 4 GPUs.
        std::fs::write(
            &list,
            format!(
                "version: 0.0.1
l0_test_perf_sanity:
- condition:
    ranges:
      system_gpu_count:
        gte: 4
        lte: 4
    wildcards:
      gpu:
      - '*test*'
      linux_distribution_name: ubuntu*
    terms:
      stage: pre_merge
      backend: pytorch
  tests:
  - perf/test_perf_sanity.py::test_e2e[aggr_upload-{TINY}-tiny_llama_fp8_tp1] TIMEOUT (5)
  - {MEGA_MOE}
  - {KIMI} TIMEOUT (120)
- condition:
    ranges:
      system_gpu_count:
        gte: 36
        lte: 36
    wildcards:
      gpu:
      - '*test*'
    terms:
      stage: post_merge
  tests:
  - perf/test_perf_sanity.py::test_e2e[aggr_upload-{TINY}-tiny_llama_fp8_tp2] TIMEOUT (5)
- condition:
    wildcards:
      gpu:
      - '*gb300*'
    terms:
      stage: post_merge
  tests:
  - perf/test_perf_sanity.py::test_e2e[aggr_upload-{TINY}-tiny_llama_fp8_tp4] TIMEOUT (5)
"
            ),
        )
        .unwrap();
        let runs = tempfile::tempdir().unwrap();
        let out = perf_run()
            .env_remove("CLUSTER_USER")
            .env("PERF_RUN_HOME", runs.path())
            .args(["run", "--cluster", "local-test", "--trtllm-dir"])
            .arg(stub())
            .arg("--testlist")
            .arg(&list)
            .timeout(std::time::Duration::from_secs(600))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        // Neither --stage given: the merge is announced; the gb300 block does not apply.
        assert!(err.contains("no --stage given"), "{err}");
        assert!(err.contains("was left out"), "{err}");
        let run = only_run(runs.path());
        let s = summary(&run);
        let cases = s["cases"].as_array().unwrap();
        let got: Vec<(&str, &str)> = cases
            .iter()
            .map(|c| {
                (
                    c["test_id"].as_str().unwrap(),
                    c["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(
            got[0].0.ends_with("tiny_llama_fp8_tp1]") && got[0].1 == "passed",
            "{got:?}"
        );
        assert_eq!(got[1], (MEGA_MOE, "skipped"));
        assert_eq!(got[2], (KIMI, "skipped"));
        assert!(
            got[3].0.ends_with("tiny_llama_fp8_tp2]") && got[3].1 == "skipped",
            "{got:?}"
        );
        let reason = |i: usize| {
            cases[i]["reasons"][0]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            reason(1).contains("not a perf-sanity test id"),
            "{}",
            reason(1)
        );
        assert!(
            reason(2).contains("no perf-sanity config named"),
            "{}",
            reason(2)
        );
        assert!(
            reason(3).contains("needs system_gpu_count 36")
                && reason(3).contains("cluster `local-test` has 16 GPUs"),
            "{}",
            reason(3)
        );
        assert_eq!(cases[0]["clients"][0]["validity"], "valid");
        // The JUnit: four test cases, three skipped with the reasons, the runnable one passed.
        let junit = std::fs::read_to_string(run.join("results/perf-run-junit.xml")).unwrap();
        assert_eq!(junit.matches("<testcase").count(), 4, "{junit}");
        assert_eq!(junit.matches("<skipped").count(), 3, "{junit}");
        assert!(junit.contains("skipped=\"3\""), "{junit}");
        assert!(junit.contains(&format!("name=\"{MEGA_MOE}\"")), "{junit}");
        assert!(junit.contains("not a perf-sanity test id"), "{junit}");
        assert!(junit.contains("needs system_gpu_count 36"), "{junit}");
        assert!(!junit.contains("<failure"), "{junit}");
        // Only the runnable case reached Slurm.
        let journal = std::fs::read_to_string(run.join("journal.jsonl")).unwrap();
        assert_eq!(
            journal.matches("\"event\":\"submitted\"").count(),
            1,
            "{journal}"
        );
        assert_eq!(
            journal.matches("\"event\":\"skipped\"").count(),
            3,
            "{journal}"
        );
    }
}
