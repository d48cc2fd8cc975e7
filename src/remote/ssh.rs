//! SSH transport: one openssh ControlMaster (native mux) per perf-run process, reused by every
//! command, stream and rsync. Strict host-key checking (no trust-on-first-use), an idle-limited
//! ControlPersist so a killed perf-run leaves no master behind for long, a short control
//! directory (unix socket paths are limited to ~108 bytes), bounded concurrent sessions under
//! sshd's MaxSessions, a hard timeout on every call, and a reconnect with backoff when the
//! master dies (crates.md pitfall 4).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::RemoteError;
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};
use tokio::sync::{RwLock, Semaphore};

use super::{ExecOutput, Remote, RemoteStats, RemoteStream, SyncStats, rsync};
use crate::output;

/// How to reach the login node.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Host name or ssh config alias.
    pub host: String,
    /// A configured login user; `None`: ssh's config decides (no `-l`).
    pub user: Option<String>,
    /// `ssh -F`: the ssh config file to use instead of ssh's default ones.
    pub config_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// The master exits after this long without any session (e.g. after `kill -9` of perf-run).
    pub idle_persist: Duration,
    /// Concurrent short commands (sshd's MaxSessions defaults to 10 per connection).
    pub max_exec: usize,
    /// Concurrent long-running streams (log tails). With the keepalive session, 3 + 6 + 1 = 10,
    /// sshd's default MaxSessions.
    pub max_streams: usize,
}

impl SshOptions {
    pub fn new(host: &str, user: Option<&str>) -> SshOptions {
        SshOptions {
            host: host.to_string(),
            user: user.map(str::to_string),
            config_file: None,
            connect_timeout: Duration::from_secs(20),
            // PERF_RUN_SSH_IDLE_PERSIST (seconds): tests shorten it to prove that a quiet
            // phase (a requeued job pending) keeps the master up through its open log stream.
            idle_persist: std::env::var("PERF_RUN_SSH_IDLE_PERSIST")
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|s| *s > 0)
                .map_or(Duration::from_secs(60), Duration::from_secs),
            max_exec: 3,
            max_streams: 6,
        }
    }

    fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

pub struct SshRemote {
    opts: SshOptions,
    session: RwLock<Arc<Session>>,
    exec_slots: Arc<Semaphore>,
    stream_slots: Arc<Semaphore>,
    stats: RemoteStats,
    control_dir: PathBuf,
    /// An idle remote `cat` held open for as long as this process lives, so the master never
    /// idles out between sessions (a requeued job's pending phase, a poll pause while
    /// accounting lags) and a reconnect is only ever for a real loss. When perf-run dies its
    /// end of the session closes, `cat` sees end of input, and the master leaves after
    /// `idle_persist` as before.
    keepalive: std::sync::Mutex<Option<openssh::Child<Arc<Session>>>>,
}

/// Remove `.ssh-connection*` directories left by earlier perf-run processes (killed before
/// they could clean up) whose master no longer answers. A directory younger than `min_age`
/// is left alone: another process may be starting its master in it right now.
pub fn clean_stale_control_dirs(dir: &Path, min_age: Duration) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in rd.flatten() {
        let path = e.path();
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(".ssh-connection") || !path.is_dir() {
            continue;
        }
        let young = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_none_or(|age| age < min_age);
        if young {
            continue;
        }
        let alive = std::os::unix::net::UnixStream::connect(path.join("master")).is_ok();
        if !alive && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A short, private directory for the control socket: `/tmp/prun-<uid>`, or
/// `$PERF_RUN_SSH_CONTROL_DIR` (keep it short: unix socket paths are limited to ~108 bytes).
fn control_dir() -> Result<PathBuf, RemoteError> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::var_os("PERF_RUN_SSH_CONTROL_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/prun-{uid}")));
    std::fs::create_dir_all(&dir).map_err(|error| RemoteError::ControlDir {
        dir: dir.display().to_string(),
        error,
    })?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(|error| {
        RemoteError::ProtectControlDir {
            dir: dir.display().to_string(),
            error,
        }
    })?;
    clean_stale_control_dirs(&dir, Duration::from_secs(120));
    Ok(dir)
}

async fn connect_once(opts: &SshOptions, dir: &Path) -> Result<Session, RemoteError> {
    which::which("ssh").map_err(|_| RemoteError::SshMissing)?;
    let mut b = SessionBuilder::default();
    b.known_hosts_check(KnownHosts::Strict)
        .control_directory(dir)
        // Not openssh's clean_history_control_directory: it removes every `.ssh-connection*`
        // directory, also the live master of another perf-run (a second run, or `status`
        // while `run` watches), which then loses its socket and has to reconnect.
        // `clean_stale_control_dirs` removes only the dead ones.
        .connect_timeout(opts.connect_timeout)
        .server_alive_interval(Duration::from_secs(15))
        .control_persist(ControlPersist::IdleFor(
            NonZeroUsize::new(opts.idle_persist.as_secs().max(1) as usize)
                .unwrap_or(NonZeroUsize::MIN),
        ));
    // A user only when one was configured: otherwise ssh's config (User, and with it
    // ProxyJump, Port and IdentityFile for the alias) decides, as it does for `ssh HOST`.
    if let Some(u) = &opts.user {
        b.user(u.clone());
    }
    if let Some(f) = &opts.config_file {
        b.config_file(f);
    }
    b.connect_mux(&opts.host).await.map_err(|e| {
        let detail = format!("{e:#}");
        let cause = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        let all = format!("{detail} {cause}");
        let hint = if all.contains("host key") || all.contains("Host key verification failed") {
            " perf-run checks host keys strictly: add the login node's key to your known_hosts (verify the fingerprint with the cluster admins) and try again."
        } else if all.contains("Permission denied") {
            " The server refused the login: check the user name and that your key is loaded (ssh-add -l) or set in ~/.ssh/config."
        } else if all.contains("Could not resolve") || all.contains("Name or service not known") {
            " The host name does not resolve: check CLUSTER_HOST or your ssh config alias."
        } else {
            ""
        };
        RemoteError::Connect {
            destination: opts.destination(),
            why: cause.trim().trim_end_matches('.').to_string()
                + if cause.is_empty() { &detail } else { "" },
            hint,
        }
    })
}

/// Open the keepalive session of [`SshRemote::keepalive`]. Best effort: without it the
/// master still works, it may only idle out (and be reconnected) in a long quiet phase.
async fn keepalive_session(s: &Arc<Session>) -> Option<openssh::Child<Arc<Session>>> {
    Session::to_command(s.clone(), "cat")
        .stdin(openssh::Stdio::piped())
        .stdout(openssh::Stdio::null())
        .stderr(openssh::Stdio::null())
        .spawn()
        .await
        .ok()
}

impl SshRemote {
    /// Open the master connection (the one handshake of this process).
    pub async fn connect(opts: SshOptions) -> Result<SshRemote, RemoteError> {
        let dir = control_dir()?;
        let session = connect_once(&opts, &dir).await?;
        output::detail(format!(
            "ssh master for {} at {}",
            opts.destination(),
            session.control_socket().display()
        ));
        let stats = RemoteStats::default();
        stats.connects.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(session);
        let keepalive = keepalive_session(&session).await;
        Ok(SshRemote {
            exec_slots: Arc::new(Semaphore::new(opts.max_exec.max(1))),
            stream_slots: Arc::new(Semaphore::new(opts.max_streams.max(1))),
            opts,
            session: RwLock::new(session),
            stats,
            control_dir: dir,
            keepalive: std::sync::Mutex::new(keepalive),
        })
    }

    async fn current(&self) -> Arc<Session> {
        self.session.read().await.clone()
    }

    /// Replace a broken master, with backoff. Only the first caller reconnects; the others
    /// find the new session already in place.
    async fn reconnect(&self, broken: &Arc<Session>) -> Result<Arc<Session>, RemoteError> {
        let mut guard = self.session.write().await;
        if !Arc::ptr_eq(&guard, broken) {
            return Ok(guard.clone());
        }
        if guard.check().await.is_ok() {
            return Ok(guard.clone());
        }
        let mut delay = Duration::from_millis(500);
        let mut last_err = None;
        for attempt in 1..=6 {
            output::warn(format!(
                "the ssh connection to {} was lost; reconnecting (attempt {attempt} of 6)",
                self.opts.destination()
            ));
            match connect_once(&self.opts, &self.control_dir).await {
                Ok(s) => {
                    self.stats.connects.fetch_add(1, Ordering::Relaxed);
                    let s = Arc::new(s);
                    *guard = s.clone();
                    let keep = keepalive_session(&s).await;
                    if let Ok(mut k) = self.keepalive.lock() {
                        *k = keep;
                    }
                    output::info(format!("reconnected to {}", self.opts.destination()));
                    return Ok(s);
                }
                Err(e) => last_err = Some(e),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(15));
        }
        Err(last_err.unwrap_or(RemoteError::ReconnectFailed))
    }

    /// The control socket of the master, for rsync's `ssh -S`.
    async fn ssh_for_rsync(&self) -> String {
        let s = self.current().await;
        let config = self
            .opts
            .config_file
            .as_ref()
            .map(|f| format!(" -F {}", crate::shell::sh(&[&f.display().to_string()])))
            .unwrap_or_default();
        format!(
            "ssh{config} -S {} -o ControlMaster=no -o BatchMode=yes -o StrictHostKeyChecking=yes",
            s.control_socket().display()
        )
    }

    fn rsync_remote(&self, path: &str) -> String {
        format!("{}:{}", self.opts.destination(), rsync::slash(path))
    }

    pub async fn close(self) {
        // The keepalive session holds a reference to the master: end it first.
        if let Ok(mut k) = self.keepalive.lock() {
            k.take();
        }
        let s = self.session.into_inner();
        if let Ok(s) = Arc::try_unwrap(s) {
            let _ = s.close().await;
        }
    }

    async fn exec_on(
        &self,
        s: &Session,
        script: &str,
        timeout: Duration,
    ) -> Result<ExecOutput, ExecErr> {
        let mut cmd = s.command("bash");
        cmd.arg("-c").arg(script).stdin(openssh::Stdio::null());
        match tokio::time::timeout(timeout, cmd.output()).await {
            Err(_) => Err(ExecErr::Timeout),
            Ok(Err(e)) => Err(ExecErr::Transport(e)),
            Ok(Ok(out)) => Ok(ExecOutput {
                code: out.status.code(),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
        }
    }
}

enum ExecErr {
    Timeout,
    Transport(openssh::Error),
}

impl Remote for SshRemote {
    fn describe(&self) -> String {
        self.opts.destination()
    }

    async fn exec(
        &self,
        script: &str,
        timeout: Duration,
        idempotent: bool,
    ) -> Result<ExecOutput, RemoteError> {
        let _permit = self
            .exec_slots
            .acquire()
            .await
            .map_err(|_| RemoteError::PoolClosed)?;
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let s = self.current().await;
        match self.exec_on(&s, script, timeout).await {
            Ok(o) => Ok(o),
            Err(ExecErr::Timeout) => Err(RemoteError::CommandTimeout {
                destination: self.opts.destination(),
                timeout,
            }),
            Err(ExecErr::Transport(e)) => {
                let s2 = self
                    .reconnect(&s)
                    .await
                    .map_err(|r| RemoteError::Reconnect {
                        destination: self.opts.destination(),
                        why: e.to_string(),
                        reconnect: Box::new(r),
                    })?;
                if !idempotent {
                    return Err(RemoteError::NotRetried {
                        destination: self.opts.destination(),
                        why: e.to_string(),
                    });
                }
                self.stats.execs.fetch_add(1, Ordering::Relaxed);
                match self.exec_on(&s2, script, timeout).await {
                    Ok(o) => Ok(o),
                    Err(ExecErr::Timeout) => Err(RemoteError::CommandTimeout {
                        destination: self.opts.destination(),
                        timeout,
                    }),
                    Err(ExecErr::Transport(e)) => Err(RemoteError::BrokeAgain {
                        destination: self.opts.destination(),
                        why: e.to_string(),
                    }),
                }
            }
        }
    }

    async fn stream(&self, script: &str) -> Result<RemoteStream, RemoteError> {
        let permit = self
            .stream_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RemoteError::PoolClosed)?;
        self.stats.execs.fetch_add(1, Ordering::Relaxed);
        let mut s = self.current().await;
        for attempt in 0..2 {
            let spawned = Session::to_command(s.clone(), "bash")
                .arg("-c")
                .arg(script)
                .stdin(openssh::Stdio::null())
                .stdout(openssh::Stdio::piped())
                .stderr(openssh::Stdio::null())
                .spawn()
                .await;
            match spawned {
                Ok(mut child) => {
                    let stdout = child.stdout().take().ok_or(RemoteError::NoStdout {
                        what: "the remote stream",
                    })?;
                    return Ok(RemoteStream {
                        reader: Box::pin(stdout),
                        guard: Box::new((child, permit)),
                    });
                }
                Err(e) if attempt == 0 => {
                    output::detail(format!(
                        "starting a remote stream failed ({e}); reconnecting"
                    ));
                    s = self.reconnect(&s).await?;
                }
                Err(e) => {
                    return Err(RemoteError::StreamStart { why: e.to_string() });
                }
            }
        }
        unreachable!("the loop returns")
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
        let mk = format!("mkdir -p {}", crate::shell::sh(&[remote_dir]));
        let o = self.exec(&mk, super::QUICK, true).await?;
        if !o.success() {
            return Err(RemoteError::RemoteMkdir {
                dir: remote_dir.to_string(),
                on: self.describe(),
                why: o.stderr_summary(),
            });
        }
        let args = rsync::transfer_args(
            excludes,
            delete,
            rsync::local_slash(local_dir),
            self.rsync_remote(remote_dir),
        );
        let e = self.ssh_for_rsync().await;
        rsync::run(Some(&e), &args, timeout).await
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
            self.rsync_remote(remote_dir),
            rsync::local_slash(local_dir),
        );
        let e = self.ssh_for_rsync().await;
        rsync::run(Some(&e), &args, timeout).await
    }

    fn stats(&self) -> &RemoteStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dead_old_control_dirs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join(".ssh-connectionLIVE");
        let dead = dir.path().join(".ssh-connectionDEAD");
        let other = dir.path().join("keep-me");
        for d in [&live, &dead, &other] {
            std::fs::create_dir(d).unwrap();
        }
        // A listening socket stands in for a running master; the dead one has a socket file
        // nobody listens on (a master killed with its perf-run).
        let _listener = std::os::unix::net::UnixListener::bind(live.join("master")).unwrap();
        drop(std::os::unix::net::UnixListener::bind(dead.join("master")).unwrap());
        // Too young: nothing is touched.
        assert_eq!(
            clean_stale_control_dirs(dir.path(), Duration::from_secs(3600)),
            0
        );
        assert!(dead.exists());
        assert_eq!(clean_stale_control_dirs(dir.path(), Duration::ZERO), 1);
        assert!(live.join("master").exists(), "a live master must survive");
        assert!(!dead.exists());
        assert!(other.exists());
    }
}

/// Against the test services' sshd (`scripts/test-cluster up`; skipped without them).
#[cfg(test)]
mod cluster_tests {
    use super::*;

    #[tokio::test]
    async fn the_master_outlives_a_quiet_phase_longer_than_its_idle_limit() {
        let Ok(config) = std::env::var("PERFCI_SSH_CONFIG") else {
            return;
        };
        let alias = std::env::var("PERFCI_SSH_ALIAS").unwrap_or_else(|_| "slurm-login".into());
        let mut opts = SshOptions::new(&alias, None);
        opts.config_file = Some(PathBuf::from(config));
        opts.idle_persist = Duration::from_secs(1);
        let r = SshRemote::connect(opts).await.expect("connect");
        // No session of ours is open for three times the idle limit: only the keepalive
        // session keeps the master (and with it the one handshake) alive.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let o = r
            .exec("echo up", Duration::from_secs(10), true)
            .await
            .expect("exec");
        assert!(o.success());
        assert_eq!(
            r.stats().connects.load(Ordering::Relaxed),
            1,
            "the master idled out and was reconnected"
        );
        r.close().await;
    }
}
