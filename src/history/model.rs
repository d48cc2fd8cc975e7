//! The values the history works with: one measurement point, the key of a series and a
//! series. Shared by the store (`history::store`), the verdict engine (`judge`), the report
//! (`report`) and the commands (`history`, `regress`, `compare`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What identifies one series (issue #11: test case, metric, GPU type, GPU count, cluster).
/// Points of different keys are never judged against each other.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// The long CSV's `test_name` (the pytest node id with its parameter).
    pub test_name: String,
    /// The long CSV's `network_name` (the TRT_perf case).
    pub network_name: String,
    /// The metric's `perf_metric` name, e.g. `output_token_throughput`.
    pub metric: String,
    pub gpu_type: String,
    pub gpu_count: u32,
    pub cluster: String,
}

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

impl Direction {
    /// Throughputs are better higher; latencies, times and everything else lower.
    pub fn of_metric(metric: &str) -> Direction {
        let m = metric.to_ascii_lowercase();
        if m.contains("throughput") || m.contains("tokens_per_s") || m.contains("tps") {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        }
    }
}

/// Where a point came from, compared between judged points and their baseline
/// (`not_comparable` when it differs) and between two runs (`compare`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// sha256 of the perf-sanity config file content (hex), when known.
    pub config_hash: Option<String>,
    pub config_name: Option<String>,
    pub container_image: Option<String>,
    pub trtllm_version: Option<String>,
    pub nodes: Option<u32>,
}

/// One measured value of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// When the benchmark started (the run's start time; the x axis of every series).
    pub time: DateTime<Utc>,
    pub value: f64,
    /// TensorRT-LLM commit under test, when known.
    pub commit: Option<String>,
    /// The commit's own time, when known.
    pub commit_time: Option<DateTime<Utc>>,
    /// The run key (one run of perf-run, or one legacy upload).
    pub run_key: String,
    /// Whether the measurement passed the validity gate; invalid points are kept in the
    /// history and shown, but never judged or used as a baseline.
    pub valid: bool,
    /// The case's failure class when it did not pass (`FailureClass::as_str`).
    pub failure_class: Option<String>,
    /// Where the point came from: `local` (history.db) or `trt_perf`.
    pub source: String,
    pub provenance: Provenance,
}

/// A series: every point of one key, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub key: SeriesKey,
    pub direction: Direction,
    pub points: Vec<Point>,
}

/// A change point someone accepted as the new normal (`perf-run regress --accept`): from
/// `since` on, the series' baseline starts at this point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    pub key: SeriesKey,
    pub since: DateTime<Utc>,
    pub reason: String,
    pub accepted_by: Option<String>,
    pub accepted_at: DateTime<Utc>,
}
