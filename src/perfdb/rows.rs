//! The rows the uploader writes to TRT_perf's `perf_result` (reference §9.2 step 4), shared by
//! the plan that builds them (`plan`) and the run key computed from them (`runkey`).

use serde::{Deserialize, Serialize};

/// The identity of a case (§9.2 step 4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CaseKey {
    pub format: String,
    pub network: String,
    pub batchsize: u32,
    pub precision: String,
    pub cmd: String,
}

/// Where a `perf_result` row came from, for messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// CSV line of the first row of this case.
    pub line: u64,
    pub test_name: String,
}

/// One `perf_result` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub case: CaseKey,
    pub gpu_time: f64,
    pub total_time: f64,
    pub build_time: f64,
    pub throughput: f64,
    /// JSON text exactly as Python's `json.dumps` writes it.
    pub perf_data: String,
    pub log: String,
    pub origin: Origin,
}
