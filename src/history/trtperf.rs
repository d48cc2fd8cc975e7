//! The TRT_perf database (`runs`, `cases`, `perf_result`; sql/trt_perf_schema.sql) read as a
//! second source of the same [`Series`] as the local history (`source = "trt_perf"`), through
//! the uploader's connection settings and sqlx.
//!
//! TRT_perf knows less than the local history: no test name (the case's `network` stands for
//! it), no GPU count or cluster (0 and ""), and only rows that were uploaded (valid ones).
//! [`merge`] joins a TRT_perf series to the one local series of the same network, metric and
//! GPU type, and drops every TRT_perf point of a run the local history also has (by run key:
//! `perf_result.UUID`; the local record wins).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use chrono::NaiveDateTime;
use sqlx::{QueryBuilder, Row};

use super::model::{Direction, Point, Provenance, Series, SeriesKey};
use super::store::{HistoryError, SeriesFilter};
use crate::config::kexpr::KExpr;
use crate::perfdb::{DbSettings, db};
use crate::trtperf::rules;

/// The metric types whose `perf_data` key is not simply their lower-cased name, in the order
/// that decides which name a shared key reads back as (perf-run's own names first).
const RENAMED_METRIC_TYPES: &[&str] = &[
    "TOKEN_THROUGHPUT",
    "TOKENS_PER_SEC",
    "SEQ_THROUGHPUT",
    "INFERENCE_TIME",
    "LATENCY",
    "FIRST_TOKEN_TIME",
    "SERVER_TTFT",
    "OUTPUT_TOKEN_TIME",
    "SERVER_TPOT",
    "SEQ_LATENCY",
    "PEAK_CPU_MEMORY",
    "PEAK_GPU_MEMORY",
    "INFERENCE_PEAK_GPU_MEMORY",
    "BUILD_PEAK_CPU_MEMORY",
    "BUILD_PEAK_GPU_MEMORY",
    "BUILD_TIME",
    "SERVER_MEDIAN_TTFT",
    "SERVER_MEAN_TTFT",
    "SERVER_P99_TTFT",
    "SERVER_MEDIAN_TPOT",
    "SERVER_MEAN_TPOT",
    "SERVER_P99_TPOT",
    "SERVER_ITL",
    "SERVER_MEDIAN_ITL",
    "SERVER_MEAN_ITL",
    "SERVER_P99_ITL",
    "SERVER_E2EL",
    "SERVER_MEDIAN_E2EL",
    "SERVER_MEAN_E2EL",
    "SERVER_P99_E2EL",
    "ENGINE_SIZE",
    "CONTEXT_GPU_MEMORY",
    "KV_CACHE_SIZE",
];

static METRIC_OF_KEY: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for t in RENAMED_METRIC_TYPES {
        m.entry(rules::perf_data_key(t))
            .or_insert_with(|| t.to_ascii_lowercase());
    }
    m
});

/// The history's metric name (the lower-cased `metric_type`) of a `perf_data` key.
pub fn metric_of_perf_data_key(key: &str) -> String {
    METRIC_OF_KEY
        .get(key)
        .cloned()
        .unwrap_or_else(|| key.to_ascii_lowercase())
}

const SELECT: &str = "SELECT r.id, r.start_time, r.cl, r.commit_time, r.gpu, r.trtllm, pr.UUID, \
     CAST(pr.perf_data AS CHAR), c.network \
     FROM perf_result pr JOIN runs r ON r.id = pr.run_id JOIN cases c ON c.id = pr.case_id \
     WHERE r.start_time IS NOT NULL AND pr.perf_data IS NOT NULL";

fn opt_text(row: &sqlx::mysql::MySqlRow, i: usize) -> Option<String> {
    row.try_get::<Option<String>, _>(i)
        .ok()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Read the series of TRT_perf that pass `filter` (points oldest first, `source = "trt_perf"`).
pub async fn series(
    settings: &DbSettings,
    filter: &SeriesFilter,
) -> Result<Vec<Series>, HistoryError> {
    let mut conn = db::connect(settings)
        .await
        .map_err(|e| HistoryError::TrtPerf {
            target: settings.target(),
            message: e.to_string().trim_end_matches('.').to_string(),
        })?;
    let mut qb: QueryBuilder<sqlx::MySql> = QueryBuilder::new(SELECT);
    if let Some(k) = &filter.run_key {
        qb.push(" AND pr.UUID = ").push_bind(k.clone());
    }
    if let Some(g) = &filter.gpu_type {
        qb.push(" AND r.gpu = ").push_bind(g.clone());
    }
    // The words a `-k` expression requires narrow the read on the server; the expression
    // itself is still applied to every key below.
    if let Some(k) = &filter.k_expr {
        for w in required_words(k) {
            let pattern = format!(
                "%{}%",
                w.to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            qb.push(" AND LOWER(c.network) LIKE ").push_bind(pattern);
        }
    }
    if let Some(t) = filter.since {
        qb.push(" AND r.start_time >= ").push_bind(t.naive_utc());
    }
    qb.push(" ORDER BY r.start_time, r.id, pr.id");
    let rows = qb
        .build()
        .fetch_all(&mut conn)
        .await
        .map_err(|e| HistoryError::TrtPerf {
            target: settings.target(),
            message: e.to_string(),
        })?;
    let mut by_key: BTreeMap<SeriesKey, Vec<Point>> = BTreeMap::new();
    for row in rows {
        let run_id: u64 = row
            .try_get::<u32, _>(0)
            .map(u64::from)
            .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.max(0) as u64))
            .unwrap_or(0);
        let Ok(Some(start)) = row.try_get::<Option<NaiveDateTime>, _>(1) else {
            continue;
        };
        let commit = opt_text(&row, 2);
        let commit_time = row
            .try_get::<Option<NaiveDateTime>, _>(3)
            .ok()
            .flatten()
            .map(|t| t.and_utc());
        let gpu = opt_text(&row, 4).unwrap_or_default();
        let trtllm = opt_text(&row, 5);
        let run_key = opt_text(&row, 6).unwrap_or_else(|| format!("trt_perf:{run_id}"));
        let Some(perf_data) = opt_text(&row, 7) else {
            continue;
        };
        let network = opt_text(&row, 8).unwrap_or_default();
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&perf_data) else {
            continue;
        };
        for (k, v) in map {
            let value = match &v {
                serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
                serde_json::Value::Number(n) => n.as_f64(),
                _ => None,
            };
            let Some(value) = value.filter(|v| v.is_finite()) else {
                continue;
            };
            let key = SeriesKey {
                test_name: network.clone(),
                network_name: network.clone(),
                metric: metric_of_perf_data_key(&k),
                gpu_type: gpu.clone(),
                gpu_count: 0,
                cluster: String::new(),
            };
            if !filter.matches_key(&key) {
                continue;
            }
            by_key.entry(key).or_default().push(Point {
                time: start.and_utc(),
                value,
                commit: commit.clone(),
                commit_time,
                run_key: run_key.clone(),
                valid: true,
                failure_class: None,
                source: "trt_perf".into(),
                provenance: Provenance {
                    trtllm_version: trtllm.clone(),
                    ..Default::default()
                },
            });
        }
    }
    Ok(by_key
        .into_iter()
        .map(|(key, points)| Series {
            direction: Direction::of_metric(&key.metric),
            key,
            points,
        })
        .collect())
}

/// Words every match of `k` contains (those of its top-level `and`s; none under `or`/`not`).
fn required_words(k: &KExpr) -> Vec<String> {
    match k {
        KExpr::Word(w) => vec![w.clone()],
        KExpr::And(a, b) => {
            let mut v = required_words(a);
            v.extend(required_words(b));
            v
        }
        KExpr::Or(..) | KExpr::Not(_) => Vec::new(),
    }
}

/// Merge TRT_perf series into the local ones: a TRT_perf point of a run the local history
/// has is dropped; a TRT_perf series joins the one local series of its network, metric and
/// GPU type (taking that series' key), and stays a series of its own when there is none or
/// more than one. Points stay oldest first; series come out sorted by key.
pub fn merge(local: Vec<Series>, remote: Vec<Series>) -> Vec<Series> {
    let local_runs: HashSet<String> = local
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.run_key.clone()))
        .collect();
    let mut out = local;
    for mut r in remote {
        r.points.retain(|p| !local_runs.contains(&p.run_key));
        if r.points.is_empty() {
            continue;
        }
        let matches: Vec<usize> = out
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.points.iter().any(|p| p.source == "local")
                    && s.key.network_name == r.key.network_name
                    && s.key.metric == r.key.metric
                    && s.key.gpu_type == r.key.gpu_type
            })
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [i] => {
                let s = &mut out[*i];
                s.points.extend(r.points);
                s.points.sort_by_key(|p| p.time);
            }
            _ => match out.iter_mut().find(|s| s.key == r.key) {
                Some(s) => {
                    s.points.extend(r.points);
                    s.points.sort_by_key(|p| p.time);
                }
                None => out.push(r),
            },
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn point(t: &str, v: f64, key: &str, source: &str) -> Point {
        Point {
            time: DateTime::parse_from_rfc3339(t).unwrap().into(),
            value: v,
            commit: None,
            commit_time: None,
            run_key: key.into(),
            valid: true,
            failure_class: None,
            source: source.into(),
            provenance: Provenance::default(),
        }
    }

    fn series(test: &str, count: u32, cluster: &str, points: Vec<Point>) -> Series {
        Series {
            key: SeriesKey {
                test_name: test.into(),
                network_name: "net".into(),
                metric: "token_throughput".into(),
                gpu_type: "H100".into(),
                gpu_count: count,
                cluster: cluster.into(),
            },
            direction: Direction::HigherIsBetter,
            points,
        }
    }

    #[test]
    fn only_required_words_narrow_the_server_read() {
        let k = KExpr::parse("llama and (con4 or con8) and not fp4").unwrap();
        assert_eq!(required_words(&k), vec!["llama"]);
        let k = KExpr::parse("a or b").unwrap();
        assert!(required_words(&k).is_empty());
    }

    #[test]
    fn perf_data_keys_read_back_as_metric_names() {
        assert_eq!(
            metric_of_perf_data_key("tokens_per__sec"),
            "token_throughput"
        );
        assert_eq!(metric_of_perf_data_key("seq_per__sec"), "seq_throughput");
        assert_eq!(metric_of_perf_data_key("run_time__msec"), "inference_time");
        assert_eq!(
            metric_of_perf_data_key("first_token_time__msec"),
            "first_token_time"
        );
        assert_eq!(
            metric_of_perf_data_key("total_token_throughput"),
            "total_token_throughput"
        );
    }

    #[test]
    fn merge_dedupes_by_run_key_and_joins_the_one_local_series() {
        let local = vec![series(
            "perf/x::test[a]",
            8,
            "lab",
            vec![point("2026-11-03T00:00:00Z", 3.0, "k3", "local")],
        )];
        let remote = vec![series(
            "net",
            0,
            "",
            vec![
                point("2026-11-01T00:00:00Z", 1.0, "k1", "trt_perf"),
                point("2026-11-03T00:00:00Z", 30.0, "k3", "trt_perf"),
            ],
        )];
        let m = merge(local, remote);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].key.cluster, "lab");
        let got: Vec<(f64, &str)> = m[0]
            .points
            .iter()
            .map(|p| (p.value, p.source.as_str()))
            .collect();
        assert_eq!(got, vec![(1.0, "trt_perf"), (3.0, "local")]);
    }

    #[test]
    fn ambiguous_or_unmatched_remote_series_stay_apart() {
        let local = vec![
            series(
                "a",
                8,
                "lab1",
                vec![point("2026-11-03T00:00:00Z", 3.0, "k3", "local")],
            ),
            series(
                "a",
                8,
                "lab2",
                vec![point("2026-11-04T00:00:00Z", 4.0, "k4", "local")],
            ),
        ];
        let remote = vec![series(
            "net",
            0,
            "",
            vec![point("2026-11-01T00:00:00Z", 1.0, "k1", "trt_perf")],
        )];
        let m = merge(local, remote);
        assert_eq!(m.len(), 3);
        assert!(
            m.iter()
                .any(|s| s.key.cluster.is_empty() && s.points[0].source == "trt_perf")
        );
    }
}
