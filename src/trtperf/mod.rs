//! The file contract of the legacy `trt_perf_parser.py` uploader (reference §7.2, §7.3, §9.2):
//! what its input files look like and the rules it applies to them.
//!
//! * [`long_csv`]: the long `perf_script_test_results.csv` (one metric per row) — its reader
//!   and its row, [`long_csv::LongRow`]; the results stage writes the file
//!   (`results::writers::long_csv`), the uploader (`perfdb`) and the history read it here;
//! * [`rules`]: the uploader's per-row rules (batch size, precision, command normalisation,
//!   metric keys, framework) — the one copy both the writer, which must predict what the
//!   uploader reads, and perf-run's own uploader use;
//! * [`props`]: `session_properties.csv` and `gpu_monitoring.csv`.
//!
//! A leaf: it imports nothing of perf-run but `crate::error` helpers, so the writer, the
//! uploader and the history can all depend on it without a cycle.

pub mod error;
pub mod long_csv;
pub mod props;
pub mod rules;

pub use error::TrtPerfFileError;
