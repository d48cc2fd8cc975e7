//! Exit codes and the one error type that reaches `main`.
//!
//! Library code returns typed errors (`thiserror`) or `anyhow::Error` with context; `main`
//! maps whatever comes back to one of the documented exit codes below and prints one line.

use std::fmt;

/// The documented exit codes of `perf-run` (README "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every case ran and produced valid measurements (and uploaded, when asked).
    Success = 0,
    /// At least one case failed (test failure, timeout, OOM, …).
    TestFailed = 1,
    /// Bad input: flags, config files, test ids, templates. Nothing was submitted.
    Usage = 2,
    /// The job ran but a measurement is not trustworthy (failed requests, zero tokens, …).
    InvalidMeasurement = 3,
    /// Infrastructure failure: ssh, scheduler, node failure, file transfer.
    Infra = 4,
    /// Results are safe on disk but the database upload is pending in the spool.
    UploadPending = 5,
    /// A confirmed regression of a gating metric under the pre-merge gate
    /// (`perf-run regress --stage pre_merge`, `--gate pre_merge`; docs/verdicts.md).
    Regression = 6,
    /// A job was cancelled by someone else (scancel, admin, preemption).
    Cancelled = 7,
    /// perf-run itself got SIGHUP (its terminal or ssh session went away).
    HungUp = 129,
    /// perf-run itself was interrupted by SIGINT (Ctrl-C).
    Interrupted = 130,
    /// perf-run itself was terminated by SIGTERM (e.g. a Jenkins abort).
    Terminated = 143,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that carries the exit code it should end the process with.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Self {
        CliError {
            exit,
            error: error.into(),
        }
    }
    pub fn usage(msg: impl fmt::Display) -> Self {
        CliError::new(Exit::Usage, anyhow::anyhow!("{msg}"))
    }
    pub fn infra(msg: impl fmt::Display) -> Self {
        CliError::new(Exit::Infra, anyhow::anyhow!("{msg}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for CliError {}

/// Shorthand: attach an exit code to any error.
pub trait WithExit<T> {
    fn exit(self, exit: Exit) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> WithExit<T> for Result<T, E> {
    fn exit(self, exit: Exit) -> Result<T, CliError> {
        self.map_err(|e| CliError::new(exit, e))
    }
}

/// Find the exit code of an `anyhow::Error` chain: a `CliError` inside wins, then typed
/// errors that know their class, else `Infra` for I/O trouble and `Usage` for the rest.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.exit;
        }
        if let Some(u) = cause.downcast_ref::<UserError>() {
            let _ = u;
            return Exit::Usage;
        }
        if let Some(e) = cause.downcast_ref::<crate::plan::select::SelectError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::config::ConfigError>() {
            return e.exit();
        }
        if let Some(e) = cause.downcast_ref::<crate::perfdb::settings::DbSettingsError>() {
            return e.exit();
        }
    }
    Exit::Infra
}

/// A mistake in what the user gave us (a file, a flag, an id). Always exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// `bail!`-style helper for user mistakes.
#[macro_export]
macro_rules! user_err {
    ($($arg:tt)*) => { $crate::error::UserError(format!($($arg)*)) };
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Input echoed into a message: control characters (newlines, terminal escapes) are shown
/// escaped, and very long values are cut, so one bad value stays one readable line.
pub fn escape_for_message(s: &str) -> String {
    escape_and_cut(s, 300, "…")
}

/// The one error line `main` prints: whatever an error chain says, control characters are
/// escaped and the line is cut at 2 000 characters, so it stays one line of sensible length
/// however much raw input a message carries (security review B9).
pub fn one_line_message(s: &str) -> String {
    escape_and_cut(s, 2000, "… (cut)")
}

fn escape_and_cut(s: &str, max: usize, cut: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push_str(cut);
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
