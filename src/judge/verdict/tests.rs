use super::*;

#[test]
fn gating_metrics_match_perf_run_names() {
    let o = JudgeOptions::new(Stage::PreMerge);
    for m in [
        "token_throughput",
        "TOKEN_THROUGHPUT",
        "total_token_throughput",
        "TOTAL_TOKEN_THROUGHPUT",
        "output_token_throughput",
    ] {
        assert!(o.is_gating(m), "{m}");
    }
    for m in [
        "seq_throughput",
        "user_throughput",
        "mean_ttft",
        "P99_FIRST_TOKEN_TIME",
    ] {
        assert!(!o.is_gating(m), "{m}");
    }
    let mut o = o;
    o.gate_latencies = true;
    for m in [
        "mean_ttft",
        "p99_tpot",
        "median_itl",
        "mean_e2el",
        "INFERENCE_TIME",
    ] {
        assert!(o.is_gating(m), "{m}");
    }
    assert!(!o.is_gating("user_throughput"));
    assert_eq!(o.floor_pct(), 10.0);
    assert_eq!(JudgeOptions::default().floor_pct(), 5.0);
}

#[test]
fn formatting_helpers() {
    assert_eq!(value(1346.4), "1346");
    assert_eq!(value(12.345), "12.3");
    assert_eq!(value(1.2345), "1.23");
    assert_eq!(value(0.12345), "0.123");
    assert_eq!(p_text(0.0), "≈ 0");
    assert_eq!(p_text(3.2e-7), "3e-7");
    assert_eq!(p_text(0.0042), "0.004");
    assert_eq!(signed_pct(-12.34), "−12.3 %");
    assert_eq!(short_hash("0123456789abcdef"), "0123456789ab");
}

#[test]
fn incomparable_fields_ignore_unknown_and_software() {
    let a = Provenance {
        config_hash: Some("aaa".into()),
        nodes: Some(1),
        trtllm_version: Some("1.2".into()),
        ..Provenance::default()
    };
    let mut b = a.clone();
    b.trtllm_version = Some("1.3".into());
    b.container_image = Some("img".into());
    assert!(incomparable_fields(&a, &b).is_empty());
    b.config_hash = None;
    assert!(
        incomparable_fields(&a, &b).is_empty(),
        "unknown is not a difference"
    );
    b.config_hash = Some("bbb".into());
    b.nodes = Some(2);
    let d = incomparable_fields(&a, &b);
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].0, "config hash");
    assert_eq!(d[1], ("nodes", "1".to_string(), "2".to_string()));
}
