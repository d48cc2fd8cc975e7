//! Benchmark: the local history (SQLite through sqlx).
//!
//! 1. Recording one 10 000-row run (500 tests × 20 metrics): the store's insert alone (one
//!    transaction, multi-row INSERTs of 1 000 rows), and the whole path from the long CSV file
//!    (the uploader's plan reader + the record + the insert). Target (issue #11): ≤ 0.5 s.
//! 2. Series queries over a history of 100 runs (100 tests × 20 metrics each, 200 000 rows):
//!    everything, one metric, one `-k` test, and the series of the newest run.
//!
//! Run: `cargo bench --bench history` (or `cargo bench --profile dev --bench history` for a
//! debug build). `PERF_RUN_BENCH_ROWS` changes the size of the recorded run,
//! `PERF_RUN_BENCH_RUNS` the number of runs in the queried history, `PERF_RUN_BENCH_REPS`
//! the repetitions (default 3; medians are reported).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use perf_run::config::kexpr::KExpr;
use perf_run::history::record::{run_record_from_files, run_record_from_plan};
use perf_run::history::{HistoryStore, Measurement, RunRecord, SeriesFilter};
use perf_run::perfdb::{self, SourceFiles, UploadOptions};

const METRICS: [&str; 20] = [
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
    "P99_INFERENCE_TIME",
    "AL",
    "MEAN_GEN_WORKER_PER_ITER_DEVICE_STEP_TIME",
    "KV_CACHE_SIZE",
    "PEAK_GPU_MEMORY",
];

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A long CSV of `rows` rows: tests × 20 metrics, one in 50 rows invalid.
fn write_csv(path: &Path, rows: usize, seed: u64) {
    let mut s = String::from(
        "network_name,test_name,perf_metric,start_timestamp,end_timestamp,state,command,metric_type\n",
    );
    for i in 0..rows {
        let test = i / METRICS.len();
        let metric = METRICS[i % METRICS.len()];
        let name = format!(
            "perf_sanity[aggr_upload-model{test}-srv-con{}]_bs:64_con:{}",
            test % 7,
            test % 7
        );
        let value = 100.0 + ((i as u64 * 7919 + seed) % 1000) as f64 / 10.0;
        let state = if i % 50 == 49 { "invalid" } else { "valid" };
        let _ = writeln!(
            s,
            "{name},{name},{value},2026-11-30 09:31:08,2026-11-30 09:31:09,{state},bench --con=4,{metric}"
        );
    }
    std::fs::write(path, s).expect("write the bench CSV");
}

fn options(csv: &Path, start: DateTime<Utc>, commit: &str) -> UploadOptions {
    UploadOptions {
        info: perfdb::RunInfoArgs {
            start_time: Some(start.format("%Y-%m-%d %H:%M:%S").to_string()),
            commit: Some(commit.to_string()),
            gpu: Some("NVIDIA H100".into()),
            ..Default::default()
        },
        sources: SourceFiles {
            metric_csv: Some(csv.to_path_buf()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows = env_usize("PERF_RUN_BENCH_ROWS", 10_000);
    let runs = env_usize("PERF_RUN_BENCH_RUNS", 100);
    let reps = env_usize("PERF_RUN_BENCH_REPS", 3).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("perf_script_test_results.csv");
    write_csv(&csv, rows, 1);
    let t0 = Utc
        .with_ymd_and_hms(2026, 8, 1, 0, 0, 0)
        .single()
        .expect("time");

    // 1. Record one run.
    let mut insert_only = Vec::new();
    let mut whole_path = Vec::new();
    let mut plan_read = Vec::new();
    for r in 0..reps {
        let db = dir.path().join(format!("record-{r}.db"));
        let store = HistoryStore::open(&db).await.expect("open");
        let started = Instant::now();
        let plan = perfdb::plan_for_files(&options(&csv, t0, "abc")).expect("plan");
        let rec: RunRecord = run_record_from_plan(&plan, None);
        plan_read.push(started.elapsed());
        let ins = Instant::now();
        let n = store.record(&rec).await.expect("record");
        insert_only.push(ins.elapsed());
        whole_path.push(started.elapsed());
        assert_eq!(n, rows);
        // Recording the same run again replaces it (idempotent): time it too, once.
        if r == 0 {
            let again = Instant::now();
            store.record(&rec).await.expect("record again");
            println!(
                "history record: re-recording the same {rows}-row run (delete + insert) {:.3} s",
                again.elapsed().as_secs_f64()
            );
        }
        store.close().await;
    }
    println!(
        "history record: {rows}-row run, insert only (one transaction, 1 000-row INSERTs): median {:.3} s over {reps}",
        median(insert_only).as_secs_f64()
    );
    println!(
        "history record: {rows}-row run from the long CSV (plan reader {:.3} s + record): median {:.3} s (target ≤ 0.5 s)",
        median(plan_read).as_secs_f64(),
        median(whole_path).as_secs_f64()
    );

    // 2. A history of `runs` runs; queries over it.
    let per_run = env_usize("PERF_RUN_BENCH_ROWS_PER_RUN", 2_000);
    let small = dir.path().join("small.csv");
    write_csv(&small, per_run, 7);
    let base = run_record_from_files(&options(&small, t0, "c0")).expect("plan");
    let db = dir.path().join("history.db");
    let store = HistoryStore::open(&db).await.expect("open");
    let fill = Instant::now();
    let mut newest = String::new();
    for i in 0..runs {
        let mut rec = base.clone();
        rec.run_key = format!("run-{i:04}");
        rec.start_time = t0 + chrono::Duration::days(i as i64);
        rec.commit = Some(format!("c{i}"));
        for (j, m) in rec.measurements.iter_mut().enumerate() {
            let m: &mut Measurement = m;
            m.value = m.value.map(|v| v + ((i * 31 + j) % 17) as f64);
        }
        store.record(&rec).await.expect("record");
        newest = rec.run_key.clone();
    }
    println!(
        "history fill: {runs} runs × {per_run} rows recorded in {:.2} s",
        fill.elapsed().as_secs_f64()
    );
    let queries: Vec<(&str, SeriesFilter)> = vec![
        ("every series", SeriesFilter::default()),
        (
            "--metric token_throughput",
            SeriesFilter {
                metric: Some("token_throughput".into()),
                ..Default::default()
            },
        ),
        (
            "-k model7- --metric token_throughput",
            SeriesFilter {
                metric: Some("token_throughput".into()),
                k_expr: Some(KExpr::parse("model7-").expect("k")),
                ..Default::default()
            },
        ),
        (
            "the series of the newest run, --metric token_throughput",
            SeriesFilter {
                metric: Some("token_throughput".into()),
                series_of_run: Some(newest.clone()),
                ..Default::default()
            },
        ),
    ];
    for (what, f) in queries {
        let mut times = Vec::new();
        let mut got = (0, 0);
        for _ in 0..reps {
            let t = Instant::now();
            let s = store.series(&f).await.expect("series");
            times.push(t.elapsed());
            got = (s.len(), s.iter().map(|x| x.points.len()).sum::<usize>());
        }
        println!(
            "history query over {runs} runs: {what}: {} series, {} points in {:.3} s (median of {reps})",
            got.0,
            got.1,
            median(times).as_secs_f64()
        );
    }
    store.close().await;
}
