//! The watch layer's errors: a pacing setting that is not a number of seconds (exit 2), and
//! what the journal or the scheduler said while submitting (their own exit codes).

use crate::error::Exit;
use crate::journal::JournalError;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// `PERF_RUN_POLL_MIN`, `PERF_RUN_POLL_MAX`, `PERF_RUN_HEARTBEAT`, `PERF_RUN_MARKER_GRACE`.
    #[error(
        "{name}=`{value}` is not a number of seconds between 0 and 604800; unset it for the default ({default} s)."
    )]
    Pacing {
        name: String,
        value: String,
        default: f64,
    },

    #[error(transparent)]
    Journal(#[from] JournalError),

    /// The scheduler (or the remote under it) failed, unchanged.
    #[error(transparent)]
    Scheduler(#[from] crate::slurm::SlurmError),
}

impl WatchError {
    pub fn exit(&self) -> Exit {
        match self {
            WatchError::Pacing { .. } => Exit::Usage,
            WatchError::Journal(e) => e.exit(),
            WatchError::Scheduler(e) => e.exit(),
        }
    }
}
