//! Regression verdicts over the history (issue #11, peers.md §5): baselines, noise,
//! thresholds, change points and an explanation for every verdict. Pure: no I/O.
//!
//! - [`judge`] / [`judge_all`]: the verdict on a series (docs/verdicts.md lists the rules).
//! - [`fails_gate`]: whether a verdict fails a pre-merge gate.
//! - [`series_change_points`]: change points of a series (E-divisive + Student-t).
//! - [`compare::compare_runs`]: two runs side by side (`perf-run compare`).

pub mod changepoint;
pub mod compare;
pub mod model;
pub mod stats;
pub mod verdict;

pub use changepoint::{ChangePointOptions, series_change_points};
pub use model::{ChangePoint, Judgement, Stage, Verdict};
pub use verdict::{JudgeOptions, fails_gate, judge, judge_all, needs_attention};
