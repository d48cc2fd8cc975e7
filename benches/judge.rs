//! Benchmark: verdicts for 1,000 series of 90 points each (issue #11 target: ≤ 1 s), plus
//! the change-point detection alone. The series mix pure noise, steps down and up, drifts
//! and spikes, with invalid points sprinkled in, so every branch of the engine runs.
//!
//! Run: `cargo bench --bench judge`. `PERF_RUN_BENCH_SERIES` and `PERF_RUN_BENCH_POINTS`
//! change the size, `PERF_RUN_BENCH_REPS` the repetitions (default 5; medians are reported).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use perf_run::history::{Direction, Point, Provenance, Series, SeriesKey};
use perf_run::judge::changepoint::{ChangePointOptions, series_change_points};
use perf_run::judge::{JudgeOptions, Stage, Verdict, judge_all};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn gauss(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn make_series(i: usize, points: usize, rng: &mut StdRng) -> Series {
    let t0 = Utc
        .with_ymd_and_hms(2026, 6, 1, 2, 0, 0)
        .single()
        .unwrap_or_default();
    let metric = if i % 4 == 3 {
        "mean_ttft"
    } else {
        "token_throughput"
    };
    let cv = [0.01, 0.02, 0.05, 0.08][i % 4];
    let shape = i % 5; // 0 noise, 1 step down, 2 step up, 3 drift, 4 spike
    let step_at = points.saturating_sub(3 + i % 20);
    let values = (0..points).map(|k| {
        let mut level = 1000.0;
        match shape {
            1 if k >= step_at => level *= 0.88,
            2 if k >= step_at => level *= 1.12,
            3 => level *= 1.0 - 0.002 * k as f64,
            4 if k == points / 2 => level *= 1.5,
            _ => {}
        }
        level * (1.0 + cv * gauss(rng))
    });
    Series {
        key: SeriesKey {
            test_name: format!("perf/test_perf_sanity.py::test_e2e[case{i}]"),
            network_name: format!("case{i}"),
            metric: metric.into(),
            gpu_type: "H100".into(),
            gpu_count: 8,
            cluster: "oci".into(),
        },
        direction: Direction::of_metric(metric),
        points: values
            .enumerate()
            .map(|(k, v)| Point {
                time: t0 + chrono::Duration::days(k as i64),
                value: v,
                commit: Some(format!("{k:040x}")),
                commit_time: None,
                run_key: format!("run{k}"),
                valid: k % 17 != 5,
                failure_class: None,
                source: "local".into(),
                provenance: Provenance {
                    config_hash: Some("abc".into()),
                    nodes: Some(1),
                    ..Provenance::default()
                },
            })
            .collect(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let n_series = env_usize("PERF_RUN_BENCH_SERIES", 1000);
    let n_points = env_usize("PERF_RUN_BENCH_POINTS", 90);
    let reps = env_usize("PERF_RUN_BENCH_REPS", 5).max(1);
    let mut rng = StdRng::seed_from_u64(42);
    let series: Vec<Series> = (0..n_series)
        .map(|i| make_series(i, n_points, &mut rng))
        .collect();

    let opts = JudgeOptions::new(Stage::PreMerge);
    let mut verdict_times = Vec::new();
    let mut last = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        last = judge_all(&series, &[], &opts);
        verdict_times.push(t.elapsed());
    }
    let cp_opts = ChangePointOptions::default();
    let mut cp_times = Vec::new();
    let mut cps = 0;
    for _ in 0..reps {
        let t = Instant::now();
        cps = series
            .iter()
            .map(|s| series_change_points(s, &cp_opts).len())
            .sum::<usize>();
        cp_times.push(t.elapsed());
    }

    let v = median(verdict_times);
    let c = median(cp_times);
    let mut counts = std::collections::BTreeMap::new();
    for j in &last {
        *counts.entry(j.verdict.as_str()).or_insert(0usize) += 1;
    }
    let regressions = last
        .iter()
        .filter(|j| j.verdict == Verdict::Regression)
        .count();
    println!("judge benchmark: {n_series} series × {n_points} points, median of {reps} runs");
    println!(
        "  verdicts (judge_all, change points included): {:.1} ms  ({:.1} µs/series)  target ≤ 1000 ms: {}",
        v.as_secs_f64() * 1e3,
        v.as_secs_f64() * 1e6 / n_series as f64,
        if v <= Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
    println!(
        "  change points alone: {:.1} ms  ({:.1} µs/series, {cps} change points found)",
        c.as_secs_f64() * 1e3,
        c.as_secs_f64() * 1e6 / n_series as f64
    );
    println!("  verdicts: {counts:?} ({regressions} regressions)");
}
