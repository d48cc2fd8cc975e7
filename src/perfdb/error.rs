//! Errors of preparing an upload (reading the run's files into a plan). The texts are the
//! sentences users saw before; echoed input is shown with `{:?}` (escaped). Failures of the
//! database itself are [`super::db::DbFailure`] and end in the spool, not here.

use std::io;
use std::path::PathBuf;

use crate::error::Exit;
use crate::trtperf::TrtPerfFileError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The metric CSV, properties or GPU-monitoring file cannot be read.
    #[error("{}", sentence(&.0.to_string()))]
    File(#[from] TrtPerfFileError),
    #[error("The {what} {} does not exist or is not a file.", path.display())]
    MissingInput { what: &'static str, path: PathBuf },
    #[error("--source-metric-csv FILE is required unless a run directory is given.")]
    NoMetricCsv,
    #[error(
        "{} has no results/perf_script_test_results.csv, so there is nothing to upload; run `perf-run extract` on it first, or pass --source-metric-csv.",
        run_dir.display()
    )]
    NoResultsCsv { run_dir: PathBuf },
    #[error(
        "Nothing to upload: none of the {rows} data rows of {} can be uploaded ({failed} have state=failed, {invalid} have state=invalid, {other} are incomplete or unusable; run with --write-db no to see each row and its reason).",
        csv.display()
    )]
    NothingToUpload {
        rows: usize,
        csv: PathBuf,
        failed: usize,
        invalid: usize,
        other: usize,
    },
    #[error("--framework is {length} characters long; cases.format holds at most {max}.")]
    FrameworkTooLong { length: usize, max: usize },
    #[error("--run-key must be at most {max} characters without control characters.")]
    BadRunKey { max: usize },
    /// A time flag or variable; `what` names it (`--end-time`, `The environment variable X`).
    #[error("{what} {value:?} is not a time; write it as \"YYYY-MM-DD HH:MM:SS\".")]
    BadTime { what: String, value: String },
    #[error(
        "{flag} is {length} characters long, but the TRT_perf column runs.{column} holds at most {max}; shorten it."
    )]
    RunValueTooLong {
        flag: &'static str,
        column: &'static str,
        length: usize,
        max: usize,
    },
    #[error("Cannot read {}: {source}.", path.display())]
    SummaryUnreadable { path: PathBuf, source: io::Error },
    #[error(
        "{} is not valid JSON ({source}); perf-run reads job and test ids from it.",
        path.display()
    )]
    SummaryNotJson {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl StoreError {
    /// Every one is about what the user gave (files, flags, a run directory).
    pub fn exit(&self) -> Exit {
        Exit::Usage
    }
}

/// The uploader's messages are sentences: `s` with a full stop at the end unless it already
/// ends one. (The one copy of this rule; `ops::upload` uses it too.)
pub fn sentence(s: &str) -> String {
    let t = s.trim_end();
    if t.ends_with(['.', '?', '!']) {
        t.to_string()
    } else {
        format!("{t}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sentences_and_exit_as_usage_through_anyhow() {
        let file = StoreError::from(TrtPerfFileError::Empty {
            path: PathBuf::from("m.csv"),
        });
        assert_eq!(
            file.to_string(),
            "m.csv is empty; a perf_script_test_results.csv starts with a header line."
        );
        let time = StoreError::BadTime {
            what: "--end-time".into(),
            value: "noon\n".into(),
        };
        assert_eq!(
            time.to_string(),
            "--end-time \"noon\\n\" is not a time; write it as \"YYYY-MM-DD HH:MM:SS\"."
        );
        let wrapped = anyhow::Error::new(time).context("preparing the upload");
        assert_eq!(crate::ops::exit::exit_of(&wrapped), Exit::Usage);
        let wrapped = anyhow::Error::new(file);
        assert_eq!(crate::ops::exit::exit_of(&wrapped), Exit::Usage);
    }
}
