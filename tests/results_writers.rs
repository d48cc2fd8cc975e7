//! Golden-file tests of every writer (insta snapshots under tests/snapshots/), plus the
//! round trip of the long CSV through `read_long_csv` and the uploader's rules.
//!
//! Update snapshots locally with `INSTA_UPDATE=always cargo test --test results_writers`;
//! with `CI=true` a mismatch fails.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use perf_run::results::classify::{Evidence, classify};
use perf_run::results::metrics::{BlockMode, MetricConfig, scan_bytes};
use perf_run::results::validity::{ClientId, judge};
use perf_run::results::writers::{self, junit_out, long_csv, session, summary, wide_csv};
use perf_run::results::{
    CaseContext, CaseResult, ClientMeta, ClientResult, JobInfo, MetricSource, RunInfo, ServerMeta,
    SysInfo, write_outputs,
};
use perf_run::trtperf::long_csv::read_long_csv;

const DOCS: &str =
    include_str!("fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt");

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc.timestamp_opt(0, 0).unwrap())
}

fn cfg() -> MetricConfig {
    MetricConfig::builtin().expect("built-in metrics.yaml")
}

fn run_info() -> RunInfo {
    let mut run = RunInfo::new("20251031-005353-gb200", t("2025-10-31T00:50:00Z"));
    run.finished = Some(t("2025-10-31T02:10:00Z"));
    run.cluster = Some("gb200-lyris".into());
    run.hostname = Some("login-01".into());
    run.ip = Some("10.0.0.1".into());
    run.user = Some("perfbot".into());
    run.trtllm_commit = Some("0452cf0c6b6b".into());
    run.trtllm_branch = Some("main".into());
    run.build_url = Some("https://jenkins.example/job/perf/42/".into());
    run.sysinfo = SysInfo {
        gpu: "NVIDIA GB200".into(),
        driver: "575.57.08".into(),
        cuda: "12.9".into(),
        os: "Ubuntu 24.04.2 LTS".into(),
        cpu: "Neoverse-V2".into(),
        gpu_count: Some(4),
        ..Default::default()
    };
    run
}

fn server(name: &str, clients: Vec<ClientMeta>) -> ServerMeta {
    ServerMeta {
        name: name.into(),
        model: "DeepSeek-R1-0528-FP4".into(),
        precision: Some("fp4".into()),
        max_batch_size: Some(512),
        tp: 4,
        ep: 4,
        pp: 1,
        cp: 1,
        gpus: 4,
        clients,
    }
}

fn client_meta(name: &str, con: u64) -> ClientMeta {
    ClientMeta {
        name: name.into(),
        concurrency: con,
        iterations: 10,
        isl: 1024,
        osl: 1024,
    }
}

fn client(server: &str, meta: &ClientMeta, idx: usize, text: &str, log: &str) -> ClientResult {
    let c = cfg();
    let scan = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
    let id = ClientId {
        server: server.into(),
        client: meta.name.clone(),
        server_idx: 0,
        client_idx: idx,
        meta: Some(meta.clone()),
    };
    judge(
        &id,
        scan.blocks.first(),
        &c,
        MetricSource::ClientLog(PathBuf::from(log)),
        &format!("there is no client log {log}"),
    )
}

/// Classify like extract_case does, from a context and finished clients.
fn case(ctx: CaseContext, clients: Vec<ClientResult>, duration: Option<f64>) -> CaseResult {
    let invalid: Vec<String> = clients.iter().flat_map(|c| c.reasons.clone()).collect();
    let v = classify(&Evidence {
        infra_error: ctx.infra_error.as_deref(),
        skipped: ctx.skipped.as_deref(),
        job: ctx.job.as_ref(),
        measured: clients.iter().any(|c| !c.metrics.is_empty()),
        invalid_reasons: &invalid,
        any_evidence: !clients.is_empty(),
        ..Evidence::default()
    });
    CaseResult {
        test_id: ctx.test_id.clone(),
        case_name: ctx.case_name.clone(),
        mode: ctx.mode.clone(),
        status: v.status,
        failure_class: v.class,
        reasons: v.reasons,
        warnings: clients.iter().flat_map(|c| c.warnings.clone()).collect(),
        job: ctx.job.clone(),
        junit: None,
        start: ctx.job.as_ref().and_then(|j| j.start),
        end: ctx.job.as_ref().and_then(|j| j.end),
        duration_s: duration,
        clients,
        servers: ctx.servers.clone(),
        artifacts_dir: ctx.artifacts_dir.clone(),
        marker_exit: None,
    }
}

fn job(id: &str, state: &str, start: &str, end: &str, elapsed: f64) -> JobInfo {
    JobInfo {
        job_id: id.into(),
        state: perf_run::slurm::JobState::parse(state).base,
        exit_code: Some(0),
        signal: Some(0),
        start: Some(t(start)),
        end: Some(t(end)),
        elapsed_s: Some(elapsed),
        node_list: Some("gb200-[001-002]".into()),
        ..JobInfo::default()
    }
}

/// Six cases covering every status and the awkward inputs.
fn cases() -> Vec<CaseResult> {
    let mut out = Vec::new();

    // 1. Passed, single-agg, two clients.
    let (c8, c64) = (
        client_meta("con8_iter10_1k1k", 8),
        client_meta("con64_iter10_1k1k", 64),
    );
    let srv = "r1_fp4_v2_dep4_mtp1_1k1k";
    let name = format!("aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-{srv}");
    let dir = format!("/runs/r1/{name}");
    let ctx = CaseContext {
        test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
        case_name: name.clone(),
        mode: "single-agg".into(),
        artifacts_dir: Some(PathBuf::from("/runs/r1")),
        job: Some(job(
            "1001",
            "COMPLETED",
            "2025-10-31T00:53:53Z",
            "2025-10-31T01:05:36Z",
            703.296025,
        )),
        servers: vec![server(srv, vec![c8.clone(), c64.clone()])],
        ..CaseContext::default()
    };
    let faster = DOCS.replace("0.61", "4.87").replace("622.56", "4981.3");
    out.push(case(
        ctx,
        vec![
            client(
                srv,
                &c8,
                0,
                DOCS,
                &format!("{dir}/trtllm-benchmark.0.0.log"),
            ),
            client(
                srv,
                &c64,
                1,
                &faster,
                &format!("{dir}/trtllm-benchmark.0.1.log"),
            ),
        ],
        Some(703.296025),
    ));

    // 2. Invalid, disagg: failed requests, plus a contradictory duplicate line (a warning).
    let c1k = client_meta("con1024_iter5_1k1k", 1024);
    let name = "disagg_upload-e2e-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";
    let ctx = CaseContext {
        test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
        case_name: name.into(),
        mode: "disagg".into(),
        artifacts_dir: Some(PathBuf::from("/runs/r2")),
        job: Some(job(
            "1002",
            "COMPLETED",
            "2025-10-31T01:10:00Z",
            "2025-10-31T01:30:00Z",
            1200.0,
        )),
        servers: vec![server("disagg", vec![c1k.clone()])],
        ..CaseContext::default()
    };
    let bad = format!(
        "{DOCS}Failed requests:                         3         \n\
         =======================!FAILED REQUESTS!=======================\n\
         Mean TTFT (ms):                          99.99     \n"
    );
    out.push(case(
        ctx,
        vec![client(
            "disagg",
            &c1k,
            0,
            &bad,
            &format!("/runs/r2/{name}/trtllm-benchmark.0.0.log"),
        )],
        Some(1200.0),
    ));

    // 3. Timeout, multi-agg: one client finished, the other never printed a result.
    let name = "aggr_upload-deepseek_r1_fp4_v2_2_nodes_grace_blackwell-r1_fp4_v2_tep8_mtp3";
    let (a, b) = (
        client_meta("con1_iter10_8k1k", 1),
        client_meta("con256_iter10_8k1k", 256),
    );
    let ctx = CaseContext {
        test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
        case_name: name.into(),
        mode: "multi-agg".into(),
        artifacts_dir: Some(PathBuf::from("/runs/r3")),
        job: Some(job(
            "1003",
            "TIMEOUT",
            "2025-10-31T01:31:00Z",
            "2025-10-31T05:31:00Z",
            14400.0,
        )),
        servers: vec![server("r1_fp4_v2_tep8_mtp3", vec![a.clone(), b.clone()])],
        ..CaseContext::default()
    };
    let partial: String = DOCS.lines().take(9).map(|l| format!("{l}\n")).collect();
    out.push(case(
        ctx,
        vec![
            client(
                "r1_fp4_v2_tep8_mtp3",
                &a,
                0,
                DOCS,
                &format!("/runs/r3/{name}/trtllm-benchmark.0.0.log"),
            ),
            client(
                "r1_fp4_v2_tep8_mtp3",
                &b,
                1,
                &partial,
                &format!("/runs/r3/{name}/trtllm-benchmark.0.1.log"),
            ),
        ],
        Some(14400.0),
    ));

    // 4. Skipped by the test list.
    out.push(case(
        CaseContext {
            test_id:
                "perf/test_perf_sanity.py::test_e2e[aggr_upload-k2_thinking_fp4_grace_blackwell]"
                    .into(),
            case_name: "aggr_upload-k2_thinking_fp4_grace_blackwell".into(),
            mode: "single-agg".into(),
            skipped: Some("https://nvbugs/5512345 hangs at warm-up".into()),
            ..CaseContext::default()
        },
        vec![],
        None,
    ));

    // 5. Infra: sbatch refused the job.
    out.push(case(
        CaseContext {
            test_id: "perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-gb200_x]".into(),
            case_name: "disagg_upload-gen_only-gb200_x".into(),
            mode: "disagg".into(),
            infra_error: Some("sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified".into()),
            ..CaseContext::default()
        },
        vec![],
        None,
    ));

    // 6. Hostile names: formula-like client name, XML specials and a control character.
    let evil = client_meta("=HYPERLINK(\"http://x\",\"y\")", 2);
    let ctx = CaseContext {
        test_id: "perf/test_perf_sanity.py::test_e2e[aggr_upload-a<b>&\"c\"]".into(),
        case_name: "aggr_upload-a<b>&\"c\"".into(),
        mode: "single-agg".into(),
        job: Some(job(
            "1006",
            "COMPLETED",
            "2025-10-31T06:00:00Z",
            "2025-10-31T06:01:00Z",
            60.0,
        )),
        servers: vec![ServerMeta {
            model: "+cmd|' /C calc'!A0".into(),
            precision: None,
            max_batch_size: None,
            ..server("@srv", vec![evil.clone()])
        }],
        ..CaseContext::default()
    };
    let zero = DOCS
        .replace(
            "Total generated tokens:                  1024",
            "Total generated tokens:                  0",
        )
        .replace(
            "Mean TTFT (ms):                          12.83",
            "Mean TTFT (ms):                          nan\u{1b}[0m",
        );
    out.push(case(
        ctx,
        vec![client("@srv", &evil, 0, &zero, "/runs/r6/x.log")],
        Some(60.0),
    ));
    out
}

fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut buf = Vec::new();
    f(&mut buf);
    String::from_utf8(buf).expect("writers emit UTF-8")
}

#[test]
fn golden_long_csv() {
    let s = render(|w| long_csv::write(w, &run_info(), &cases()).expect("write"));
    insta::assert_snapshot!("long_csv", s);
}

#[test]
fn golden_wide_csv() {
    let s = render(|w| wide_csv::write(w, &cases()).expect("write"));
    insta::assert_snapshot!("wide_csv", s);
}

#[test]
fn golden_session_csv() {
    let s = render(|w| session::write(w, &run_info()).expect("write"));
    insta::assert_snapshot!("session_csv", s);
}

#[test]
fn golden_summary_json() {
    let s = render(|w| summary::write(w, Path::new("/out"), &run_info(), &cases()).expect("write"));
    let s = s.replace(env!("CARGO_PKG_VERSION"), "<version>");
    insta::assert_snapshot!("summary_json", s);
}

#[test]
fn golden_junit_xml() {
    let s = render(|w| junit_out::write(w, &run_info(), &cases()).expect("write"));
    insta::assert_snapshot!("junit_xml", s);
}

#[test]
fn statuses_are_what_the_cases_say() {
    let got: Vec<_> = cases()
        .iter()
        .map(|c| (c.status.as_str(), c.failure_class.map(|f| f.as_str())))
        .collect();
    assert_eq!(
        got,
        [
            ("passed", None),
            ("invalid", Some("invalid_measurement")),
            ("failed", Some("timeout")),
            ("skipped", None),
            ("failed", Some("infra")),
            ("invalid", Some("invalid_measurement")),
        ]
    );
}

#[test]
fn junit_output_is_well_formed_and_reads_back() {
    let s = render(|w| junit_out::write(w, &run_info(), &cases()).expect("write"));
    let report = perf_run::results::junit::read_junit_bytes(
        s.as_bytes(),
        Path::new("perf-run-junit.xml"),
        &cfg(),
        &|_, _| true,
    )
    .expect("our JUnit is well-formed");
    assert_eq!(report.cases.len(), 6);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let statuses: Vec<_> = report.cases.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["passed", "failed", "failed", "skipped", "failed", "failed"]
    );
    assert_eq!(
        report.cases[5].name,
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-a<b>&\"c\"]"
    );
}

#[test]
fn written_files_are_complete_and_long_csv_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("results");
    let written = write_outputs(&out, &run_info(), &cases()).expect("write_outputs");
    for p in written.all() {
        assert!(p.is_file(), "{} missing", p.display());
    }
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .expect("read_dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty());

    let rows = read_long_csv(&written.long_csv).expect("our long CSV reads back");
    // 16 + 16 metrics (passed) + 16 (invalid disagg) + 16 + 4 (timeout) + 1 (infra) + 15 (hostile).
    assert_eq!(rows.len(), 16 + 16 + 16 + 16 + 4 + 1 + 15);
    let disagg: Vec<_> = rows
        .iter()
        .filter(|r| r.network_name.contains("disagg_upload-e2e"))
        .map(|r| r.metric_type.as_str())
        .collect();
    assert!(disagg.contains(&"DISAGG_SERVER_TTFT"));
    assert!(disagg.contains(&"DISAGG_SERVER_E2EL"));
    assert!(!disagg.contains(&"MEDIAN_FIRST_TOKEN_TIME"));
    let first = &rows[0];
    assert_eq!(first.metric_type, "SEQ_THROUGHPUT");
    assert_eq!(first.value(), Some(0.61));
    assert_eq!(first.state, "valid");
    assert_eq!(first.start_timestamp, "2025-10-31 00:53:53");
    assert_eq!(first.total_time_sec, "703.296025");
    assert_eq!(
        perf_run::trtperf::rules::precision(&first.command, "GB200"),
        "FP4"
    );
    assert!(first.network_name.contains("_bs:512_con:8"));
    let states: std::collections::BTreeSet<_> = rows.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(
        states.into_iter().collect::<Vec<_>>(),
        ["failed", "invalid", "valid"]
    );

    // record_upload patches the summary atomically and keeps everything else.
    let before: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.summary_json).expect("read"))
            .expect("json");
    assert!(before["upload"].is_null());
    writers::summary::record_upload(&written.summary_json, 4242, "http://trtperf/run/4242")
        .expect("record");
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.summary_json).expect("read"))
            .expect("json");
    assert_eq!(after["upload"]["run_id"], 4242);
    assert_eq!(after["upload"]["link"], "http://trtperf/run/4242");
    assert_eq!(after["cases"], before["cases"]);
}

#[test]
fn record_upload_refuses_a_foreign_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("summary.json");
    std::fs::write(&p, "{\"schema\":\"other\"}").expect("write");
    let err = writers::summary::record_upload(&p, 1, "x")
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a perf-run summary"), "{err}");
}

#[test]
fn output_writer_dropped_without_finish_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("results");
    {
        let mut w =
            perf_run::results::OutputWriter::create(&out, &run_info(), Vec::new()).expect("create");
        for c in cases() {
            w.add(&c).expect("add");
        }
        // Dropped here, e.g. because extraction failed half-way.
    }
    let left: Vec<_> = std::fs::read_dir(&out)
        .expect("read_dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
