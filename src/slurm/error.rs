//! The scheduler layer's errors: what sbatch, scancel or the connection under them said. They
//! are infrastructure (exit 4), as they always were; the remote's own error passes through.

use crate::error::Exit;

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// `hint` is empty or one sentence that starts with a space.
    #[error("sbatch refused the job: {why}.{hint}")]
    SbatchRefused { why: String, hint: &'static str },

    #[error("sbatch printed no job id (stdout: `{stdout}`)")]
    NoJobId { stdout: String },

    #[error("sbatch --test-only refused the script: {text}")]
    TestOnlyRefused { text: String },

    #[error("scancel failed: {why}")]
    ScancelFailed { why: String },

    /// slurmctld (or slurmdbd) cannot be reached: what the command printed (the simulator's
    /// outages).
    #[error("{said}")]
    Unreachable { said: String },

    /// The connection to the login node failed, unchanged.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

impl SlurmError {
    pub fn exit(&self) -> Exit {
        match self {
            SlurmError::Remote(e) => e.exit(),
            _ => Exit::Infra,
        }
    }
}
