//! `CLUSTER_TYPE=local`: perf-run runs on the login node; commands run under local bash.

use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::RemoteError;

use super::{ExecOutput, Remote, RemoteStats, RemoteStream, SyncStats, rsync};

#[derive(Default)]
pub struct LocalRemote {
    stats: RemoteStats,
}

impl LocalRemote {
    pub fn new() -> LocalRemote {
        LocalRemote::default()
    }
}

impl Remote for LocalRemote {
    fn describe(&self) -> String {
        "this machine (CLUSTER_TYPE=local)".into()
    }

    async fn exec(
        &self,
        script: &str,
        timeout: Duration,
        _idempotent: bool,
    ) -> Result<ExecOutput, RemoteError> {
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let out = tokio::time::timeout(timeout, cmd.output())
            .await
            .map_err(|_| RemoteError::LocalTimeout { timeout })?
            .map_err(|error| RemoteError::Spawn {
                program: "bash",
                error,
            })?;
        Ok(ExecOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    async fn stream(&self, script: &str) -> Result<RemoteStream, RemoteError> {
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let mut child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| RemoteError::Spawn {
                program: "bash",
                error,
            })?;
        let stdout = child.stdout.take().ok_or(RemoteError::NoStdout {
            what: "the streamed command",
        })?;
        Ok(RemoteStream {
            reader: Box::pin(stdout),
            guard: Box::new(child),
        })
    }

    async fn sync_to(
        &self,
        local_dir: &Path,
        remote_dir: &str,
        excludes: &[String],
        delete: bool,
        timeout: Duration,
    ) -> Result<SyncStats, RemoteError> {
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        tokio::fs::create_dir_all(remote_dir)
            .await
            .map_err(|error| RemoteError::CreateDir {
                path: remote_dir.to_string(),
                error,
            })?;
        let args = rsync::transfer_args(
            excludes,
            delete,
            rsync::local_slash(local_dir),
            rsync::slash(remote_dir),
        );
        rsync::run(None, &args, timeout).await
    }

    async fn sync_from(
        &self,
        remote_dir: &str,
        local_dir: &Path,
        excludes: &[String],
        timeout: Duration,
    ) -> Result<SyncStats, RemoteError> {
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        tokio::fs::create_dir_all(local_dir)
            .await
            .map_err(|error| RemoteError::CreateDir {
                path: local_dir.display().to_string(),
                error,
            })?;
        let args = rsync::collect_args(
            excludes,
            rsync::slash(remote_dir),
            rsync::local_slash(local_dir),
        );
        rsync::run(None, &args, timeout).await
    }

    fn stats(&self) -> &RemoteStats {
        &self.stats
    }
}
