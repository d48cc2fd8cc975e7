//! The simulated login node ([`SimRemote`]): the log stream (the `tail` script of
//! `watch::stream`), the marker wait and the collection of a job's files, for the same jobs the
//! [`super::SimCluster`] runs.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::SimCluster;
use crate::plan::workspace;
use crate::remote::{ExecOutput, Remote, RemoteError, RemoteStats, RemoteStream, SyncStats};

/// The login node of a [`SimCluster`]: its jobs' logs and markers, streamed, waited for and
/// collected the way `watch::stream` and `watch::collect` ask for them.
pub struct SimRemote {
    pub(super) cluster: Arc<SimCluster>,
    pub(super) stats: RemoteStats,
}

/// The value of `name=` in a generated script (`f=/path; m='/a path'`): quoted by
/// `shell::sh` only when it needs to be.
pub(super) fn quoted(script: &str, name: &str) -> Option<String> {
    let at = script.find(&format!("{name}="))? + name.len() + 1;
    let rest = &script[at..];
    if let Some(q) = rest.strip_prefix('\'') {
        return Some(q[..q.find('\'')?].to_string());
    }
    let end = rest.find([';', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The number after `prefix` in `script`.
pub(super) fn number_after(script: &str, prefix: &str) -> Option<u64> {
    let rest = &script[script.find(prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(super) fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

pub(super) fn job_of_log(path: &str) -> Option<String> {
    let file = path.rsplit('/').next()?;
    Some(
        file.strip_prefix("slurm-")?
            .strip_suffix(".log")?
            .to_string(),
    )
}

/// Stops the job's log task when the watcher drops its stream.
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The simulated login node cannot be reached (an outage of the timeline).
fn down() -> RemoteError {
    RemoteError::Simulated {
        said: "the connection to the simulated login node is down".into(),
    }
}

/// A local file of the simulated transfer could not be written.
fn io(path: &Path, error: std::io::Error) -> RemoteError {
    RemoteError::CreateDir {
        path: path.display().to_string(),
        error,
    }
}

impl Remote for SimRemote {
    fn describe(&self) -> String {
        "the simulated cluster".into()
    }

    async fn exec(
        &self,
        script: &str,
        _timeout: Duration,
        _idem: bool,
    ) -> Result<ExecOutput, RemoteError> {
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        if self.cluster.unreachable(self.cluster.now()) {
            return Err(down());
        }
        let ok = |code: i32, out: String| ExecOutput {
            code: Some(code),
            stdout: out.into_bytes(),
            stderr: Vec::new(),
        };
        // The marker wait of `watch::stream::marker_wait_script`.
        if script.contains("perf_run_marker_done") && script.contains("cat \"$m\"") {
            let Some(marker) = quoted(script, "m") else {
                return Ok(ok(4, String::new()));
            };
            let attempt = number_after(script, "-ge ").unwrap_or(0) as u32;
            return Ok(match self.cluster.job_in(parent(&marker)) {
                Some((_, v)) => match v.marker {
                    Some((code, a)) if a >= attempt => ok(0, format!("{code} 0 {a}\n")),
                    _ if v.log.is_empty() => ok(4, String::new()),
                    _ => ok(3, String::new()),
                },
                None => ok(4, String::new()),
            });
        }
        Ok(ok(0, String::new()))
    }

    async fn stream(&self, script: &str) -> Result<RemoteStream, RemoteError> {
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let cluster = self.cluster.clone();
        if cluster.unreachable(cluster.now()) {
            return Err(down());
        }
        let log = quoted(script, "f").unwrap_or_default();
        let Some(id) = job_of_log(&log) else {
            return Err(RemoteError::Simulated {
                said: format!("the simulated login node streams only job logs, not `{log}`"),
            });
        };
        // `tail -c +N`: from byte N-1.
        let mut offset = number_after(script, "-c +").unwrap_or(1).saturating_sub(1) as usize;
        let attempt = number_after(script, "-ge ").unwrap_or(0) as u32;
        let deadline = number_after(script, "SECONDS + ").unwrap_or(86_400) as f64;
        let (mut writer, reader) = tokio::io::duplex(1 << 16);
        let task = tokio::spawn(async move {
            let started = cluster.now();
            let mut done_at: Option<f64> = None;
            loop {
                let changed = cluster.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                let now = cluster.now();
                if cluster.unreachable(now) {
                    return;
                }
                let Some(v) = cluster.job_view(&id) else {
                    return;
                };
                if v.log.len() > offset {
                    if writer.write_all(&v.log.as_bytes()[offset..]).await.is_err() {
                        return;
                    }
                    offset = v.log.len();
                }
                // The tail stops 2 s after this attempt's marker (or a later one), or at its
                // deadline.
                if done_at.is_none() && v.marker.is_some_and(|(_, a)| a >= attempt) {
                    done_at = Some(now + 2.0);
                }
                if done_at.is_some_and(|d| now >= d) || now - started > deadline {
                    return;
                }
                // Wake at the job's next scripted change, its end of tail, its deadline or a
                // scancel (as `tail -s 0.2` would see them, give or take 0.2 s), without waking
                // a thousand idle tails five times a second.
                let next = cluster
                    .next_change_of(&id, now)
                    .unwrap_or(f64::MAX)
                    .min(done_at.unwrap_or(f64::MAX))
                    .min(started + deadline + 0.5)
                    .max(now + 0.2);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(next - now)) => {}
                    _ = &mut changed => {}
                }
            }
        });
        Ok(RemoteStream {
            reader: Box::pin(reader),
            guard: Box::new(AbortOnDrop(task)),
        })
    }

    async fn sync_to(
        &self,
        _local_dir: &Path,
        _remote_dir: &str,
        _excludes: &[String],
        _delete: bool,
        _timeout: Duration,
    ) -> Result<SyncStats, RemoteError> {
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(SyncStats::default())
    }

    /// The job's batch log and exit marker, as the batch script left them.
    async fn sync_from(
        &self,
        remote_dir: &str,
        local_dir: &Path,
        _excludes: &[String],
        _timeout: Duration,
    ) -> Result<SyncStats, RemoteError> {
        self.stats.syncs.fetch_add(1, Ordering::Relaxed);
        if self.cluster.unreachable(self.cluster.now()) {
            return Err(down());
        }
        std::fs::create_dir_all(local_dir).map_err(|e| io(local_dir, e))?;
        let mut st = SyncStats::default();
        if let Some((id, v)) = self.cluster.job_in(remote_dir.trim_end_matches('/')) {
            if !v.log.is_empty() {
                let p = local_dir.join(workspace::batch_log(&id));
                std::fs::write(&p, &v.log).map_err(|e| io(&p, e))?;
                st.files_transferred += 1;
                st.bytes_received += v.log.len() as u64;
            }
            if let Some((code, a)) = v.marker {
                let p = local_dir.join(workspace::EXIT_MARKER);
                std::fs::write(&p, format!("{code} 0 {a}\n")).map_err(|e| io(&p, e))?;
                st.files_transferred += 1;
            }
        }
        Ok(st)
    }

    fn stats(&self) -> &RemoteStats {
        &self.stats
    }
}
