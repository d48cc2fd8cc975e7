//! Flags of `perf-run extract` (the replacement of `extract_perf_from_junit.py`).

use std::path::PathBuf;

use clap::Args;

use super::ModeFilter;

#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// JUnit XML files written by pytest (their <system-out> is scanned for metrics).
    #[arg(long, value_name = "FILE")]
    pub junit_xml: Vec<PathBuf>,

    /// Benchmark client logs (e.g. trtllm-benchmark.0.0.log), scanned for metrics. Logs in the
    /// same directory belong to one case named after that directory.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub log: Vec<PathBuf>,

    /// Where to write perf_script_test_results.csv, perf_summary.csv, session_properties.csv,
    /// summary.json and the JUnit report.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,

    /// Metric patterns file (default: the built-in configs/metrics.yaml).
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,

    /// The run mode of every case (default: `disagg` when the case name says so, else single-agg).
    #[arg(long, value_enum, value_name = "MODE")]
    pub mode: Option<ModeFilter>,

    /// Directory with the batch script's sysinfo/*.txt (default: `sysinfo/` next to the first
    /// JUnit file, if there is one).
    #[arg(long, value_name = "DIR")]
    pub sysinfo: Option<PathBuf>,
}
