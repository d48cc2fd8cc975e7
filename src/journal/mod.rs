//! Run directories and the run journal. A run directory holds everything about one
//! `perf-run run`/`render`: the plans, the generated files per case, the journal of what was
//! done (append-only JSON lines), the collected artifacts and the results.
//!
//! ```text
//! <runs home>/<run id>/
//!   run.json                 settings and plan summary (written once)
//!   journal.jsonl            one event per line, appended before and after each action
//!   cases/<NN-case>/         generated files, plan.json, artifacts/ (collected job workspace)
//!   results/                 perf_script_test_results.csv, perf_summary.csv, summary.json, …
//! ```

pub mod events;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Where run directories live: `$PERF_RUN_HOME`, else `./perf-runs`.
pub fn runs_home(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("PERF_RUN_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("perf-runs"))
}

/// A new run id: UTC time plus 4 random hex digits, e.g. `20261122-173005-3fa2`.
pub fn new_run_id() -> String {
    let r: u16 = rand::random();
    format!("{}-{r:04x}", chrono::Utc::now().format("%Y%m%d-%H%M%S"))
}

/// Run ids appear in paths and #SBATCH lines: keep them to a safe alphabet.
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !id.starts_with('.')
}

#[derive(Debug, Clone)]
pub struct RunDir {
    pub root: PathBuf,
    pub run_id: String,
}

impl RunDir {
    /// Create a new run directory. An existing one (or anything else under that name, e.g. a
    /// planted link) is refused: a run id names one run, and `perf-run resume` continues one
    /// (security review B4).
    pub fn create(home: &Path, run_id: &str) -> Result<RunDir> {
        let root = home.join(run_id);
        std::fs::create_dir_all(home)
            .with_context(|| format!("cannot create the runs directory {}", home.display()))?;
        match std::fs::create_dir(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(crate::error::UserError(format!(
                    "run id `{run_id}` is already taken by {}: continue that run with `perf-run resume {}`, or start a new one with another --run-id (e.g. add a suffix such as `{run_id}-2`)",
                    root.display(),
                    root.display()
                ))
                .into());
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot create the run directory {}",
                    root.display()
                )));
            }
        }
        std::fs::create_dir(root.join("cases"))
            .with_context(|| format!("cannot create the run directory {}", root.display()))?;
        Ok(RunDir {
            root,
            run_id: run_id.to_string(),
        })
    }

    pub fn open(root: &Path) -> Result<RunDir> {
        let run_id = root
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !root.join("journal.jsonl").is_file() && !root.join("run.json").is_file() {
            return Err(crate::error::UserError(format!(
                "{} is not a perf-run run directory (no run.json or journal.jsonl)",
                root.display()
            ))
            .into());
        }
        Ok(RunDir {
            root: root.to_path_buf(),
            run_id,
        })
    }

    pub fn case_dir(&self, case_dir: &str) -> PathBuf {
        self.root.join("cases").join(case_dir)
    }

    pub fn results_dir(&self) -> PathBuf {
        self.root.join("results")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }
}

/// Write a file atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<()> {
    crate::fsutil::write_atomic(path, content)
        .with_context(|| format!("cannot write {}", path.display()))
}
