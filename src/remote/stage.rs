//! Staging: the remote run directory and the generated files of every case.

use std::path::Path;
use std::time::Duration;

use crate::remote::{QUICK, Remote, RemoteError};
use crate::shell::sh;

/// Make sure the remote run directory exists and holds the generated files.
pub async fn stage_cases<R: Remote>(
    remote: &R,
    run_cases_dir: &Path,
    remote_run_dir: &str,
) -> Result<crate::remote::SyncStats, RemoteError> {
    let o = remote
        .exec(&format!("mkdir -p {}", sh(&[remote_run_dir])), QUICK, true)
        .await?;
    if !o.success() {
        return Err(RemoteError::RemoteMkdir {
            dir: remote_run_dir.to_string(),
            on: remote.describe(),
            why: o.stderr_summary(),
        });
    }
    remote
        .sync_to(
            run_cases_dir,
            remote_run_dir,
            &["artifacts/".to_string()],
            false,
            Duration::from_secs(600),
        )
        .await
}
