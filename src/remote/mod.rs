//! Reaching the cluster's login node: `trait Remote` with an SSH implementation (one openssh
//! ControlMaster per perf-run process, strict host keys, bounded sessions, reconnect with
//! backoff) and a local one for `CLUSTER_TYPE=local` (perf-run already runs on the login node).
//!
//! Every remote command is a bash script built from quoted words (`shell::quote_word`);
//! nothing user-supplied is pasted into a command line unquoted.

pub mod cluster;
pub mod error;
pub mod local;
pub mod rsync;
pub mod ssh;
pub mod stage;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncRead;

pub use cluster::{ClusterRef, connect};
pub use error::RemoteError;
pub use local::LocalRemote;
pub use ssh::{SshOptions, SshRemote};

/// What a remote command returned.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// The last non-empty stderr line, for one-sentence error messages.
    pub fn stderr_summary(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        match lines.len() {
            0 => format!(
                "exit code {}",
                self.code.map(|c| c.to_string()).unwrap_or("?".into())
            ),
            _ => lines[lines.len().saturating_sub(2)..].join(" / "),
        }
    }
}

/// A long-running remote command's stdout (e.g. `tail -F` of the job log). Dropping it ends
/// the local side; the remote process ends on its next write or at its own timeout.
pub struct RemoteStream {
    pub reader: Pin<Box<dyn AsyncRead + Send>>,
    pub guard: Box<dyn std::any::Any + Send>,
}

/// Counters for the benchmarks and the end-of-run report.
#[derive(Debug, Default)]
pub struct RemoteStats {
    /// SSH handshakes (new master connections); 0 for local.
    pub connects: AtomicU64,
    /// Commands run over the connection.
    pub execs: AtomicU64,
    /// rsync transfers.
    pub syncs: AtomicU64,
}

impl RemoteStats {
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.connects.load(Ordering::Relaxed),
            self.execs.load(Ordering::Relaxed),
            self.syncs.load(Ordering::Relaxed),
        )
    }
}

/// What rsync reported.
#[derive(Debug, Clone, Default)]
pub struct SyncStats {
    pub files_transferred: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// The remote side of the pipeline.
pub trait Remote: Send + Sync {
    /// A short description for messages (`perfci@slurm-login`, `local`).
    fn describe(&self) -> String;

    /// Run a bash script; fail if it does not finish within `timeout`. Retries once after a
    /// reconnect when the transport broke and `idempotent` is true.
    fn exec(
        &self,
        script: &str,
        timeout: Duration,
        idempotent: bool,
    ) -> impl Future<Output = Result<ExecOutput, RemoteError>> + Send;

    /// Start a long-running script and stream its stdout.
    fn stream(
        &self,
        script: &str,
    ) -> impl Future<Output = Result<RemoteStream, RemoteError>> + Send;

    /// rsync `local_dir/` to `remote_dir/` (delta transfer over the same connection).
    fn sync_to(
        &self,
        local_dir: &Path,
        remote_dir: &str,
        excludes: &[String],
        delete: bool,
        timeout: Duration,
    ) -> impl Future<Output = Result<SyncStats, RemoteError>> + Send;

    /// rsync `remote_dir/` into `local_dir/`.
    fn sync_from(
        &self,
        remote_dir: &str,
        local_dir: &Path,
        excludes: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<SyncStats, RemoteError>> + Send;

    fn stats(&self) -> &RemoteStats;
}

/// Either transport, chosen by `CLUSTER_TYPE`.
pub enum AnyRemote {
    /// Boxed: the ssh transport is much larger than the local one.
    Ssh(Box<SshRemote>),
    Local(LocalRemote),
}

impl AnyRemote {
    pub async fn close(self) {
        if let AnyRemote::Ssh(s) = self {
            (*s).close().await;
        }
    }
}

impl Remote for AnyRemote {
    fn describe(&self) -> String {
        match self {
            AnyRemote::Ssh(s) => s.describe(),
            AnyRemote::Local(l) => l.describe(),
        }
    }
    async fn exec(
        &self,
        script: &str,
        timeout: Duration,
        idempotent: bool,
    ) -> Result<ExecOutput, RemoteError> {
        match self {
            AnyRemote::Ssh(s) => s.exec(script, timeout, idempotent).await,
            AnyRemote::Local(l) => l.exec(script, timeout, idempotent).await,
        }
    }
    async fn stream(&self, script: &str) -> Result<RemoteStream, RemoteError> {
        match self {
            AnyRemote::Ssh(s) => s.stream(script).await,
            AnyRemote::Local(l) => l.stream(script).await,
        }
    }
    async fn sync_to(
        &self,
        local_dir: &Path,
        remote_dir: &str,
        excludes: &[String],
        delete: bool,
        timeout: Duration,
    ) -> Result<SyncStats, RemoteError> {
        match self {
            AnyRemote::Ssh(s) => {
                s.sync_to(local_dir, remote_dir, excludes, delete, timeout)
                    .await
            }
            AnyRemote::Local(l) => {
                l.sync_to(local_dir, remote_dir, excludes, delete, timeout)
                    .await
            }
        }
    }
    async fn sync_from(
        &self,
        remote_dir: &str,
        local_dir: &Path,
        excludes: &[String],
        timeout: Duration,
    ) -> Result<SyncStats, RemoteError> {
        match self {
            AnyRemote::Ssh(s) => s.sync_from(remote_dir, local_dir, excludes, timeout).await,
            AnyRemote::Local(l) => l.sync_from(remote_dir, local_dir, excludes, timeout).await,
        }
    }
    fn stats(&self) -> &RemoteStats {
        match self {
            AnyRemote::Ssh(s) => s.stats(),
            AnyRemote::Local(l) => l.stats(),
        }
    }
}

/// Default time limit for a quick remote command (a scheduler query, mkdir, cat).
pub const QUICK: Duration = Duration::from_secs(60);
