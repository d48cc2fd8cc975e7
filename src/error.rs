//! Exit codes, and how `main` turns an error into one.
//!
//! Each layer returns its own `thiserror` enum (`PlanError`, `RenderError`, `SlurmError`, …, in
//! `src/<layer>/error.rs`), and each enum knows its exit code (`fn exit`); the edge
//! (`src/ops/`, `main.rs`) carries them in an `anyhow::Error` with context. `main` prints one
//! line and ends with `ops::exit::exit_of` of the chain; the exit code of a command that ran
//! cases is `ops::exit::exit_code`. This module is a leaf: it knows no layer.

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

/// A typed error and its causes as one line, `outer: inner: …` (what `{:#}` prints for an
/// `anyhow::Error`), for the places that report an error and go on.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// A mistake in what the user gave us (a file, a flag, an id). Always exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_prints_the_causes_as_anyhow_does() {
        let e = crate::journal::JournalError::Write {
            path: "/r/journal.jsonl".into(),
            error: std::io::Error::other("disk full"),
        };
        assert_eq!(
            chain(&e),
            "cannot write the run journal /r/journal.jsonl: disk full"
        );
        assert_eq!(chain(&e), format!("{:#}", anyhow::Error::new(e)));
    }
}
