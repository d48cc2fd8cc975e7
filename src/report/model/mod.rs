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

use crate::history::Series;
use crate::judge::{Judgement, Verdict};
use crate::report::ReportError;

mod read;
pub use read::*;
mod derive;
use derive::*;
#[cfg(test)]
mod tests;

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

/// Cases by status: `summary.json`'s own `totals`.
pub use crate::results::writers::summary::SummaryTotals as Totals;

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

impl ReportData {
    /// Build the report of `run_dirs` (run directories, `perf-run extract` output directories
    /// or `summary.json` files), with the history `series` and their `judgements` (both may be
    /// empty). With `series` and `judgements` both empty there is no history section; pass
    /// them through [`ReportData::with_history`] to say "history was asked for but is empty".
    pub fn from_runs(
        run_dirs: &[PathBuf],
        series: &[Series],
        judgements: &[Judgement],
    ) -> Result<ReportData, ReportError> {
        let want_history = !series.is_empty() || !judgements.is_empty();
        Self::build(run_dirs, want_history.then_some((series, judgements)))
    }

    /// Like [`ReportData::from_runs`], but always with a history section (empty when there is
    /// no series), so the page says that no history was found.
    pub fn with_history(
        run_dirs: &[PathBuf],
        series: &[Series],
        judgements: &[Judgement],
    ) -> Result<ReportData, ReportError> {
        Self::build(run_dirs, Some((series, judgements)))
    }

    fn build(
        run_dirs: &[PathBuf],
        history: Option<(&[Series], &[Judgement])>,
    ) -> Result<ReportData, ReportError> {
        if run_dirs.is_empty() {
            return Err(ReportError::NoRun);
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
