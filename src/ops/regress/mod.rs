//! `perf-run regress`: the verdicts of the history (`crate::judge`) for the newest point of
//! every series, or for one run as it was judged when it ran; `--accept` records that a change
//! is the new normal. Also the pieces `perf-run compare` shares: opening both history sources
//! and resolving a RUN argument (run directory, run id or run key).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::cli::RegressArgs;
use crate::cli::upload::DbArgs;
use crate::config::kexpr::KExpr;
use crate::error::{Exit, UserError, escape_for_message};
use crate::history::record::short_key;
use crate::history::{
    self, Direction, HistoryStore, Point, Provenance, RunRecord, Series, SeriesFilter, SeriesKey,
};
use crate::judge::{JudgeOptions, Stage, Verdict, fails_gate, judge_all};
use crate::output;
use crate::perfdb::settings::DbOverrides;
use crate::perfdb::{self, DbSettings, UploadOptions};

mod text;
pub use text::*;
mod accept;
use accept::*;
#[cfg(test)]
mod tests;

/// The two history sources a command reads: the local store (when its file exists) and
/// TRT_perf (when a database host is configured and `--local-only` is not given).
pub struct Sources {
    pub path: PathBuf,
    pub store: Option<HistoryStore>,
    pub db: Option<DbSettings>,
    /// No run is recorded locally (or there is no file).
    pub local_empty: bool,
}

impl Sources {
    /// Open the history of `$PERF_RUN_HOME` for reading (never creates it). A foreign file is
    /// one sentence (exit 2).
    pub async fn open(local_only: bool, db_args: &DbArgs) -> Result<Sources> {
        let db = if local_only {
            None
        } else {
            Some(DbSettings::resolve(
                &DbOverrides::try_from(db_args)?,
                &crate::config::process_env,
            )?)
        };
        let db = db.filter(|d| d.host.is_some());
        let path = history::default_path();
        let store = HistoryStore::open_if_exists(&path).await?;
        let local_empty = match &store {
            Some(s) => s.is_empty().await?,
            None => true,
        };
        Ok(Sources {
            path,
            store,
            db,
            local_empty,
        })
    }

    /// Neither source has anything to read.
    pub fn is_empty(&self) -> bool {
        self.local_empty && self.db.is_none()
    }

    /// The series passing `filter` from both sources; a TRT_perf failure is one warning.
    pub async fn read(&self, filter: &SeriesFilter) -> Result<Vec<Series>> {
        let read = history::read_series(self.store.as_ref(), self.db.as_ref(), filter).await?;
        if let Some(e) = &read.trt_perf_error {
            output::warn(format!(
                "The TRT_perf database could not be read, so only the local history is used: {}",
                e.trim_end()
            ));
        }
        Ok(read.series)
    }

    /// The run keys of the local history, newest first.
    pub async fn run_keys(&self) -> Result<Vec<String>> {
        match &self.store {
            Some(s) => Ok(s.run_keys().await?),
            None => Ok(Vec::new()),
        }
    }

    /// Why nothing matched `filter`: the closest metric names when `--metric` names none that
    /// exists, else "no series matches -k …". `then` ends the sentence ("so nothing was judged").
    pub async fn no_match(
        &self,
        filter: &SeriesFilter,
        k: Option<&str>,
        run: Option<&str>,
        then: &str,
    ) -> anyhow::Error {
        if let Some(m) = &filter.metric {
            let mut known = match &self.store {
                Some(s) => s.metrics().await.unwrap_or_default(),
                None => Vec::new(),
            };
            if self.db.is_some() {
                let all = SeriesFilter {
                    metric: None,
                    ..filter.clone()
                };
                if let Ok(r) = history::read_series(None, self.db.as_ref(), &all).await {
                    known.extend(r.series.into_iter().map(|s| s.key.metric));
                }
            }
            known.sort();
            known.dedup();
            if !known.contains(m) {
                return UserError(crate::ops::history::no_such_metric(m, &known, &self.path))
                    .into();
            }
        }
        let what = match (k, &filter.metric) {
            (Some(k), Some(m)) => format!("-k `{}` with metric {m}", escape_for_message(k)),
            (Some(k), None) => format!("-k `{}`", escape_for_message(k)),
            (None, Some(m)) => format!("metric {m}"),
            (None, None) => "this selection".to_string(),
        };
        UserError(format!(
            "No series {}matches {what} in the history {}, {then}; `perf-run history` lists the series.",
            run.map(|r| format!("that run {r} measured "))
                .unwrap_or_default(),
            self.path.display()
        ))
        .into()
    }
}

/// `-k EXPR` parsed, with the sentence `perf-run history` gives for a bad one.
pub fn parse_k(k: Option<&str>) -> Result<Option<KExpr>> {
    match k {
        Some(k) => Ok(Some(KExpr::parse(k).map_err(|e| {
            UserError(format!(
                "The -k expression is not valid: {}.",
                e.to_string().trim_end_matches('.')
            ))
        })?)),
        None => Ok(None),
    }
}

/// `--metric` trimmed; empty = none.
pub fn clean_metric(m: Option<&str>) -> Option<String> {
    m.map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_ascii_lowercase)
}

/// Where a RUN argument's measurements come from.
#[derive(Debug, Clone)]
pub enum RunSource {
    /// A run directory: its results, read directly (`record`), and whether the history holds
    /// the same run key.
    Dir {
        root: PathBuf,
        record: Box<RunRecord>,
        recorded: bool,
    },
    /// A run key of the local history (e.g. a `perf-run upload --source-metric-csv` upload).
    Key,
}

/// A RUN argument resolved.
#[derive(Debug, Clone)]
pub struct ResolvedRun {
    /// How sentences name the run: the run id, or the first 12 characters of the key.
    pub label: String,
    pub run_key: String,
    pub source: RunSource,
}

/// Resolve RUN: a run directory or a run id under the runs home (as `perf-run status` reads
/// it), a directory holding `results/perf_script_test_results.csv` without a journal, else a
/// run key of the local history or a unique prefix of one (at least 6 characters).
pub async fn resolve_run(arg: &str, sources: &Sources) -> Result<ResolvedRun> {
    let home = crate::journal::runs_home(&crate::config::process_env);
    let trimmed = arg.trim();
    if !trimmed.is_empty()
        && (Path::new(trimmed).join("run.json").is_file()
            || home.join(trimmed).join("run.json").is_file())
    {
        let rd = crate::journal::find_run(Some(trimmed))?;
        // The run values of the environment, as the history step after `perf-run run` reads
        // them, so the key is the one that step recorded.
        let opts = UploadOptions {
            env: perfdb::runinfo::from_env(&crate::config::process_env),
            ..Default::default()
        };
        let record = history::record::run_record_from_dir(&rd.root, &opts)?;
        let recorded = sources.run_keys().await?.contains(&record.run_key);
        return Ok(ResolvedRun {
            label: rd.run_id.clone(),
            run_key: record.run_key.clone(),
            source: RunSource::Dir {
                root: rd.root,
                record: Box::new(record),
                recorded,
            },
        });
    }
    // A directory with results but no journal (copied results, an archived Jenkins workspace).
    let dir = Path::new(trimmed);
    if !trimmed.is_empty()
        && dir
            .join("results")
            .join("perf_script_test_results.csv")
            .is_file()
    {
        let opts = UploadOptions {
            env: perfdb::runinfo::from_env(&crate::config::process_env),
            ..Default::default()
        };
        let record = history::record::run_record_from_dir(dir, &opts)?;
        let recorded = sources.run_keys().await?.contains(&record.run_key);
        let label = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| trimmed.to_string());
        return Ok(ResolvedRun {
            label,
            run_key: record.run_key.clone(),
            source: RunSource::Dir {
                root: dir.to_path_buf(),
                record: Box::new(record),
                recorded,
            },
        });
    }
    let keys = sources.run_keys().await?;
    let lower = trimmed.to_ascii_lowercase();
    let found: Vec<&String> = match keys.iter().find(|k| k.as_str() == trimmed) {
        Some(k) => vec![k],
        None if lower.len() >= 6 => keys.iter().filter(|k| k.starts_with(&lower)).collect(),
        None => Vec::new(),
    };
    match found.as_slice() {
        [k] => Ok(ResolvedRun {
            label: short_key(k).to_string(),
            run_key: (*k).clone(),
            source: RunSource::Key,
        }),
        [] => Err(UserError(format!(
            "There is no run `{}`: it is not a run directory, not a run id under {}, and no run key of the history {} {} it (`perf-run history --json` shows the run keys of the points).",
            escape_for_message(arg),
            home.display(),
            sources.path.display(),
            if sources.local_empty {
                "(which is empty) matches"
            } else {
                "starts with"
            }
        ))
        .into()),
        many => Err(UserError(format!(
            "The run key prefix `{}` matches {} runs of the history ({}, …); give more characters.",
            escape_for_message(arg),
            many.len(),
            many.iter()
                .take(2)
                .map(|k| short_key(k).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()),
    }
}

/// The points of a run read from its directory (as the history would record them): one per
/// measurement with a numeric value, with the provenance of its case.
pub fn record_points(rec: &RunRecord) -> Vec<(SeriesKey, Point)> {
    rec.measurements
        .iter()
        .filter_map(|m| {
            let value = m.value?;
            let case = m.case.and_then(|i| rec.cases.get(i));
            let provenance = Provenance {
                config_hash: case.and_then(|c| c.config_hash.clone()),
                config_name: case.and_then(|c| c.config_name.clone()),
                container_image: case
                    .and_then(|c| c.container_image.clone())
                    .or_else(|| rec.container_image.clone()),
                trtllm_version: rec.trtllm_version.clone(),
                nodes: case.and_then(|c| c.nodes),
            };
            Some((
                m.key(),
                Point {
                    time: rec.start_time,
                    value,
                    commit: rec.commit.clone(),
                    commit_time: rec.commit_time,
                    run_key: rec.run_key.clone(),
                    valid: m.valid,
                    failure_class: m.failure_class.clone(),
                    source: "run_dir".to_string(),
                    provenance,
                },
            ))
        })
        .collect()
}

/// The series of the keys `run` measured (passing `filter`), and the run's start time.
///
/// A run the history holds is read from it. A run directory whose key the history does not
/// hold (not recorded yet, or recorded with other run values of the environment) adds its own
/// points to the history's series; history points at the run's exact start time are taken
/// for the same run under another key and left out.
pub async fn series_of_run(
    run: &ResolvedRun,
    sources: &Sources,
    filter: &SeriesFilter,
) -> Result<(Vec<Series>, Option<DateTime<Utc>>)> {
    match &run.source {
        RunSource::Dir {
            record,
            recorded: false,
            ..
        } => {
            let start = record.start_time;
            let mut own: BTreeMap<SeriesKey, Vec<Point>> = BTreeMap::new();
            for (k, p) in record_points(record) {
                if filter.matches_key(&k) {
                    own.entry(k).or_default().push(p);
                }
            }
            let wanted: HashSet<&SeriesKey> = own.keys().collect();
            let mut out: Vec<Series> = if sources.is_empty() || wanted.is_empty() {
                Vec::new()
            } else {
                sources
                    .read(filter)
                    .await?
                    .into_iter()
                    .filter(|s| wanted.contains(&s.key))
                    .collect()
            };
            for s in &mut out {
                s.points.retain(|p| p.time != start);
            }
            for (k, pts) in own {
                match out.iter_mut().find(|s| s.key == k) {
                    Some(s) => s.points.extend(pts),
                    None => out.push(Series {
                        direction: Direction::of_metric(&k.metric),
                        key: k,
                        points: pts,
                    }),
                }
            }
            for s in &mut out {
                s.points.sort_by_key(|p| p.time);
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok((out, Some(start)))
        }
        _ => {
            let f = SeriesFilter {
                series_of_run: Some(run.run_key.clone()),
                ..filter.clone()
            };
            let series = sources.read(&f).await?;
            let start = match &run.source {
                RunSource::Dir { record, .. } => Some(record.start_time),
                RunSource::Key => series
                    .iter()
                    .flat_map(|s| s.points.iter())
                    .find(|p| p.run_key == run.run_key)
                    .map(|p| p.time),
            };
            Ok((series, start))
        }
    }
}

pub async fn run(args: RegressArgs) -> Result<Exit> {
    if args.accept {
        return accept(args).await;
    }
    let k_expr = parse_k(args.k.as_deref())?;
    let metric = clean_metric(args.metric.as_deref());
    let sources = Sources::open(args.local_only, &args.db).await?;
    let filter = SeriesFilter {
        k_expr,
        metric,
        ..Default::default()
    };
    let stage = Stage::from(args.stage);
    let mut opts = JudgeOptions::new(stage);
    opts.gate_latencies = args.gate_latencies;

    let run = match &args.run {
        Some(r) => Some(resolve_run(r, &sources).await?),
        None => None,
    };
    if run.is_none() && sources.is_empty() {
        output::info(format!(
            "The history {} is empty, so there is nothing to judge yet (`perf-run run` and `perf-run upload` record every run into it).",
            sources.path.display()
        ));
        if args.json {
            output::data("[]");
        }
        return Ok(Exit::Success);
    }
    let series = match &run {
        Some(r) => {
            let (series, start) = series_of_run(r, &sources, &filter).await?;
            opts.now = start;
            series
        }
        None => sources.read(&filter).await?,
    };
    if series.is_empty() {
        return Err(sources
            .no_match(
                &filter,
                args.k.as_deref(),
                run.as_ref().map(|r| r.label.as_str()),
                "so nothing was judged",
            )
            .await);
    }
    // A run is judged on its own valid points: a series whose point in this run is invalid
    // would otherwise be judged on an older run's value (R1 skips invalid points).
    let series = match &run {
        Some(r) => {
            let (judged, invalid): (Vec<Series>, Vec<Series>) = series.into_iter().partition(|s| {
                s.points
                    .iter()
                    .any(|p| p.run_key == r.run_key && p.valid && p.value.is_finite())
            });
            if !invalid.is_empty() {
                output::warn(format!(
                    "{} series of run {} (such as {} {}) have no valid measurement in it and are not judged; the run's summary gives their failure class.",
                    invalid.len(),
                    r.label,
                    invalid[0].key.test_name,
                    invalid[0].key.metric
                ));
            }
            if judged.is_empty() {
                // Not a mistake of the caller: the run's own exit code (3) reports it.
                output::info(format!(
                    "Run {} has no valid measurement{}, so there is nothing to judge.",
                    r.label,
                    if args.k.is_some() || filter.metric.is_some() {
                        " in this selection"
                    } else {
                        ""
                    }
                ));
                if args.json {
                    output::data("[]");
                }
                return Ok(Exit::Success);
            }
            judged
        }
        None => series,
    };
    let accepted = match &sources.store {
        Some(s) => s.acceptances(&filter).await?,
        None => Vec::new(),
    };
    let judgements = judge_all(&series, &accepted, &opts);
    let failed = judgements.iter().filter(|j| fails_gate(j, stage)).count();

    if args.json {
        output::data(serde_json::to_string_pretty(&judgements)?);
    } else {
        output::data(human(&judgements, run.as_ref(), stage));
    }
    let regressions = judgements
        .iter()
        .filter(|j| j.verdict == Verdict::Regression)
        .count();
    if failed > 0 {
        output::error(format!(
            "The pre-merge gate fails: {failed} gating metric(s) regressed (exit 6); the lines above explain each, and `perf-run regress --accept` records an intended change."
        ));
        return Ok(Exit::Regression);
    }
    if regressions > 0 {
        output::warn(format!(
            "{regressions} regression(s) found; {} does not fail on them{}.",
            match stage {
                Stage::PreMerge => "the pre-merge gate",
                Stage::PostMerge => "post-merge",
            },
            match stage {
                Stage::PreMerge =>
                    " because none is of a gating metric (--gate-latencies makes latencies gate)",
                Stage::PostMerge => " (it warns; --stage pre_merge fails with exit 6)",
            }
        ));
    }
    Ok(Exit::Success)
}

/// Parse `--since`: a date, a date and time (UTC) or a zoned time.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, UserError> {
    perfdb::plan::parse_time(s)
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            UserError(format!(
                "--since `{}` is not a time; give e.g. 2026-11-20, `2026-11-20 08:00:00` (UTC) or 2026-11-20T08:00:00+01:00.",
                escape_for_message(s)
            ))
        })
}
