//! Verdicts of `perf-run run` against the history, end to end on the real test cluster (issue
//! #11 "Done when"): a real step change fails the pre-merge gate (exit 6, JUnit
//! `<failure type="regression">`, summary.json class, the report), the post-merge gate only
//! marks it, and a run back at the baseline passes. The history is real SQLite, filled by
//! `perf-run upload` of copies of a real run (shifted back day by day, with 1 % noise), because a
//! baseline is made of daily medians and a test cannot wait days.

mod common;

mod cluster {
    use std::path::{Path, PathBuf};

    use super::common::{only_run, perf_run, services, stub, summary};
    use serde_json::Value;

    const TINY: &str = "tiny_llama_fp8_grace_blackwell";
    const SERVER: &str = "tiny_llama_fp8_tp1";

    /// `perf-run run` of the tiny single-agg case in a fresh runs home, sharing `history`.
    fn run(history: &Path, slowdown: &str, extra: &[&str]) -> (i32, PathBuf, String) {
        let home = tempfile::tempdir().unwrap().keep();
        let out = perf_run()
            .env_remove("CLUSTER_USER")
            .env("PERF_RUN_HOME", &home)
            .env("PERF_RUN_HISTORY", history)
            .args(["run", "--cluster", "local-test", "--trtllm-dir"])
            .arg(stub())
            .args(["--config", TINY, "--server", SERVER, "--env"])
            .arg(format!("PERF_RUN_STUB_SLOWDOWN={slowdown}"))
            .args(extra)
            .timeout(std::time::Duration::from_secs(600))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code().unwrap_or(-1), only_run(&home), err)
    }

    /// A copy of `run` whose numbers are `factor` times better (throughputs × factor, latencies
    /// ÷ factor), uploaded into `history` as a run of `days_ago` with its own commit and key.
    fn seed(history: &Path, run: &Path, factor: f64, days_ago: i64, n: usize) {
        let copy = tempfile::tempdir().unwrap();
        let results = copy.path().join("results");
        std::fs::create_dir_all(&results).unwrap();
        for e in std::fs::read_dir(run.join("results")).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), results.join(e.file_name())).unwrap();
            }
        }
        for f in ["run.json", "journal.jsonl"] {
            if run.join(f).is_file() {
                std::fs::copy(run.join(f), copy.path().join(f)).unwrap();
            }
        }
        if run.join("cases").is_dir() {
            copy_tree(&run.join("cases"), &copy.path().join("cases"));
        }
        let csv_path = results.join("perf_script_test_results.csv");
        let mut rd = csv::Reader::from_path(&csv_path).unwrap();
        let headers = rd.headers().unwrap().clone();
        let value_at = headers.iter().position(|h| h == "perf_metric").unwrap();
        let kind_at = headers.iter().position(|h| h == "metric_type").unwrap();
        let mut wr = csv::Writer::from_path(results.join("scaled.csv")).unwrap();
        wr.write_record(&headers).unwrap();
        for rec in rd.records() {
            let rec = rec.unwrap();
            let mut row: Vec<String> = rec.iter().map(str::to_string).collect();
            if let Ok(v) = row[value_at].parse::<f64>() {
                let better = row[kind_at].to_ascii_lowercase().contains("throughput");
                row[value_at] = format!("{}", if better { v * factor } else { v / factor });
            }
            wr.write_record(&row).unwrap();
        }
        wr.flush().unwrap();
        std::fs::rename(results.join("scaled.csv"), &csv_path).unwrap();
        let at = chrono::Utc::now() - chrono::Duration::days(days_ago);
        let out = perf_run()
            .env("PERF_RUN_HISTORY", history)
            .env("PERF_RUN_HOME", copy.path())
            .arg("upload")
            .arg(copy.path())
            .args(["--start-time", &at.format("%Y-%m-%d %H:%M:%S").to_string()])
            .args(["--commit", &format!("seed{n:02}")])
            .args(["--run-key", &format!("seed-{n:02}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "seeding the history: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let t = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy_tree(&e.path(), &t);
            } else if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), t).unwrap();
            }
        }
    }

    fn case(run: &Path) -> Value {
        summary(run)["cases"][0].clone()
    }

    #[test]
    fn a_real_step_fails_the_pre_merge_gate_and_a_run_at_the_baseline_passes() {
        let Some(_svc) = services("verdicts") else {
            return;
        };
        let hist_dir = tempfile::tempdir().unwrap();
        let history = hist_dir.path().join("history.db");

        // A: 25 % slower than the baseline will be; nothing to judge against yet.
        let (code, a, err) = run(&history, "1.25", &["--gate", "pre_merge"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(case(&a)["status"], "passed", "{err}");
        assert!(
            a.join("results/report.html").is_file() && a.join("results/report.json").is_file(),
            "every run writes its report"
        );
        assert!(history.is_file(), "the run was recorded into the history");

        // The baseline: 12 daily runs at the normal speed (A's numbers × 1.25, ±1 % noise).
        for (n, days_ago) in (2..=13).rev().enumerate() {
            let noise = [
                0.0, 0.008, -0.006, 0.004, -0.009, 0.002, 0.007, -0.003, 0.005, -0.007, 0.001,
                -0.004,
            ][n];
            seed(&history, &a, 1.25 * (1.0 + noise), days_ago, n);
        }

        // B: as slow as A. A and B are two judged points in a row below the baseline by 20 %,
        // beyond the pre-merge floor (10 %): a regression, and the pre-merge gate fails.
        let (code, b, err) = run(&history, "1.25", &["--gate", "pre_merge"]);
        assert_eq!(
            code, 6,
            "exit 6 on a confirmed regression under --gate pre_merge\n{err}"
        );
        let c = case(&b);
        assert_eq!(c["status"], "failed", "{c}");
        assert_eq!(c["failure_class"], "regression", "{c}");
        let reason = c["reasons"][0].as_str().unwrap();
        assert!(
            reason.starts_with("regression: token_throughput fell 2")
                && reason.contains("two judged points in a row"),
            "{reason}"
        );
        let junit = std::fs::read_to_string(b.join("results/perf-run-junit.xml")).unwrap();
        assert!(junit.contains("<failure type=\"regression\""), "{junit}");
        assert!(
            err.contains("REGRESSION token_throughput") || err.contains("REGRESSION "),
            "{err}"
        );
        // The numbers were measured correctly: the rows stay valid (uploaded, in the history).
        let long = std::fs::read_to_string(b.join("results/perf_script_test_results.csv")).unwrap();
        assert!(
            long.lines().skip(1).all(|l| l.contains(",valid,")),
            "{long}"
        );
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(b.join("results/report.json")).unwrap())
                .unwrap();
        let text = report.to_string();
        assert!(
            text.contains("\"verdict\":\"regression\""),
            "the report carries the verdict"
        );
        let html = std::fs::read_to_string(b.join("results/report.html")).unwrap();
        assert!(
            html.contains("regression") && !html.contains("style="),
            "CSP-safe report"
        );

        // `perf-run history` shows the series with 14 points.
        let out = perf_run()
            .env("PERF_RUN_HISTORY", &history)
            .args(["history", "--json", "--metric", "token_throughput"])
            .output()
            .unwrap();
        let series: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            series[0]["points"].as_array().unwrap().len(),
            14,
            "{series}"
        );

        // C: the same slowdown under the post-merge gate is marked, but the exit code is the
        // run's own (0); D: back at the baseline speed, the newest point is fine: exit 0.
        let (code, c_run, err) = run(&history, "1.25", &["--gate", "post_merge"]);
        assert_eq!(code, 0, "post-merge only warns\n{err}");
        assert_eq!(case(&c_run)["failure_class"], "regression");
        let (code, d, err) = run(&history, "1", &["--gate", "pre_merge"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(case(&d)["status"], "passed", "{}", case(&d));
    }
}
