//! What the uploader writes to TRT_perf (reference §9.2, §9.3): the `runs` row, the
//! `perf_result` rows and the whole [`UploadPlan`], with the column limits they are checked
//! against. Plain data (serde), shared by the plan that builds them (`plan`), the run key
//! computed from them (`runkey`), the database writer (`db`) and the spool.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::runinfo::RunValueSource;

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

/// Column sizes of the TRT_perf schema (reference §9.3), checked before anything is sent.
pub mod limits {
    pub const VARCHAR_150: usize = 150;
    pub const NOTES: usize = 2000;
    pub const LINK: usize = 2000;
    pub const CMD: usize = 2000;
    pub const NETWORK: usize = 150;
    pub const FORMAT: usize = 150;
    pub const PRECISION: usize = 50;
    pub const UUID: usize = 1500;
    /// `float(16,6)`: at most 10 digits before the decimal point.
    pub const FLOAT_16_6_MAX: f64 = 9_999_999_999.999_999;
}

/// Values for the `runs` row. Times are normalised to `YYYY-MM-DD HH:MM:SS` (UTC when the
/// input carried a zone), or absent (NULL).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    pub driver: String,
    pub cpu: String,
    pub os: String,
    pub gpu: String,
    pub cuda: String,
    pub cudnn: String,
    pub cublas: String,
    pub graphic_freq: String,
    pub memory_freq: String,
    pub tensorrt: String,
    pub notes: String,
    pub cl: String,
    pub trtllm: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub link: String,
    pub commit_time: Option<String>,
    /// Collected for messages; TRT_perf has no column for them (§9.3).
    pub hostname: String,
    pub ip: String,
}

impl RunRow {
    /// `runs.cublas` as written: NULL when unknown, like the legacy uploader, which never
    /// writes the column (legacy-interop review item 6). The other nullable text columns it
    /// does write (`cpu`, `cl`, `notes`, `link`, `trtllm`) stay `''` when empty, as there.
    pub fn cublas_value(&self) -> Option<&str> {
        Some(self.cublas.as_str()).filter(|v| !v.trim().is_empty())
    }
}

/// A CSV row that is not uploaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub line: u64,
    pub test_name: String,
    pub metric_type: String,
    pub reason: String,
    /// `state=failed` rows: the legacy script skipped them too, so they are expected.
    pub failed_state: bool,
    /// `state=invalid` rows: perf-run's validity gate rejected the measurement (the legacy
    /// script would have uploaded them).
    #[serde(default)]
    pub invalid_state: bool,
}

/// How many skipped rows are `state=failed`, `state=invalid`, and anything else.
pub fn skip_counts(skipped: &[Skipped]) -> (usize, usize, usize) {
    let failed = skipped.iter().filter(|s| s.failed_state).count();
    let invalid = skipped
        .iter()
        .filter(|s| !s.failed_state && s.invalid_state)
        .count();
    (failed, invalid, skipped.len() - failed - invalid)
}

/// Every data row of the CSV as it was read, uploadable or not, for the local history
/// (`history::record`): the history keeps invalid and failed rows with their values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeasuredRow {
    pub line: u64,
    /// `test_name`, else `network_name` (as the skip list names rows).
    pub test_name: String,
    /// The CSV's `network_name` as written.
    pub network_name: String,
    /// The TRT_perf `cases.network` of the row (the series key shared with TRT_perf).
    pub case_network: String,
    pub metric_type: String,
    pub perf_metric: String,
    pub state: String,
    /// Why the row is not uploaded, when it is not.
    pub skip_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadPlan {
    pub run_key: String,
    /// How the key was made (for messages and dry-run).
    pub run_key_origin: String,
    pub run: RunRow,
    pub results: Vec<ResultRow>,
    pub skipped: Vec<Skipped>,
    /// CSV rows that went into `results`.
    pub rows_used: usize,
    pub metric_csv: PathBuf,
    /// The run directory (for `summary.json`), when uploading one.
    pub run_dir: Option<PathBuf>,
    /// Non-fatal problems found while reading the inputs.
    pub warnings: Vec<String>,
    /// Where each value of `run` came from (column → source), for `summary.json`.
    #[serde(default)]
    pub run_sources: BTreeMap<String, RunValueSource>,
    /// Every CSV data row (filled by [`super::plan::build_plan_all`]; not spooled).
    #[serde(skip)]
    pub measured: Vec<MeasuredRow>,
}

impl UploadPlan {
    /// Distinct cases (== `perf_result` rows, one per case as in the legacy script).
    pub fn case_count(&self) -> usize {
        self.results.len()
    }
}

/// `json.dumps(dict)` of Python: `{"k": "v", "k2": "v2"}` with ASCII-only escapes.
pub fn py_json_dumps(pairs: &[(String, String)]) -> String {
    fn esc(out: &mut String, s: &str) {
        out.push('"');
        for ch in s.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{08}' => out.push_str("\\b"),
                '\u{0c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (c as u32) > 0x7f => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        esc(&mut out, k);
        out.push_str(": ");
        esc(&mut out, v);
    }
    out.push('}');
    out
}
