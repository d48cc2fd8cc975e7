//! The job log, streamed over the master connection from a byte offset (kept in the journal).
//! The remote side tails the file and stops by itself shortly after the batch script's exit
//! marker file appears, or at a deadline, so nothing lingers on the login node.

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::remote::{Remote, RemoteStream};
use crate::shell::sh;

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

/// The attempt a `PERF_RUN_EXIT` line belongs to (`attempt=N`; 0 when the line has none, as
/// a job rendered by an older perf-run prints it).
pub fn exit_line_attempt(line: &str) -> u32 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("attempt="))
        .and_then(|a| a.parse().ok())
        .unwrap_or(0)
}

/// The attempt a `perf-run: job N starting on … attempt=A` line announces.
pub fn start_line_attempt(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("perf-run: job ")?;
    rest.contains(" starting on ").then_some(())?;
    Some(exit_line_attempt(rest))
}

/// A bash function `perf_run_marker_done` that succeeds when the marker file `$m` exists and
/// belongs to attempt `attempt` or later (`<code> <time> <attempt>`; no third word: attempt 0).
/// A requeued job's stale marker from an earlier attempt does not end the next one.
fn marker_done_fn(attempt: u32) -> String {
    format!(
        "perf_run_marker_done() {{ [ -e \"$m\" ] || return 1; local c t a; read -r c t a < \"$m\" 2>/dev/null || true; [ \"${{a:-0}}\" -ge {attempt} ] 2>/dev/null; }}; "
    )
}

/// The remote script: tail from `offset`, stop 2 s after the marker file of attempt `attempt`
/// (or later) exists, or at the deadline (seconds).
pub fn tail_script(log: &str, marker: &str, offset: u64, deadline_s: u64, attempt: u32) -> String {
    format!(
        "f={}; m={}; {}tail -s 0.2 -c +{} -F \"$f\" 2>/dev/null & tp=$!; trap 'kill $tp 2>/dev/null' EXIT; \
         end=$((SECONDS + {deadline_s})); while kill -0 $tp 2>/dev/null; do \
         if perf_run_marker_done || (( SECONDS > end )); then sleep 2; kill $tp 2>/dev/null; break; fi; sleep 0.5; done; wait $tp 2>/dev/null; exit 0",
        sh(&[log]),
        sh(&[marker]),
        marker_done_fn(attempt),
        offset + 1
    )
}

/// The remote script that waits (at most `grace_s`) for the marker file of attempt `attempt`
/// (or later) of a job that Slurm already reports as ended, and prints it. Slurm marks a job
/// CANCELLED/TIMEOUT the moment it decides to stop it, while the batch script is still in its
/// exit trap (stopping the steps, then writing the marker); collecting at that moment loses the
/// marker and the end of the log.
/// Exits 4 at once when the batch log does not exist (the script never ran: nothing will come),
/// 3 when the grace time passes without a marker (killed hard, node lost).
pub fn marker_wait_script(log: &str, marker: &str, grace_s: u64, attempt: u32) -> String {
    format!(
        "l={}; m={}; {}end=$((SECONDS + {grace_s})); while :; do \
         if perf_run_marker_done; then cat \"$m\"; exit 0; fi; [ -e \"$l\" ] || exit 4; \
         (( SECONDS >= end )) && exit 3; sleep 0.3; done",
        sh(&[log]),
        sh(&[marker]),
        marker_done_fn(attempt)
    )
}

/// The exit code in a marker file (`<code> <epoch seconds> [<attempt>]`).
pub fn marker_file_code(text: &str) -> Option<i32> {
    text.split_whitespace().next()?.parse().ok()
}

/// Start streaming the output of `script` (a [`tail_script`]); lines arrive on `tx` tagged
/// with `key`.
pub async fn start<R: Remote>(
    remote: &R,
    key: String,
    script: &str,
    tx: mpsc::UnboundedSender<(String, StreamMsg)>,
) -> Result<tokio::task::JoinHandle<()>, crate::remote::RemoteError> {
    let stream: RemoteStream = remote.stream(script).await?;
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
        let run_for = |grace, attempt| {
            std::process::Command::new("bash")
                .arg("-c")
                .arg(marker_wait_script(
                    &log.display().to_string(),
                    &marker.display().to_string(),
                    grace,
                    attempt,
                ))
                .output()
                .unwrap()
        };
        let run = |grace| run_for(grace, 0);
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
        // A requeued job: attempt 0's marker does not end attempt 1; attempt 1's does.
        assert_eq!(
            run_for(0, 1).status.code(),
            Some(3),
            "stale marker of attempt 0"
        );
        std::fs::write(&marker, "143 1 0\n").unwrap();
        assert_eq!(
            run_for(0, 1).status.code(),
            Some(3),
            "stale marker of attempt 0"
        );
        std::fs::write(&marker, "0 2 1\n").unwrap();
        let o = run_for(0, 1);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            marker_file_code(&String::from_utf8_lossy(&o.stdout)),
            Some(0)
        );
        assert_eq!(
            run_for(0, 0).status.code(),
            Some(0),
            "a later attempt's marker counts"
        );
    }

    #[test]
    fn tail_stops_at_the_marker_of_its_attempt_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("slurm-1.log");
        let marker = dir.path().join("perf_run_exit");
        std::fs::write(&log, "a\nPERF_RUN_EXIT code=143 job=1 attempt=0 at x\n").unwrap();
        std::fs::write(&marker, "143 1 0\n").unwrap();
        let tail = |attempt, deadline| {
            let t0 = std::time::Instant::now();
            let o = std::process::Command::new("bash")
                .arg("-c")
                .arg(tail_script(
                    &log.display().to_string(),
                    &marker.display().to_string(),
                    0,
                    deadline,
                    attempt,
                ))
                .output()
                .unwrap();
            (String::from_utf8_lossy(&o.stdout).to_string(), t0.elapsed())
        };
        let (out, took) = tail(0, 60);
        assert!(out.contains("attempt=0"), "{out}");
        assert!(took.as_secs() < 10, "stops after its marker: {took:?}");
        // Attempt 1 follows past attempt 0's marker until its deadline (here 3 s).
        let (_, took) = tail(1, 3);
        assert!(took.as_secs() >= 3, "ignored the stale marker: {took:?}");
    }

    #[test]
    fn exit_line() {
        assert_eq!(exit_line_attempt("PERF_RUN_EXIT code=0 job=5 at x"), 0);
        assert_eq!(
            exit_line_attempt("PERF_RUN_EXIT code=143 job=5 attempt=2 at x"),
            2
        );
        assert_eq!(
            start_line_attempt("perf-run: job 5 starting on n1 at 2026-11-30T12:00:00Z attempt=1"),
            Some(1)
        );
        assert_eq!(
            start_line_attempt("perf-run: job 5 starting on n1 at x"),
            Some(0)
        );
        assert_eq!(start_line_attempt("something else attempt=3"), None);
        assert_eq!(exit_line_code("PERF_RUN_EXIT code=0 job=5 at x"), Some(0));
        assert_eq!(exit_line_code("PERF_RUN_EXIT code=143 job=5"), Some(143));
        assert_eq!(exit_line_code("echo PERF_RUN_EXIT code=1"), None);
    }
}
