//! The journal layer's errors: the run directory, `run.json` and `journal.jsonl`. A damaged
//! file or a run id that is taken is a mistake in what the user pointed at (exit 2); a file that
//! cannot be read or written is infrastructure (exit 4). The I/O error is the `source`, so the
//! one line `main` prints reads `cannot write the run journal …: <why>` as before.

use std::io;
use std::path::PathBuf;

use crate::error::Exit;

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot open the run journal {}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        error: io::Error,
    },

    #[error("cannot serialise a journal event")]
    Serialize(#[source] serde_json::Error),

    #[error("the journal lock is poisoned")]
    Poisoned,

    #[error("cannot write the run journal {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        error: io::Error,
    },

    #[error("cannot sync the run journal {}", .path.display())]
    Sync {
        path: PathBuf,
        #[source]
        error: io::Error,
    },

    #[error("cannot read the run journal {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: io::Error,
    },

    #[error("{}:{line}: this journal line cannot be read ({why})", .path.display())]
    BadLine {
        path: PathBuf,
        line: usize,
        why: String,
    },

    #[error("cannot create the runs directory {}", .home.display())]
    CreateHome {
        home: PathBuf,
        #[source]
        error: io::Error,
    },

    #[error(
        "run id `{run_id}` is already taken by {}: continue that run with `perf-run resume {}`, or start a new one with another --run-id (e.g. add a suffix such as `{run_id}-2`)",
        .root.display(),
        .root.display()
    )]
    RunIdTaken { run_id: String, root: PathBuf },

    #[error("cannot create the run directory {}", .root.display())]
    CreateRunDir {
        root: PathBuf,
        #[source]
        error: io::Error,
    },

    #[error(
        "{} is not a perf-run run directory (no run.json or journal.jsonl)",
        .root.display()
    )]
    NotARunDir { root: PathBuf },

    #[error("cannot read {}", .path.display())]
    ReadFile {
        path: PathBuf,
        #[source]
        error: io::Error,
    },

    /// `run.json` does not parse.
    #[error("{} is damaged: {why}", .path.display())]
    Damaged { path: PathBuf, why: String },

    /// `arg` is already escaped.
    #[error(
        "no run directory `{arg}` (looked for {arg}/run.json and {}/run.json)",
        .under_home.display()
    )]
    NoSuchRun { arg: String, under_home: PathBuf },

    #[error("there is no run under {} yet; give a run directory", .home.display())]
    NoRunYet { home: PathBuf },

    #[error("cannot write {}", .path.display())]
    WriteFile {
        path: PathBuf,
        #[source]
        error: io::Error,
    },
}

impl JournalError {
    pub fn exit(&self) -> Exit {
        match self {
            JournalError::BadLine { .. }
            | JournalError::RunIdTaken { .. }
            | JournalError::NotARunDir { .. }
            | JournalError::Damaged { .. }
            | JournalError::NoSuchRun { .. }
            | JournalError::NoRunYet { .. } => Exit::Usage,
            _ => Exit::Infra,
        }
    }
}
