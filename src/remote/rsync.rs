//! rsync invocations shared by both transports: delta transfer, `--stats` parsed, `-s` so
//! remote paths are not re-split by the remote shell.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use super::{RemoteError, SyncStats};

/// Run rsync with `args` (sources and destination last) and parse `--stats`.
pub async fn run(
    ssh_cmd: Option<&str>,
    args: &[String],
    timeout: Duration,
) -> Result<SyncStats, RemoteError> {
    which::which("rsync").map_err(|_| RemoteError::RsyncMissing)?;
    let mut cmd = tokio::process::Command::new("rsync");
    cmd.args(["-a", "-s", "--partial", "--stats"]);
    if let Some(e) = ssh_cmd {
        cmd.arg("-e").arg(e);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| RemoteError::RsyncTimeout { timeout })?
        .map_err(|error| RemoteError::Spawn {
            program: "rsync",
            error,
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        return Err(RemoteError::RsyncFailed {
            code: out.status.code().unwrap_or(-1),
            last_lines: last
                .iter()
                .rev()
                .take(2)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join(" / "),
        });
    }
    Ok(parse_stats(&String::from_utf8_lossy(&out.stdout)))
}

fn num_after(text: &str, label: &str) -> u64 {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or("0")
                .replace(',', "")
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

pub fn parse_stats(text: &str) -> SyncStats {
    SyncStats {
        files_transferred: num_after(text, "Number of regular files transferred:"),
        bytes_sent: num_after(text, "Total bytes sent:"),
        bytes_received: num_after(text, "Total bytes received:"),
    }
}

/// rsync's `--exclude` arguments.
pub fn excludes(patterns: &[String]) -> Vec<String> {
    patterns.iter().map(|p| format!("--exclude={p}")).collect()
}

/// The arguments of one transfer: excludes, `--delete` when asked, then source and destination.
pub fn transfer_args(excludes_: &[String], delete: bool, src: String, dst: String) -> Vec<String> {
    let mut args = excludes(excludes_);
    if delete {
        args.push("--delete".into());
    }
    args.push(src);
    args.push(dst);
    args
}

/// The arguments of a collection (job workspace → here): like [`transfer_args`], but links
/// that point out of the copied tree (and absolute links) are not copied (`--safe-links`), so
/// code under test cannot make perf-run read a file of this machine (security review B2).
pub fn collect_args(excludes_: &[String], src: String, dst: String) -> Vec<String> {
    let mut args = vec!["--safe-links".to_string()];
    args.extend(transfer_args(excludes_, false, src, dst));
    args
}

/// `dir/` with exactly one trailing slash (rsync: copy the contents).
pub fn slash(dir: &str) -> String {
    format!("{}/", dir.trim_end_matches('/'))
}

pub fn local_slash(p: &Path) -> String {
    slash(&p.display().to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_stats() {
        let s = super::parse_stats(
            "Number of files: 5 (reg: 3, dir: 2)\nNumber of regular files transferred: 2\nTotal bytes sent: 1,234\nTotal bytes received: 56\n",
        );
        assert_eq!(
            (s.files_transferred, s.bytes_sent, s.bytes_received),
            (2, 1234, 56)
        );
    }
}
