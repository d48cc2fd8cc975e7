use super::*;

fn pt(run: usize, x: f64, y: f64, valid: bool) -> ParetoPoint {
    ParetoPoint {
        run,
        test_id: "t".into(),
        client: "c".into(),
        concurrency: None,
        tokens_per_s_per_user: x,
        output_tokens_per_s_per_gpu: y,
        valid,
        on_frontier: false,
    }
}

#[test]
fn frontier_keeps_only_undominated_valid_points_per_run() {
    let mut p = vec![
        pt(0, 10.0, 100.0, true),
        pt(0, 20.0, 80.0, true),
        pt(0, 15.0, 70.0, true),  // dominated by (20, 80)
        pt(0, 5.0, 200.0, false), // invalid: never on the frontier
        pt(1, 1.0, 1.0, true),    // another run: its own frontier
    ];
    mark_frontier(&mut p);
    let on: Vec<bool> = p.iter().map(|x| x.on_frontier).collect();
    assert_eq!(on, [true, true, false, false, true]);
}

#[test]
fn series_names_match_their_case() {
    let id = "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]";
    assert!(belongs(
        "perf_sanity[aggr_upload-cfg-srv-srv-con8]_bs:0_con:8",
        id,
        "aggr_upload-cfg-srv"
    ));
    assert!(belongs(id, id, "aggr_upload-cfg-srv"));
    assert!(!belongs(
        "perf_sanity[aggr_upload-cfg-srv2-x]_bs:0_con:8",
        id,
        "aggr_upload-cfg-srv"
    ));
}

#[test]
fn the_longest_case_name_takes_the_series() {
    let case = |name: &str| CaseEntry {
        test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
        case_name: name.into(),
        mode: "single-agg".into(),
        runs: vec![],
        verdicts: vec![],
    };
    let mut cases = vec![case("aggr_upload-cfg"), case("aggr_upload-cfg-srv")];
    let name = "perf_sanity[aggr_upload-cfg-srv-srv-con8]_bs:0_con:8";
    let j: Judgement = serde_json::from_value(serde_json::json!({
        "test_name": name, "network_name": name, "metric": "token_throughput",
        "gpu_type": "GB200", "gpu_count": 4, "cluster": "c", "verdict": "ok",
        "gating": true, "latest": null, "baseline": null, "delta_pct": null,
        "threshold_pct": 5.0, "threshold_source": "", "cv_pct": null, "n": 0,
        "baseline_from": null, "baseline_to": null, "change_points": [],
        "explanation": ""
    }))
    .unwrap();
    let mut notes = vec![];
    attach_history(&mut cases, &[], &[j], &mut notes);
    assert!(cases[0].verdicts.is_empty());
    assert_eq!(cases[1].verdicts.len(), 1);
    assert!(notes.is_empty());
}

#[test]
fn no_run_is_a_sentence_not_a_panic() {
    let e = ReportData::from_runs(&[], &[], &[]).unwrap_err();
    assert!(e.to_string().contains("no run to report on"), "{e}");
}

#[test]
fn foreign_json_names_the_file_and_the_schema() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("summary.json"), r#"{"schema": "other"}"#).unwrap();
    let e = ReportData::from_runs(&[d.path().to_path_buf()], &[], &[]).unwrap_err();
    assert!(
        e.to_string().contains("summary.json") && e.to_string().contains("\"other\""),
        "{}",
        e
    );
    std::fs::write(d.path().join("summary.json"), "{\n  \"schema\": ").unwrap();
    let e = ReportData::from_runs(&[d.path().to_path_buf()], &[], &[]).unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = ReportData::from_runs(&[empty.path().to_path_buf()], &[], &[]).unwrap_err();
    assert!(e.to_string().contains("holds no summary.json"), "{e}");
}
