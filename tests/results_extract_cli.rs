//! `perf-run extract` end to end on the real fixtures and on bad inputs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

const DOCS_PATH: &str =
    "tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt";
const DOCS: &str =
    include_str!("fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt");

fn perf_run() -> Command {
    let mut c = Command::cargo_bin("perf-run").expect("binary");
    c.env("SOURCE_DATE_EPOCH", "1761872033")
        .env_remove("BUILD_URL");
    c
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("valid JSON")
}

fn write(p: &Path, bytes: impl AsRef<[u8]>) -> PathBuf {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    std::fs::write(p, bytes).expect("write");
    p.to_path_buf()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[test]
fn docs_example_log_gives_16_valid_metrics() {
    let out = tempfile::tempdir().expect("tempdir");
    perf_run()
        .args(["extract", "--log", DOCS_PATH, "--output-dir"])
        .arg(out.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("extracted 1 case(s): 1 passed"))
        // The numbers, as the run summary prints them, not only counts.
        .stderr(predicate::str::contains(
            "(valid): output 622.6 tok/s, requests 0.6 req/s, TTFT 12.8 ms",
        ));
    let s = summary(out.path());
    assert_eq!(s["schema"], "perf-run.summary");
    assert_eq!(s["version"], 1);
    let case = &s["cases"][0];
    assert_eq!(case["status"], "passed");
    let client = &case["clients"][0];
    assert_eq!(client["validity"], "valid");
    let metrics = client["metrics"].as_object().expect("metrics object");
    assert_eq!(metrics.len(), 16);
    assert_eq!(metrics["seq_throughput"], 0.61);
    assert_eq!(metrics["token_throughput"], 622.56);
    assert_eq!(metrics["p99_e2el"], 1643.44);
    // No `Failed requests:` line in the docs example: that is fine.
    assert!(client["counts"]["failed_requests"].is_null());

    let rows = perf_run::trtperf::long_csv::read_long_csv(
        &out.path().join("perf_script_test_results.csv"),
    )
    .expect("long CSV");
    assert_eq!(rows.len(), 16);
    let types: Vec<_> = rows.iter().map(|r| r.metric_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "SEQ_THROUGHPUT",
            "TOKEN_THROUGHPUT",
            "TOTAL_TOKEN_THROUGHPUT",
            "USER_THROUGHPUT",
            "FIRST_TOKEN_TIME",
            "MEDIAN_FIRST_TOKEN_TIME",
            "P99_FIRST_TOKEN_TIME",
            "INTER_TOKEN_TIME",
            "MEDIAN_INTER_TOKEN_TIME",
            "P99_INTER_TOKEN_TIME",
            "OUTPUT_TOKEN_TIME",
            "MEDIAN_OUTPUT_TOKEN_TIME",
            "P99_OUTPUT_TOKEN_TIME",
            "INFERENCE_TIME",
            "MEDIAN_INFERENCE_TIME",
            "P99_INFERENCE_TIME"
        ]
    );
    assert!(rows.iter().all(|r| r.state == "valid"));
    let wide = std::fs::read_to_string(out.path().join("perf_summary.csv")).expect("wide");
    assert!(
        wide.lines()
            .next()
            .unwrap_or("")
            .contains("request_throughput__req_per_s,output_token_throughput__tok_per_s")
    );
}

#[test]
fn real_sample_csv_reads_with_the_long_csv_reader() {
    let rows = perf_run::trtperf::long_csv::read_long_csv(Path::new(
        "tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv",
    ))
    .expect("the real sample parses");
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.value().is_some()));
    assert!(
        rows.iter()
            .all(|r| r.metric_type.starts_with("DISAGG_SERVER_"))
    );
}

#[test]
fn junit_with_client_output_per_testcase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = format!(
        "{}\n{}",
        escape(DOCS),
        escape(&DOCS.replace("0.61", "0.75"))
    );
    let xml = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" timestamp="2025-10-31T00:53:53">
<testcase classname="perf.test_perf_sanity" name="test_e2e[disagg_upload-e2e-cfg]" time="703.3"><system-out>{out}</system-out></testcase>
<testcase classname="perf.test_perf_sanity" name="test_e2e[aggr_upload-cfg-srv]" time="5"><failure message="RuntimeError: server died">boom</failure></testcase>
</testsuite></testsuites>"#
    );
    let junit = write(&dir.path().join("results.xml"), xml);
    let o = dir.path().join("out");
    perf_run()
        .arg("extract")
        .arg("--junit-xml")
        .arg(&junit)
        .arg("--output-dir")
        .arg(&o)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "test_e2e[aggr_upload-cfg-srv] failed (test_failed):",
        ));
    let s = summary(&o);
    let c0 = &s["cases"][0];
    assert_eq!(
        c0["test_id"],
        "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-cfg]"
    );
    assert_eq!(c0["mode"], "disagg");
    assert_eq!(c0["status"], "passed");
    assert_eq!(c0["clients"].as_array().map(Vec::len), Some(2));
    assert_eq!(c0["clients"][1]["metrics"]["seq_throughput"], 0.75);
    assert_eq!(c0["duration_s"], 703.3);
    assert_eq!(s["cases"][1]["failure_class"], "test_failed");
    let rows = perf_run::trtperf::long_csv::read_long_csv(&o.join("perf_script_test_results.csv"))
        .expect("csv");
    assert!(rows.iter().any(|r| r.metric_type == "DISAGG_SERVER_E2EL"));
    let junit_out = std::fs::read_to_string(o.join("perf-run-junit.xml")).expect("junit");
    assert!(junit_out.contains(r#"<failure type="test_failed" message="pytest reported a failure: RuntimeError: server died"#));
    // session_properties carries the benchmark's own start (the JUnit suite's timestamp), not
    // the time of the extraction: the uploader stores it as the run's start.
    let session = std::fs::read_to_string(o.join("session_properties.csv")).expect("session");
    let row = session.lines().nth(1).expect("a row");
    assert!(row.contains("2025-10-31 00:53:53"), "{session}");
}

#[test]
fn logs_join_the_junit_case_of_their_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let case = dir.path().join("aggr_upload-cfg-srv");
    let l0 = write(&case.join("trtllm-benchmark.0.0.log"), DOCS);
    let l1 = write(
        &case.join("trtllm-benchmark.0.1.log"),
        format!("{DOCS}Failed requests:   2   \n"),
    );
    let junit = write(
        &dir.path().join("results.xml"),
        "<testsuite><testcase classname=\"perf.test_perf_sanity\" name=\"test_e2e[aggr_upload-cfg-srv]\" time=\"9\"/></testsuite>",
    );
    let o = dir.path().join("out");
    perf_run()
        .arg("extract")
        .arg("--junit-xml")
        .arg(&junit)
        .arg("--log")
        .arg(&l0)
        .arg(&l1)
        .arg("--output-dir")
        .arg(&o)
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "client server0/client1 reported 2 failed requests",
        ));
    let s = summary(&o);
    assert_eq!(s["cases"].as_array().map(Vec::len), Some(1));
    assert_eq!(s["cases"][0]["status"], "invalid");
    assert_eq!(s["cases"][0]["failure_class"], "invalid_measurement");
    assert_eq!(s["cases"][0]["clients"][0]["source"]["kind"], "client_log");
}

#[test]
fn malformed_xml_is_a_usage_error_naming_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = write(
        &dir.path().join("results.xml"),
        "<testsuite>\n<testcase name=\"a\">\n</testsuite>\n",
    );
    perf_run()
        .arg("extract")
        .arg("--junit-xml")
        .arg(&junit)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is not well-formed XML at line 3, column 1",
        ))
        .stderr(predicate::str::contains("backtrace").not());
}

#[test]
fn empty_junit_is_a_clear_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = write(&dir.path().join("results.xml"), "");
    perf_run()
        .arg("extract")
        .arg("--junit-xml")
        .arg(&junit)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is empty (0 bytes); pytest probably never wrote it",
        ));
}

#[test]
fn missing_inputs_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    perf_run()
        .args(["extract", "--output-dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("there is nothing to extract"));
    perf_run()
        .args(["extract", "--log", "/nonexistent/x.log", "--output-dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the log file /nonexistent/x.log does not exist",
        ));
    perf_run()
        .args([
            "extract",
            "--junit-xml",
            "/nonexistent/r.xml",
            "--output-dir",
        ])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "the JUnit file /nonexistent/r.xml does not exist",
        ));
}

#[test]
fn bad_metrics_file_names_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = write(
        &dir.path().join("metrics.yaml"),
        "version: 1\nmetrics:\n  - name: x\n    pattern: '(unclosed'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n",
    );
    perf_run()
        .args(["extract", "--log", DOCS_PATH, "--metrics"])
        .arg(&m)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("metrics.yaml, line 4 column 14: the pattern of metric `x` is not a valid regular expression"));
}

#[test]
fn truncated_log_is_invalid_with_missing_metrics_listed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cut = &DOCS[..DOCS.find("Median ITL").expect("present") + 5];
    let log = write(&dir.path().join("case/trtllm-benchmark.0.0.log"), cut);
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&log)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "is missing 5 of 16 required metrics: median_itl, p99_itl",
        ));
}

#[test]
fn non_utf8_and_crlf_log_still_yields_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = b"\xff\xfe\x00garbage \xc3\x28 line\r\n".to_vec();
    bytes.extend_from_slice(DOCS.replace('\n', "\r\n").as_bytes());
    bytes.extend_from_slice(b"\xe2\x82 trailing junk");
    let log = write(&dir.path().join("c/trtllm-benchmark.0.0.log"), bytes);
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&log)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .success();
    let s = summary(&dir.path().join("out"));
    assert_eq!(
        s["cases"][0]["clients"][0]["metrics"]
            .as_object()
            .map(|m| m.len()),
        Some(16)
    );
}

#[test]
fn contradictory_duplicates_warn_and_first_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!("{DOCS}{}", DOCS.replace("12.83", "55.5"));
    let log = write(&dir.path().join("c/trtllm-benchmark.0.0.log"), text);
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&log)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "mean_ttft is printed twice with different values",
        ))
        .stderr(predicate::str::contains("printed 2 result blocks"));
    let s = summary(&dir.path().join("out"));
    assert_eq!(s["cases"][0]["clients"][0]["metrics"]["mean_ttft"], 12.83);
}

#[test]
fn nan_and_negative_values_are_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = DOCS
        .replace(
            "Mean TPOT (ms):                          1.59",
            "Mean TPOT (ms):                          nan",
        )
        .replace(
            "Request throughput (req/s):              0.61",
            "Request throughput (req/s):              -0.61",
        );
    let log = write(&dir.path().join("c/trtllm-benchmark.0.0.log"), text);
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&log)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("printed `nan` for mean_tpot"));
    let s = summary(&dir.path().join("out"));
    let reasons = s["cases"][0]["reasons"].to_string();
    assert!(
        reasons.contains("reported a negative seq_throughput (-0.61 req/s)"),
        "{reasons}"
    );
}

#[test]
fn empty_log_is_invalid_with_a_clear_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = write(&dir.path().join("c/trtllm-benchmark.0.0.log"), "");
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&log)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("is empty (0 bytes)"));
}

#[test]
fn zero_generated_tokens_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = DOCS.replace(
        "Total generated tokens:                  1024",
        "Total generated tokens:                  0",
    );
    let log = write(&dir.path().join("c/trtllm-benchmark.0.0.log"), text);
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&log)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("generated 0 tokens"));
}

#[test]
fn truncated_junit_is_used_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = format!(
        "<testsuite><testcase name=\"test_e2e[aggr_upload-x]\"><system-out>{}",
        escape(DOCS)
    );
    let junit = write(&dir.path().join("results.xml"), xml);
    perf_run()
        .arg("extract")
        .arg("--junit-xml")
        .arg(&junit)
        .arg("--output-dir")
        .arg(dir.path().join("out"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("was cut off"))
        .stderr(predicate::str::contains(
            "the JUnit report stops inside this test case",
        ));
    let s = summary(&dir.path().join("out"));
    // The numbers are there, but the test never finished: failed, not passed.
    assert_eq!(
        s["cases"][0]["clients"][0]["metrics"]
            .as_object()
            .map(|m| m.len()),
        Some(16)
    );
}

/// A generated "large" log (tens of MB, one 2 MB line without a newline, `\r` progress bars)
/// and a large JUnit file; correctness only (the benchmark script measures speed and memory).
#[test]
fn generated_large_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = Vec::with_capacity(40 << 20);
    log.extend_from_slice(b"Namespace(max_concurrency=32, num_prompts=1, model='m')\n");
    let noise = "[TensorRT-LLM][INFO] iter = 1, host_step_time = 12.3ms, 'num_generation_tokens': 32 \r 45%|####5     | 450/1000 [00:12<00:15, 36.2it/s]\n";
    while log.len() < 24 << 20 {
        log.extend_from_slice(noise.as_bytes());
    }
    log.extend(std::iter::repeat_n(b'x', 2 << 20));
    log.push(b'\n');
    log.extend_from_slice(DOCS.as_bytes());
    let path = write(&dir.path().join("big/trtllm-benchmark.0.0.log"), &log);
    drop(log);

    let mut xml = String::from("<testsuites><testsuite name=\"pytest\">");
    let out_noise = escape(noise).repeat(20_000);
    for k in 0..8 {
        xml.push_str(&format!(
            "<testcase classname=\"perf.test_perf_sanity\" name=\"test_e2e[aggr_upload-c{k}]\"><system-out>{out_noise}{}</system-out></testcase>",
            escape(DOCS)
        ));
    }
    xml.push_str("</testsuite></testsuites>");
    let junit = write(&dir.path().join("results.xml"), &xml);
    drop(xml);

    let o = dir.path().join("out");
    perf_run()
        .arg("extract")
        .arg("--log")
        .arg(&path)
        .arg("--junit-xml")
        .arg(&junit)
        .arg("--output-dir")
        .arg(&o)
        .assert()
        .success();
    let s = summary(&o);
    let cases = s["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 9);
    for c in cases {
        assert_eq!(c["status"], "passed", "{}", c["reasons"]);
        assert_eq!(
            c["clients"][0]["metrics"].as_object().map(|m| m.len()),
            Some(16)
        );
    }
    let big = cases
        .iter()
        .find(|c| c["case_name"] == "big")
        .expect("log case");
    assert_eq!(big["clients"][0]["concurrency"], 32);
}
