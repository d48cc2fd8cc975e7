//! Tests of the plan (`plan.rs`).

use super::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv")
}

#[test]
fn worked_example_of_reference_9_2() {
    let plan = build_plan(
        &PlanInputs {
            metric_csv: fixture(),
            ..Default::default()
        },
        &PlanOptions::default(),
    )
    .unwrap();
    assert_eq!(plan.rows_used, 6);
    assert_eq!(plan.results.len(), 3);
    let r = &plan.results[0];
    assert_eq!(r.case.format, "PYTORCH");
    assert_eq!(
        r.case.network,
        "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075"
    );
    assert_eq!(r.case.batchsize, 64);
    assert_eq!(r.case.precision, "FP4");
    assert_eq!(
        r.case.cmd,
        "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
    );
    assert_eq!(
        r.perf_data,
        r#"{"disagg_server_ttft": "1122.63", "disagg_server_e2el": "22521.71"}"#
    );
    assert_eq!(r.gpu_time, 0.0);
    assert_eq!(r.total_time, 703.296025);
    assert_eq!(r.throughput, 0.0);
    assert_eq!(r.build_time, 0.0);
    assert_eq!(r.origin.line, 2);
    // clocks from the CSV (no flags, no monitoring file), times from the CSV
    assert_eq!(plan.run.graphic_freq, "2062");
    assert_eq!(plan.run.memory_freq, "3996");
    assert_eq!(plan.run.start_time.as_deref(), Some("2025-10-31 00:53:53"));
    assert!(plan.skipped.is_empty());
    assert_eq!(plan.run_key.len(), 64);
}

#[test]
fn flag_clocks_win_and_framework_override() {
    let plan = build_plan(
        &PlanInputs {
            metric_csv: fixture(),
            ..Default::default()
        },
        &PlanOptions {
            info: RunInfoArgs {
                sm_clock: Some("1500".into()),
                gpu: Some("NVIDIA GB200".into()),
                trtllm: Some("1.2.0rc1\nsecond line".into()),
                start_time: Some("2025-10-31 00:00:00".into()),
                ..Default::default()
            },
            framework: Some("onnx".into()),
            run_key: Some("my-key".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(plan.run.graphic_freq, "1500");
    assert_eq!(plan.run.memory_freq, "3996");
    assert_eq!(plan.run.gpu, "GB200");
    assert_eq!(plan.run.trtllm, "1.2.0rc1");
    assert_eq!(plan.results[0].case.format, "ONNX");
    assert_eq!(plan.run_key, "my-key");
}

#[test]
fn failed_and_bad_rows_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.csv");
    std::fs::write(
        &p,
        "network_name,test_name,perf_metric,total_time__sec,state,command,metric_type\n\
         n1,t1,10,1,valid,cmd --fp16,INFERENCE_TIME\n\
         n1,t1,oops,1,valid,cmd --fp16,TOKEN_THROUGHPUT\n\
         n2,t2,5,1,failed,cmd,INFERENCE_TIME\n\
         ,t3,5,1,valid,cmd,INFERENCE_TIME\n\
         n4,t4,5,,valid,cmd,BUILD_TIME\n",
    )
    .unwrap();
    let plan = build_plan(
        &PlanInputs {
            metric_csv: p.clone(),
            ..Default::default()
        },
        &PlanOptions::default(),
    )
    .unwrap();
    assert_eq!(plan.results.len(), 2);
    assert_eq!(plan.results[0].gpu_time, 10.0);
    assert_eq!(plan.results[0].perf_data, r#"{"run_time__msec": "10"}"#);
    assert_eq!(plan.results[1].build_time, 5.0);
    assert_eq!(plan.skipped.len(), 3);
    assert_eq!(plan.skipped[0].line, 3);
    assert!(plan.skipped[0].reason.contains("not a number"));
    assert!(plan.skipped[1].failed_state);
    assert!(plan.skipped[2].reason.contains("network_name is empty"));

    std::fs::write(
        &p,
        "network_name,perf_metric,state,metric_type\nn,1,failed,X\n",
    )
    .unwrap();
    let err = build_plan(
        &PlanInputs {
            metric_csv: p,
            ..Default::default()
        },
        &PlanOptions::default(),
    )
    .unwrap_err();
    let err = err.to_string();
    assert!(err.starts_with("Nothing to upload"), "{err}");
}

#[test]
fn commit_time_only_for_the_properties_own_commit_and_sources_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let props = dir.path().join("session_properties.csv");
    std::fs::write(
        &props,
        "trt_change_id,commit_timestamp,trt_version,cpu_properties\n\
         dd60747,2026-11-22 19:23:33,10.9,\"OrderedDict({'product_name': 'Grace'})\"\n",
    )
    .unwrap();
    let inputs = PlanInputs {
        metric_csv: fixture(),
        properties: Some(props),
        ..Default::default()
    };
    let with = |commit: Option<&str>, env_commit: Option<&str>| {
        build_plan(
            &inputs,
            &PlanOptions {
                info: RunInfoArgs {
                    commit: commit.map(String::from),
                    ..Default::default()
                },
                env: RunInfoArgs {
                    commit: env_commit.map(String::from),
                    tensorrt: Some("10.13".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .unwrap()
    };
    let p = with(Some("abc123"), Some("dd60747"));
    assert_eq!(p.run.cl, "abc123");
    assert_eq!(p.run.commit_time, None);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("commit_time is left empty")),
        "{:?}",
        p.warnings
    );
    let p = with(None, Some("DD60747FFFF"));
    assert_eq!(p.run.cl, "DD60747FFFF");
    assert_eq!(p.run.commit_time.as_deref(), Some("2026-11-22 19:23:33"));
    assert_eq!(p.run_sources["cl"].source, runinfo::SourceKind::Environment);
    assert_eq!(p.run_sources["cl"].from, "GIT_COMMIT");
    assert_eq!(p.run.tensorrt, "10.13", "environment beats properties");
    assert_eq!(p.run.cpu, "Grace");
    let p = with(None, None);
    assert_eq!(p.run.cl, "dd60747");
    assert_eq!(
        p.run_sources["commit_time"].from,
        "session_properties.csv commit_timestamp"
    );
}

#[test]
fn capped_text_keeps_head_and_tail() {
    let mut c = CappedText::new(80);
    for i in 0..100 {
        c.push(&format!("{i:03}é"));
    }
    let s = c.finish();
    assert!(s.starts_with("000é001é"));
    assert!(s.ends_with("099é"));
    assert!(s.contains("left out"));
    let mut c = CappedText::new(1000);
    c.push("short");
    c.push(" text");
    assert_eq!(c.finish(), "short text");
}

#[test]
fn python_json() {
    let pairs = vec![
        ("a".to_string(), "x\"y\\z\n".to_string()),
        ("é".to_string(), "😀".to_string()),
    ];
    assert_eq!(
        py_json_dumps(&pairs),
        r#"{"a": "x\"y\\z\n", "\u00e9": "\ud83d\ude00"}"#
    );
    assert_eq!(py_json_dumps(&[]), "{}");
}

#[test]
fn times() {
    let t = |s: &str| parse_time(s).map(fmt_time);
    assert_eq!(
        t("2025-10-31 00:53:53").as_deref(),
        Some("2025-10-31 00:53:53")
    );
    assert_eq!(
        t("2025-10-31 02:53:53 +0200").as_deref(),
        Some("2025-10-31 00:53:53")
    );
    assert_eq!(
        t("2025-10-31T00:53:53.5Z").as_deref(),
        Some("2025-10-31 00:53:53")
    );
    assert_eq!(t("2025-10-31").as_deref(), Some("2025-10-31 00:00:00"));
    assert_eq!(t("yesterday"), None);
}
