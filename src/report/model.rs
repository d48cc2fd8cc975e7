//! `report.json`: everything the report shows, built from run directories (their
//! `summary.json` and, when present, the cases' `plan.json`), an optional history and optional
//! verdicts. The HTML (`report::html`) is drawn from this value only, so the JSON and the page
//! always say the same thing.
//!
//! Schema `perf-run.report`, version 1. Within version 1 fields are only ever added; a reader
//! ignores fields it does not know.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{UserError, escape_for_message};
use crate::history::Series;
use crate::judge::{Judgement, Verdict};

pub const SCHEMA: &str = "perf-run.report";
pub const VERSION: u32 = 1;

/// The metric on the Pareto chart's y axis (divided by the GPU count): output tokens/s.
pub const PARETO_THROUGHPUT: &str = "token_throughput";
/// The metric whose inverse is the x axis (tokens/s/user = 1000 / mean TPOT in ms).
pub const PARETO_TPOT: &str = "mean_tpot";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// Always `"perf-run.report"`.
    pub schema: String,
    /// `1`.
    pub version: u32,
    /// `"perf-run <version>"`.
    pub generator: String,
    /// When the report was built (`SOURCE_DATE_EPOCH` when set, for reproducible output).
    pub generated_at: DateTime<Utc>,
    /// The runs, in the order given (the first is the reference of a comparison).
    pub runs: Vec<RunEntry>,
    /// Metric name → unit, over every run.
    pub units: BTreeMap<String, String>,
    /// Every case of every run, in first-seen order.
    pub cases: Vec<CaseEntry>,
    /// Output tokens/s/GPU against tokens/s/user, one group per GPU count.
    pub pareto: Vec<ParetoGroup>,
    /// With two or more runs: what differs between them and whether comparing them is fair.
    pub provenance_diff: Option<ProvenanceDiff>,
    /// `None`: no history was asked for. `Some`: the series (possibly none) and their verdicts.
    pub history: Option<HistorySection>,
    /// Plain sentences about what the report could not show and why.
    pub notes: Vec<String>,
}

/// One run: where, when, on what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEntry {
    pub run_id: String,
    /// The directory the report read it from.
    pub dir: String,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    pub cluster: Option<String>,
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub gpu: Option<String>,
    /// GPUs the host listed (`sysinfo/gpu.txt`), not necessarily the GPUs a case used.
    pub host_gpu_count: Option<u32>,
    pub driver: Option<String>,
    pub cuda: Option<String>,
    pub tensorrt: Option<String>,
    /// The TensorRT-LLM the roles imported, else the checkout's version.
    pub trtllm_version: Option<String>,
    pub trtllm_commit: Option<String>,
    pub trtllm_branch: Option<String>,
    /// The container image of the cases (from their `plan.json`), when one image was used.
    pub container_image: Option<String>,
    /// Nodes of the cases (from their `plan.json`), e.g. `"1"` or `"1–3"`.
    pub nodes: Option<String>,
    pub build_url: Option<String>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub invalid: usize,
    pub skipped: usize,
    pub not_run: usize,
}

/// One case (pytest node id) across the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEntry {
    pub test_id: String,
    pub case_name: String,
    pub mode: String,
    /// One slot per run (same order as `ReportData::runs`); `null` when the run lacks the case.
    pub runs: Vec<Option<CaseRun>>,
    /// The verdicts on the case's series (matched by test name), worst first.
    pub verdicts: Vec<Judgement>,
}

/// A case in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseRun {
    pub status: String,
    pub failure_class: Option<String>,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    /// GPUs the case used and where that number came from (`plan`, `summary`, `host`).
    pub gpu_count: Option<u32>,
    pub gpu_count_source: Option<String>,
    pub nodes: Option<u32>,
    pub config_name: Option<String>,
    /// sha256 of the config as planned: `plan.json`'s `config_hash` when the plan records
    /// one, else of the plan's servers (models, parallelism, GPUs, clients).
    pub config_hash: Option<String>,
    pub container_image: Option<String>,
    pub clients: Vec<ClientEntry>,
}

/// One benchmark client's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEntry {
    pub server: String,
    pub client: String,
    /// `valid` or `invalid`.
    pub validity: String,
    pub reasons: Vec<String>,
    pub concurrency: Option<u64>,
    pub iterations: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    /// In the order of `summary.json` (the metrics file's order); `null` for a value that
    /// was not a number. (The clients of a case are ordered by server, then concurrency.)
    pub metrics: Vec<MetricValue>,
}

impl ClientEntry {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .and_then(|m| m.value)
            .filter(|v| v.is_finite())
    }

    pub fn valid(&self) -> bool {
        self.validity == "valid"
    }

    pub fn label(&self) -> String {
        format!("{}/{}", self.server, self.client)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    pub name: String,
    pub value: Option<f64>,
}

/// The Pareto points of one GPU count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoGroup {
    pub gpu_count: u32,
    pub points: Vec<ParetoPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint {
    /// Index into `ReportData::runs`.
    pub run: usize,
    pub test_id: String,
    pub client: String,
    pub concurrency: Option<u64>,
    /// 1000 / mean TPOT (ms).
    pub tokens_per_s_per_user: f64,
    /// Output tokens/s divided by the case's GPU count.
    pub output_tokens_per_s_per_gpu: f64,
    pub valid: bool,
    /// On the run's frontier for this GPU count (valid points only).
    pub on_frontier: bool,
}

/// What differs between the compared runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceDiff {
    /// One row per fact; `values` has one slot per run.
    pub rows: Vec<ProvenanceRow>,
    /// The hardware, cluster and configs match: differences in the numbers come from the
    /// software under test (or noise).
    pub fair: bool,
    /// One or two sentences: fair or not, and why.
    pub verdict: String,
    /// Cases present in every run.
    pub common_cases: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvenanceRow {
    pub field: String,
    pub values: Vec<Option<String>>,
    pub differs: bool,
    /// A difference here makes the comparison unfair (hardware, cluster, config).
    pub must_match: bool,
}

/// The history shown under the verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistorySection {
    pub entries: Vec<HistoryEntry>,
    /// Verdicts whose series was not given (shown in the table, no chart).
    pub judgements_without_series: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The test id of the case the series belongs to, when it matched one.
    pub test_id: Option<String>,
    pub series: Series,
    pub judgement: Option<Judgement>,
}

/// How bad a verdict is, for sorting (worst first) and the status table.
pub fn verdict_rank(v: Verdict) -> u8 {
    match v {
        Verdict::Regression => 0,
        Verdict::Suspect => 1,
        Verdict::NotComparable => 2,
        Verdict::Unstable => 3,
        Verdict::InsufficientData => 4,
        Verdict::Improved => 5,
        Verdict::Ok => 6,
    }
}

// ---------------------------------------------------------------------------------------
// Reading summary.json (tolerant: unknown fields ignored, missing ones default).

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SummaryFile {
    schema: Option<String>,
    version: Option<u64>,
    run: SummaryRun,
    totals: Totals,
    units: BTreeMap<String, Value>,
    cases: Vec<SummaryCase>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SummaryRun {
    run_id: Option<String>,
    started: Option<DateTime<Utc>>,
    finished: Option<DateTime<Utc>>,
    cluster: Option<String>,
    hostname: Option<String>,
    user: Option<String>,
    trtllm_commit: Option<String>,
    trtllm_branch: Option<String>,
    build_url: Option<String>,
    sysinfo: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SummaryCase {
    test_id: String,
    case_name: String,
    mode: String,
    status: String,
    failure_class: Option<String>,
    reasons: Vec<String>,
    warnings: Vec<String>,
    clients: Vec<SummaryClient>,
    /// Not written by version 1 today; read when a later writer adds it.
    servers: Vec<SummaryServer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SummaryServer {
    gpus: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SummaryClient {
    server: String,
    client: String,
    validity: String,
    reasons: Vec<String>,
    concurrency: Option<u64>,
    iterations: Option<u64>,
    isl: Option<u64>,
    osl: Option<u64>,
    metrics: serde_json::Map<String, Value>,
}

/// What a case's `plan.json` adds: GPUs, nodes, config, image.
#[derive(Debug, Clone, Default)]
struct PlanFacts {
    gpus: Option<u32>,
    nodes: Option<u32>,
    config_name: Option<String>,
    config_hash: Option<String>,
    image: Option<String>,
}

fn known(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != crate::results::model::UNKNOWN)
}

fn sysinfo_text(m: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    known(m.get(key).and_then(Value::as_str).map(str::to_string))
}

/// `summary.json` of a run directory (`results/summary.json`, or `summary.json` for the output
/// directory of `perf-run extract`), or the file itself.
pub fn summary_of(dir: &Path) -> Option<PathBuf> {
    if dir.is_file() {
        return Some(dir.to_path_buf());
    }
    crate::perfdb::summary::summary_path(dir)
}

fn read_summary(dir: &Path) -> Result<(PathBuf, SummaryFile), UserError> {
    let path = summary_of(dir).ok_or_else(|| {
        UserError(format!(
            "{} holds no summary.json (looked for results/summary.json and summary.json); extract the run first (`perf-run resume` or `perf-run extract`).",
            dir.display()
        ))
    })?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| UserError(format!("Cannot read {}: {e}.", path.display())))?;
    let file: SummaryFile = serde_json::from_str(&text).map_err(|e| {
        UserError(format!(
            "{} is not a summary.json perf-run can read (line {}, column {}: {}).",
            path.display(),
            e.line(),
            e.column(),
            escape_for_message(&e.to_string())
        ))
    })?;
    match file.schema.as_deref() {
        Some("perf-run.summary") => {}
        other => {
            return Err(UserError(format!(
                "{} is not a perf-run summary (its \"schema\" is {}, expected \"perf-run.summary\").",
                path.display(),
                other
                    .map(|s| format!("{:?}", escape_for_message(s)))
                    .unwrap_or_else(|| "missing".into())
            )));
        }
    }
    if let Some(v) = file.version
        && v > 1
    {
        return Err(UserError(format!(
            "{} is summary.json version {v}, newer than this perf-run reads (1); use a newer perf-run to build the report.",
            path.display()
        )));
    }
    Ok((path, file))
}

/// `cases/*/plan.json` of a run directory, by test id.
fn read_plans(run_dir: &Path) -> HashMap<String, PlanFacts> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(run_dir.join("cases")) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path().join("plan.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(test_id) = v.get("test_id").and_then(Value::as_str) else {
            continue;
        };
        let u32_of = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok())
        };
        // What the config made perf-run run: the plan's own record of the config hash when it
        // has one, else a hash of its servers (models, parallelism, GPUs, clients). Never the
        // config file as it is now: the checkout may have moved on since the run.
        let config_hash = v
            .get("config_hash")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                v.get("servers")
                    .filter(|s| s.as_array().is_some_and(|a| !a.is_empty()))
                    .map(|s| hex::encode(Sha256::digest(s.to_string().as_bytes())))
            });
        let image = v
            .get("srun_args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|a| a.strip_prefix("--container-image="))
            .map(str::to_string);
        out.insert(
            test_id.to_string(),
            PlanFacts {
                gpus: u32_of("total_gpus"),
                nodes: u32_of("total_nodes"),
                config_name: known(
                    v.get("config_name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                ),
                config_hash,
                image,
            },
        );
    }
    out
}

/// `1`, `1–3`.
fn range_text(values: &BTreeSet<u32>) -> Option<String> {
    let lo = values.first()?;
    let hi = values.last()?;
    Some(if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    })
}

fn generated_at() -> DateTime<Utc> {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
        .unwrap_or_else(Utc::now)
}

/// Whether a series or verdict named `name` (a long-CSV `test_name`/`network_name`, or a test
/// id) belongs to the case.
/// The index of the case (`(test_id, case_name)` pairs) a series' `test_name`/`network_name`
/// belongs to: the longest matching case name wins, so `aggr_upload-cfg` never takes the series
/// of `aggr_upload-cfg-srv`.
pub fn owner_of<'a>(
    test_name: &str,
    network_name: &str,
    cases: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<usize> {
    cases
        .enumerate()
        .filter(|(_, (id, name))| belongs(test_name, id, name) || belongs(network_name, id, name))
        .max_by_key(|(_, (_, name))| name.len())
        .map(|(i, _)| i)
}

/// Whether a history name (a series' `test_name` or `network_name`) belongs to the case
/// `test_id` / `case_name` (the long CSV's naming); the longest matching case name should win.
pub fn belongs(name: &str, test_id: &str, case_name: &str) -> bool {
    if name == test_id || (!case_name.is_empty() && name == case_name) {
        return true;
    }
    if case_name.is_empty() {
        return false;
    }
    // `perf_sanity[<case>-<server>-<client>]_bs:N_con:C` (results::writers::long_csv).
    name.contains(&format!("[{case_name}-")) || name.contains(&format!("[{case_name}]"))
}

impl ReportData {
    /// Build the report of `run_dirs` (run directories, `perf-run extract` output directories
    /// or `summary.json` files), with the history `series` and their `judgements` (both may be
    /// empty). With `series` and `judgements` both empty there is no history section; pass
    /// them through [`ReportData::with_history`] to say "history was asked for but is empty".
    pub fn from_runs(
        run_dirs: &[PathBuf],
        series: &[Series],
        judgements: &[Judgement],
    ) -> Result<ReportData, UserError> {
        let want_history = !series.is_empty() || !judgements.is_empty();
        Self::build(run_dirs, want_history.then_some((series, judgements)))
    }

    /// Like [`ReportData::from_runs`], but always with a history section (empty when there is
    /// no series), so the page says that no history was found.
    pub fn with_history(
        run_dirs: &[PathBuf],
        series: &[Series],
        judgements: &[Judgement],
    ) -> Result<ReportData, UserError> {
        Self::build(run_dirs, Some((series, judgements)))
    }

    fn build(
        run_dirs: &[PathBuf],
        history: Option<(&[Series], &[Judgement])>,
    ) -> Result<ReportData, UserError> {
        if run_dirs.is_empty() {
            return Err(UserError(
                "there is no run to report on: give a run id or a run directory.".into(),
            ));
        }
        let mut runs = Vec::new();
        let mut units = BTreeMap::new();
        let mut cases: Vec<CaseEntry> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut notes = Vec::new();
        let n_runs = run_dirs.len();
        for (ri, dir) in run_dirs.iter().enumerate() {
            let (path, s) = read_summary(dir)?;
            let run_dir = if path.parent().and_then(Path::file_name) == Some("results".as_ref()) {
                path.parent()
                    .and_then(Path::parent)
                    .unwrap_or(dir)
                    .to_path_buf()
            } else {
                dir.clone()
            };
            let plans = read_plans(&run_dir);
            for (k, v) in &s.units {
                if let Some(u) = v.as_str() {
                    units.insert(k.clone(), u.to_string());
                }
            }
            let si = &s.run.sysinfo;
            let host_gpus = si
                .get("gpu_count")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            let mut images = BTreeSet::new();
            let mut nodes = BTreeSet::new();
            for c in &s.cases {
                let plan = plans.get(&c.test_id).cloned().unwrap_or_default();
                let summary_gpus: Option<u32> = if c.servers.is_empty() {
                    None
                } else {
                    c.servers.iter().map(|s| s.gpus).sum()
                };
                let (gpu_count, gpu_source) = if let Some(g) = plan.gpus {
                    (Some(g), Some("plan"))
                } else if let Some(g) = summary_gpus {
                    (Some(g), Some("summary"))
                } else if let Some(g) = host_gpus {
                    (Some(g), Some("host"))
                } else {
                    (None, None)
                };
                if let Some(i) = &plan.image {
                    images.insert(i.clone());
                }
                if let Some(n) = plan.nodes {
                    nodes.insert(n);
                }
                let mut clients: Vec<ClientEntry> = c
                    .clients
                    .iter()
                    .map(|cl| ClientEntry {
                        server: cl.server.clone(),
                        client: cl.client.clone(),
                        validity: cl.validity.clone(),
                        reasons: cl.reasons.clone(),
                        concurrency: cl.concurrency,
                        iterations: cl.iterations,
                        isl: cl.isl,
                        osl: cl.osl,
                        metrics: cl
                            .metrics
                            .iter()
                            .map(|(k, v)| MetricValue {
                                name: k.clone(),
                                value: v.as_f64(),
                            })
                            .collect(),
                    })
                    .collect();
                // Server by server, each by rising concurrency (the order of the charts).
                clients.sort_by(|a, b| {
                    (a.server.as_str(), a.concurrency.unwrap_or(u64::MAX))
                        .cmp(&(b.server.as_str(), b.concurrency.unwrap_or(u64::MAX)))
                });
                let entry = CaseRun {
                    status: c.status.clone(),
                    failure_class: c.failure_class.clone(),
                    reasons: c.reasons.clone(),
                    warnings: c.warnings.clone(),
                    gpu_count,
                    gpu_count_source: gpu_source.map(str::to_string),
                    nodes: plan.nodes,
                    config_name: plan.config_name.clone(),
                    config_hash: plan.config_hash.clone(),
                    container_image: plan.image.clone(),
                    clients,
                };
                let ci = *index.entry(c.test_id.clone()).or_insert_with(|| {
                    cases.push(CaseEntry {
                        test_id: c.test_id.clone(),
                        case_name: c.case_name.clone(),
                        mode: c.mode.clone(),
                        runs: vec![None; n_runs],
                        verdicts: vec![],
                    });
                    cases.len() - 1
                });
                if cases[ci].runs[ri].is_some() {
                    notes.push(format!(
                        "{} lists case {} twice; the report shows its first entry.",
                        path.display(),
                        c.test_id
                    ));
                } else {
                    cases[ci].runs[ri] = Some(entry);
                }
            }
            let mut totals = s.totals.clone();
            if totals.cases == 0 && !s.cases.is_empty() {
                totals = count_totals(&s.cases);
            }
            runs.push(RunEntry {
                run_id: known(s.run.run_id.clone()).unwrap_or_else(|| {
                    run_dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| run_dir.display().to_string())
                }),
                dir: run_dir.display().to_string(),
                started: s.run.started,
                finished: s.run.finished,
                cluster: known(s.run.cluster.clone()),
                hostname: known(s.run.hostname.clone()),
                user: known(s.run.user.clone()),
                gpu: sysinfo_text(si, "gpu"),
                host_gpu_count: host_gpus,
                driver: sysinfo_text(si, "driver"),
                cuda: sysinfo_text(si, "cuda"),
                tensorrt: sysinfo_text(si, "tensorrt"),
                trtllm_version: sysinfo_text(si, "trtllm_installed_version")
                    .or_else(|| sysinfo_text(si, "trtllm_checkout_version")),
                trtllm_commit: known(s.run.trtllm_commit.clone()),
                trtllm_branch: known(s.run.trtllm_branch.clone()),
                container_image: match images.len() {
                    0 => None,
                    1 => images.into_iter().next(),
                    n => Some(format!("{n} images")),
                },
                nodes: range_text(&nodes),
                build_url: known(s.run.build_url.clone()),
                totals,
            });
        }

        let pareto = pareto_groups(&cases, &mut notes);
        let provenance_diff = (runs.len() > 1).then(|| provenance_diff(&runs, &cases));
        if let Some(d) = &provenance_diff
            && d.common_cases == 0
        {
            notes.push(
                "The runs have no case in common: they are shown side by side, but no number is compared."
                    .into(),
            );
        }

        let history = history
            .map(|(series, judgements)| attach_history(&mut cases, series, judgements, &mut notes));

        Ok(ReportData {
            schema: SCHEMA.into(),
            version: VERSION,
            generator: format!("perf-run {}", env!("CARGO_PKG_VERSION")),
            generated_at: generated_at(),
            runs,
            units,
            cases,
            pareto,
            provenance_diff,
            history,
            notes,
        })
    }

    /// The case entry of a test id.
    pub fn case(&self, test_id: &str) -> Option<&CaseEntry> {
        self.cases.iter().find(|c| c.test_id == test_id)
    }
}

fn count_totals(cases: &[SummaryCase]) -> Totals {
    let mut t = Totals {
        cases: cases.len(),
        ..Totals::default()
    };
    for c in cases {
        match c.status.as_str() {
            "passed" => t.passed += 1,
            "failed" => t.failed += 1,
            "invalid" => t.invalid += 1,
            "skipped" => t.skipped += 1,
            _ => t.not_run += 1,
        }
    }
    t
}

/// Pareto points grouped by GPU count, with each run's frontier marked.
fn pareto_groups(cases: &[CaseEntry], notes: &mut Vec<String>) -> Vec<ParetoGroup> {
    let mut groups: BTreeMap<u32, Vec<ParetoPoint>> = BTreeMap::new();
    let mut no_gpus = BTreeSet::new();
    let mut from_host = false;
    for case in cases {
        for (ri, cr) in case.runs.iter().enumerate() {
            let Some(cr) = cr else { continue };
            for cl in &cr.clients {
                let (Some(tput), Some(tpot)) =
                    (cl.metric(PARETO_THROUGHPUT), cl.metric(PARETO_TPOT))
                else {
                    continue;
                };
                if tpot <= 0.0 {
                    continue;
                }
                let Some(gpus) = cr.gpu_count.filter(|g| *g > 0) else {
                    no_gpus.insert(case.test_id.clone());
                    continue;
                };
                from_host |= cr.gpu_count_source.as_deref() == Some("host");
                groups.entry(gpus).or_default().push(ParetoPoint {
                    run: ri,
                    test_id: case.test_id.clone(),
                    client: cl.label(),
                    concurrency: cl.concurrency,
                    tokens_per_s_per_user: 1000.0 / tpot,
                    output_tokens_per_s_per_gpu: tput / f64::from(gpus),
                    valid: cl.valid(),
                    on_frontier: false,
                });
            }
        }
    }
    if !no_gpus.is_empty() {
        notes.push(format!(
            "{} case(s) are not in the Pareto chart because their GPU count is unknown (no plan.json and no sysinfo/gpu.txt): {}.",
            no_gpus.len(),
            no_gpus.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if from_host {
        notes.push(
            "Some GPU counts come from the host's GPU list (sysinfo/gpu.txt), not from a plan: they count the GPUs of one node."
                .into(),
        );
    }
    groups
        .into_iter()
        .map(|(gpu_count, mut points)| {
            mark_frontier(&mut points);
            ParetoGroup { gpu_count, points }
        })
        .collect()
}

/// Mark, per run, the valid points no other valid point of that run beats on both axes.
fn mark_frontier(points: &mut [ParetoPoint]) {
    let runs: BTreeSet<usize> = points.iter().map(|p| p.run).collect();
    for run in runs {
        let mut idx: Vec<usize> = (0..points.len())
            .filter(|&i| points[i].run == run && points[i].valid)
            .collect();
        // Highest interactivity first; a point is on the frontier when its throughput beats
        // every point with at least its interactivity.
        idx.sort_by(|&a, &b| {
            points[b]
                .tokens_per_s_per_user
                .total_cmp(&points[a].tokens_per_s_per_user)
                .then(
                    points[b]
                        .output_tokens_per_s_per_gpu
                        .total_cmp(&points[a].output_tokens_per_s_per_gpu),
                )
        });
        let mut best = f64::NEG_INFINITY;
        for i in idx {
            if points[i].output_tokens_per_s_per_gpu > best {
                points[i].on_frontier = true;
                best = points[i].output_tokens_per_s_per_gpu;
            }
        }
    }
}

fn provenance_diff(runs: &[RunEntry], cases: &[CaseEntry]) -> ProvenanceDiff {
    let common: Vec<&CaseEntry> = cases
        .iter()
        .filter(|c| c.runs.iter().all(Option::is_some))
        .collect();
    let mut rows = Vec::new();
    let mut row = |field: &str, must_match: bool, values: Vec<Option<String>>| {
        let first = &values[0];
        let differs = values.iter().any(|v| v != first);
        rows.push(ProvenanceRow {
            field: field.into(),
            values,
            differs,
            must_match,
        });
    };
    let per_run = |f: &dyn Fn(&RunEntry) -> Option<String>| runs.iter().map(f).collect();
    row(
        "container image",
        false,
        per_run(&|r| r.container_image.clone()),
    );
    row(
        "TensorRT-LLM version",
        false,
        per_run(&|r| r.trtllm_version.clone()),
    );
    row(
        "TensorRT-LLM commit",
        false,
        per_run(&|r| r.trtllm_commit.clone()),
    );
    row(
        "TensorRT-LLM branch",
        false,
        per_run(&|r| r.trtllm_branch.clone()),
    );
    row("TensorRT", false, per_run(&|r| r.tensorrt.clone()));
    row("GPU", true, per_run(&|r| r.gpu.clone()));
    row("cluster", true, per_run(&|r| r.cluster.clone()));
    row("nodes", true, per_run(&|r| r.nodes.clone()));
    row("driver", false, per_run(&|r| r.driver.clone()));
    row("CUDA", false, per_run(&|r| r.cuda.clone()));
    // Per case facts over the common cases: the GPU count and the config hash.
    let case_fact = |f: &dyn Fn(&CaseRun) -> Option<String>| -> Vec<Option<String>> {
        (0..runs.len())
            .map(|ri| {
                let vals: BTreeSet<String> = common
                    .iter()
                    .filter_map(|c| c.runs[ri].as_ref().and_then(f))
                    .collect();
                match vals.len() {
                    0 => None,
                    1 => vals.into_iter().next(),
                    _ => Some(
                        vals.into_iter()
                            .map(|v| short(&v))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                }
            })
            .collect()
    };
    row(
        "GPUs per case",
        true,
        case_fact(&|c| c.gpu_count.map(|g| g.to_string())),
    );
    // The config hash is compared case by case: a differing config in any common case makes
    // the comparison unfair for that case.
    let changed_configs: Vec<&str> = common
        .iter()
        .filter(|c| {
            let hashes: Vec<Option<&String>> = c
                .runs
                .iter()
                .map(|r| r.as_ref().and_then(|r| r.config_hash.as_ref()))
                .collect();
            hashes.iter().all(Option::is_some) && hashes.iter().any(|h| *h != hashes[0])
        })
        .map(|c| c.test_id.as_str())
        .collect();
    let hash_known = common.iter().any(|c| {
        c.runs
            .iter()
            .all(|r| r.as_ref().is_some_and(|r| r.config_hash.is_some()))
    });
    rows.push(ProvenanceRow {
        field: "configs as planned".into(),
        values: (0..runs.len())
            .map(|_| {
                if !hash_known {
                    None
                } else if changed_configs.is_empty() {
                    Some("same content in every common case".into())
                } else {
                    Some(format!("{} case(s) differ", changed_configs.len()))
                }
            })
            .collect(),
        differs: !changed_configs.is_empty(),
        must_match: true,
    });
    let unfair: Vec<&str> = rows
        .iter()
        .filter(|r| r.must_match && r.differs)
        .map(|r| r.field.as_str())
        .collect();
    let changed: Vec<&str> = rows
        .iter()
        .filter(|r| !r.must_match && r.differs)
        .map(|r| r.field.as_str())
        .collect();
    let fair = unfair.is_empty() && !common.is_empty();
    let verdict = if common.is_empty() {
        "Not comparable: the runs have no case in common.".to_string()
    } else if !unfair.is_empty() {
        format!(
            "Not a fair comparison: {} differ(s) between the runs, so a difference in the numbers may come from the setup rather than the software.",
            unfair.join(", ")
        )
    } else if changed.is_empty() {
        format!(
            "Fair comparison of {} common case(s): same hardware, cluster and configs, and no software difference was recorded (differences are noise).",
            common.len()
        )
    } else {
        format!(
            "Fair comparison of {} common case(s): same hardware, cluster and configs; what changed is {}.",
            common.len(),
            changed.join(", ")
        )
    };
    ProvenanceDiff {
        rows,
        fair,
        verdict,
        common_cases: common.len(),
    }
}

fn short(s: &str) -> String {
    if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        s[..12].to_string()
    } else {
        s.to_string()
    }
}

fn attach_history(
    cases: &mut [CaseEntry],
    series: &[Series],
    judgements: &[Judgement],
    notes: &mut Vec<String>,
) -> HistorySection {
    // The longest matching case name wins: `aggr_upload-cfg` must not take the series of
    // `aggr_upload-cfg-srv` (whose names also start with `[aggr_upload-cfg-`).
    let case_of = |test_name: &str, network_name: &str, cases: &[CaseEntry]| {
        owner_of(
            test_name,
            network_name,
            cases
                .iter()
                .map(|c| (c.test_id.as_str(), c.case_name.as_str())),
        )
    };
    let by_key: HashMap<crate::history::SeriesKey, &Judgement> =
        judgements.iter().map(|j| (j.key(), j)).collect();
    let mut with_series = BTreeSet::new();
    let mut entries = Vec::new();
    for s in series {
        let ci = case_of(&s.key.test_name, &s.key.network_name, cases);
        let judgement = by_key.get(&s.key).map(|j| (*j).clone());
        if judgement.is_some() {
            with_series.insert(s.key.clone());
        }
        entries.push(HistoryEntry {
            test_id: ci.map(|i| cases[i].test_id.clone()),
            series: s.clone(),
            judgement,
        });
    }
    let mut unmatched = 0usize;
    for j in judgements {
        match case_of(&j.test_name, &j.network_name, cases) {
            Some(ci) => cases[ci].verdicts.push(j.clone()),
            None => unmatched += 1,
        }
    }
    for c in cases.iter_mut() {
        c.verdicts
            .sort_by_key(|j| (verdict_rank(j.verdict), !j.gating));
    }
    if unmatched > 0 {
        notes.push(format!(
            "{unmatched} verdict(s) belong to series of no case in these runs; they are listed under History."
        ));
    }
    // Cases first in report order, then the rest; within a case by metric.
    let order: HashMap<&str, usize> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| (c.test_id.as_str(), i))
        .collect();
    entries.sort_by(|a, b| {
        let ka = a
            .test_id
            .as_deref()
            .and_then(|t| order.get(t))
            .copied()
            .unwrap_or(usize::MAX);
        let kb = b
            .test_id
            .as_deref()
            .and_then(|t| order.get(t))
            .copied()
            .unwrap_or(usize::MAX);
        ka.cmp(&kb).then_with(|| a.series.key.cmp(&b.series.key))
    });
    HistorySection {
        judgements_without_series: judgements
            .iter()
            .filter(|j| !with_series.contains(&j.key()))
            .count(),
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(run: usize, x: f64, y: f64, valid: bool) -> ParetoPoint {
        ParetoPoint {
            run,
            test_id: "t".into(),
            client: "c".into(),
            concurrency: None,
            tokens_per_s_per_user: x,
            output_tokens_per_s_per_gpu: y,
            valid,
            on_frontier: false,
        }
    }

    #[test]
    fn frontier_keeps_only_undominated_valid_points_per_run() {
        let mut p = vec![
            pt(0, 10.0, 100.0, true),
            pt(0, 20.0, 80.0, true),
            pt(0, 15.0, 70.0, true),  // dominated by (20, 80)
            pt(0, 5.0, 200.0, false), // invalid: never on the frontier
            pt(1, 1.0, 1.0, true),    // another run: its own frontier
        ];
        mark_frontier(&mut p);
        let on: Vec<bool> = p.iter().map(|x| x.on_frontier).collect();
        assert_eq!(on, [true, true, false, false, true]);
    }

    #[test]
    fn series_names_match_their_case() {
        let id = "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]";
        assert!(belongs(
            "perf_sanity[aggr_upload-cfg-srv-srv-con8]_bs:0_con:8",
            id,
            "aggr_upload-cfg-srv"
        ));
        assert!(belongs(id, id, "aggr_upload-cfg-srv"));
        assert!(!belongs(
            "perf_sanity[aggr_upload-cfg-srv2-x]_bs:0_con:8",
            id,
            "aggr_upload-cfg-srv"
        ));
    }

    #[test]
    fn the_longest_case_name_takes_the_series() {
        let case = |name: &str| CaseEntry {
            test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
            case_name: name.into(),
            mode: "single-agg".into(),
            runs: vec![],
            verdicts: vec![],
        };
        let mut cases = vec![case("aggr_upload-cfg"), case("aggr_upload-cfg-srv")];
        let name = "perf_sanity[aggr_upload-cfg-srv-srv-con8]_bs:0_con:8";
        let j: Judgement = serde_json::from_value(serde_json::json!({
            "test_name": name, "network_name": name, "metric": "token_throughput",
            "gpu_type": "GB200", "gpu_count": 4, "cluster": "c", "verdict": "ok",
            "gating": true, "latest": null, "baseline": null, "delta_pct": null,
            "threshold_pct": 5.0, "threshold_source": "", "cv_pct": null, "n": 0,
            "baseline_from": null, "baseline_to": null, "change_points": [],
            "explanation": ""
        }))
        .unwrap();
        let mut notes = vec![];
        attach_history(&mut cases, &[], &[j], &mut notes);
        assert!(cases[0].verdicts.is_empty());
        assert_eq!(cases[1].verdicts.len(), 1);
        assert!(notes.is_empty());
    }

    #[test]
    fn no_run_is_a_sentence_not_a_panic() {
        let e = ReportData::from_runs(&[], &[], &[]).unwrap_err();
        assert!(e.0.contains("no run to report on"), "{}", e.0);
    }

    #[test]
    fn foreign_json_names_the_file_and_the_schema() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("summary.json"), r#"{"schema": "other"}"#).unwrap();
        let e = ReportData::from_runs(&[d.path().to_path_buf()], &[], &[]).unwrap_err();
        assert!(
            e.0.contains("summary.json") && e.0.contains("\"other\""),
            "{}",
            e.0
        );
        std::fs::write(d.path().join("summary.json"), "{\n  \"schema\": ").unwrap();
        let e = ReportData::from_runs(&[d.path().to_path_buf()], &[], &[]).unwrap_err();
        assert!(e.0.contains("line 2"), "{}", e.0);
        let empty = tempfile::tempdir().unwrap();
        let e = ReportData::from_runs(&[empty.path().to_path_buf()], &[], &[]).unwrap_err();
        assert!(e.0.contains("holds no summary.json"), "{}", e.0);
    }
}
