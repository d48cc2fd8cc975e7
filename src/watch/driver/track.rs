use super::*;

use crate::journal::events::Event;
use crate::output;
use crate::plan::workspace::JobWorkspace;
use crate::remote::Remote;
use crate::slurm::{JobRecord, RecordSource, Scheduler};
use crate::watch::progress::Progress;
use crate::watch::stream::{self, StreamMsg};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

// Following one job: tracking, attempts, its log stream, what a poll says of it.
impl<'a, R: Remote, S: Scheduler> Driver<'a, R, S> {
    pub(super) fn since_secs(&self) -> u64 {
        self.started.elapsed().as_secs() + 86_400
    }

    pub(super) fn track(&self, job: CaseJob, job_id: String, offset: u64) -> Tracked {
        let ws = job.case.remote_workspace.clone();
        Tracked {
            batch_log: JobWorkspace(&ws).batch_log(&job_id),
            marker: JobWorkspace(&ws).exit_marker(),
            job,
            job_id,
            offset,
            offset_journaled: offset,
            state: None,
            reason: None,
            pending_since: None,
            marker_exit: None,
            marker_at: None,
            output_seen: false,
            last_output: None,
            record: None,
            stream: None,
            stream_retry_at: None,
            stream_failures: 0,
            cancel_reason: None,
            cancel_sent_at: None,
            node_list: None,
            attempt: 0,
            log_attempt: None,
            stream_attempt: 0,
        }
    }

    /// Slurm requeued the job: follow attempt `attempt` from here. The marker seen so far was
    /// the earlier attempt's; the log stream goes on (the log is appended to) and a stopped one
    /// is restarted for the new attempt.
    pub(super) fn new_attempt(
        &self,
        t: &mut Tracked,
        attempt: u32,
        previous: Option<&crate::slurm::AttemptRecord>,
        progress: &mut Progress,
    ) {
        let prev_state = previous
            .map(|p| p.state.clone())
            .or_else(|| t.state.as_ref().map(|s| s.raw.clone()));
        let nodes = previous
            .and_then(|p| p.node_list.clone())
            .or_else(|| t.node_list.clone());
        self.journal.note(Event::Attempt {
            case: t.key().to_string(),
            job_id: t.job_id.clone(),
            attempt,
            previous: prev_state.clone(),
            nodes: nodes.clone(),
            offset: t.offset,
        });
        let how = prev_state
            .map(|s| format!(" after {s}"))
            .unwrap_or_default();
        let on = nodes.map(|n| format!(" on {n}")).unwrap_or_default();
        progress.note(
            t.key(),
            &format!(
                "Slurm requeued job {}{how}{on}; following attempt {attempt}",
                t.job_id
            ),
        );
        t.attempt = attempt;
        t.marker_exit = None;
        t.marker_at = None;
        t.output_seen = false;
        t.pending_since = None;
        t.stream_retry_at = None;
        t.stream_failures = 0;
    }

    pub(super) async fn start_stream(
        &self,
        t: &mut Tracked,
        tx: &mpsc::UnboundedSender<(String, StreamMsg)>,
    ) {
        let deadline = t.job.time_limit_s + 900;
        let script = stream::tail_script(&t.batch_log, &t.marker, t.offset, deadline, t.attempt);
        match stream::start(self.remote, t.key().to_string(), &script, tx.clone()).await {
            Ok(h) => {
                t.stream = Some(h);
                t.stream_attempt = t.attempt;
                t.stream_retry_at = None;
            }
            Err(e) => {
                t.stream_failures += 1;
                output::detail(format!(
                    "cannot stream the log of job {} ({e:#}); will retry",
                    t.job_id
                ));
                t.stream_retry_at =
                    Some(Instant::now() + Duration::from_secs(5 * t.stream_failures as u64));
            }
        }
    }

    /// Record what a poll said about a job.
    pub(super) fn observe(&self, t: &mut Tracked, r: &JobRecord, progress: &mut Progress) {
        if r.restarts > t.attempt {
            self.new_attempt(t, r.restarts, r.attempts.last(), progress);
        }
        if accounting_lags(t.output_seen, r) {
            // The job writes its log, so it started: slurmdbd has not heard of it yet.
            return;
        }
        t.record = Some(r.clone());
        // Slurm's reason "None" (a running job) is no reason: comparing it with the kept one
        // journaled every poll of a running job as a change.
        let reason = r
            .reason
            .clone()
            .filter(|x| !r.state.is_final() && x != "None");
        let changed = t.state.as_ref().map(|s| &s.raw) != Some(&r.state.raw) || t.reason != reason;
        if r.state.is_pending() {
            t.pending_since.get_or_insert_with(Instant::now);
        }
        t.state = Some(r.state.clone());
        t.reason = reason;
        if changed {
            self.journal.note(Event::JobState {
                case: t.key().to_string(),
                job_id: t.job_id.clone(),
                state: r.state.raw.clone(),
                reason: r.reason.clone(),
            });
            progress.state(t.key(), &r.state.raw, t.reason.as_deref());
        }
    }
}

/// The cases a signal kept from being submitted.
pub(super) fn not_submitted(
    queue: &mut VecDeque<CaseJob>,
    results: &mut BTreeMap<String, CaseResult>,
) {
    for job in queue.drain(..) {
        results.insert(
            job.case.case_dir.clone(),
            CaseResult {
                not_submitted: true,
                ..Default::default()
            },
        );
    }
}

/// How often the watcher walks every job when nothing else asks it to.
pub(super) const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(500);

/// How long the exit marker alone may stand without any scheduler confirming the end.
pub(super) const MARKER_TRUST_AFTER: Duration = Duration::from_secs(900);

/// `perf-run: job 12 starting on n[1-2] at …` (the first line of the batch script).
pub(super) fn starting_line_nodes(line: &str) -> Option<String> {
    let rest = line.strip_prefix("perf-run: job ")?;
    let (_, after) = rest.split_once(" starting on ")?;
    let nodes = after.split(" at ").next()?.trim();
    (!nodes.is_empty() && nodes != "?").then(|| nodes.to_string())
}

/// sacct answers from slurmdbd, which learns of a job's start a moment (on a busy cluster,
/// minutes) after slurmctld: a plain PENDING from sacct for a job whose log already has output
/// is stale and must not move the job back to PENDING (nor start its --max-pending clock).
/// squeue and scontrol ask slurmctld itself and are believed.
pub fn accounting_lags(output_seen: bool, r: &JobRecord) -> bool {
    output_seen
        && r.source == RecordSource::Sacct
        && r.state.is_pending()
        && r.state.flags.is_empty()
}
