//! The results stage: client logs and JUnit XML in; metrics, a validity verdict and a failure
//! class per case out; then the five output files (long CSV for the TRT_perf uploader, a wide
//! human CSV, session properties, `summary.json`, a JUnit report for Jenkins).
//!
//! Everything streams: a 1 GB client log or a 500 MB JUnit file is read with bounded memory.
//!
//! Entry points for the pipeline: [`extract_case`], [`write_outputs`], [`read_sysinfo`],
//! [`MetricConfig`]; for the uploader: [`crate::trtperf::long_csv::read_long_csv`] and
//! [`writers::summary::record_upload`].

pub mod classify;
pub mod extract;
pub mod junit;
pub mod lines;
pub mod metrics;
pub mod model;
pub mod validity;
pub mod writers;

pub use extract::{LooseInputs, extract_case, extract_loose, extract_loose_each, read_sysinfo};
pub use metrics::{BlockMode, MetricConfig};
pub use model::*;
pub use writers::summary::record_upload;
pub use writers::{OutputError, OutputWriter, write_outputs};
