//! Exit codes at the edge: [`exit_of`] for an error that reached `main`, and (re-exported from
//! the finishing stage) [`exit_code`], the one rule from how a command ended to its exit code,
//! which `run`, `resume`, `extract` and `upload` all use.

use crate::error::{Exit, UserError};
pub use crate::finish::exit::exit_code;

/// Find the exit code of an `anyhow::Error` chain: the outermost typed error that knows its
/// class decides (a layer's error enum, one line each below; `UserError`); anything else is
/// `Infra` (I/O, network, scheduler trouble).
pub fn exit_of(err: &anyhow::Error) -> Exit {
    // Each layer's error enum has `fn exit(&self) -> Exit`; list it here once.
    macro_rules! typed {
        ($cause:ident: $($t:ty),* $(,)?) => {
            $(if let Some(e) = $cause.downcast_ref::<$t>() {
                return e.exit();
            })*
        };
    }
    for cause in err.chain() {
        typed!(cause:
            crate::config::ConfigError,
            crate::plan::select::SelectError,
            crate::plan::PlanError,
            crate::render::RenderError,
            crate::journal::JournalError,
            crate::watch::WatchError,
            crate::slurm::SlurmError,
            crate::remote::RemoteError,
            crate::perfdb::StoreError,
            crate::perfdb::settings::DbSettingsError,
            crate::trtperf::TrtPerfFileError,
            crate::results::OutputError,
            crate::history::HistoryError,
            crate::report::ReportError,
            crate::judge::compare::CompareError,
        );
        if cause.downcast_ref::<UserError>().is_some() {
            return Exit::Usage;
        }
    }
    Exit::Infra
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    /// Each layer's error keeps its exit code through the context the edge adds.
    #[test]
    fn layer_errors_keep_their_exit_code_under_context() {
        let io = || std::io::Error::other("disk full");
        let cases: Vec<(anyhow::Error, Exit)> = vec![
            (
                crate::plan::PlanError::WheelName {
                    file: "a b".into(),
                    origin: "--install".into(),
                }
                .into(),
                Exit::Usage,
            ),
            (
                crate::render::RenderError::SrunArg { arg: "a b".into() }.into(),
                Exit::Usage,
            ),
            (
                crate::journal::JournalError::Write {
                    path: "/r/journal.jsonl".into(),
                    error: io(),
                }
                .into(),
                Exit::Infra,
            ),
            (
                crate::slurm::SlurmError::Remote(crate::remote::RemoteError::SshMissing).into(),
                Exit::Usage,
            ),
            (
                crate::remote::RemoteError::RsyncFailed {
                    code: 23,
                    last_lines: "x".into(),
                }
                .into(),
                Exit::Infra,
            ),
            (UserError("bad flag".into()).into(), Exit::Usage),
            (anyhow::anyhow!("anything else"), Exit::Infra),
        ];
        for (e, want) in cases {
            let e = Err::<(), _>(e).context("while running").unwrap_err();
            assert_eq!(exit_of(&e), want, "{e:#}");
        }
    }
}
