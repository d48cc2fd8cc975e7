use super::*;

use crate::results::model::{CaseStatus, FailureClass, JobInfo, Validity};

const DOCS: &str = include_str!(
    "../../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
);

fn cfg() -> MetricConfig {
    MetricConfig::builtin().expect("built-in config")
}

fn ctx(dir: &Path) -> CaseContext {
    CaseContext {
        test_id: "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]".into(),
        case_name: "aggr_upload-cfg-srv".into(),
        mode: "single-agg".into(),
        artifacts_dir: Some(dir.to_path_buf()),
        job: Some(JobInfo {
            job_id: "77".into(),
            state: crate::slurm::BaseState::Completed,
            exit_code: Some(0),
            ..JobInfo::default()
        }),
        servers: vec![ServerMeta {
            name: "srv".into(),
            model: "deepseek-r1-fp4".into(),
            precision: Some("fp4".into()),
            max_batch_size: Some(512),
            tp: 4,
            ep: 4,
            pp: 1,
            cp: 1,
            gpus: 4,
            clients: vec![
                ClientMeta {
                    name: "con8_iter10_1k1k".into(),
                    concurrency: 8,
                    iterations: 10,
                    isl: 1024,
                    osl: 1024,
                },
                ClientMeta {
                    name: "con64_iter10_1k1k".into(),
                    concurrency: 64,
                    iterations: 10,
                    isl: 1024,
                    osl: 1024,
                },
            ],
        }],
        ..CaseContext::default()
    }
}

fn write(p: &Path, text: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

#[test]
fn complete_artifacts_pass() {
    let t = tempfile::tempdir().expect("tempdir");
    let case = t.path().join("aggr_upload-cfg-srv");
    write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
    write(&case.join("trtllm-benchmark.0.1.log"), DOCS);
    write(&t.path().join("perf_run_exit"), "0 1730000000\n");
    let r = extract_case(&ctx(t.path()), &cfg());
    assert_eq!(r.status, CaseStatus::Passed, "{:?}", r.reasons);
    assert_eq!(r.clients.len(), 2);
    assert_eq!(r.clients[1].client, "con64_iter10_1k1k");
    assert_eq!(r.clients[1].concurrency, Some(64));
    assert_eq!(r.marker_exit, Some(0));
}

#[test]
fn missing_client_log_makes_it_invalid_with_the_expected_path() {
    let t = tempfile::tempdir().expect("tempdir");
    write(
        &t.path()
            .join("aggr_upload-cfg-srv/trtllm-benchmark.0.0.log"),
        DOCS,
    );
    let r = extract_case(&ctx(t.path()), &cfg());
    assert_eq!(r.status, CaseStatus::Invalid);
    assert_eq!(r.failure_class, Some(FailureClass::InvalidMeasurement));
    assert!(
        r.reasons[0].contains("srv/con64_iter10_1k1k has no benchmark result: there is no client log aggr_upload-cfg-srv/trtllm-benchmark.0.1.log"),
        "{:?}",
        r.reasons
    );
}

#[test]
fn junit_system_out_is_the_fallback() {
    let t = tempfile::tempdir().expect("tempdir");
    let out = format!("{DOCS}\n{}", DOCS.replace("0.61", "0.7"));
    let xml = format!(
        "<testsuites><testsuite name=\"pytest\" timestamp=\"2025-10-31T00:53:53\"><testcase classname=\"perf.test_perf_sanity\" name=\"test_e2e[aggr_upload-cfg-srv]\" time=\"60\"><system-out>{out}</system-out></testcase></testsuite></testsuites>"
    );
    write(&t.path().join("results.xml"), &xml);
    let mut c = ctx(t.path());
    c.job = Some(JobInfo {
        state: crate::slurm::BaseState::Completed,
        ..JobInfo::default()
    });
    let r = extract_case(&c, &cfg());
    assert_eq!(r.status, CaseStatus::Passed, "{:?}", r.reasons);
    assert_eq!(r.clients[1].metric("seq_throughput"), Some(0.7));
    assert!(matches!(
        r.clients[0].source,
        MetricSource::JunitSystemOut(_)
    ));
    assert_eq!(r.duration_s, Some(60.0));
    assert_eq!(
        r.start.map(|s| s.to_rfc3339()),
        Some("2025-10-31T00:53:53+00:00".to_string())
    );
}

#[test]
fn timeout_keeps_partial_metrics_but_is_a_timeout() {
    let t = tempfile::tempdir().expect("tempdir");
    write(
        &t.path()
            .join("aggr_upload-cfg-srv/trtllm-benchmark.0.0.log"),
        DOCS,
    );
    let mut c = ctx(t.path());
    c.job = Some(JobInfo {
        job_id: "9".into(),
        state: crate::slurm::BaseState::Timeout,
        ..JobInfo::default()
    });
    let r = extract_case(&c, &cfg());
    assert_eq!(r.failure_class, Some(FailureClass::Timeout));
    assert_eq!(r.clients[0].validity, Validity::Valid);
    assert_eq!(r.clients[1].validity, Validity::Invalid);
}

#[test]
fn oom_in_a_role_log_classifies_a_failed_job() {
    let t = tempfile::tempdir().expect("tempdir");
    write(
        &t.path().join("logs/GEN_0.log"),
        "loading\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB\n",
    );
    let mut c = ctx(t.path());
    c.job = Some(JobInfo {
        job_id: "9".into(),
        state: crate::slurm::BaseState::Failed,
        exit_code: Some(1),
        ..JobInfo::default()
    });
    let r = extract_case(&c, &cfg());
    assert_eq!(r.failure_class, Some(FailureClass::Oom));
    assert!(r.reasons[0].contains("logs/GEN_0.log"), "{:?}", r.reasons);
}

#[test]
fn worker_failure_from_role_junit() {
    let t = tempfile::tempdir().expect("tempdir");
    let case = t.path().join("aggr_upload-cfg-srv");
    write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
    write(&case.join("trtllm-benchmark.0.1.log"), DOCS);
    write(
        &t.path().join("results-GEN_0.xml"),
        "<testsuite><testcase name=\"test_e2e[aggr_upload-cfg-srv]\"><failure message=\"worker crashed\"/></testcase></testsuite>",
    );
    let r = extract_case(&ctx(t.path()), &cfg());
    assert_eq!(r.failure_class, Some(FailureClass::TestFailed));
    assert_eq!(
        r.reasons,
        ["worker GEN_0 reported a failure: worker crashed"]
    );
}

#[test]
fn malformed_junit_is_a_warning_not_an_error() {
    let t = tempfile::tempdir().expect("tempdir");
    let case = t.path().join("aggr_upload-cfg-srv");
    write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
    write(&case.join("trtllm-benchmark.0.1.log"), DOCS);
    write(
        &t.path().join("results.xml"),
        "<testsuite><testcase></testsuit>",
    );
    let r = extract_case(&ctx(t.path()), &cfg());
    assert_eq!(r.status, CaseStatus::Passed);
    assert!(
        r.warnings.iter().any(|w| w.contains("not well-formed")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn empty_client_log_is_explained() {
    let t = tempfile::tempdir().expect("tempdir");
    let case = t.path().join("aggr_upload-cfg-srv");
    write(&case.join("trtllm-benchmark.0.0.log"), "");
    write(
        &case.join("trtllm-benchmark.0.1.log"),
        "Namespace(x=1)\nTraceback: boom\n",
    );
    let r = extract_case(&ctx(t.path()), &cfg());
    assert_eq!(r.status, CaseStatus::Invalid);
    assert!(
        r.reasons[0].ends_with("is empty (0 bytes)"),
        "{:?}",
        r.reasons
    );
    assert!(
        r.reasons[1].contains(
            "has no `Serving Benchmark Result` block; its last line is `Traceback: boom`"
        ),
        "{:?}",
        r.reasons
    );
}

#[test]
fn no_artifacts_and_no_job_is_not_run() {
    let mut c = ctx(Path::new("/nonexistent/perf-run-test"));
    c.job = None;
    let r = extract_case(&c, &cfg());
    assert_eq!(r.status, CaseStatus::NotRun);
}

#[test]
fn skipped_case_reads_nothing() {
    let mut c = ctx(Path::new("/nonexistent"));
    c.skipped = Some("nvbug 1".into());
    let r = extract_case(&c, &cfg());
    assert_eq!(r.status, CaseStatus::Skipped);
    assert!(r.clients.is_empty());
}

#[test]
fn infra_error_without_job() {
    let mut c = ctx(Path::new("/nonexistent"));
    c.job = None;
    c.infra_error = Some("sbatch: error: invalid partition".into());
    let r = extract_case(&c, &cfg());
    assert_eq!(r.failure_class, Some(FailureClass::Infra));
}

#[test]
fn signature_found_across_chunk_boundaries() {
    let t = tempfile::tempdir().expect("tempdir");
    let p = t.path().join("big.log");
    let mut text = "x".repeat((1 << 20) - 5);
    text.push_str("CUDA out of memory");
    write(&p, &text);
    let sigs = vec!["CUDA out of memory".to_string()];
    assert_eq!(
        find_signature(&p, &sigs).expect("read"),
        Some("CUDA out of memory".to_string())
    );
}

#[test]
fn sysinfo_reads_files_and_defaults_to_unknown() {
    let t = tempfile::tempdir().expect("tempdir");
    write(
        &t.path().join("sysinfo/gpu.txt"),
        "NVIDIA_GB200\nNVIDIA_GB200\n",
    );
    write(&t.path().join("sysinfo/driver.txt"), "575.57.08\n");
    write(&t.path().join("sysinfo/cuda.txt"), "\n");
    let s = read_sysinfo(t.path());
    assert_eq!(s.gpu, "NVIDIA GB200");
    assert_eq!(s.gpu_count, Some(2));
    assert_eq!(s.driver, "575.57.08");
    assert_eq!(s.cuda, "unknown");
    assert_eq!(s.os, "unknown");
    assert_eq!(read_sysinfo(Path::new("/nonexistent")), SysInfo::default());
}

#[test]
fn disagg_plan_with_worker_entries_maps_logs_to_the_benchmarked_server() {
    let t = tempfile::tempdir().expect("tempdir");
    write(
        &t.path()
            .join("disagg_upload-e2e-x/trtllm-benchmark.0.0.log"),
        DOCS,
    );
    let mut c = ctx(t.path());
    c.case_name = "disagg_upload-e2e-x".into();
    c.test_id = "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-x]".into();
    c.mode = "disagg".into();
    let mut bench = c.servers[0].clone();
    bench.name = "disagg".into();
    bench.clients.truncate(1);
    let worker = |n: &str| ServerMeta {
        name: n.into(),
        clients: vec![],
        ..bench.clone()
    };
    c.servers = vec![worker("CTX_0"), worker("GEN_0"), bench];
    let r = extract_case(&c, &cfg());
    assert_eq!(r.status, CaseStatus::Passed, "{:?}", r.reasons);
    assert_eq!(r.clients.len(), 1);
    assert_eq!(r.clients[0].label(), "disagg/con8_iter10_1k1k");
}

#[test]
fn client_log_names_parse() {
    assert_eq!(
        parse_client_log_name(Path::new("a/trtllm-benchmark.2.13.log")),
        Some((2, 13))
    );
    assert_eq!(
        parse_client_log_name(Path::new("trtllm-benchmark.x.1.log")),
        None
    );
    assert_eq!(parse_client_log_name(Path::new("trtllm-serve.0.log")), None);
}

#[test]
fn mode_is_inferred_from_the_case_prefix() {
    assert_eq!(infer_mode("disagg_upload-e2e-cfg"), "disagg");
    assert_eq!(infer_mode("aggr_upload-cfg-disagg_like"), "single-agg");
}
