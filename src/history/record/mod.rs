//! Build a [`RunRecord`] from what a run leaves on disk, through the uploader's file contract
//! (`perfdb::plan`: the long CSV reader, session properties, `sysinfo/`, the run key), plus
//! the run directory's own files for provenance: `results/summary.json` (validity, failure
//! class, cluster, GPU), `run.json` (cluster, checkout) and `cases/*/plan.json` (config name,
//! config file, servers and clients, GPUs, nodes, container image).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::store::{CaseRecord, HistoryError, HistoryStore, Measurement, RunRecord};
use crate::perfdb::plan::{self, MeasuredRow, UploadPlan};
use crate::perfdb::{self, UploadOptions};

#[cfg(test)]
mod tests;

/// What was recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub run_key: String,
    pub rows: usize,
    pub invalid_rows: usize,
    pub path: PathBuf,
}

impl Recorded {
    /// "N measurement(s) (M not valid) of run KEY in the local history PATH".
    pub fn describe(&self) -> String {
        let invalid = if self.invalid_rows > 0 {
            format!(" ({} not valid)", self.invalid_rows)
        } else {
            String::new()
        };
        format!(
            "{} measurement(s){invalid} of run {} in the local history {}",
            self.rows,
            short_key(&self.run_key),
            self.path.display()
        )
    }
}

/// The first 12 characters of a derived (hex) run key; a given key as it is.
pub fn short_key(k: &str) -> &str {
    if k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()) {
        &k[..12]
    } else {
        k
    }
}

/// Record a collected run directory with the run values of the environment (as the upload
/// after `perf-run run` reads them).
pub async fn record_run_dir(
    store: &HistoryStore,
    run_dir: &Path,
) -> Result<Recorded, HistoryError> {
    let opts = UploadOptions {
        env: perfdb::runinfo::from_env(&crate::config::process_env),
        ..Default::default()
    };
    let rec = run_record_from_dir(run_dir, &opts)?;
    record(store, &rec).await
}

/// Record the run of an upload plan (from [`perfdb::plan_for_run_dir`] or
/// [`perfdb::plan_for_files`]) into the history at `path`.
pub async fn record_plan(
    path: &Path,
    plan: &UploadPlan,
    run_dir: Option<&Path>,
) -> Result<Recorded, HistoryError> {
    if plan.measured.is_empty() {
        return Err(HistoryError::NothingToRecord {
            what: format!(
                "{} has no data rows, only its header.",
                plan.metric_csv.display()
            ),
        });
    }
    let store = HistoryStore::open(path).await?;
    let rec = run_record_from_plan(plan, run_dir);
    let r = record(&store, &rec).await;
    store.close().await;
    r
}

/// The history step of `perf-run run`/`resume`, after the results are written: record the
/// run directory into [`super::default_path`]. Never fails the run: a problem is one warning
/// (and a run without a long CSV, e.g. nothing ran, records nothing).
pub async fn record_after_run(run_dir: &Path) -> Option<Recorded> {
    if !run_dir
        .join("results")
        .join("perf_script_test_results.csv")
        .is_file()
    {
        return None;
    }
    let path = super::default_path();
    let result = async {
        let opts = UploadOptions {
            env: perfdb::runinfo::from_env(&crate::config::process_env),
            ..Default::default()
        };
        let rec = run_record_from_dir(run_dir, &opts)?;
        if rec.measurements.is_empty() {
            return Ok(None);
        }
        let store = HistoryStore::open(&path).await?;
        let r = record(&store, &rec).await;
        store.close().await;
        r.map(Some)
    }
    .await;
    match result {
        Ok(None) => None,
        Ok(Some(r)) => {
            crate::output::detail(format!("Recorded {}.", r.describe()));
            Some(r)
        }
        Err(e) => {
            crate::output::warn(format!(
                "the run was not recorded into the local history {} ({}); the results are safe in {}, and `perf-run upload {}` records them later",
                path.display(),
                format!("{e:#}").trim_end_matches('.'),
                run_dir.join("results").display(),
                run_dir.display()
            ));
            None
        }
    }
}

/// Record a prepared run. A run without a single CSV row is refused (a user mistake: the
/// file has only its header).
pub async fn record(store: &HistoryStore, rec: &RunRecord) -> Result<Recorded, HistoryError> {
    if rec.measurements.is_empty() {
        return Err(HistoryError::NothingToRecord {
            what: format!(
                "the run {} has no measurement rows (the long CSV has only its header).",
                short_key(&rec.run_key)
            ),
        });
    }
    let rows = store.record(rec).await?;
    Ok(Recorded {
        run_key: rec.run_key.clone(),
        rows,
        invalid_rows: rec.measurements.iter().filter(|m| !m.valid).count(),
        path: store.path().to_path_buf(),
    })
}

/// The record of a run directory (flags in `opts` override, as for `perf-run upload RUN`).
pub fn run_record_from_dir(
    run_dir: &Path,
    opts: &UploadOptions,
) -> Result<RunRecord, perfdb::StoreError> {
    let plan = perfdb::plan_for_run_dir(run_dir, opts)?;
    Ok(run_record_from_plan(&plan, Some(run_dir)))
}

/// The record of the legacy upload flags (`--source-metric-csv F …`).
pub fn run_record_from_files(opts: &UploadOptions) -> Result<RunRecord, perfdb::StoreError> {
    let plan = perfdb::plan_for_files(opts)?;
    Ok(run_record_from_plan(&plan, None))
}

fn read_json(p: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(p).ok()?;
    serde_json::from_str(&text).ok()
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    match cur {
        Value::String(s) if !s.trim().is_empty() && s != crate::results::model::UNKNOWN => {
            Some(s.trim().to_string())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value, key: &str) -> Option<u32> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}

/// A value that says something: not empty and not the results stage's "unknown".
fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && !t.eq_ignore_ascii_case(crate::results::model::UNKNOWN))
        .then(|| t.to_string())
}

fn utc(naive: &str) -> Option<DateTime<Utc>> {
    plan::parse_time(naive).map(|t: NaiveDateTime| t.and_utc())
}

/// sha256 (hex) of the config file `plan.json` names, when it can be read now: its path as
/// planned (absolute, or relative to where perf-run runs), else under the checkout of
/// `run.json`.
fn config_hash(plan_json: &Value, run_json: Option<&Value>) -> Option<String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = text(plan_json, &["config_path"]) {
        candidates.push(PathBuf::from(p));
    }
    if let (Some(dir), Some(rel)) = (
        run_json.and_then(|r| text(r, &["trtllm_dir"])),
        text(plan_json, &["config_rel"]),
    ) {
        candidates.push(Path::new(&dir).join(rel));
    }
    candidates.into_iter().find_map(|p| {
        let bytes = std::fs::read(&p).ok()?;
        Some(hex::encode(Sha256::digest(&bytes)))
    })
}

fn container_image(plan_json: &Value) -> Option<String> {
    plan_json
        .get("srun_args")
        .and_then(Value::as_array)?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("--container-image="))
        .and_then(non_empty)
}

/// The cases of a run directory: `run.json`'s list, with `plan.json` and `summary.json`.
fn cases_of(run_dir: &Path, run_json: Option<&Value>, summary: Option<&Value>) -> Vec<CaseRecord> {
    let listed: Vec<Value> = run_json
        .and_then(|r| r.get("cases"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let summary_cases: Vec<Value> = summary
        .and_then(|s| s.get("cases"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for c in &listed {
        let Some(test_id) = text(c, &["test_id"]) else {
            continue;
        };
        let plan_json = text(c, &["case_dir"])
            .and_then(|d| read_json(&run_dir.join("cases").join(d).join("plan.json")))
            .unwrap_or(Value::Null);
        let sc = summary_cases
            .iter()
            .find(|s| text(s, &["test_id"]).as_deref() == Some(test_id.as_str()));
        let servers = plan_json.get("servers").and_then(Value::as_array);
        let (server_config, client_config) = match servers {
            Some(list) => {
                let mut clients = Vec::new();
                let bare: Vec<Value> = list
                    .iter()
                    .map(|s| {
                        let mut s = s.clone();
                        if let Some(obj) = s.as_object_mut()
                            && let Some(cl) = obj.remove("clients")
                        {
                            clients.extend(cl.as_array().cloned().unwrap_or_default());
                        }
                        s
                    })
                    .collect();
                (
                    serde_json::to_string(&bare).ok(),
                    serde_json::to_string(&clients).ok(),
                )
            }
            None => (None, None),
        };
        seen.insert(test_id.clone());
        out.push(CaseRecord {
            case_name: text(c, &["case_name"]).or_else(|| text(&plan_json, &["case_name"])),
            config_name: text(&plan_json, &["config_name"]),
            config_hash: config_hash(&plan_json, run_json),
            server_config,
            client_config,
            gpu_count: number(&plan_json, "total_gpus"),
            nodes: number(&plan_json, "total_nodes"),
            container_image: container_image(&plan_json),
            status: sc.and_then(|s| text(s, &["status"])),
            failure_class: sc.and_then(|s| text(s, &["failure_class"])),
            test_id,
        });
    }
    // summary.json of a run without run.json (e.g. `perf-run extract` output).
    for s in &summary_cases {
        let Some(test_id) = text(s, &["test_id"]) else {
            continue;
        };
        if seen.insert(test_id.clone()) {
            out.push(CaseRecord {
                case_name: text(s, &["case_name"]),
                status: text(s, &["status"]),
                failure_class: text(s, &["failure_class"]),
                test_id,
                ..Default::default()
            });
        }
    }
    out
}

/// The case a CSV row belongs to: the case whose name is the longest one the row's test or
/// network name contains (perf-run writes `…[<case name>-<client>]…`), or whose test id is it.
fn case_of(row: &MeasuredRow, cases: &[CaseRecord]) -> Option<usize> {
    cases
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            if c.test_id == row.test_name {
                return Some((usize::MAX, i));
            }
            let name = c.case_name.as_deref()?;
            (!name.is_empty() && (row.test_name.contains(name) || row.network_name.contains(name)))
                .then_some((name.len(), i))
        })
        .max()
        .map(|(_, i)| i)
}

fn measurement(
    row: &MeasuredRow,
    case: Option<usize>,
    cases: &[CaseRecord],
    gpu_type: &str,
    gpu_count: u32,
    cluster: &str,
) -> Measurement {
    let value = row
        .perf_metric
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite());
    let state = row.state.to_ascii_lowercase();
    let case_class = case.and_then(|i| cases[i].failure_class.clone());
    let (valid, failure_class, note) = match state.as_str() {
        "failed" => (
            false,
            case_class.or_else(|| Some("test_failed".into())),
            row.skip_reason.clone(),
        ),
        "invalid" => (
            false,
            case_class.or_else(|| Some("invalid_measurement".into())),
            row.skip_reason.clone(),
        ),
        _ => match value {
            Some(v) if v >= 0.0 => (true, None, row.skip_reason.clone()),
            Some(_) => (
                false,
                Some("invalid_measurement".into()),
                Some("the value is negative".into()),
            ),
            None => (
                false,
                Some("invalid_measurement".into()),
                row.skip_reason
                    .clone()
                    .or_else(|| Some("perf_metric is not a number".into())),
            ),
        },
    };
    Measurement {
        line: row.line,
        test_name: row.test_name.clone(),
        network_name: row.case_network.clone(),
        csv_network: row.network_name.clone(),
        metric: row.metric_type.to_ascii_lowercase(),
        metric_type: row.metric_type.clone(),
        value,
        raw_value: row.perf_metric.clone(),
        state: row.state.clone(),
        valid,
        failure_class,
        note,
        case,
        gpu_type: gpu_type.to_string(),
        gpu_count: case.and_then(|i| cases[i].gpu_count).unwrap_or(gpu_count),
        cluster: cluster.to_string(),
    }
}

/// Turn a plan built by [`plan::build_plan_all`] (and, for a run directory, its files) into
/// the history's record of the run.
pub fn run_record_from_plan(p: &UploadPlan, run_dir: Option<&Path>) -> RunRecord {
    let summary = run_dir
        .and_then(perfdb::summary::summary_path)
        .and_then(|s| read_json(&s));
    let run_json = run_dir.and_then(|d| read_json(&d.join("run.json")));
    let cases = run_dir
        .map(|d| cases_of(d, run_json.as_ref(), summary.as_ref()))
        .unwrap_or_default();
    let s = summary.as_ref().unwrap_or(&Value::Null);
    let r = &p.run;

    let gpu_type = non_empty(&r.gpu)
        .or_else(|| {
            text(s, &["run", "sysinfo", "gpu"]).map(|g| crate::trtperf::rules::gpu_name(&g))
        })
        .unwrap_or_default();
    let run_gpu_count = s
        .get("run")
        .and_then(|x| x.get("sysinfo"))
        .and_then(|x| number(x, "gpu_count"))
        .or_else(|| {
            let counts: BTreeSet<u32> = cases.iter().filter_map(|c| c.gpu_count).collect();
            (counts.len() == 1).then(|| counts.into_iter().next().unwrap_or(0))
        })
        .unwrap_or(0);
    let cluster = text(s, &["run", "cluster"])
        .or_else(|| {
            run_json
                .as_ref()
                .and_then(|j| text(j, &["cluster", "name"]))
        })
        .unwrap_or_default();

    let measurements: Vec<Measurement> = p
        .measured
        .iter()
        .map(|row| {
            let case = case_of(row, &cases);
            measurement(row, case, &cases, &gpu_type, run_gpu_count, &cluster)
        })
        .collect();

    let test_ids: Vec<String> = if cases.is_empty() {
        p.measured
            .iter()
            .map(|m| m.test_name.clone())
            .filter(|t| !t.is_empty())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        cases.iter().map(|c| c.test_id.clone()).collect()
    };
    let start_time = r
        .start_time
        .as_deref()
        .and_then(utc)
        .or_else(|| {
            text(s, &["run", "started"])
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
        })
        .unwrap_or_else(Utc::now);
    let container_image = cases.iter().find_map(|c| c.container_image.clone());
    RunRecord {
        run_key: p.run_key.clone(),
        run_id: text(s, &["run", "run_id"])
            .or_else(|| run_json.as_ref().and_then(|j| text(j, &["run_id"]))),
        origin: if run_dir.is_some() {
            "run_dir".into()
        } else {
            "upload_flags".into()
        },
        start_time,
        end_time: r.end_time.as_deref().and_then(utc),
        commit: non_empty(&r.cl).or_else(|| text(s, &["run", "trtllm_commit"])),
        commit_time: r
            .commit_time
            .as_deref()
            .and_then(utc)
            .or_else(|| text(s, &["run", "commit_time"]).and_then(|t| utc(&t))),
        trtllm_version: non_empty(&r.trtllm)
            .or_else(|| text(s, &["run", "sysinfo", "trtllm_installed"])),
        tensorrt_version: non_empty(&r.tensorrt),
        gpu_type,
        gpu_count: run_gpu_count,
        cluster,
        container_image,
        link: non_empty(&r.link).or_else(|| text(s, &["run", "build_url"])),
        hostname: non_empty(&r.hostname).or_else(|| text(s, &["run", "hostname"])),
        driver: non_empty(&r.driver),
        cuda: non_empty(&r.cuda),
        os: non_empty(&r.os),
        cpu: non_empty(&r.cpu),
        test_ids,
        cases,
        measurements,
    }
}
