//! Turn the result files of one run into an [`UploadPlan`]: the `runs` row, one `perf_result`
//! row per case, and the list of CSV rows that are not uploaded and why. This is the legacy
//! `process_perf_data` (reference §9.2) with its defects fixed:
//!
//! * run info: flags first, then `session_properties.csv` fills only empty fields (§9.2.1);
//! * clocks: `--sm-clock/--mem-clock` > most frequent value in gpu_monitoring.csv >
//!   properties > first CSV row (§9.2.2; the legacy script blanked flag clocks, §11.13);
//! * start/end time, when still empty, come from the earliest `start_timestamp` and latest
//!   `end_timestamp` of the CSV (perf-run addition, so the run key and the run row have them);
//! * a row that is `failed`, lacks a required field, or carries a value the database cannot
//!   store is listed with its line and reason instead of being dropped silently (§11.13);
//! * the framework comes from the data ([`rules::framework`]).
//!
//! The plan is plain data (serde) so a failed upload can be spooled and retried verbatim.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

pub use super::rows::{CaseKey, Origin, ResultRow};
use super::runinfo::{self, Detected, RunValueSource};
pub use super::text::LOG_CAP;
use super::{junit, runkey};
use crate::error::UserError;
pub use crate::results::lines::{CappedText, cap_text};
use crate::trtperf::long_csv::{LongCsvReader, LongRow};
use crate::trtperf::rules::{self, NumberColumn};
use crate::trtperf::{TrtPerfFileError, props};

/// A file of the legacy contract that cannot be read, as the uploader's sentence (it ends
/// with a full stop, like every message of the upload).
fn file_error(e: TrtPerfFileError) -> UserError {
    let t = e.to_string();
    let t = t.trim_end();
    UserError(if t.ends_with(['.', '?', '!']) {
        t.to_string()
    } else {
        format!("{t}.")
    })
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

/// Why a CSV row is not uploaded, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SkipKind {
    Failed,
    Invalid,
    Other,
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
    /// Every CSV data row (filled by [`build_plan_all`]; not spooled).
    #[serde(skip)]
    pub measured: Vec<MeasuredRow>,
}

impl UploadPlan {
    /// Distinct cases (== `perf_result` rows, one per case as in the legacy script).
    pub fn case_count(&self) -> usize {
        self.results.len()
    }
}

/// The run-info flags of `trt_perf_parser.py` (reference §9.1). Empty means "not given".
#[derive(Debug, Clone, Default)]
pub struct RunInfoArgs {
    pub tensorrt: Option<String>,
    pub trtllm: Option<String>,
    pub driver: Option<String>,
    pub gpu: Option<String>,
    pub cuda: Option<String>,
    pub os: Option<String>,
    pub cpu: Option<String>,
    pub sm_clock: Option<String>,
    pub mem_clock: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub commit: Option<String>,
    pub commit_time: Option<String>,
    pub link: Option<String>,
    pub notes: Option<String>,
    pub hostname: Option<String>,
    pub ip: Option<String>,
}

/// The files one upload reads.
#[derive(Debug, Clone, Default)]
pub struct PlanInputs {
    pub metric_csv: PathBuf,
    pub properties: Option<PathBuf>,
    pub gpu_monitoring: Option<PathBuf>,
    pub junit: Vec<PathBuf>,
    /// `summary.json` of a run directory: job ids and test ids for the run key.
    pub summary: Option<PathBuf>,
    pub run_dir: Option<PathBuf>,
    /// Versions the job detected on the compute node (`sysinfo/*.txt`).
    pub detected: Detected,
}

/// Everything besides the files that shapes the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// The run-info flags.
    pub info: RunInfoArgs,
    /// The same values from the environment ([`runinfo::from_env`]); a flag wins.
    pub env: RunInfoArgs,
    pub framework: Option<String>,
    pub run_key: Option<String>,
}

/// Parse a time as the legacy flags expect (`YYYY-MM-DD HH:MM:SS`) and as the result files
/// write it (`%Y-%m-%d %H:%M:%S %z`, §7.2), plus RFC 3339. Zoned times are converted to UTC.
pub fn parse_time(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    for f in [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%d %H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S %:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.naive_utc());
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    let s = s
        .strip_suffix(" UTC")
        .or_else(|| s.strip_suffix('Z'))
        .unwrap_or(s);
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

pub fn fmt_time(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
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

struct CaseAcc {
    key: CaseKey,
    gpu_time: Option<f64>,
    total_time: Option<f64>,
    build_time: Option<f64>,
    throughput: Option<f64>,
    perf_data: Vec<(String, String)>,
    /// `raw_result` of the first row, or the test name whose JUnit log to use.
    log: LogSource,
    origin: Origin,
}

enum LogSource {
    Raw(String),
    Junit(String),
}

fn flag(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or("").to_string()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Build the plan. Errors are things the user must fix (exit 2): a missing or malformed
/// input file, a malformed time flag, a run-level value too long for its column, or no row
/// at all that can be uploaded.
pub fn build_plan(inputs: &PlanInputs, opts: &PlanOptions) -> Result<UploadPlan, UserError> {
    let mut plan = build_plan_all(inputs, opts)?;
    check_uploadable(&plan)?;
    plan.measured = Vec::new();
    Ok(plan)
}

/// The "nothing to upload" refusal of [`build_plan`] for a plan built by [`build_plan_all`].
pub fn check_uploadable(plan: &UploadPlan) -> Result<(), UserError> {
    if !plan.results.is_empty() {
        return Ok(());
    }
    let (failed, invalid, other) = skip_counts(&plan.skipped);
    Err(UserError(format!(
        "Nothing to upload: none of the {} data rows of {} can be uploaded ({failed} have state=failed, {invalid} have state=invalid, {other} are incomplete or unusable; run with --write-db no to see each row and its reason).",
        plan.skipped.len(),
        plan.metric_csv.display(),
    )))
}

/// [`build_plan`] that also keeps every CSV row in [`UploadPlan::measured`] and accepts a
/// file where no row can be uploaded (the local history records invalid runs too).
pub fn build_plan_all(inputs: &PlanInputs, opts: &PlanOptions) -> Result<UploadPlan, UserError> {
    let mut warnings = Vec::new();
    let mut measured: Vec<MeasuredRow> = Vec::new();
    let (mut run, mut sources) = run_values(inputs, opts, &mut warnings)?;

    // §9.2 steps 3–5: the rows.
    let csv = LongCsvReader::open(&inputs.metric_csv).map_err(file_error)?;
    let has_total_time = csv.has_total_time();
    let mut cases: Vec<CaseAcc> = Vec::new();
    let mut index: HashMap<CaseKey, usize> = HashMap::new();
    let mut skipped = Vec::new();
    let mut rows_used = 0usize;
    let mut test_ids: BTreeSet<String> = BTreeSet::new();
    let (mut csv_sm, mut csv_mem) = (String::new(), String::new());
    let (mut first_start, mut last_end): (Option<NaiveDateTime>, Option<NaiveDateTime>) =
        (None, None);
    let forced_framework = opts
        .framework
        .as_deref()
        .map(|f| f.trim().to_uppercase())
        .filter(|f| !f.is_empty());
    if let Some(f) = &forced_framework
        && chars(f) > limits::FORMAT
    {
        return Err(UserError(format!(
            "--framework is {} characters long; cases.format holds at most {}.",
            chars(f),
            limits::FORMAT
        )));
    }

    for row in csv {
        let row = row.map_err(file_error)?;
        let tid = if row.test_name.is_empty() {
            &row.network_name
        } else {
            &row.test_name
        };
        if !tid.is_empty() {
            test_ids.insert(tid.clone());
        }
        if csv_sm.is_empty() {
            csv_sm = row.sm_clk.trim().to_string();
        }
        if csv_mem.is_empty() {
            csv_mem = row.mem_clk.trim().to_string();
        }
        if let Some(t) = parse_time(&row.start_timestamp) {
            first_start = Some(first_start.map_or(t, |f| f.min(t)));
        }
        if let Some(t) = parse_time(&row.end_timestamp) {
            last_end = Some(last_end.map_or(t, |l| l.max(t)));
        }
        let accepted = accept_row(&row, &run.gpu, forced_framework.as_deref(), has_total_time);
        measured.push(MeasuredRow {
            line: row.line,
            test_name: tid.clone(),
            network_name: row.network_name.clone(),
            case_network: rules::case_network(rules::network_for_row(
                &row.network_name,
                &row.test_name,
            )),
            metric_type: row.metric_type.trim().to_string(),
            perf_metric: row.perf_metric.clone(),
            state: row.state.trim().to_string(),
            skip_reason: accepted.as_ref().err().map(|(r, _)| r.clone()),
        });
        match accepted {
            Err((reason, kind)) => skipped.push(Skipped {
                line: row.line,
                test_name: tid.clone(),
                metric_type: row.metric_type.clone(),
                reason,
                failed_state: kind == SkipKind::Failed,
                invalid_state: kind == SkipKind::Invalid,
            }),
            Ok(acc) => {
                rows_used += 1;
                let i = match index.get(&acc.key) {
                    Some(&i) => i,
                    None => {
                        let raw = row.raw_result_or_empty();
                        let log = if !raw.is_empty() {
                            LogSource::Raw(cap_text(raw.to_string(), LOG_CAP))
                        } else {
                            LogSource::Junit(row.test_name.clone())
                        };
                        cases.push(CaseAcc {
                            key: acc.key.clone(),
                            gpu_time: None,
                            total_time: None,
                            build_time: None,
                            throughput: None,
                            perf_data: Vec::new(),
                            log,
                            origin: Origin {
                                line: row.line,
                                test_name: tid.clone(),
                            },
                        });
                        index.insert(acc.key.clone(), cases.len() - 1);
                        cases.len() - 1
                    }
                };
                let c = &mut cases[i];
                match acc.number {
                    Some((NumberColumn::GpuTime, v)) => c.gpu_time = Some(v),
                    Some((NumberColumn::BuildTime, v)) => c.build_time = Some(v),
                    Some((NumberColumn::Throughput, v)) => c.throughput = Some(v),
                    None => {}
                }
                match c.perf_data.iter_mut().find(|(k, _)| *k == acc.data_key) {
                    Some(slot) => slot.1 = row.perf_metric.clone(),
                    None => c.perf_data.push((acc.data_key, row.perf_metric.clone())),
                }
                if let Some(t) = acc.total_time {
                    c.total_time = Some(t);
                }
            }
        }
    }
    use runinfo::SourceKind::MetricCsv;
    for (col, slot, v, from) in [
        (
            "graphic_freq",
            &mut run.graphic_freq,
            &csv_sm,
            "metric CSV sm_clk (first row)",
        ),
        (
            "memory_freq",
            &mut run.memory_freq,
            &csv_mem,
            "metric CSV mem_clk (first row)",
        ),
    ] {
        if slot.is_empty() && !v.is_empty() {
            *slot = v.clone();
            sources.insert(col.to_string(), flag_source(MetricCsv, from));
        }
    }
    for (col, slot, t, from) in [
        (
            "start_time",
            &mut run.start_time,
            first_start,
            "metric CSV (earliest start_timestamp)",
        ),
        (
            "end_time",
            &mut run.end_time,
            last_end,
            "metric CSV (latest end_timestamp)",
        ),
    ] {
        if slot.is_none()
            && let Some(t) = t
        {
            *slot = Some(fmt_time(t));
            sources.insert(col.to_string(), flag_source(MetricCsv, from));
        }
    }
    check_run_lengths(&run)?;

    // §9.2 step 5: `log` from the JUnit `<system-out>` where the CSV had no raw_result.
    let wanted: Vec<String> = cases
        .iter()
        .filter_map(|c| match &c.log {
            LogSource::Junit(t) if !t.is_empty() => Some(t.clone()),
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let junit_logs = if wanted.is_empty() || inputs.junit.is_empty() {
        junit::JunitLogs::default()
    } else {
        junit::find_logs(&inputs.junit, &wanted, LOG_CAP)
    };
    warnings.extend(junit_logs.warnings.iter().cloned());

    let results: Vec<ResultRow> = cases
        .into_iter()
        .map(|c| ResultRow {
            log: match c.log {
                LogSource::Raw(s) => s,
                LogSource::Junit(t) => junit_logs.by_test.get(&t).cloned().unwrap_or_default(),
            },
            case: c.key,
            // Legacy defaults: 0.0 when the metric is absent (§9.2 worked example).
            gpu_time: c.gpu_time.unwrap_or(0.0),
            total_time: c.total_time.unwrap_or(0.0),
            build_time: c.build_time.unwrap_or(0.0),
            throughput: c.throughput.unwrap_or(0.0),
            perf_data: py_json_dumps(&c.perf_data),
            origin: c.origin,
        })
        .collect();

    // Run key (§ issue 5): given, or derived.
    let (job_ids, summary_tests) = match &inputs.summary {
        Some(s) => super::summary::read_ids(s)?,
        None => (Vec::new(), Vec::new()),
    };
    let tests: Vec<String> = if summary_tests.is_empty() {
        test_ids.into_iter().collect()
    } else {
        summary_tests
    };
    let (run_key, run_key_origin) = match opts.run_key.as_deref().map(str::trim) {
        Some(k) if !k.is_empty() => {
            if chars(k) > limits::UUID || k.chars().any(char::is_control) {
                return Err(UserError(format!(
                    "--run-key must be at most {} characters without control characters.",
                    limits::UUID
                )));
            }
            (k.to_string(), "given with --run-key".to_string())
        }
        _ => {
            let parts = runkey::KeyParts {
                link: run.link.clone(),
                commit: run.cl.clone(),
                job_ids,
                test_ids: tests,
                start_time: run.start_time.clone().unwrap_or_default(),
            };
            let weak = parts.is_weak();
            let content = weak.then(|| runkey::content_digest(&results));
            if weak {
                warnings.push(
                    "The run has no link, commit, job id or start time, so its run key also covers the uploaded values; pass --link or --run-key to make re-uploads of the same run recognisable for sure.".into(),
                );
            }
            (parts.derive(content.as_deref()), parts.describe(weak))
        }
    };

    Ok(UploadPlan {
        run_key,
        run_key_origin,
        run,
        results,
        skipped,
        rows_used,
        metric_csv: inputs.metric_csv.clone(),
        run_dir: inputs.run_dir.clone(),
        warnings,
        run_sources: sources,
        measured,
    })
}

/// `(column, flag, flag value, environment variable, environment value)`.
type FlagEnv<'a> = (
    &'static str,
    &'static str,
    &'a Option<String>,
    &'static str,
    &'a Option<String>,
);

/// The run values that flags and the environment can set; the flag wins (reference §9.1;
/// [`runinfo::ENV_VARS`]).
fn flag_env<'a>(a: &'a RunInfoArgs, e: &'a RunInfoArgs) -> [FlagEnv<'a>; 13] {
    [
        ("driver", "--driver", &a.driver, "DRIVER_VERSION", &e.driver),
        ("cpu", "--cpu-name", &a.cpu, "", &e.cpu),
        ("os", "--os", &a.os, "OS_VERSION", &e.os),
        ("gpu", "--gpu", &a.gpu, "GPU_NAME", &e.gpu),
        ("cuda", "--cuda", &a.cuda, "CUDA_VERSION", &e.cuda),
        (
            "tensorrt",
            "--tensorrt",
            &a.tensorrt,
            "TRT_VERSION",
            &e.tensorrt,
        ),
        ("trtllm", "--trtllm", &a.trtllm, "TRTLLM_VERSION", &e.trtllm),
        ("notes", "--notes", &a.notes, "PERF_RUN_NOTES", &e.notes),
        ("cl", "--commit", &a.commit, "GIT_COMMIT", &e.commit),
        ("link", "--link", &a.link, "BUILD_URL", &e.link),
        ("hostname", "--hostname", &a.hostname, "", &e.hostname),
        ("ip", "--ip", &a.ip, "", &e.ip),
        (
            "start_time",
            "--start-time",
            &a.start_time,
            "TEST_START_TIME",
            &e.start_time,
        ),
    ]
}

/// The `runs` row before the CSV is read (§9.2 steps 1–2), the source of each value, and
/// the properties file's commit time when it may be used (see below).
///
/// Order per column: flag > environment > detected on the compute node > session
/// properties > GPU monitoring (clocks). `commit_time` follows the commit actually recorded
/// in `cl`: `--commit-time`, else the properties file's `commit_timestamp` only when `cl`
/// is the properties file's own commit (`trt_change_id`), else NULL.
type RunValues = (RunRow, BTreeMap<String, RunValueSource>);

fn run_values(
    inputs: &PlanInputs,
    opts: &PlanOptions,
    warnings: &mut Vec<String>,
) -> Result<RunValues, UserError> {
    use runinfo::SourceKind::*;
    let a = &opts.info;
    let e = &opts.env;
    let sp = match &inputs.properties {
        Some(p) => Some((props::read_session_properties(p).map_err(file_error)?, p)),
        None => None,
    };
    let empty = props::SessionProps::default();
    let props_v = sp.as_ref().map(|(s, _)| s).unwrap_or(&empty);
    let det = &inputs.detected;
    let det_trt = det.tensorrt.as_ref();
    let det_llm = det.trtllm.as_ref();
    let mut run = RunRow::default();
    let mut sources: BTreeMap<String, RunValueSource> = BTreeMap::new();

    for (col, flag_name, fv, env_name, ev) in flag_env(a, e) {
        let f = flag(fv);
        let ev = flag(ev);
        let (det_v, det_from) = match col {
            "tensorrt" => det_trt.map(|d| (d.value.as_str(), d.from.as_str())),
            "trtllm" => det_llm.map(|d| (d.value.as_str(), d.from.as_str())),
            _ => None,
        }
        .unwrap_or(("", ""));
        let (prop_v, prop_from): (&str, &str) = match col {
            "driver" => (&props_v.driver, "nvidia_driver_version"),
            "cpu" => (&props_v.cpu, "cpu_properties"),
            "os" => (&props_v.os, "os_properties"),
            "gpu" => (&props_v.gpu, "gpu_properties"),
            "cuda" => (&props_v.cuda, "cuda_version"),
            "tensorrt" => (&props_v.tensorrt, "trt_version"),
            "cl" => (&props_v.commit, "trt_change_id"),
            "hostname" => (&props_v.hostname, "hostname"),
            "ip" => (&props_v.ip, "ip"),
            _ => ("", ""),
        };
        let prop_from = format!("session_properties.csv {prop_from}");
        let Some((mut v, src)) = runinfo::pick(&[
            runinfo::cand(&f, Flag, flag_name),
            runinfo::cand(&ev, Environment, env_name),
            runinfo::cand(det_v, Detected, det_from),
            runinfo::cand(prop_v, SessionProperties, &prop_from),
        ]) else {
            continue;
        };
        match col {
            // "--trtllm: first line used" (§9.1): often `python3 -c "import tensorrt_llm"` output.
            "trtllm" => v = v.lines().next().unwrap_or("").trim().to_string(),
            "gpu" => v = rules::gpu_name(&v),
            "start_time" if src.source != SessionProperties => {
                let what = match src.source {
                    Flag => "--start-time".to_string(),
                    _ => format!("The environment variable {}", src.from),
                };
                let t = parse_time(&v).ok_or_else(|| {
                    UserError(format!(
                        "{what} {v:?} is not a time; write it as \"YYYY-MM-DD HH:MM:SS\"."
                    ))
                })?;
                v = fmt_time(t);
            }
            _ => {}
        }
        let slot = match col {
            "driver" => &mut run.driver,
            "cpu" => &mut run.cpu,
            "os" => &mut run.os,
            "gpu" => &mut run.gpu,
            "cuda" => &mut run.cuda,
            "tensorrt" => &mut run.tensorrt,
            "trtllm" => &mut run.trtllm,
            "notes" => &mut run.notes,
            "cl" => &mut run.cl,
            "link" => &mut run.link,
            "hostname" => &mut run.hostname,
            "ip" => &mut run.ip,
            _ => {
                run.start_time = Some(v);
                sources.insert(col.to_string(), src);
                continue;
            }
        };
        *slot = v;
        sources.insert(col.to_string(), src);
    }
    // Only the properties file knows these (perf-run additions: cudnn is NOT NULL in
    // TRT_perf.runs and the legacy script never set it, §11 item 13).
    for (col, v, from) in [
        ("cudnn", &props_v.cudnn, "cudnn_version"),
        ("cublas", &props_v.cublas, "cublas_version"),
    ] {
        if let Some((v, src)) = runinfo::pick(&[runinfo::cand(
            v,
            SessionProperties,
            &format!("session_properties.csv {from}"),
        )]) {
            match col {
                "cudnn" => run.cudnn = v,
                _ => run.cublas = v,
            }
            sources.insert(col.to_string(), src);
        }
    }

    let parse_flag_time = |name: &str, v: &Option<String>| -> Result<Option<String>, UserError> {
        let s = flag(v);
        if s.is_empty() {
            return Ok(None);
        }
        parse_time(&s).map(|t| Some(fmt_time(t))).ok_or_else(|| {
            UserError(format!(
                "{name} {s:?} is not a time; write it as \"YYYY-MM-DD HH:MM:SS\"."
            ))
        })
    };
    run.end_time = parse_flag_time("--end-time", &a.end_time)?;
    if run.end_time.is_some() {
        sources.insert("end_time".into(), flag_source(Flag, "--end-time"));
    }
    run.commit_time = parse_flag_time("--commit-time", &a.commit_time)?;
    if run.commit_time.is_some() {
        sources.insert("commit_time".into(), flag_source(Flag, "--commit-time"));
    }

    // §9.2 step 1: times from the properties file, where still empty.
    if let Some((sp, path)) = &sp {
        // The properties file's commit time describes the properties file's commit: use it
        // only for that commit (legacy-interop review item 5).
        let cl_is_props_commit = runinfo::same_commit(&run.cl, &sp.commit);
        if run.commit_time.is_none()
            && !sp.commit_time.is_empty()
            && !run.cl.is_empty()
            && !cl_is_props_commit
        {
            warnings.push(format!(
                "runs.commit_time is left empty: commit_timestamp in {} belongs to commit {:?}, but the run records commit {:?} (from {}); pass --commit-time for that commit.",
                path.display(),
                sp.commit,
                run.cl,
                sources.get("cl").map(|s| s.from.as_str()).unwrap_or("?")
            ));
        }
        for (col, slot, raw, what, usable) in [
            (
                "start_time",
                &mut run.start_time,
                &sp.start_time,
                "start_timestamp",
                true,
            ),
            (
                "end_time",
                &mut run.end_time,
                &sp.end_time,
                "end_timestamp",
                true,
            ),
            (
                "commit_time",
                &mut run.commit_time,
                &sp.commit_time,
                "commit_timestamp",
                cl_is_props_commit,
            ),
        ] {
            if slot.is_none() && !raw.is_empty() && usable {
                match parse_time(raw) {
                    Some(t) => {
                        *slot = Some(fmt_time(t));
                        sources.insert(
                            col.to_string(),
                            flag_source(SessionProperties, &format!("session_properties.csv {what}")),
                        );
                    }
                    None => warnings.push(format!(
                        "{what} {raw:?} in {} is not a time perf-run understands, so it is left empty.",
                        path.display()
                    )),
                }
            }
        }
    }

    // §9.2 step 2, without blanking what the flags gave.
    let (mon_sm, mon_mem) = match &inputs.gpu_monitoring {
        Some(g) => props::gpu_monitoring_clocks(g).map_err(file_error)?,
        None => (String::new(), String::new()),
    };
    for (col, fv, flag_name, mon, prop, prop_from) in [
        (
            "graphic_freq",
            &a.sm_clock,
            "--sm-clock",
            &mon_sm,
            &props_v.sm_clock,
            "session_properties.csv sm_clk",
        ),
        (
            "memory_freq",
            &a.mem_clock,
            "--mem-clock",
            &mon_mem,
            &props_v.mem_clock,
            "session_properties.csv mem_clk",
        ),
    ] {
        let f = flag(fv);
        if let Some((v, src)) = runinfo::pick(&[
            runinfo::cand(&f, Flag, flag_name),
            runinfo::cand(
                mon,
                GpuMonitoring,
                "gpu_monitoring.csv (most frequent value)",
            ),
            runinfo::cand(prop, SessionProperties, prop_from),
        ]) {
            match col {
                "graphic_freq" => run.graphic_freq = v,
                _ => run.memory_freq = v,
            }
            sources.insert(col.to_string(), src);
        }
    }
    Ok((run, sources))
}

fn flag_source(kind: runinfo::SourceKind, from: &str) -> RunValueSource {
    RunValueSource {
        source: kind,
        from: from.to_string(),
    }
}

struct Accepted {
    key: CaseKey,
    data_key: String,
    number: Option<(NumberColumn, f64)>,
    total_time: Option<f64>,
}

fn parse_number(what: &str, s: &str) -> Result<f64, String> {
    let shown = || format!("`{}`", crate::error::escape_for_message(s));
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{what} {} is not a number", shown()))?;
    if !v.is_finite() {
        return Err(format!("{what} {} is not a finite number", shown()));
    }
    if v.abs() > limits::FLOAT_16_6_MAX {
        return Err(format!(
            "{what} {} is too large for the float(16,6) column",
            shown()
        ));
    }
    // Times, throughputs and counts are never negative; the extract validity gate rejects
    // them too (security review B11).
    if v < 0.0 {
        return Err(format!("{what} {} is negative", shown()));
    }
    Ok(v)
}

/// §9.2 step 3: decide whether a row is uploaded; `Err((reason, kind))` if not.
fn accept_row(
    row: &LongRow,
    gpu: &str,
    forced_framework: Option<&str>,
    has_total_time_column: bool,
) -> Result<Accepted, (String, SkipKind)> {
    use SkipKind::Other;
    if row.state.trim() == "failed" {
        return Err(("the test failed (state=failed)".into(), SkipKind::Failed));
    }
    // perf-run marks measurements its validity gate rejected (failed requests, zero tokens,
    // missing metrics) as state=invalid: they are never stored as if they were real numbers.
    if row.state.trim() == "invalid" {
        return Err((
            "the measurement is invalid (state=invalid: see the reasons in summary.json)".into(),
            SkipKind::Invalid,
        ));
    }
    if rules::legacy_filtered(row.turtle_case_name()) {
        return Err((
            "trt_perf_parser.py filters this turtle_case_name out".into(),
            Other,
        ));
    }
    let missing: Vec<&str> = [
        ("network_name", &row.network_name),
        ("metric_type", &row.metric_type),
        ("perf_metric", &row.perf_metric),
    ]
    .iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        return Err((format!("{} is empty", missing.join(" and ")), Other));
    }
    let metric_type = row.metric_type.trim();
    let network = rules::network_for_row(&row.network_name, &row.test_name);
    let batch = rules::batch_size(network);
    let batchsize: u32 = batch.parse().map_err(|_| {
        (
            format!("batch size {batch} does not fit the int unsigned column"),
            Other,
        )
    })?;
    let framework = match forced_framework {
        Some(f) => f.to_string(),
        None => rules::framework(&row.test_name, network, &row.command).to_string(),
    };
    let key = CaseKey {
        format: framework,
        network: rules::case_network(network),
        batchsize,
        precision: rules::precision(&row.command, gpu).to_string(),
        cmd: rules::format_command(&row.command),
    };
    if chars(&key.network) > limits::NETWORK {
        return Err((
            format!(
                "the network name is {} characters long and cases.network holds at most {}",
                chars(&key.network),
                limits::NETWORK
            ),
            Other,
        ));
    }
    if chars(&key.cmd) > limits::CMD {
        return Err((
            format!(
                "the command is {} characters long and cases.cmd holds at most {}",
                chars(&key.cmd),
                limits::CMD
            ),
            Other,
        ));
    }
    let number = match rules::number_column(metric_type) {
        Some(col) => Some((
            col,
            parse_number(&format!("perf_metric of {metric_type}"), &row.perf_metric)
                .map_err(|e| (e, Other))?,
        )),
        None => None,
    };
    let total_time = if has_total_time_column && !row.total_time_sec.trim().is_empty() {
        Some(parse_number("total_time__sec", &row.total_time_sec).map_err(|e| (e, Other))?)
    } else {
        None
    };
    Ok(Accepted {
        key,
        data_key: rules::perf_data_key(metric_type),
        number,
        total_time,
    })
}

fn check_run_lengths(run: &RunRow) -> Result<(), UserError> {
    let checks: [(&str, &str, &str, usize); 13] = [
        ("driver", "--driver", &run.driver, limits::VARCHAR_150),
        ("cpu", "--cpu", &run.cpu, limits::VARCHAR_150),
        ("os", "--os", &run.os, limits::VARCHAR_150),
        ("gpu", "--gpu", &run.gpu, limits::VARCHAR_150),
        ("cuda", "--cuda", &run.cuda, limits::VARCHAR_150),
        ("cudnn", "cudnn_version", &run.cudnn, limits::VARCHAR_150),
        ("cublas", "cublas_version", &run.cublas, limits::VARCHAR_150),
        (
            "graphic_freq",
            "--sm-clock",
            &run.graphic_freq,
            limits::VARCHAR_150,
        ),
        (
            "memory_freq",
            "--mem-clock",
            &run.memory_freq,
            limits::VARCHAR_150,
        ),
        ("tensorrt", "--tensorrt", &run.tensorrt, limits::VARCHAR_150),
        ("cl", "--commit", &run.cl, limits::VARCHAR_150),
        ("notes", "--notes", &run.notes, limits::NOTES),
        ("link", "--link", &run.link, limits::LINK),
    ];
    for (col, src, v, max) in checks {
        if chars(v) > max {
            return Err(UserError(format!(
                "{src} is {} characters long, but the TRT_perf column runs.{col} holds at most {max}; shorten it.",
                chars(v)
            )));
        }
    }
    if chars(&run.trtllm) > limits::VARCHAR_150 {
        return Err(UserError(format!(
            "--trtllm is {} characters long, but the TRT_perf column runs.trtllm holds at most {}; shorten it.",
            chars(&run.trtllm),
            limits::VARCHAR_150
        )));
    }
    Ok(())
}

/// The standard files of a collected run directory (see the pipeline's layout):
/// `RUN/results/{perf_script_test_results.csv, session_properties.csv, gpu_monitoring.csv,
/// summary.json}` and `RUN/cases/*/artifacts/results*.xml`. Optional files are used when
/// present.
pub fn run_dir_inputs(run_dir: &Path) -> Result<PlanInputs, UserError> {
    let results = run_dir.join("results");
    let metric_csv = results.join("perf_script_test_results.csv");
    if !metric_csv.is_file() {
        return Err(UserError(format!(
            "{} has no results/perf_script_test_results.csv, so there is nothing to upload; run `perf-run extract` on it first, or pass --source-metric-csv.",
            run_dir.display()
        )));
    }
    let opt = |name: &str| {
        let p = results.join(name);
        p.is_file().then_some(p)
    };
    let mut junit = Vec::new();
    if let Ok(rd) = std::fs::read_dir(run_dir.join("cases")) {
        let mut case_dirs: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        case_dirs.sort();
        for c in case_dirs {
            if let Ok(rd) = std::fs::read_dir(c.join("artifacts")) {
                let mut xs: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("results") && n.ends_with(".xml"))
                    })
                    .collect();
                xs.sort();
                junit.extend(xs);
            }
        }
    }
    Ok(PlanInputs {
        metric_csv,
        properties: opt("session_properties.csv"),
        gpu_monitoring: opt("gpu_monitoring.csv"),
        junit,
        summary: opt("summary.json"),
        run_dir: Some(run_dir.to_path_buf()),
        detected: runinfo::detect_in_run_dir(run_dir),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "tests/fixtures/trtllm/results/perf_script_test_results.disagg_sample_truncated.csv",
        )
    }

    #[test]
    fn worked_example_of_reference_9_2() {
        let plan = build_plan(
            &PlanInputs {
                metric_csv: fixture(),
                ..Default::default()
            },
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.rows_used, 6);
        assert_eq!(plan.results.len(), 3);
        let r = &plan.results[0];
        assert_eq!(r.case.format, "PYTORCH");
        assert_eq!(
            r.case.network,
            "test_benchmark[disagg_perf_file:deepseek-r1-fp4_015_8k1k_dep:16_bs:64_mtp:0_ccbackend:ucx]_con:1075"
        );
        assert_eq!(r.case.batchsize, 64);
        assert_eq!(r.case.precision, "FP4");
        assert_eq!(
            r.case.cmd,
            "disagg_benchmark --model=deepseek-r1-fp4 --fp4 --concurrency=1075"
        );
        assert_eq!(
            r.perf_data,
            r#"{"disagg_server_ttft": "1122.63", "disagg_server_e2el": "22521.71"}"#
        );
        assert_eq!(r.gpu_time, 0.0);
        assert_eq!(r.total_time, 703.296025);
        assert_eq!(r.throughput, 0.0);
        assert_eq!(r.build_time, 0.0);
        assert_eq!(r.origin.line, 2);
        // clocks from the CSV (no flags, no monitoring file), times from the CSV
        assert_eq!(plan.run.graphic_freq, "2062");
        assert_eq!(plan.run.memory_freq, "3996");
        assert_eq!(plan.run.start_time.as_deref(), Some("2025-10-31 00:53:53"));
        assert!(plan.skipped.is_empty());
        assert_eq!(plan.run_key.len(), 64);
    }

    #[test]
    fn flag_clocks_win_and_framework_override() {
        let plan = build_plan(
            &PlanInputs {
                metric_csv: fixture(),
                ..Default::default()
            },
            &PlanOptions {
                info: RunInfoArgs {
                    sm_clock: Some("1500".into()),
                    gpu: Some("NVIDIA GB200".into()),
                    trtllm: Some("1.2.0rc1\nsecond line".into()),
                    start_time: Some("2025-10-31 00:00:00".into()),
                    ..Default::default()
                },
                framework: Some("onnx".into()),
                run_key: Some("my-key".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(plan.run.graphic_freq, "1500");
        assert_eq!(plan.run.memory_freq, "3996");
        assert_eq!(plan.run.gpu, "GB200");
        assert_eq!(plan.run.trtllm, "1.2.0rc1");
        assert_eq!(plan.results[0].case.format, "ONNX");
        assert_eq!(plan.run_key, "my-key");
    }

    #[test]
    fn failed_and_bad_rows_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        std::fs::write(
            &p,
            "network_name,test_name,perf_metric,total_time__sec,state,command,metric_type\n\
             n1,t1,10,1,valid,cmd --fp16,INFERENCE_TIME\n\
             n1,t1,oops,1,valid,cmd --fp16,TOKEN_THROUGHPUT\n\
             n2,t2,5,1,failed,cmd,INFERENCE_TIME\n\
             ,t3,5,1,valid,cmd,INFERENCE_TIME\n\
             n4,t4,5,,valid,cmd,BUILD_TIME\n",
        )
        .unwrap();
        let plan = build_plan(
            &PlanInputs {
                metric_csv: p.clone(),
                ..Default::default()
            },
            &PlanOptions::default(),
        )
        .unwrap();
        assert_eq!(plan.results.len(), 2);
        assert_eq!(plan.results[0].gpu_time, 10.0);
        assert_eq!(plan.results[0].perf_data, r#"{"run_time__msec": "10"}"#);
        assert_eq!(plan.results[1].build_time, 5.0);
        assert_eq!(plan.skipped.len(), 3);
        assert_eq!(plan.skipped[0].line, 3);
        assert!(plan.skipped[0].reason.contains("not a number"));
        assert!(plan.skipped[1].failed_state);
        assert!(plan.skipped[2].reason.contains("network_name is empty"));

        std::fs::write(
            &p,
            "network_name,perf_metric,state,metric_type\nn,1,failed,X\n",
        )
        .unwrap();
        let err = build_plan(
            &PlanInputs {
                metric_csv: p,
                ..Default::default()
            },
            &PlanOptions::default(),
        )
        .unwrap_err();
        assert!(err.0.starts_with("Nothing to upload"), "{}", err.0);
    }

    #[test]
    fn commit_time_only_for_the_properties_own_commit_and_sources_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("session_properties.csv");
        std::fs::write(
            &props,
            "trt_change_id,commit_timestamp,trt_version,cpu_properties\n\
             dd60747,2026-11-22 19:23:33,10.9,\"OrderedDict({'product_name': 'Grace'})\"\n",
        )
        .unwrap();
        let inputs = PlanInputs {
            metric_csv: fixture(),
            properties: Some(props),
            ..Default::default()
        };
        let with = |commit: Option<&str>, env_commit: Option<&str>| {
            build_plan(
                &inputs,
                &PlanOptions {
                    info: RunInfoArgs {
                        commit: commit.map(String::from),
                        ..Default::default()
                    },
                    env: RunInfoArgs {
                        commit: env_commit.map(String::from),
                        tensorrt: Some("10.13".into()),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let p = with(Some("abc123"), Some("dd60747"));
        assert_eq!(p.run.cl, "abc123");
        assert_eq!(p.run.commit_time, None);
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("commit_time is left empty")),
            "{:?}",
            p.warnings
        );
        let p = with(None, Some("DD60747FFFF"));
        assert_eq!(p.run.cl, "DD60747FFFF");
        assert_eq!(p.run.commit_time.as_deref(), Some("2026-11-22 19:23:33"));
        assert_eq!(p.run_sources["cl"].source, runinfo::SourceKind::Environment);
        assert_eq!(p.run_sources["cl"].from, "GIT_COMMIT");
        assert_eq!(p.run.tensorrt, "10.13", "environment beats properties");
        assert_eq!(p.run.cpu, "Grace");
        let p = with(None, None);
        assert_eq!(p.run.cl, "dd60747");
        assert_eq!(
            p.run_sources["commit_time"].from,
            "session_properties.csv commit_timestamp"
        );
    }

    #[test]
    fn capped_text_keeps_head_and_tail() {
        let mut c = CappedText::new(80);
        for i in 0..100 {
            c.push(&format!("{i:03}é"));
        }
        let s = c.finish();
        assert!(s.starts_with("000é001é"));
        assert!(s.ends_with("099é"));
        assert!(s.contains("left out"));
        let mut c = CappedText::new(1000);
        c.push("short");
        c.push(" text");
        assert_eq!(c.finish(), "short text");
    }

    #[test]
    fn python_json() {
        let pairs = vec![
            ("a".to_string(), "x\"y\\z\n".to_string()),
            ("é".to_string(), "😀".to_string()),
        ];
        assert_eq!(
            py_json_dumps(&pairs),
            r#"{"a": "x\"y\\z\n", "\u00e9": "\ud83d\ude00"}"#
        );
        assert_eq!(py_json_dumps(&[]), "{}");
    }

    #[test]
    fn times() {
        let t = |s: &str| parse_time(s).map(fmt_time);
        assert_eq!(
            t("2025-10-31 00:53:53").as_deref(),
            Some("2025-10-31 00:53:53")
        );
        assert_eq!(
            t("2025-10-31 02:53:53 +0200").as_deref(),
            Some("2025-10-31 00:53:53")
        );
        assert_eq!(
            t("2025-10-31T00:53:53.5Z").as_deref(),
            Some("2025-10-31 00:53:53")
        );
        assert_eq!(t("2025-10-31").as_deref(), Some("2025-10-31 00:00:00"));
        assert_eq!(t("yesterday"), None);
    }
}
