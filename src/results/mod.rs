//! The results stage: client logs and JUnit XML in; metrics, a validity verdict and a failure
//! class per case out; then the five output files (long CSV for the TRT_perf uploader, a wide
//! human CSV, session properties, `summary.json`, a JUnit report for Jenkins).
//!
//! Everything streams: a 1 GB client log or a 500 MB JUnit file is read with bounded memory.

pub mod classify;
pub mod extract;
pub mod junit;
pub mod lines;
pub mod metrics;
pub mod model;
pub mod validity;

pub use extract::{extract_case, read_sysinfo};
pub use metrics::{BlockMode, MetricConfig};
pub use model::*;
