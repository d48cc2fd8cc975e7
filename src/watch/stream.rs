//! The job log, streamed over the master connection from a byte offset (kept in the journal).
//! The remote side tails the file and stops by itself shortly after the batch script's exit
//! marker file appears, or at a deadline, so nothing lingers on the login node.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::remote::{Remote, RemoteStream, sh};

/// What a stream reader reports.
#[derive(Debug)]
pub enum StreamMsg {
    /// One line (without the newline) and its length in bytes including the newline.
    Line(String, u64),
    /// The remote tail ended (job done, connection lost, or deadline).
    Ended,
}

/// The prefix of the line the batch script prints last (templates/slurm_launch.sh).
pub const EXIT_LINE: &str = "PERF_RUN_EXIT code=";

/// Parse `PERF_RUN_EXIT code=N …`.
pub fn exit_line_code(line: &str) -> Option<i32> {
    let rest = line.trim_start().strip_prefix(EXIT_LINE)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The remote script: tail from `offset`, stop 2 s after the marker file exists, or at the
/// deadline (seconds).
pub fn tail_script(log: &str, marker: &str, offset: u64, deadline_s: u64) -> String {
    format!(
        "f={}; m={}; tail -s 0.2 -c +{} -F \"$f\" 2>/dev/null & tp=$!; trap 'kill $tp 2>/dev/null' EXIT; \
         end=$((SECONDS + {deadline_s})); while kill -0 $tp 2>/dev/null; do \
         if [ -e \"$m\" ] || (( SECONDS > end )); then sleep 2; kill $tp 2>/dev/null; break; fi; sleep 0.5; done; wait $tp 2>/dev/null; exit 0",
        sh(&[log]),
        sh(&[marker]),
        offset + 1
    )
}

/// The remote script that waits (at most `grace_s`) for the marker file of a job that Slurm
/// already reports as ended, and prints it. Slurm marks a job CANCELLED/TIMEOUT the moment it
/// decides to stop it, while the batch script is still in its exit trap (stopping the steps,
/// then writing the marker); collecting at that moment loses the marker and the end of the log.
/// Exits 4 at once when the batch log does not exist (the script never ran: nothing will come),
/// 3 when the grace time passes without a marker (killed hard, node lost).
pub fn marker_wait_script(log: &str, marker: &str, grace_s: u64) -> String {
    format!(
        "l={}; m={}; end=$((SECONDS + {grace_s})); while :; do \
         if [ -e \"$m\" ]; then cat \"$m\"; exit 0; fi; [ -e \"$l\" ] || exit 4; \
         (( SECONDS >= end )) && exit 3; sleep 0.3; done",
        sh(&[log]),
        sh(&[marker])
    )
}

/// The exit code in a marker file (`<code> <epoch seconds>`).
pub fn marker_file_code(text: &str) -> Option<i32> {
    text.split_whitespace().next()?.parse().ok()
}

/// Start streaming; lines arrive on `tx` tagged with `key`.
pub async fn start<R: Remote>(
    remote: &R,
    key: String,
    log: &str,
    marker: &str,
    offset: u64,
    deadline_s: u64,
    tx: mpsc::UnboundedSender<(String, StreamMsg)>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let stream: RemoteStream = remote
        .stream(&tail_script(log, marker, offset, deadline_s))
        .await?;
    Ok(tokio::spawn(async move {
        let RemoteStream { reader, guard } = stream;
        let mut r = BufReader::new(reader);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    if tx
                        .send((key.clone(), StreamMsg::Line(line, n as u64)))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        drop(guard);
        let _ = tx.send((key, StreamMsg::Ended));
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_file() {
        assert_eq!(marker_file_code("143 1795456958\n"), Some(143));
        assert_eq!(marker_file_code("0 1"), Some(0));
        assert_eq!(marker_file_code(""), None);
    }

    #[test]
    fn marker_wait_script_is_valid_bash_and_stops_without_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("it's.log");
        let marker = dir.path().join("perf_run_exit");
        let run = |grace| {
            std::process::Command::new("bash")
                .arg("-c")
                .arg(marker_wait_script(
                    &log.display().to_string(),
                    &marker.display().to_string(),
                    grace,
                ))
                .output()
                .unwrap()
        };
        assert_eq!(
            run(30).status.code(),
            Some(4),
            "no log: the script never ran"
        );
        std::fs::write(&log, "x\n").unwrap();
        assert_eq!(
            run(0).status.code(),
            Some(3),
            "no marker within the grace time"
        );
        std::fs::write(&marker, "143 1\n").unwrap();
        let o = run(30);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            marker_file_code(&String::from_utf8_lossy(&o.stdout)),
            Some(143)
        );
    }

    #[test]
    fn exit_line() {
        assert_eq!(exit_line_code("PERF_RUN_EXIT code=0 job=5 at x"), Some(0));
        assert_eq!(exit_line_code("PERF_RUN_EXIT code=143 job=5"), Some(143));
        assert_eq!(exit_line_code("echo PERF_RUN_EXIT code=1"), None);
    }
}
