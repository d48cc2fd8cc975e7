//! The narrow scheduler interface (DESIGN.md, ReFrame model): submit, one batched poll for all
//! of this process's jobs, cancel. Every call to a Slurm command is counted; the total is
//! reported at the end of a run ("polite to the scheduler").

pub mod error;
mod parse;
pub mod sim;
pub mod state;

use parse::{SQUEUE_FORMAT, accounting_unavailable, parse_squeue};
pub use parse::{merge_live, parse_parsable, parse_sacct, parse_scontrol};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::remote::Remote;
use crate::shell::sh;
mod backend;
pub use backend::Slurm;
pub use error::SlurmError;
pub use state::{BaseState, JobState};

/// What perf-run knows about one job after a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub state: JobState,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub submit: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub elapsed_s: Option<u64>,
    pub node_list: Option<String>,
    /// Which command answered (or the batch script's exit marker).
    pub source: RecordSource,
    /// How often Slurm restarted (requeued) the job: squeue's `RestartCnt`, scontrol's
    /// `Restarts`, else the number of earlier attempts `sacct -D` shows (Slurm 22.05's sacct has
    /// no `Restarts` field).
    #[serde(default)]
    pub restarts: u32,
    /// Seconds the job's current attempt spent suspended (sacct `Suspended`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_s: Option<u64>,
    /// The earlier attempts of a requeued job, oldest first (`sacct -D`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
}

/// Who told perf-run about a job. Serde writes the words journal.jsonl has always held
/// (`"sacct"`, `"sacct -c"`, `"squeue"`, `"scontrol"`, `"perf-run"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordSource {
    /// Accounting (`sacct`): the fullest record, once slurmdbd has it.
    #[serde(rename = "sacct")]
    Sacct,
    /// Slurm's job-completion log (`sacct -c`): the fallback when accounting is down.
    #[serde(rename = "sacct -c")]
    JobComp,
    /// slurmctld's view (`squeue`).
    #[serde(rename = "squeue")]
    Squeue,
    /// slurmctld's view of one job (`scontrol show job`).
    #[serde(rename = "scontrol")]
    Scontrol,
    /// perf-run itself, from the batch script's exit marker (no Slurm source answered).
    #[serde(rename = "perf-run")]
    PerfRun,
}

impl RecordSource {
    /// Accounting answered (`sacct` or `sacct -c`).
    pub fn is_accounting(self) -> bool {
        matches!(self, RecordSource::Sacct | RecordSource::JobComp)
    }
}

/// How one earlier attempt of a requeued job ended (one `sacct -D` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// NODE_FAIL, PREEMPTED, REQUEUED (an administrator's `scontrol requeue`), …
    pub state: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub elapsed_s: Option<u64>,
    pub node_list: Option<String>,
}

impl JobRecord {
    /// A record with only an id, a state and its source (everything else unknown).
    pub fn bare(job_id: &str, state: JobState, source: RecordSource) -> JobRecord {
        JobRecord {
            job_id: job_id.to_string(),
            state,
            exit_code: None,
            signal: None,
            reason: None,
            submit: None,
            start: None,
            end: None,
            elapsed_s: None,
            node_list: None,
            source,
            restarts: 0,
            suspended_s: None,
            attempts: Vec::new(),
        }
    }

    /// Slurm may requeue a job in this state (node failure, preemption, `scontrol requeue`):
    /// accounting alone cannot tell whether it ended for good, slurmctld can.
    pub fn may_be_requeued(&self) -> bool {
        matches!(self.state.base, BaseState::NodeFail | BaseState::Preempted)
            || self.state.flags.iter().any(|f| f.starts_with("REQUEUE"))
    }
}

/// Counts of scheduler calls, by command.
#[derive(Debug, Default)]
pub struct CallCounter {
    pub sbatch: AtomicU64,
    pub sacct: AtomicU64,
    pub squeue: AtomicU64,
    pub scontrol: AtomicU64,
    pub scancel: AtomicU64,
    /// `sinfo` and `sacctmgr` (only `perf-run doctor` asks them).
    pub sinfo: AtomicU64,
    pub sacctmgr: AtomicU64,
}

impl CallCounter {
    pub fn total(&self) -> u64 {
        [
            &self.sbatch,
            &self.sacct,
            &self.squeue,
            &self.scontrol,
            &self.scancel,
            &self.sinfo,
            &self.sacctmgr,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }

    pub fn summary(&self) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{} scheduler calls (sbatch {}, sacct {}, squeue {}, scontrol {}, scancel {})",
            self.total(),
            g(&self.sbatch),
            g(&self.sacct),
            g(&self.squeue),
            g(&self.scontrol),
            g(&self.scancel)
        )
    }
}

/// What a job gets from the submit environment when the site sets no `SBATCH_EXPORT`: the
/// login basics its tools need, never a secret (DESIGN.md "The job's environment is an
/// allowlist", security review B1). Everything perf-run itself passes to the job is exported by
/// the batch script (`exports`, `--env`), which also sets `SLURM_EXPORT_ENV=ALL` so its srun
/// steps inherit the job's environment. A name that is not set is skipped by sbatch.
pub const JOB_EXPORT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "MODULEPATH",
    "LOADEDMODULES",
];

/// Shell prelude of every sbatch call: strip every inherited `SLURM_*`/`SALLOC_*` and
/// `SBATCH_*` variable except a site's `SBATCH_EXPORT`, so the submit environment (e.g. a
/// Jenkins agent that itself runs inside a Slurm job) cannot change the job (reference anchors
/// §4.10); strip anything that looks like a secret (`DB_*`, `*PASSWORD*`, `*TOKEN*`,
/// `*SECRET*`, …); and choose the `--export` value: the site's `SBATCH_EXPORT` when it has one,
/// else [`JOB_EXPORT`]. The sbatch command line then uses `"$perf_run_export"`.
pub fn clean_env() -> String {
    format!(
        "shopt -s nocasematch; for v in $(compgen -e); do case $v in SBATCH_EXPORT) ;; SBATCH_*|SLURM_*|SALLOC_*|DB_*|*PASSWORD*|*PASSWD*|*TOKEN*|*SECRET*|*CREDENTIAL*|*API_KEY*|*ACCESS_KEY*|*PRIVATE_KEY*) unset \"$v\" 2>/dev/null;; esac; done; shopt -u nocasematch; if [[ -n ${{SBATCH_EXPORT+x}} ]]; then perf_run_export=\"--export=$SBATCH_EXPORT\"; else perf_run_export=--export={}; fi;",
        JOB_EXPORT.join(",")
    )
}

/// The scheduler as the watcher and the commands use it: submit, one batched poll for many
/// jobs (its records carry the pending reasons), cancel, and finding a job by its unique name
/// (after a crash between `sbatch` and the journal line). [`Slurm`] is the real backend over a
/// [`Remote`]; [`sim::SimCluster`] is an in-process simulator for the watcher's unit tests and
/// its scale benchmark.
pub trait Scheduler: Send + Sync {
    /// Submit the batch script `script` from `workspace`; the job id.
    fn submit(
        &self,
        workspace: &str,
        script: &str,
    ) -> impl Future<Output = Result<String, SlurmError>> + Send;

    /// What is known about `ids` (jobs submitted within `since_secs`). A job no source knows is
    /// absent from the result, never assumed finished.
    fn poll(
        &self,
        ids: &[String],
        since_secs: u64,
    ) -> impl Future<Output = Result<BTreeMap<String, JobRecord>, SlurmError>> + Send;

    /// Cancel `ids` (one call).
    fn cancel(&self, ids: &[String]) -> impl Future<Output = Result<(), SlurmError>> + Send;

    /// The job of ours with this unique job name, if the scheduler knows one.
    fn find_by_name(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, SlurmError>> + Send;

    /// The calls made so far, by command.
    fn calls(&self) -> &CallCounter;

    // What `perf-run doctor` asks (one call each): whether this site's settings will work.

    /// The partition `name` as `sinfo` shows it (`name availability nodes gres`), or `None`
    /// when the scheduler does not know it.
    fn partition_info(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, SlurmError>> + Send;

    /// Whether the accounting database knows the account `name`.
    fn account_known(&self, name: &str) -> impl Future<Output = Result<bool, SlurmError>> + Send;

    /// Whether job accounting (`sacct`) answers; without it the watcher falls back to
    /// squeue/scontrol/`sacct -c`.
    fn accounting_answers(&self) -> impl Future<Output = Result<bool, SlurmError>> + Send;

    /// `sbatch --test-only` of `script` from `workspace`: the scheduler's estimate line.
    fn test_only(
        &self,
        workspace: &str,
        script: &str,
    ) -> impl Future<Output = Result<String, SlurmError>> + Send;
}

#[cfg(test)]
mod tests;
