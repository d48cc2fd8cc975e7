//! Errors of reading the legacy uploader's files ([`super::long_csv`], [`super::props`]).
//! The texts are the sentences users saw before the files moved here.

use std::io;
use std::path::PathBuf;

use crate::error::Exit;

#[derive(Debug, thiserror::Error)]
pub enum TrtPerfFileError {
    #[error("could not read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is empty; a perf_script_test_results.csv starts with a header line")]
    Empty { path: PathBuf },
    #[error(
        "{path} has no `{column}` column, so it is not a perf_script_test_results.csv in the long format (one metric per row with network_name, metric_type and perf_metric; reference §7.2); its header is: {header}"
    )]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        header: String,
    },
    #[error("{path} line {line}: {message}")]
    Record {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path} line {line}: a record is larger than 1 GiB; the file is probably not a CSV")]
    TooLarge { path: PathBuf, line: u64 },
    #[error(
        "{path} line {line}: a quoted field starts here and is never closed (an unterminated `\"`); fix the quoting of that line"
    )]
    UnterminatedQuote { path: PathBuf, line: u64 },
    #[error(
        "{path}: the header names the column `{column}` twice, so it is not clear which one holds the value; remove one of them"
    )]
    DuplicateColumn { path: PathBuf, column: String },
    /// A properties or GPU-monitoring file that cannot be opened.
    #[error("Cannot open {path}: {source}.")]
    Open { path: PathBuf, source: io::Error },
    /// A properties or GPU-monitoring file that is not CSV.
    #[error("{path} is not valid CSV: {source}.")]
    NotCsv { path: PathBuf, source: csv::Error },
}

impl TrtPerfFileError {
    /// Every one of these is about a file the user named (or a run directory's file), so a
    /// usage mistake, as when the uploader reported them as `UserError`.
    pub fn exit(&self) -> Exit {
        Exit::Usage
    }
}
