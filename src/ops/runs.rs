//! `perf-run runs`: the run directories under the runs home, one line each (state, cases,
//! verdict, age), and `runs prune` for the old finished ones. Read-only apart from prune; the
//! state comes from each run's journal, the same fold `status` uses.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::{RunsAction, RunsArgs};
use crate::error::{Exit, UserError};
use crate::journal::events::{RunState, read_journal};
use crate::output;

/// One run directory, as the journal tells it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub dir: PathBuf,
    /// `finished`, `detached`, `in progress or interrupted`, or `render` (a render or dry run:
    /// generated files, no journal).
    pub state: String,
    pub cluster: Option<String>,
    pub cases: usize,
    pub exit_code: Option<i32>,
    /// The exit code in words (`passed`, `test failed`, …).
    pub verdict: Option<String>,
    pub started: Option<DateTime<Utc>>,
    /// Seconds since the run started (or the directory was last changed).
    pub age_s: u64,
}

/// What an exit code of `run` means (README "Exit codes").
fn verdict(code: i32) -> &'static str {
    match code {
        0 => "passed",
        1 => "test failed",
        2 => "bad input",
        3 => "invalid measurement",
        4 => "infrastructure",
        5 => "upload pending",
        7 => "cancelled",
        129 => "hung up (SIGHUP)",
        130 => "interrupted (SIGINT)",
        143 => "terminated (SIGTERM)",
        _ => "failed",
    }
}

/// Every run directory under `home`, newest first.
pub fn list_runs(home: &Path) -> Vec<RunSummary> {
    let Ok(rd) = std::fs::read_dir(home) else {
        return Vec::new();
    };
    let now = Utc::now();
    let mut out: Vec<RunSummary> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| summarize(&e.path(), now))
        .collect();
    out.sort_by(|a, b| a.age_s.cmp(&b.age_s).then(b.run_id.cmp(&a.run_id)));
    out
}

fn summarize(dir: &Path, now: DateTime<Utc>) -> RunSummary {
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let modified_age = std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(0, |d| d.as_secs());
    let entries = read_journal(&dir.join("journal.jsonl")).unwrap_or_default();
    if entries.is_empty() {
        return RunSummary {
            run_id,
            dir: dir.to_path_buf(),
            state: "render".into(),
            cluster: None,
            cases: std::fs::read_dir(dir.join("cases"))
                .map(|r| r.flatten().count())
                .unwrap_or(0),
            exit_code: None,
            verdict: None,
            started: None,
            age_s: modified_age,
        };
    }
    let st = RunState::from_entries(&entries);
    let started = entries.first().map(|e| e.ts);
    let state = match st.finished_exit {
        Some(_) => "finished",
        None if st.detached => "detached",
        None => "in progress or interrupted",
    };
    RunSummary {
        run_id: st.run_id.clone().unwrap_or(run_id),
        dir: dir.to_path_buf(),
        state: state.into(),
        cluster: st.cluster.as_ref().and_then(|c| c.name.clone()),
        cases: st.cases.len(),
        exit_code: st.finished_exit,
        verdict: st.finished_exit.map(|c| verdict(c).to_string()),
        started,
        age_s: started
            .map(|t| (now - t).num_seconds().max(0) as u64)
            .unwrap_or(modified_age),
    }
}

fn age(s: u64) -> String {
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `perf-run runs [--json]` and `perf-run runs prune`.
pub fn run(args: RunsArgs) -> Result<Exit> {
    let home = crate::journal::runs_home(&crate::config::process_env);
    match args.action {
        None => {
            let runs = list_runs(&home);
            if args.json {
                output::data(serde_json::to_string_pretty(&runs)?);
                return Ok(Exit::Success);
            }
            if runs.is_empty() {
                output::info(format!("no runs under {}", home.display()));
                return Ok(Exit::Success);
            }
            let mut text = format!(
                "{:<28} {:<27} {:>5} {:<22} {:>5}  {}\n",
                "run", "state", "cases", "verdict", "age", "cluster"
            );
            for r in &runs {
                text.push_str(&format!(
                    "{:<28} {:<27} {:>5} {:<22} {:>5}  {}\n",
                    r.run_id,
                    r.state,
                    r.cases,
                    r.verdict.as_deref().unwrap_or("-"),
                    age(r.age_s),
                    r.cluster.as_deref().unwrap_or("-")
                ));
            }
            output::data(text.trim_end());
            Ok(Exit::Success)
        }
        Some(RunsAction::Prune { older_than, yes }) => prune(&home, &older_than, yes),
    }
}

fn prune(home: &Path, older_than: &str, yes: bool) -> Result<Exit> {
    let limit: Duration = humantime::parse_duration(older_than.trim()).map_err(|_| {
        UserError(format!(
            "--older-than `{}` is not a duration; use e.g. 14d, 36h or 90m",
            crate::error::escape_for_message(older_than)
        ))
    })?;
    let old: Vec<RunSummary> = list_runs(home)
        .into_iter()
        .filter(|r| r.age_s >= limit.as_secs())
        .filter(|r| r.state == "finished" || r.state == "render")
        .collect();
    if old.is_empty() {
        output::info(format!(
            "no finished run under {} is older than {older_than}",
            home.display()
        ));
        return Ok(Exit::Success);
    }
    for r in &old {
        if yes {
            // Never follow a link out of the runs home: remove the link itself.
            let meta = std::fs::symlink_metadata(&r.dir)?;
            if meta.file_type().is_symlink() {
                std::fs::remove_file(&r.dir)?;
            } else {
                std::fs::remove_dir_all(&r.dir).map_err(|e| {
                    anyhow::anyhow!("cannot remove the run {}: {e}", r.dir.display())
                })?;
            }
            output::info(format!(
                "removed {} ({}, {})",
                r.run_id,
                r.state,
                age(r.age_s)
            ));
        } else {
            output::info(format!(
                "would remove {} ({}, {}, {})",
                r.run_id,
                r.state,
                r.verdict.as_deref().unwrap_or("no verdict"),
                age(r.age_s)
            ));
        }
    }
    if !yes {
        output::info(format!(
            "{} run(s) would be removed; add --yes to remove them (runs in progress or detached are never removed)",
            old.len()
        ));
    }
    Ok(Exit::Success)
}
