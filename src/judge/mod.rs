//! Regression verdicts over the history (issue #11, peers.md §5): baselines, noise,
//! thresholds, change points and an explanation for every verdict. Pure: no I/O.

pub mod model;

pub use model::{ChangePoint, Judgement, Stage, Verdict};
