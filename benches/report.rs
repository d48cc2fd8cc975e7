//! Benchmark: the report of a 100-case run with history (issue #11: ≤ 2 s).
//!
//! Input: one run directory made like the tests make theirs (real plans from `perf-run render`,
//! `summary.json` from `perf-run extract` over 100 cases × 4 clients), and a history of
//! 100 cases × 3 metrics × 90 points with a verdict per series (a step in every 7th series).
//! Measured: `ReportData::from_runs` + `report::write` (read, charts, HTML, JSON, atomic
//! writes), i.e. all of `perf-run report --history` but loading the history.
//!
//! Run: `cargo bench --bench report` (optimised), or `cargo test --bench report` for a quick
//! unoptimised figure. `PERF_RUN_BENCH_REPS` sets the repetitions (default 5; the median and
//! the worst are printed); `PERF_RUN_BENCH_KEEP=DIR` keeps the report written.

#[path = "../tests/report_support/mod.rs"]
mod report_support;

use std::time::{Duration, Instant};

use perf_run::report::{self, ReportData};
use report_support::*;

const CASES: usize = 100;
const METRICS: [&str; 3] = ["token_throughput", "mean_ttft", "mean_tpot"];
const POINTS: usize = 90;

fn main() {
    let reps: usize = std::env::var("PERF_RUN_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let root = tempfile::tempdir().expect("tempdir");
    let t = tree();
    let mut spec = RunSpec::new(
        "bench-run",
        1.0,
        "nvcr.io/nvidia/tensorrt-llm/release:1.2.0",
    );
    spec.extra_cases = CASES - 2;
    let t0 = Instant::now();
    let run = make_run(root.path(), t.path(), &spec);
    let prep = t0.elapsed();

    // 3 metrics of the concurrency-8 client of every case.
    let mut cases = vec![agg_case(), disagg_case()];
    cases.extend((0..CASES - 2).map(|k| format!("aggr_upload-extra-{k:03}")));
    let mut series = Vec::new();
    let mut verdicts = Vec::new();
    for (ci, case) in cases.iter().enumerate() {
        let (i, c) = if ci == 1 {
            (1, DISAGG_CONCURRENCY[1])
        } else {
            (1, AGG_CONCURRENCY[1])
        };
        for (mi, m) in METRICS.iter().enumerate() {
            let stepped = (ci * METRICS.len() + mi).is_multiple_of(7);
            let (s, j) = report_support::series(
                case,
                i,
                c,
                m,
                POINTS,
                if stepped { POINTS - 4 } else { POINTS },
                -12.0,
            );
            series.push(s);
            verdicts.push(j);
        }
    }

    let out = root.path().join("report");
    let mut times: Vec<Duration> = Vec::new();
    let mut data_cases = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let data = ReportData::from_runs(std::slice::from_ref(&run), &series, &verdicts)
            .expect("report data");
        report::write(&out, &data).expect("write");
        times.push(t.elapsed());
        data_cases = data.cases.len();
    }
    times.sort();
    let size = |f: &str| {
        std::fs::metadata(out.join(f))
            .map(|m| m.len() as f64 / 1e6)
            .unwrap_or(0.0)
    };
    let html = std::fs::read_to_string(out.join("report.html")).unwrap_or_default();
    println!(
        "report bench ({}): {} cases × {} clients, {} series × {} points with verdicts; inputs made in {:.1} s",
        if cfg!(debug_assertions) {
            "unoptimised build"
        } else {
            "optimised build"
        },
        data_cases,
        AGG_CONCURRENCY.len(),
        series.len(),
        POINTS,
        prep.as_secs_f64()
    );
    println!(
        "  build + write report: median {:.3} s, worst {:.3} s over {reps} run(s) (target ≤ 2 s)",
        times[times.len() / 2].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    );
    println!(
        "  report.html {:.2} MB ({} inline SVG charts), report.json {:.2} MB",
        size("report.html"),
        html.matches("<svg width=").count(),
        size("report.json")
    );
    // Keep the page to look at it (e.g. in Chromium): PERF_RUN_BENCH_KEEP=DIR.
    if let Some(keep) = std::env::var_os("PERF_RUN_BENCH_KEEP") {
        let keep = std::path::PathBuf::from(keep);
        std::fs::create_dir_all(&keep).expect("create PERF_RUN_BENCH_KEEP");
        for f in ["report.html", "report.css", "report.json"] {
            std::fs::copy(out.join(f), keep.join(f)).expect("copy the report");
        }
        println!("  kept in {}", keep.display());
    }
}
