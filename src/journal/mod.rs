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

pub mod error;
pub mod events;
pub mod spec;

use std::path::{Path, PathBuf};

pub use error::JournalError;

/// Where run directories live: `$PERF_RUN_HOME`, else `./perf-runs`.
pub fn runs_home(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    env("PERF_RUN_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("perf-runs"))
}

/// Where `render` and `run --dry-run` put their files when no `--output-dir` is given, so they
/// never mix with real runs: `$PERF_RUN_SCRATCH`, else `$XDG_CACHE_HOME/perf-run/scratch`,
/// else `~/.cache/perf-run/scratch`, else `<runs home>/.scratch`.
pub fn scratch_home(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let set = |k: &str| env(k).filter(|s| !s.is_empty()).map(PathBuf::from);
    set("PERF_RUN_SCRATCH")
        .or_else(|| set("XDG_CACHE_HOME").map(|d| d.join("perf-run/scratch")))
        .or_else(|| set("HOME").map(|d| d.join(".cache/perf-run/scratch")))
        .unwrap_or_else(|| runs_home(env).join(".scratch"))
}

/// How many scratch renders are kept; older ones are removed when a new one is written.
pub const SCRATCH_KEEP: usize = 20;

/// Remove all but the newest `keep` scratch renders (directories named like run ids).
/// Best effort: a scratch directory that cannot be removed is left alone.
pub fn prune_scratch(home: &Path, keep: usize) {
    let Ok(rd) = std::fs::read_dir(home) else {
        return;
    };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter(|e| e.file_name().to_str().is_some_and(valid_run_id))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, d) in dirs.into_iter().skip(keep) {
        let _ = std::fs::remove_dir_all(d);
    }
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
    pub fn create(home: &Path, run_id: &str) -> Result<RunDir, JournalError> {
        let root = home.join(run_id);
        std::fs::create_dir_all(home).map_err(|error| JournalError::CreateHome {
            home: home.to_path_buf(),
            error,
        })?;
        match std::fs::create_dir(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(JournalError::RunIdTaken {
                    run_id: run_id.to_string(),
                    root,
                });
            }
            Err(error) => return Err(JournalError::CreateRunDir { root, error }),
        }
        std::fs::create_dir(root.join("cases")).map_err(|error| JournalError::CreateRunDir {
            root: root.clone(),
            error,
        })?;
        Ok(RunDir {
            root,
            run_id: run_id.to_string(),
        })
    }

    pub fn open(root: &Path) -> Result<RunDir, JournalError> {
        let run_id = root
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !root.join("journal.jsonl").is_file() && !root.join("run.json").is_file() {
            return Err(JournalError::NotARunDir {
                root: root.to_path_buf(),
            });
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
pub fn write_atomic(path: &Path, content: &[u8]) -> Result<(), JournalError> {
    crate::fsutil::write_atomic(path, content).map_err(|error| JournalError::WriteFile {
        path: path.to_path_buf(),
        error,
    })
}

/// A run directory from `RUN` (a path or a run id under the runs home), or the newest run.
pub fn find_run(arg: Option<&str>) -> Result<RunDir, JournalError> {
    let home = runs_home(&crate::config::process_env);
    let dir = match arg {
        Some(a) if Path::new(a).join("run.json").is_file() => PathBuf::from(a),
        Some(a) if home.join(a).join("run.json").is_file() => home.join(a),
        Some(a) => {
            return Err(JournalError::NoSuchRun {
                arg: crate::error::escape_for_message(a),
                under_home: home.join(a),
            });
        }
        None => newest_run(&home).ok_or(JournalError::NoRunYet { home })?,
    };
    RunDir::open(&dir)
}

fn newest_run(home: &Path) -> Option<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(home)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("run.json").is_file())
        .collect();
    runs.sort();
    runs.pop()
}
