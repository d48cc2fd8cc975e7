//! A verdict and its explanation: the JSON contract of `perf-run regress --json` (issue #11
//! "CLI contract"), also embedded in `summary.json`, the JUnit failure and the report.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::history::SeriesKey;

/// What the newest point of a series says (peers.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Improved,
    /// One judged point breached the threshold.
    Suspect,
    /// Two judged points in a row breached it, or a rerun confirmed the breach.
    Regression,
    /// Fewer than the minimum number of baseline points.
    InsufficientData,
    /// The baseline is too noisy (cv above the limit): reported, never gating.
    Unstable,
    /// The judged point's provenance differs from its baseline's.
    NotComparable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Improved => "improved",
            Verdict::Suspect => "suspect",
            Verdict::Regression => "regression",
            Verdict::InsufficientData => "insufficient_data",
            Verdict::Unstable => "unstable",
            Verdict::NotComparable => "not_comparable",
        }
    }
}

pub use crate::config::stage::Stage;

/// A change point found over the history (E-divisive means + Student-t test).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// The first point after the change.
    pub start_time: DateTime<Utc>,
    /// Index of that point in the series.
    pub index: usize,
    /// The commit of the first point after the change, and of the last point before it
    /// (the commit range that holds the cause).
    pub commit: Option<String>,
    pub previous_commit: Option<String>,
    /// Mean after vs mean before, in percent of the mean before.
    pub delta_pct: f64,
    pub p_value: f64,
    /// Fewer than 3 points follow it yet.
    pub tentative: bool,
}

/// The verdict on one series with everything needed to understand it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub test_name: String,
    pub network_name: String,
    pub metric: String,
    pub gpu_type: String,
    pub gpu_count: u32,
    pub cluster: String,
    pub verdict: Verdict,
    /// Whether this metric gates (throughputs by default; latencies by option).
    pub gating: bool,
    /// The newest judged value.
    pub latest: Option<f64>,
    /// The baseline median.
    pub baseline: Option<f64>,
    /// latest vs baseline, in percent of the baseline (signed: positive = the number grew).
    pub delta_pct: Option<f64>,
    pub threshold_pct: f64,
    /// Where the threshold came from, e.g. "3·cv (6.2 %) > post-merge floor 5 %".
    pub threshold_source: String,
    pub cv_pct: Option<f64>,
    /// Number of points in the baseline.
    pub n: usize,
    /// The baseline window.
    pub baseline_from: Option<DateTime<Utc>>,
    pub baseline_to: Option<DateTime<Utc>>,
    pub change_points: Vec<ChangePoint>,
    /// One or two sentences a tired engineer understands.
    pub explanation: String,
}

impl Judgement {
    pub fn key(&self) -> SeriesKey {
        SeriesKey {
            test_name: self.test_name.clone(),
            network_name: self.network_name.clone(),
            metric: self.metric.clone(),
            gpu_type: self.gpu_type.clone(),
            gpu_count: self.gpu_count,
            cluster: self.cluster.clone(),
        }
    }
}
