//! Why a report could not be built: one sentence naming the run directory or file.

use std::path::PathBuf;

use crate::error::Exit;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("there is no run to report on: give a run id or a run directory.")]
    NoRun,
    #[error(
        "{} holds no summary.json (looked for results/summary.json and summary.json); extract the run first (`perf-run resume` or `perf-run extract`).",
        dir.display()
    )]
    NoSummary { dir: PathBuf },
    #[error("Cannot read {}: {source}.", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `message` is already escaped.
    #[error(
        "{} is not a summary.json perf-run can read (line {line}, column {column}: {message}).",
        path.display()
    )]
    NotJson {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// `schema` is shown as found (quoted and escaped), or `missing`.
    #[error(
        "{} is not a perf-run summary (its \"schema\" is {schema}, expected \"perf-run.summary\").",
        path.display()
    )]
    NotSummary { path: PathBuf, schema: String },
    #[error(
        "{} is summary.json version {version}, newer than this perf-run reads (1); use a newer perf-run to build the report.",
        path.display()
    )]
    TooNew { path: PathBuf, version: u64 },
}

impl ReportError {
    /// A file that cannot be read is the machine's trouble; everything else is what was given.
    pub fn exit(&self) -> Exit {
        match self {
            ReportError::Read { .. } => Exit::Infra,
            _ => Exit::Usage,
        }
    }
}
