use super::*;

const DOCS: &str = include_str!(
    "../../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
);

fn cfg() -> MetricConfig {
    MetricConfig::builtin().expect("the built-in metrics.yaml compiles")
}

fn value(block: &Block, cfg: &MetricConfig, name: &str) -> Option<f64> {
    let i = cfg.metrics().iter().position(|m| m.info.name == name)?;
    block.values[i].map(|f| f.value)
}

#[test]
fn builtin_config_has_the_16_required_metrics_in_reference_order() {
    let c = cfg();
    let names: Vec<_> = c.required().map(|m| m.info.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "seq_throughput",
            "token_throughput",
            "total_token_throughput",
            "user_throughput",
            "mean_ttft",
            "median_ttft",
            "p99_ttft",
            "mean_itl",
            "median_itl",
            "p99_itl",
            "mean_tpot",
            "median_tpot",
            "p99_tpot",
            "mean_e2el",
            "median_e2el",
            "p99_e2el"
        ]
    );
    let optional: Vec<_> = c
        .metrics()
        .iter()
        .filter(|m| !m.info.required)
        .map(|m| m.info.name.as_str())
        .collect();
    assert_eq!(
        optional,
        ["al", "mean_gen_worker_per_iter_device_step_time"]
    );
}

#[test]
fn builtin_patterns_are_exactly_the_reference_regexes() {
    // Reference §8.1, Python syntax; `\/` is a valid escape in both engines.
    let c = cfg();
    let get = |n: &str| {
        c.metrics()
            .iter()
            .find(|m| m.info.name == n)
            .map(|m| m.pattern.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        get("seq_throughput"),
        r"Request throughput \(req\/s\):\s+(-?[\d\.]+)"
    );
    assert_eq!(
        get("token_throughput"),
        r"Output token throughput \(tok\/s\):\s+(-?[\d\.]+)"
    );
    assert_eq!(
        get("total_token_throughput"),
        r"Total Token throughput \(tok\/s\):\s+(-?[\d\.]+)"
    );
    assert_eq!(
        get("user_throughput"),
        r"User throughput \(tok\/s\):\s+(-?[\d\.]+)"
    );
    assert_eq!(get("p99_e2el"), r"P99 E2EL \(ms\):\s+(-?[\d\.]+)");
    assert_eq!(
        get("al"),
        r"Mean Avg Decoded Tokens per Iter:\s+(-?[\d\.]+)"
    );
    assert_eq!(
        get("mean_gen_worker_per_iter_device_step_time"),
        r"Average Per Iter Device Step Time \(ms\):\s+(-?[\d\.]+)"
    );
}

#[test]
fn docs_example_yields_all_16_required_metrics() {
    let c = cfg();
    let out = scan_bytes(DOCS.as_bytes(), &c, BlockMode::Merge);
    assert_eq!(out.blocks.len(), 1);
    let b = &out.blocks[0];
    for m in c.required() {
        assert!(
            value(b, &c, &m.info.name).is_some(),
            "{} missing",
            m.info.name
        );
    }
    assert_eq!(value(b, &c, "seq_throughput"), Some(0.61));
    assert_eq!(value(b, &c, "token_throughput"), Some(622.56));
    assert_eq!(value(b, &c, "total_token_throughput"), Some(1245.12));
    assert_eq!(value(b, &c, "p99_itl"), Some(1.77));
    assert_eq!(value(b, &c, "mean_e2el"), Some(1643.44));
    assert_eq!(b.failed_requests, None);
    assert_eq!(b.successful_requests, Some(1));
    assert_eq!(b.generated_tokens, Some(1024));
    assert!(b.markers.is_empty());
}

#[test]
fn trailing_padding_and_crlf_are_tolerated() {
    let c = cfg();
    let text =
        "Request throughput (req/s):              3.25      \r\nMean TTFT (ms):   12.5   \r\n";
    let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
    assert_eq!(value(&out.blocks[0], &c, "seq_throughput"), Some(3.25));
    assert_eq!(value(&out.blocks[0], &c, "mean_ttft"), Some(12.5));
}

#[test]
fn first_value_wins_and_contradiction_is_reported() {
    let c = cfg();
    let text = "Mean TTFT (ms): 12.83\nMean TTFT (ms): 12.83\nMean TTFT (ms): 99.0\n";
    let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
    let b = &out.blocks[0];
    assert_eq!(value(b, &c, "mean_ttft"), Some(12.83));
    assert_eq!(b.duplicates, 1);
    assert_eq!(b.contradictions.len(), 1);
    assert!(
        b.contradictions[0].contains("line 3 says 99"),
        "{:?}",
        b.contradictions
    );
    assert!(b.contradictions[0].contains("line 1 said 12.83"));
}

#[test]
fn nan_value_is_recorded_as_bad_not_found() {
    let c = cfg();
    let out = scan_bytes(
        b"Mean TTFT (ms):                          nan       \n",
        &c,
        BlockMode::Merge,
    );
    let b = &out.blocks[0];
    assert_eq!(value(b, &c, "mean_ttft"), None);
    let i = c
        .metrics()
        .iter()
        .position(|m| m.info.name == "mean_ttft")
        .unwrap_or(0);
    assert_eq!(b.bad_values[i], Some(("nan".to_string(), 1)));
}

#[test]
fn unparsable_number_is_bad_value() {
    let c = cfg();
    let out = scan_bytes(b"Mean TTFT (ms): 1.2.3\n", &c, BlockMode::Merge);
    let i = c
        .metrics()
        .iter()
        .position(|m| m.info.name == "mean_ttft")
        .unwrap_or(0);
    assert_eq!(out.blocks[0].bad_values[i], Some(("1.2.3".to_string(), 1)));
}

#[test]
fn negative_values_are_read_as_printed() {
    let c = cfg();
    let out = scan_bytes(b"Mean TTFT (ms): -3.5\n", &c, BlockMode::Merge);
    assert_eq!(value(&out.blocks[0], &c, "mean_ttft"), Some(-3.5));
}

#[test]
fn failure_checks_are_captured() {
    let c = cfg();
    let text = "Namespace(model='m', num_prompts=80, max_concurrency=8)\n\
                ============ Serving Benchmark Result ============\n\
                Total requests:                          80        \n\
                Successful requests:                     77        \n\
                Failed requests:                         3         \n\
                Total generated tokens:                  0         \n\
                =======================!FAILED REQUESTS!=======================\n\
                Total failed requests: 3\n\
                =====================!CHECK LOG FOR ERRORS!====================\n";
    let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
    let b = &out.blocks[0];
    assert_eq!(b.total_requests, Some(80));
    assert_eq!(b.successful_requests, Some(77));
    assert_eq!(b.failed_requests, Some(3));
    assert_eq!(b.generated_tokens, Some(0));
    assert_eq!(b.num_prompts, Some(80));
    assert_eq!(b.concurrency, Some(8));
    assert_eq!(b.model.as_deref(), Some("m"));
    assert_eq!(b.markers, ["!FAILED REQUESTS!", "!CHECK LOG FOR ERRORS!"]);
}

#[test]
fn split_mode_separates_clients_in_order() {
    let c = cfg();
    let mut text = String::new();
    text.push_str("Namespace(num_prompts=10, max_concurrency=1)\n");
    text.push_str(DOCS);
    text.push_str("some server noise\nNamespace(num_prompts=20, max_concurrency=2)\n");
    text.push_str(&DOCS.replace("0.61", "0.99"));
    let out = scan_bytes(text.as_bytes(), &c, BlockMode::Split);
    assert_eq!(out.blocks.len(), 2, "{out:#?}");
    assert_eq!(value(&out.blocks[0], &c, "seq_throughput"), Some(0.61));
    assert_eq!(value(&out.blocks[1], &c, "seq_throughput"), Some(0.99));
    assert_eq!(out.blocks[0].concurrency, Some(1));
    assert_eq!(out.blocks[1].concurrency, Some(2));
    assert!(out.blocks[0].contradictions.is_empty());
}

#[test]
fn merge_mode_keeps_first_block_and_reports_contradiction() {
    let c = cfg();
    let text = format!("{DOCS}{}", DOCS.replace("0.61", "0.99"));
    let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
    assert_eq!(out.blocks.len(), 1);
    assert_eq!(out.blocks[0].headers, 2);
    assert_eq!(value(&out.blocks[0], &c, "seq_throughput"), Some(0.61));
    assert_eq!(out.blocks[0].contradictions.len(), 1);
}

#[test]
fn oom_signature_is_found_with_its_line() {
    let c = cfg();
    let out = scan_bytes(
        b"ok\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate\n",
        &c,
        BlockMode::Merge,
    );
    assert_eq!(out.oom, Some(("CUDA out of memory".to_string(), 2)));
}

#[test]
fn non_utf8_bytes_do_not_disturb_metrics() {
    let c = cfg();
    let mut bytes = b"\xff\xfe garbage \xc3\x28\n".to_vec();
    bytes.extend_from_slice(b"Mean TTFT (ms): 7.5 \xff\n");
    let out = scan_bytes(&bytes, &c, BlockMode::Merge);
    assert_eq!(value(&out.blocks[0], &c, "mean_ttft"), Some(7.5));
}

#[test]
fn empty_input_has_no_blocks() {
    let out = scan_bytes(b"", &cfg(), BlockMode::Merge);
    assert!(out.blocks.is_empty());
    assert_eq!(out.lines, 0);
}

#[test]
fn tail_keeps_last_lines() {
    let c = cfg();
    let mut s = c.scanner(BlockMode::Merge).with_tail(2);
    for l in ["a", "b", "", "c"] {
        s.feed(l.as_bytes());
    }
    assert_eq!(s.finish().tail, ["b", "c"]);
}

#[test]
fn bad_config_names_line_and_field() {
    let yaml = "version: 1\nmetrics:\n  - name: x\n    patern: 'a(b)'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
    let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("m.yaml"), "{err}");
    assert!(err.contains("patern"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn invalid_regex_names_the_metric_and_its_line() {
    let yaml = "version: 1\nmetrics:\n  - name: broken\n    pattern: 'a(b'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
    let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("metric `broken`"), "{err}");
    assert!(err.contains("line 4"), "{err}");
}

#[test]
fn pattern_without_capture_group_is_rejected() {
    let yaml = "version: 1\nmetrics:\n  - name: nogroup\n    pattern: 'abc'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
    let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("exactly one capture group"), "{err}");
}

#[test]
fn duplicate_metric_names_are_rejected() {
    let yaml = "version: 1\nmetrics:\n  - name: a\n    pattern: 'a(b)'\n    metric_type: X\n  - name: a\n    pattern: 'c(d)'\n    metric_type: Y\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
    let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("listed twice"), "{err}");
}

#[test]
fn a_team_can_add_a_metric_without_recompiling() {
    let mut yaml = BUILTIN_YAML.to_string();
    yaml = yaml.replace(
        "# Benchmark error checks",
        "  - name: request_goodput\n    pattern: 'Request goodput \\(req\\/s\\):\\s+(-?[\\d\\.]+)'\n    unit: req/s\n    metric_type: REQUEST_GOODPUT\n\n# Benchmark error checks",
    );
    let c = MetricConfig::from_yaml_str(&yaml, "custom.yaml").expect("custom config");
    let out = scan_bytes(b"Request goodput (req/s):   4.5   \n", &c, BlockMode::Merge);
    assert_eq!(value(&out.blocks[0], &c, "request_goodput"), Some(4.5));
    let m = c
        .metrics()
        .iter()
        .find(|m| m.info.name == "request_goodput");
    assert_eq!(
        m.map(|m| m.info.column.as_str()),
        Some("request_goodput__req_per_s")
    );
}
