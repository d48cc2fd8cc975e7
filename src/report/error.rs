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
    /// plotters failed (`what` is its own description).
    #[error("cannot draw a chart: {what}")]
    Draw { what: String },
    #[error(
        "a chart contains a {what}, which Jenkins' Content-Security-Policy blocks; the plotting library's output changed"
    )]
    CspViolation { what: String },
    #[error("the report has no run to show")]
    NoRunToShow,
    /// `case` is already escaped.
    #[error(
        "the report data is inconsistent: case {case} has {slots} run slot(s) for {runs} run(s)"
    )]
    Inconsistent {
        case: String,
        slots: usize,
        runs: usize,
    },
    #[error("cannot create the report directory {}", dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot serialise report.json")]
    Serialise(#[source] serde_json::Error),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

impl ReportError {
    /// A file that cannot be read is the machine's trouble; everything else is what was given.
    pub fn exit(&self) -> Exit {
        match self {
            ReportError::Read { .. }
            | ReportError::Draw { .. }
            | ReportError::CspViolation { .. }
            | ReportError::CreateDir { .. }
            | ReportError::Serialise(_)
            | ReportError::Write { .. } => Exit::Infra,
            _ => Exit::Usage,
        }
    }
}
