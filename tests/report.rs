//! `perf-run report` and `report::write` on real inputs: run directories with plans from
//! `perf-run render` and summaries from `perf-run extract` (tests/report_support).

mod report_support;

use std::path::{Path, PathBuf};

use perf_run::report::{self, ReportData};
use report_support::*;
use serde_json::Value;

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// What Jenkins' CSP blocks must never be in the page's markup (escaped text is fine).
fn assert_csp_safe(html: &str) {
    assert_eq!(report::svg::csp_violation(html), None);
    // And the crude check on the raw text, for what no text of ours contains.
    let lower = html.to_ascii_lowercase();
    for bad in ["<style", "<script", "data:", "javascript:"] {
        assert!(!lower.contains(bad), "the page contains `{bad}`");
    }
}

fn runs(root: &Path) -> (PathBuf, PathBuf) {
    let t = tree();
    let mut a = RunSpec::new("run-a", 1.0, "nvcr.io/nvidia/tensorrt-llm/release:1.2.0");
    a.invalid_client = true;
    a.hostile = true;
    let b = RunSpec::new("run-b", 0.9, "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc1");
    (make_run(root, t.path(), &a), make_run(root, t.path(), &b))
}

#[test]
fn one_run_without_history() {
    let root = tempfile::tempdir().unwrap();
    let (a, _) = runs(root.path());
    let out = root.path().join("report");
    let o = perf_run(&root.path().join("home"))
        .arg("report")
        .arg(&a)
        .arg("--output-dir")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("report of 1 run(s), 3 case(s)"), "{stderr}");

    let j = json(&out.join("report.json"));
    assert_eq!(j["schema"], "perf-run.report");
    assert_eq!(j["version"], 1);
    assert!(j["history"].is_null(), "no history was asked for");
    assert!(
        j["provenance_diff"].is_null(),
        "one run: nothing to compare"
    );
    let data: ReportData = serde_json::from_value(j).unwrap();
    let agg = data.case(&test_id(&agg_case())).expect("aggregated case");
    let agg_run = agg.runs[0].as_ref().unwrap();
    // GPU count, nodes, image and config hash from the real plan.json.
    assert_eq!(agg_run.gpu_count, Some(4));
    assert_eq!(agg_run.gpu_count_source.as_deref(), Some("plan"));
    assert_eq!(agg_run.nodes, Some(1));
    assert_eq!(agg_run.config_hash.as_deref().map(str::len), Some(64));
    assert_eq!(agg_run.status, "invalid");
    assert_eq!(
        agg_run.failure_class.as_deref(),
        Some("invalid_measurement")
    );
    let bad: Vec<_> = agg_run.clients.iter().filter(|c| !c.valid()).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].concurrency, Some(64), "{:#?}", agg_run.clients);
    // Clients ordered by concurrency.
    let conc: Vec<_> = agg_run
        .clients
        .iter()
        .map(|c| c.concurrency.unwrap())
        .collect();
    assert_eq!(conc, AGG_CONCURRENCY);
    let dis = data.case(&test_id(&disagg_case())).unwrap().runs[0]
        .as_ref()
        .unwrap();
    assert_eq!((dis.gpu_count, dis.nodes), (Some(12), Some(3)));
    // The hostile case failed, and its GPU count is the host's.
    let h = data.case(&test_id(HOSTILE)).expect("hostile case").runs[0]
        .as_ref()
        .unwrap();
    assert_eq!(h.status, "failed");
    assert_eq!(h.gpu_count_source.as_deref(), Some("host"));
    assert_eq!(
        data.runs[0].container_image.as_deref(),
        Some("nvcr.io/nvidia/tensorrt-llm/release:1.2.0")
    );
    assert_eq!(data.runs[0].trtllm_version.as_deref(), Some("1.2.0"));

    // Pareto: one group per GPU count; y = output tok/s / GPUs, x = 1000 / TPOT.
    let counts: Vec<u32> = data.pareto.iter().map(|g| g.gpu_count).collect();
    assert_eq!(counts, [4, 12]);
    let g12 = &data.pareto[1];
    let p = g12
        .points
        .iter()
        .find(|p| p.concurrency == Some(4))
        .unwrap();
    let cl = dis
        .clients
        .iter()
        .find(|c| c.concurrency == Some(4))
        .unwrap();
    assert!(
        (p.output_tokens_per_s_per_gpu - cl.metric("token_throughput").unwrap() / 12.0).abs()
            < 1e-9
    );
    assert!((p.tokens_per_s_per_user - 1000.0 / cl.metric("mean_tpot").unwrap()).abs() < 1e-9);
    // The invalid point is shown but never on the frontier.
    let inv = data.pareto[0].points.iter().find(|p| !p.valid).unwrap();
    assert!(!inv.on_frontier);

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_csp_safe(&html);
    assert!(html.contains("<link rel=\"stylesheet\" href=\"report.css\">"));
    assert!(html.contains("http-equiv=\"Content-Security-Policy\""));
    // The hostile name and the failure message are text, not markup.
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;")
    );
    assert!(html.contains("&lt;b&gt;server&lt;/b&gt; died"));
    assert!(html.contains("Pareto: output tokens/s per GPU vs tokens/s per user (12 GPUs)"));
    assert!(html.contains("id=\"concurrency\""));
    assert!(
        !html.contains("id=\"history\""),
        "no history section without --history"
    );
    assert!(!html.contains("id=\"compare\""));
    assert!(html.contains("st-failed") && html.contains("test_failed"));
    assert!(html.contains("3/4 valid"));
    assert_eq!(
        std::fs::read_to_string(out.join("report.css")).unwrap(),
        report::html::CSS
    );
}

#[test]
fn two_runs_are_compared_with_their_provenance() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = runs(root.path());
    let data = ReportData::from_runs(&[a, b], &[], &[]).unwrap();
    let d = data.provenance_diff.as_ref().expect("a diff for two runs");
    let row = |f: &str| d.rows.iter().find(|r| r.field == f).unwrap();
    assert!(row("container image").differs);
    assert_eq!(
        row("TensorRT-LLM version").values,
        [Some("1.2.0".to_string()), Some("1.3.0rc1".to_string())]
    );
    assert!(!row("GPU").differs);
    assert!(
        !row("configs as planned").differs,
        "{:?}",
        row("configs as planned")
    );
    assert!(d.fair, "{}", d.verdict);
    assert_eq!(d.common_cases, 2, "the hostile case is only in run A");
    assert!(
        d.verdict.contains("container image") && d.verdict.contains("TensorRT-LLM version"),
        "{}",
        d.verdict
    );

    let out = tempfile::tempdir().unwrap();
    let w = report::write(out.path(), &data).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert_csp_safe(&html);
    assert!(html.contains("id=\"compare\""));
    assert!(html.contains("release:1.3.0rc1"));
    // B is 10 % slower: the throughput cells say so, in the "worse" colour.
    assert!(
        html.contains("<span class=\"delta worse\">-10.0 %</span>"),
        "no -10 % cell"
    );
    assert!(
        html.contains("not in this run"),
        "the hostile case is missing from run B"
    );
}

#[test]
fn two_runs_on_different_gpus_are_not_a_fair_comparison() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = runs(root.path());
    std::fs::write(b.join("sysinfo/gpu.txt"), "NVIDIA H100\n").unwrap();
    // Re-read the summary with another GPU: edit the extracted file's sysinfo.
    let p = b.join("results/summary.json");
    let mut v = json(&p);
    v["run"]["sysinfo"]["gpu"] = "NVIDIA H100 80GB HBM3".into();
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let data = ReportData::from_runs(&[a, b], &[], &[]).unwrap();
    let d = data.provenance_diff.unwrap();
    assert!(!d.fair);
    assert!(
        d.verdict.starts_with("Not a fair comparison: GPU"),
        "{}",
        d.verdict
    );
}

#[test]
fn history_shows_baseline_band_change_points_and_verdicts() {
    let root = tempfile::tempdir().unwrap();
    let (a, _) = runs(root.path());
    let agg = agg_case();
    let mut series = Vec::new();
    let mut judgements = Vec::new();
    for (i, c) in AGG_CONCURRENCY.iter().enumerate() {
        let (s, j) = series_for(&agg, i, *c);
        series.push(s);
        judgements.push(j);
    }
    let data = ReportData::from_runs(&[a], &series, &judgements).unwrap();
    let hist = data.history.as_ref().expect("history section");
    assert_eq!(hist.entries.len(), 4);
    assert!(
        hist.entries
            .iter()
            .all(|e| e.test_id.as_deref() == Some(test_id(&agg).as_str()))
    );
    let case = data.case(&test_id(&agg)).unwrap();
    assert_eq!(case.verdicts.len(), 4);
    assert_eq!(
        case.verdicts[0].verdict,
        perf_run::judge::Verdict::Regression,
        "worst first"
    );

    let out = tempfile::tempdir().unwrap();
    let w = report::write(out.path(), &data).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert_csp_safe(&html);
    assert!(html.contains("id=\"history\""));
    assert!(html.contains("<span class=\"verdict v-regression\">regression</span>"));
    // The explanation is text (its `<after …>` is escaped).
    assert!(html.contains("&lt;after 0abc"), "explanation not escaped");
    assert!(html.contains("-12.0 %"), "change point label");
    assert!(html.contains("baseline"), "baseline legend");
    // Charts are inline SVG with presentation attributes only.
    // 4 history charts, the Pareto chart(s) and the run swatch.
    assert!(html.matches("<svg width=").count() > 4);
    let j = json(&w.json);
    assert_eq!(j["history"]["entries"].as_array().unwrap().len(), 4);
}

fn series_for(
    case: &str,
    i: usize,
    c: u64,
) -> (perf_run::history::Series, perf_run::judge::Judgement) {
    // The con-8 series stepped down 12 % near the end; the others are flat.
    if c == 8 {
        series(case, i, c, "token_throughput", 90, 86, -12.0)
    } else {
        series(case, i, c, "token_throughput", 90, 90, 0.0)
    }
}

#[test]
fn history_asked_for_but_empty_says_so() {
    let root = tempfile::tempdir().unwrap();
    let (a, _) = runs(root.path());
    let out = root.path().join("r");
    let args = perf_run::cli::ReportArgs {
        runs: vec![a.display().to_string()],
        history: true,
        output_dir: out.clone(),
    };
    let empty = |_: &[PathBuf]| -> anyhow::Result<_> { Ok((vec![], vec![])) };
    perf_run::ops::report::run_with(args, &empty).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("No history was found for these cases"));
    assert!(html.contains("no history"), "verdict column");

    // Through the command, without any history.db yet: the report says there is no history
    // (and creates no history file).
    let home = root.path().join("home");
    let out2 = root.path().join("r2");
    let o = perf_run(&home)
        .arg("report")
        .arg(&a)
        .arg("--history")
        .arg("--output-dir")
        .arg(&out2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out2.join("report.html")).unwrap();
    assert!(
        html.contains("No history was found for these cases"),
        "{html}"
    );
    assert!(!home.join("history.db").exists());
}

#[test]
fn write_for_run_writes_into_results() {
    let root = tempfile::tempdir().unwrap();
    let (a, _) = runs(root.path());
    let w = report::write_for_run(&a, &[], &[]).unwrap();
    assert_eq!(w.html, a.join("results/report.html"));
    for p in w.all() {
        assert!(p.is_file(), "{}", p.display());
    }
    // Nothing half-written is left behind.
    let temps = std::fs::read_dir(a.join("results"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(temps, 0);
}

#[test]
fn bad_inputs_are_one_sentence() {
    let root = tempfile::tempdir().unwrap();
    let home = root.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let empty = root.path().join("empty-run");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("run.json"), "{}").unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["no-such-run"], "no run directory `no-such-run`"),
        (&[empty.to_str().unwrap()], "holds no summary.json"),
        (&[], "there is no run under"),
    ];
    for (args, want) in cases {
        let o = perf_run(&home)
            .arg("report")
            .args(args)
            .arg("--output-dir")
            .arg(root.path().join("out"))
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(!e.contains("panicked"), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "one sentence: {e}");
    }
    // A foreign JSON file named summary.json.
    let foreign = root.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("summary.json"), "[1, 2]").unwrap();
    let e = ReportData::from_runs(&[foreign], &[], &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("is not a summary.json perf-run can read"),
        "{e}"
    );
}

#[test]
fn run_ids_and_the_newest_run_resolve_like_status() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = runs(root.path());
    for r in [&a, &b] {
        std::fs::write(r.join("run.json"), "{}").unwrap();
    }
    // PERF_RUN_HOME = the directory holding run-a and run-b; the newest (by name) is run-b.
    let report = |args: &[&str]| {
        let out = root.path().join("out");
        let o = perf_run(root.path())
            .arg("report")
            .args(args)
            .arg("--output-dir")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j = json(&out.join("report.json"));
        j["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["dir"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(report(&[]), [b.display().to_string()]);
    assert_eq!(
        report(&["run-a", "run-b"]),
        [a.display().to_string(), b.display().to_string()]
    );
    // An extract output directory and a summary.json path work too.
    let s = a.join("results/summary.json");
    assert_eq!(report(&[s.to_str().unwrap()]).len(), 1);
}

#[test]
fn runs_with_nothing_in_common_and_a_foreign_history_are_sentences() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = runs(root.path());
    // Run B's cases renamed: no case in common with run A.
    let p = b.join("results/summary.json");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("test_e2e[", "test_e2e[other-")
        .replace("\"case_name\": \"", "\"case_name\": \"other-");
    std::fs::write(&p, text).unwrap();
    // A history of some other test entirely.
    let (s, j) = series(
        "aggr_upload-unrelated",
        0,
        1,
        "token_throughput",
        30,
        25,
        -20.0,
    );
    let data = ReportData::from_runs(&[a, b], &[s], &[j]).unwrap();
    let d = data.provenance_diff.as_ref().unwrap();
    assert_eq!(d.common_cases, 0);
    assert!(!d.fair);
    assert_eq!(
        d.verdict,
        "Not comparable: the runs have no case in common."
    );
    assert!(
        data.notes
            .iter()
            .any(|n| n == "The runs have no case in common: they are shown side by side, but no number is compared."),
        "{:?}",
        data.notes
    );
    assert!(
        data.notes
            .iter()
            .any(|n| n.starts_with("1 verdict(s) belong to series of no case")),
        "{:?}",
        data.notes
    );
    let hist = data.history.as_ref().unwrap();
    assert_eq!(hist.entries[0].test_id, None);
    let out = tempfile::tempdir().unwrap();
    let w = report::write(out.path(), &data).unwrap();
    let html = std::fs::read_to_string(w.html).unwrap();
    assert_csp_safe(&html);
    assert!(html.contains("Series of no case in these runs"));
    assert!(!html.contains("<h3>Numbers"), "nothing to compare");
}
