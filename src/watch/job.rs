//! What the watcher is given and what it returns: its pacing, the cases to submit or follow,
//! and what became of each.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::WatchError;

use crate::journal::events::CaseRef;
use crate::slurm::JobRecord;
use crate::watch::signals::Interrupt;

/// Pacing and behaviour of the watcher.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub follow: bool,
    pub max_pending: Option<Duration>,
    pub poll_min: Duration,
    pub poll_max: Duration,
    pub heartbeat: Duration,
    pub max_jobs: usize,
    pub detach: bool,
    /// How long to wait for the exit marker of a job that ended without one being seen
    /// (cancelled, timed out): the batch script writes it from its exit trap, after Slurm
    /// already reports the final state.
    pub marker_grace: Duration,
    /// Cancel a job that Slurm restarted (requeued) more often than this (`--max-restarts`).
    pub max_restarts: u32,
}

impl WatchConfig {
    /// Defaults (safety poll: one look after 10 s, then every 5 min; 5 min progress
    /// heartbeat); `PERF_RUN_POLL_MIN`/`MAX` (seconds) override the poll pacing, which the
    /// tests use.
    /// The pacing settings from the environment; a value that is not a number of seconds
    /// above 0 (and at most a week) is refused, not silently replaced by the default.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<WatchConfig, WatchError> {
        let secs = |k: &str, d: f64| -> Result<Duration, WatchError> {
            let Some(v) = env(k).filter(|v| !v.trim().is_empty()) else {
                return Ok(Duration::from_secs_f64(d));
            };
            match v.trim().parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 && x <= 604_800.0 => {
                    Ok(Duration::from_secs_f64(x))
                }
                _ => Err(WatchError::Pacing {
                    name: k.to_string(),
                    value: v,
                    default: d,
                }),
            }
        };
        Ok(WatchConfig {
            follow: false,
            max_pending: None,
            poll_min: secs("PERF_RUN_POLL_MIN", 10.0)?,
            poll_max: secs("PERF_RUN_POLL_MAX", 300.0)?,
            heartbeat: secs("PERF_RUN_HEARTBEAT", 300.0)?,
            max_jobs: 4,
            detach: false,
            marker_grace: secs("PERF_RUN_MARKER_GRACE", 45.0)?,
            max_restarts: 2,
        })
    }
}

/// One case to submit or watch.
#[derive(Debug, Clone)]
pub struct CaseJob {
    pub case: CaseRef,
    /// Local case directory (`<run>/cases/<case_dir>`).
    pub local_dir: PathBuf,
    pub time_limit_s: u64,
}

/// What became of a case.
#[derive(Debug, Clone, Default)]
pub struct CaseResult {
    pub record: Option<JobRecord>,
    pub submit_error: Option<String>,
    /// Why perf-run itself cancelled the job (max pending, signal, hopeless reason).
    pub cancelled_by_perf_run: Option<String>,
    pub marker_exit: Option<i32>,
    pub collected: bool,
    pub not_submitted: bool,
}

pub struct DriveOutcome {
    pub results: BTreeMap<String, CaseResult>,
    pub interrupted: Option<Interrupt>,
    pub detached: bool,
    /// Turns of the watch loop (a log line, a poll, a tick or a signal each), for the scale
    /// benchmark.
    pub cycles: u64,
}

pub fn short_label(c: &CaseRef) -> String {
    let mut s: String = c.case_name.chars().take(70).collect();
    if c.case_name.chars().count() > 70 {
        s.push('…');
    }
    format!("[{:02}] {s}", c.index)
}
