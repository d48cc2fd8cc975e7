use crate::error::escape_for_message;
use crate::report::ReportError;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

// ---------------------------------------------------------------------------------------
// Reading summary.json (tolerant: unknown fields ignored, missing ones default).

pub(super) use crate::results::writers::summary::{SummaryCase, SummaryFile};

/// What a case's `plan.json` adds: GPUs, nodes, config, image.
#[derive(Debug, Clone, Default)]
pub(super) struct PlanFacts {
    pub(super) gpus: Option<u32>,
    pub(super) nodes: Option<u32>,
    pub(super) config_name: Option<String>,
    pub(super) config_hash: Option<String>,
    pub(super) image: Option<String>,
}

pub(super) fn known(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != crate::results::model::UNKNOWN)
}

pub(super) fn sysinfo_text(m: &BTreeMap<String, Value>, key: &str) -> Option<String> {
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

pub(super) fn read_summary(dir: &Path) -> Result<(PathBuf, SummaryFile), ReportError> {
    let path = summary_of(dir).ok_or_else(|| ReportError::NoSummary {
        dir: dir.to_path_buf(),
    })?;
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Read {
        path: path.clone(),
        source,
    })?;
    let file: SummaryFile = serde_json::from_str(&text).map_err(|e| ReportError::NotJson {
        path: path.clone(),
        line: e.line(),
        column: e.column(),
        message: escape_for_message(&e.to_string()),
    })?;
    match file.schema.as_deref() {
        Some("perf-run.summary") => {}
        other => {
            return Err(ReportError::NotSummary {
                path,
                schema: other
                    .map(|s| format!("{:?}", escape_for_message(s)))
                    .unwrap_or_else(|| "missing".into()),
            });
        }
    }
    if let Some(version) = file.version
        && version > 1
    {
        return Err(ReportError::TooNew { path, version });
    }
    Ok((path, file))
}

/// `cases/*/plan.json` of a run directory, by test id.
pub(super) fn read_plans(run_dir: &Path) -> HashMap<String, PlanFacts> {
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
pub(super) fn range_text(values: &BTreeSet<u32>) -> Option<String> {
    let lo = values.first()?;
    let hi = values.last()?;
    Some(if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    })
}

pub(super) fn generated_at() -> DateTime<Utc> {
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
