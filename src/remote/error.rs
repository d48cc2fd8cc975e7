//! The remote layer's errors: ssh, bash and rsync trouble on the way to the login node. All
//! are infrastructure (exit 4) except a missing `ssh` or `rsync` client on this machine, which
//! the user installs (exit 2). The cause is part of each sentence (no separate `source`), so
//! `{e}` and `{e:#}` print the same whole line wherever the error is reported.

use std::time::Duration;

use humantime::format_duration;

use crate::error::Exit;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "no login host is known: set CLUSTER_HOST (or --host, or `host:` in the cluster profile)"
    )]
    NoHost,

    #[error("a local command did not finish within {}", format_duration(*.timeout))]
    LocalTimeout { timeout: Duration },

    #[error("a command on {destination} did not answer within {}", format_duration(*.timeout))]
    CommandTimeout {
        destination: String,
        timeout: Duration,
    },

    #[error("rsync did not finish within {}", format_duration(*.timeout))]
    RsyncTimeout { timeout: Duration },

    /// `bash` or `rsync` could not be started.
    #[error("cannot start {program}: {error}")]
    Spawn {
        program: &'static str,
        error: std::io::Error,
    },

    /// `what`: "the streamed command", "the remote stream".
    #[error("{what} has no stdout")]
    NoStdout { what: &'static str },

    #[error("cannot create {path}: {error}")]
    CreateDir { path: String, error: std::io::Error },

    #[error("cannot create {dir} on {on}: {why}")]
    RemoteMkdir {
        dir: String,
        on: String,
        why: String,
    },

    #[error(
        "rsync is not installed on this machine; perf-run needs it to sync files (apt-get install rsync)"
    )]
    RsyncMissing,

    #[error("rsync failed (exit code {code}): {last_lines}")]
    RsyncFailed { code: i32, last_lines: String },

    #[error("the `ssh` client is not installed on this machine (apt-get install openssh-client)")]
    SshMissing,

    #[error("cannot create the ssh control directory {dir}: {error}")]
    ControlDir { dir: String, error: std::io::Error },

    #[error("cannot protect {dir}: {error}")]
    ProtectControlDir { dir: String, error: std::io::Error },

    /// `hint` is empty or one sentence that starts with a space.
    #[error("cannot open an ssh connection to {destination}: {why}.{hint}")]
    Connect {
        destination: String,
        why: String,
        hint: &'static str,
    },

    #[error("the ssh session pool was closed")]
    PoolClosed,

    #[error("the ssh connection to {destination} broke ({why}): {reconnect}")]
    Reconnect {
        destination: String,
        why: String,
        reconnect: Box<RemoteError>,
    },

    #[error(
        "the ssh connection to {destination} broke while a command was running ({why}); it was not retried because running it twice could do harm"
    )]
    NotRetried { destination: String, why: String },

    #[error("the ssh connection to {destination} broke again ({why})")]
    BrokeAgain { destination: String, why: String },

    #[error("reconnecting failed")]
    ReconnectFailed,

    #[error("cannot start a remote stream: {why}")]
    StreamStart { why: String },

    /// The in-process simulator's login node (`slurm::sim`) and test doubles: what it says.
    #[error("{said}")]
    Simulated { said: String },
}

impl RemoteError {
    pub fn exit(&self) -> Exit {
        match self {
            RemoteError::NoHost | RemoteError::RsyncMissing | RemoteError::SshMissing => {
                Exit::Usage
            }
            _ => Exit::Infra,
        }
    }
}
