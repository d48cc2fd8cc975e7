//! The metric configuration (`configs/metrics.yaml`) and the streaming metric scanner.
//!
//! The scanner implements reference §8.1: every line is searched with the metric patterns in
//! configuration order; the first metric that is not yet found and matches takes the value, then
//! the next line is read. Values keep the trailing padding of §8.2 out of the way because the
//! patterns are searched, not anchored. Lines are bytes (a log may hold anything): the patterns
//! run on bytes and only captured values are decoded.
//!
//! A cheap prefilter (one `RegexSet` over every pattern and literal) rejects the vast majority of
//! log lines before any capture runs, which is what makes a 1 GB log a matter of seconds.

use super::lines::{self, LineStats};
use super::model::MetricInfo;

mod compile;
pub use compile::*;
mod scan;
pub use scan::*;
#[cfg(test)]
mod tests;

/// The built-in configuration, embedded at build time.
pub const BUILTIN_YAML: &str = include_str!("../../../configs/metrics.yaml");
pub const BUILTIN_NAME: &str = "built-in configs/metrics.yaml";

/// The most result blocks kept per scan in split mode; later blocks merge into the last one.
pub const MAX_BLOCKS: usize = 4096;
/// The most contradictions remembered per block (the rest are only counted).
const MAX_CONTRADICTIONS: usize = 16;
