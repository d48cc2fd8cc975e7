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

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::error::StoreError;
pub use super::rows::{
    CaseKey, MeasuredRow, Origin, ResultRow, RunRow, Skipped, UploadPlan, limits, py_json_dumps,
    skip_counts,
};
use super::run_row::{check_run_lengths, flag_source, run_values};
use super::runinfo::{self, Detected};
pub use super::text::LOG_CAP;
use super::{junit, runkey};
pub use crate::results::lines::{CappedText, cap_text};
use crate::trtperf::long_csv::{LongCsvReader, LongRow};
use crate::trtperf::rules::{self, NumberColumn};

/// Why a CSV row is not uploaded, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SkipKind {
    Failed,
    Invalid,
    Other,
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

pub(super) fn flag(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or("").to_string()
}

pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Build the plan. Errors are things the user must fix (exit 2): a missing or malformed
/// input file, a malformed time flag, a run-level value too long for its column, or no row
/// at all that can be uploaded.
pub fn build_plan(inputs: &PlanInputs, opts: &PlanOptions) -> Result<UploadPlan, StoreError> {
    let mut plan = build_plan_all(inputs, opts)?;
    check_uploadable(&plan)?;
    plan.measured = Vec::new();
    Ok(plan)
}

/// The "nothing to upload" refusal of [`build_plan`] for a plan built by [`build_plan_all`].
pub fn check_uploadable(plan: &UploadPlan) -> Result<(), StoreError> {
    if !plan.results.is_empty() {
        return Ok(());
    }
    let (failed, invalid, other) = skip_counts(&plan.skipped);
    Err(StoreError::NothingToUpload {
        rows: plan.skipped.len(),
        csv: plan.metric_csv.clone(),
        failed,
        invalid,
        other,
    })
}

/// [`build_plan`] that also keeps every CSV row in [`UploadPlan::measured`] and accepts a
/// file where no row can be uploaded (the local history records invalid runs too).
pub fn build_plan_all(inputs: &PlanInputs, opts: &PlanOptions) -> Result<UploadPlan, StoreError> {
    let mut warnings = Vec::new();
    let mut measured: Vec<MeasuredRow> = Vec::new();
    let (mut run, mut sources) = run_values(inputs, opts, &mut warnings)?;

    // §9.2 steps 3–5: the rows.
    let csv = LongCsvReader::open(&inputs.metric_csv)?;
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
        return Err(StoreError::FrameworkTooLong {
            length: chars(f),
            max: limits::FORMAT,
        });
    }

    for row in csv {
        let row = row?;
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
                return Err(StoreError::BadRunKey { max: limits::UUID });
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

/// The standard files of a collected run directory (see the pipeline's layout):
/// `RUN/results/{perf_script_test_results.csv, session_properties.csv, gpu_monitoring.csv,
/// summary.json}` and `RUN/cases/*/artifacts/results*.xml`. Optional files are used when
/// present.
pub fn run_dir_inputs(run_dir: &Path) -> Result<PlanInputs, StoreError> {
    let results = run_dir.join("results");
    let metric_csv = results.join("perf_script_test_results.csv");
    if !metric_csv.is_file() {
        return Err(StoreError::NoResultsCsv {
            run_dir: run_dir.to_path_buf(),
        });
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
#[path = "plan_tests.rs"]
mod tests;
