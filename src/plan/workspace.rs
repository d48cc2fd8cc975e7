//! The job workspace (`<run dir>/<case dir>` on the cluster, `cases/<case dir>/artifacts/`
//! here): the names the batch script writes and the watcher, the collector, `logs` and the
//! extraction read. One owner, so a name cannot drift between the writer and its readers; the
//! template gets them through the render context (`files`).

use serde::Serialize;

/// The batch script's exit marker: `<code> <unix time> <attempt>`.
pub const EXIT_MARKER: &str = "perf_run_exit";
/// Written once when Slurm's time-limit warning (USR1) reaches the batch script.
pub const TIME_LIMIT_WARNING: &str = "time_limit_warning";
/// One file per step (`<ROLE>`), its exit code as the step's launcher saw it; the batch
/// script decides the job's exit code from these, never from bash's job table alone.
pub const STEP_EXIT_DIR: &str = "step_exit";
/// The host's and the container's system facts (`gpu.txt`, `driver.txt`, …).
pub const SYSINFO_DIR: &str = "sysinfo";
/// sbatch's `--output` pattern of the batch log (`%j`: the job id).
pub const BATCH_LOG_PATTERN: &str = "slurm-%j.log";

/// The batch log of job `job_id`, relative to the workspace.
pub fn batch_log(job_id: &str) -> String {
    BATCH_LOG_PATTERN.replace("%j", job_id)
}

/// A job workspace on the cluster, by its absolute path.
#[derive(Debug, Clone, Copy)]
pub struct JobWorkspace<'a>(pub &'a str);

impl JobWorkspace<'_> {
    fn join(&self, name: &str) -> String {
        format!("{}/{name}", self.0.trim_end_matches('/'))
    }
    pub fn batch_log(&self, job_id: &str) -> String {
        self.join(&batch_log(job_id))
    }
    pub fn exit_marker(&self) -> String {
        self.join(EXIT_MARKER)
    }
    pub fn sysinfo_dir(&self) -> String {
        self.join(SYSINFO_DIR)
    }
    /// sbatch's `--output` for this workspace.
    pub fn batch_log_pattern(&self) -> String {
        self.join(BATCH_LOG_PATTERN)
    }
}

/// The names as the template sees them (`{{ files.exit_marker }}`, …), relative to
/// `$jobWorkspace`.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateFiles {
    pub exit_marker: &'static str,
    pub time_limit_warning: &'static str,
    pub step_exit: &'static str,
    pub sysinfo: &'static str,
}

pub const TEMPLATE_FILES: TemplateFiles = TemplateFiles {
    exit_marker: EXIT_MARKER,
    time_limit_warning: TIME_LIMIT_WARNING,
    step_exit: STEP_EXIT_DIR,
    sysinfo: SYSINFO_DIR,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_workspace() {
        let ws = JobWorkspace("/w/runs/r/00-case/");
        assert_eq!(ws.batch_log("42"), "/w/runs/r/00-case/slurm-42.log");
        assert_eq!(ws.exit_marker(), "/w/runs/r/00-case/perf_run_exit");
        assert_eq!(ws.batch_log_pattern(), "/w/runs/r/00-case/slurm-%j.log");
        assert_eq!(batch_log("7"), "slurm-7.log");
    }
}
