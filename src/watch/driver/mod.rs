//! The watcher: submit (up to `max_jobs` at a time), follow every job through one batched
//! safety poll per cycle and one log stream per job, and collect each as it ends. Its end
//! game (confirming a final state, waiting for markers, collecting) is in `finish`.

mod finish;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::WatchError;
use tokio::sync::{mpsc, watch};

use super::job::{CaseJob, CaseResult, DriveOutcome, WatchConfig, short_label};
use crate::journal::events::{Event, Journal};
use crate::output;
use crate::remote::Remote;
use crate::slurm::{BaseState, JobRecord, JobState, Scheduler, state::reason_is_hopeless};
use crate::watch::Backoff;
use crate::watch::progress::Progress;
use crate::watch::signals::Interrupt;
use crate::watch::stream::{StreamMsg, exit_line_attempt, exit_line_code, start_line_attempt};
use crate::watch::topology;

mod track;
pub use track::*;

struct Tracked {
    job: CaseJob,
    job_id: String,
    batch_log: String,
    marker: String,
    offset: u64,
    offset_journaled: u64,
    state: Option<JobState>,
    reason: Option<String>,
    pending_since: Option<Instant>,
    marker_exit: Option<i32>,
    /// When the exit marker was seen (to stop waiting for a scheduler that never answers).
    marker_at: Option<Instant>,
    /// The job's log has produced output: it runs (or ran), whatever accounting says.
    output_seen: bool,
    /// When its log last produced output.
    last_output: Option<Instant>,
    /// The last full record a poll returned.
    record: Option<JobRecord>,
    stream: Option<tokio::task::JoinHandle<()>>,
    stream_retry_at: Option<Instant>,
    stream_failures: u32,
    cancel_reason: Option<String>,
    /// When perf-run last sent `scancel` for this job.
    cancel_sent_at: Option<Instant>,
    /// `$SLURM_JOB_NODELIST` as the batch script printed it (exact, unlike accounting right
    /// after the end, which can show a shrinking list while nodes finish their epilogs).
    node_list: Option<String>,
    /// The attempt followed: 0, then 1, 2, … after each requeue (`SLURM_RESTART_COUNT`).
    attempt: u32,
    /// The newest attempt whose start line the log has shown (None: none yet).
    log_attempt: Option<u32>,
    /// The attempt the running log stream waits for the marker of.
    stream_attempt: u32,
}

impl Tracked {
    fn key(&self) -> &str {
        &self.job.case.case_dir
    }
}

pub struct Driver<'a, R: Remote, S: Scheduler> {
    pub remote: &'a R,
    pub sched: &'a S,
    pub journal: &'a Journal,
    pub cfg: WatchConfig,
    /// Start of the run (for sacct --starttime).
    pub started: Instant,
}

impl<'a, R: Remote, S: Scheduler> Driver<'a, R, S> {
    /// Submit `queue` (up to `max_jobs` at a time), re-attach to `attach` (job id, log offset,
    /// attempt), watch all of them, and collect each as it finishes.
    pub async fn drive(
        &self,
        mut queue: VecDeque<CaseJob>,
        attach: Vec<(CaseJob, String, u64, u32)>,
        signals: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<DriveOutcome, WatchError> {
        let (tx, mut rx) = mpsc::unbounded_channel::<(String, StreamMsg)>();
        let mut progress = Progress::new(self.cfg.follow, self.cfg.heartbeat);
        let mut active: Vec<Tracked> = Vec::new();
        let mut results: BTreeMap<String, CaseResult> = BTreeMap::new();
        let mut backoff = Backoff::new(self.cfg.poll_min, self.cfg.poll_max);
        let mut next_poll = Instant::now() + backoff.next_interval();
        let mut confirm: BTreeSet<String> = BTreeSet::new();
        // A signal that arrived while staging: submit nothing.
        let mut interrupted = *signals.borrow();
        let mut cycles = 0u64;
        // Something happened that housekeeping acts on (a submission, a poll, a stream's end,
        // a signal); or it is due by the clock.
        let mut dirty = true;
        let mut housekeeping_at = Instant::now();

        for (job, job_id, offset, attempt) in attach {
            let mut t = self.track(job, job_id, offset);
            t.attempt = attempt;
            progress.add(t.key(), &short_label(&t.job.case));
            active.push(t);
        }
        // Jobs re-attached after a crash may have ended long ago: ask once right away.
        if !active.is_empty() {
            next_poll = Instant::now();
        }

        loop {
            // Fill the queue up to max_jobs (not after a signal).
            while interrupted.is_none() && active.len() < self.cfg.max_jobs.max(1) {
                let Some(job) = queue.pop_front() else { break };
                match self.submit(&job).await {
                    Ok((job_id, batch_log)) => {
                        dirty = true;
                        let mut t = self.track(job, job_id, 0);
                        t.batch_log = batch_log;
                        progress.add(t.key(), &short_label(&t.job.case));
                        active.push(t);
                        // An early look at the new job (refused, or pending for good).
                        backoff.reset();
                        next_poll = next_poll.min(Instant::now() + backoff.next_interval());
                    }
                    Err(e) => {
                        let msg = crate::error::chain(&e);
                        output::error(format!("{}: {msg}", short_label(&job.case)));
                        self.journal.note(Event::SubmitFailed {
                            case: job.case.case_dir.clone(),
                            error: msg.clone(),
                        });
                        results.insert(
                            job.case.case_dir.clone(),
                            CaseResult {
                                submit_error: Some(msg),
                                ..Default::default()
                            },
                        );
                    }
                }
            }
            if self.cfg.detach {
                self.journal.note(Event::Detached);
                for t in &active {
                    if let Some(h) = &t.stream {
                        h.abort();
                    }
                }
                return Ok(DriveOutcome {
                    results,
                    interrupted: None,
                    detached: true,
                    cycles,
                });
            }
            if active.is_empty() {
                if interrupted.is_some() {
                    not_submitted(&mut queue, &mut results);
                }
                break;
            }
            // Housekeeping (stream restarts; pending, restart and marker checks) walks every
            // job: it runs when something happened that it acts on, and twice a second, not
            // on every log line, so a turn costs about the same for 10 or 1,000 jobs.
            let now = Instant::now();
            let housekeeping = dirty || now >= housekeeping_at;
            if housekeeping {
                dirty = false;
                housekeeping_at = now + HOUSEKEEPING_EVERY;
            }
            // (Re)start log streams.
            if housekeeping {
                for t in active.iter_mut() {
                    let due = t.stream_retry_at.is_none_or(|at| now >= at);
                    if t.stream.is_none() && t.marker_exit.is_none() && due {
                        self.start_stream(t, &tx).await;
                    }
                }
            }

            let tick = tokio::time::sleep(Duration::from_millis(500));
            let poll_due = tokio::time::sleep_until(next_poll);
            tokio::select! {
                msg = rx.recv() => {
                    let output = matches!(msg, Some((_, StreamMsg::Line(..))));
                    if let Some((key, m)) = msg
                        && let Some(t) = active.iter_mut().find(|t| t.key() == key) {
                        match m {
                            StreamMsg::Line(line, n) => {
                                t.offset += n;
                                if let Some(a) = start_line_attempt(&line) {
                                    // A new attempt starts: its node list replaces the old one.
                                    if a > t.attempt {
                                        self.new_attempt(t, a, None, &mut progress);
                                    }
                                    if a >= t.attempt {
                                        t.log_attempt = Some(a);
                                        t.node_list = starting_line_nodes(&line);
                                    }
                                }
                                // Lines of an earlier attempt (its end, after a requeue) say
                                // nothing about the attempt followed now.
                                let current = t.log_attempt.is_some_and(|a| a >= t.attempt)
                                    || (t.attempt == 0 && t.log_attempt.is_none());
                                if current {
                                    t.output_seen = true;
                                    t.last_output = Some(Instant::now());
                                }
                                if let Some(code) = exit_line_code(&line) {
                                    let a = exit_line_attempt(&line);
                                    if a > t.attempt {
                                        self.new_attempt(t, a, None, &mut progress);
                                    }
                                    if a >= t.attempt {
                                        t.marker_exit = Some(code);
                                        t.marker_at = Some(Instant::now());
                                        self.journal.note(Event::MarkerSeen { case: key.clone(), exit_code: code });
                                        confirm.insert(key.clone());
                                    }
                                }
                                if current && t.state.as_ref().is_none_or(|s| s.is_pending()) {
                                    t.state = Some(JobState::of(BaseState::Running));
                                    t.reason = None;
                                    progress.state(&key, "RUNNING", None);
                                }
                                if current {
                                    if let Some(top) = topology::parse_roles_line(&line) {
                                        progress.roles(&key, &top);
                                    } else if let Some(stall) = topology::parse_stall_line(&line) {
                                        progress.stalled(&key, &stall);
                                    } else if let Some(within) = topology::parse_time_limit_warning(&line) {
                                        progress.time_limit_warning(&key, within);
                                        self.journal.note(Event::TimeLimitWarning {
                                            case: key.clone(),
                                            job_id: t.job_id.clone(),
                                            attempt: t.attempt,
                                        });
                                    }
                                }
                                progress.log_line(&key, &line);
                                if t.offset - t.offset_journaled > 64 * 1024 || t.marker_exit.is_some() {
                                    t.offset_journaled = t.offset;
                                    self.journal.note(Event::LogOffset { case: key.clone(), offset: t.offset });
                                }
                            }
                            StreamMsg::Ended => {
                                dirty = true;
                                t.stream = None;
                                self.journal.note(Event::LogOffset { case: key.clone(), offset: t.offset });
                                t.offset_journaled = t.offset;
                                if t.marker_exit.is_none() && t.stream_attempt < t.attempt {
                                    // It stopped at an earlier attempt's marker: follow the
                                    // new attempt at once.
                                    t.stream_retry_at = None;
                                } else if t.marker_exit.is_none() {
                                    // Connection trouble or a job killed without a marker: retry
                                    // later; the safety poll decides whether it ended.
                                    t.stream_failures += 1;
                                    let wait = Duration::from_secs((2u64 << t.stream_failures.min(5)).min(60));
                                    t.stream_retry_at = Some(Instant::now() + wait);
                                    next_poll = next_poll.min(Instant::now() + Duration::from_secs(5));
                                }
                            }
                        }
                    }
                    // Output means the job runs: no need to ask the scheduler soon, unless
                    // another job has said nothing lately (it may pend with a hopeless reason,
                    // or have died).
                    let quiet = backoff.current();
                    let now = Instant::now();
                    if output
                        && next_poll < now + quiet
                        && active.iter().all(|t| t.last_output.is_some_and(|o| now.duration_since(o) < quiet))
                    {
                        next_poll = now + quiet;
                    }
                }
                _ = poll_due => {
                    dirty = true;
                    let ids: Vec<String> = active.iter().map(|t| t.job_id.clone()).collect();
                    match self.sched.poll(&ids, self.since_secs()).await {
                        Ok(recs) => {
                            for t in active.iter_mut() {
                                if let Some(r) = recs.get(&t.job_id) {
                                    self.observe(t, r, &mut progress);
                                    if r.state.is_final() {
                                        confirm.insert(t.key().to_string());
                                    }
                                }
                            }
                        }
                        Err(e) => output::warn(format!("the scheduler did not answer ({e:#}); trying again later")),
                    }
                    next_poll = Instant::now() + backoff.next_interval();
                }
                _ = tick => {}
                changed = signals.changed() => {
                    dirty = true;
                    if changed.is_ok() && let Some(sig) = *signals.borrow() {
                        interrupted = Some(sig);
                    }
                }
            }
            progress.tick();
            cycles += 1;

            // Signal: cancel every own job with one scancel, then wait briefly for final states.
            if let Some(sig) = interrupted {
                let ids: Vec<String> = active
                    .iter()
                    .filter(|t| !t.state.as_ref().is_some_and(JobState::is_final))
                    .map(|t| t.job_id.clone())
                    .collect();
                let why = format!("perf-run received {}", sig.name());
                self.journal.note(Event::CancelRequested {
                    jobs: ids.clone(),
                    why: why.clone(),
                });
                if let Err(e) = self.sched.cancel(&ids).await {
                    output::error(format!("could not cancel jobs {}: {e:#}", ids.join(",")));
                }
                for t in active.iter_mut() {
                    t.cancel_reason = Some(why.clone());
                }
                self.settle(&mut active, Duration::from_secs(30), &mut progress)
                    .await;
                for t in active.drain(..) {
                    let r = self.finish(t, &mut progress).await;
                    results.insert(r.0, r.1);
                }
                not_submitted(&mut queue, &mut results);
                break;
            }

            if !(housekeeping || dirty) {
                // Nothing a check acts on has changed since the last one; a marker seen is
                // confirmed below.
            } else {
                dirty = false;
                // Max pending, hopeless pending reasons, and too many restarts.
                let mut to_cancel = Vec::new();
                for t in active.iter_mut() {
                    if t.cancel_reason.is_some() {
                        // Slurm drops a cancel that arrives while a requeue is completing: the job
                        // is back in the queue, so cancel it again (at most every 5 s).
                        let back = t.state.as_ref().is_some_and(|s| {
                            !s.is_final() && !s.flags.iter().any(|f| f == "COMPLETING")
                        });
                        if back
                            && t.cancel_sent_at
                                .is_some_and(|at| at.elapsed() > Duration::from_secs(5))
                        {
                            output::detail(format!(
                                "{}: job {} is {} after perf-run cancelled it; cancelling it again",
                                short_label(&t.job.case),
                                t.job_id,
                                t.state.as_ref().map(|s| s.raw.as_str()).unwrap_or("?")
                            ));
                            t.cancel_sent_at = Some(Instant::now());
                            to_cancel.push(t.job_id.clone());
                        }
                        continue;
                    }
                    if t.attempt > self.cfg.max_restarts
                        && !t.state.as_ref().is_some_and(JobState::is_final)
                    {
                        let why = format!(
                            "Slurm restarted the job {} time(s), more than --max-restarts {}",
                            t.attempt, self.cfg.max_restarts
                        );
                        output::error(format!(
                            "{}: {why}; cancelling it",
                            short_label(&t.job.case)
                        ));
                        t.cancel_reason = Some(why);
                        t.cancel_sent_at = Some(Instant::now());
                        to_cancel.push(t.job_id.clone());
                        continue;
                    }
                    let pending = t.state.as_ref().is_some_and(JobState::is_pending);
                    if !pending {
                        continue;
                    }
                    let waited = t.pending_since.map(|s| s.elapsed()).unwrap_or_default();
                    let why = if let Some(r) = t.reason.as_deref().filter(|r| reason_is_hopeless(r))
                    {
                        Some(format!(
                            "the job can never start as submitted (pending reason {r})"
                        ))
                    } else {
                        self.cfg.max_pending.filter(|m| waited > *m).map(|m| {
                            format!(
                                "the job was still pending after {} (--max-pending)",
                                humantime::format_duration(m)
                            )
                        })
                    };
                    if let Some(why) = why {
                        output::error(format!(
                            "{}: {why}; cancelling it",
                            short_label(&t.job.case)
                        ));
                        t.cancel_reason = Some(why);
                        t.cancel_sent_at = Some(Instant::now());
                        to_cancel.push(t.job_id.clone());
                    }
                }
                // A job perf-run cancelled is looked at every few seconds until it has ended.
                if active.iter().any(|t| {
                    t.cancel_sent_at.is_some() && !t.state.as_ref().is_some_and(JobState::is_final)
                }) {
                    next_poll = next_poll.min(Instant::now() + Duration::from_secs(3));
                }
                if !to_cancel.is_empty() {
                    self.journal.note(Event::CancelRequested {
                        jobs: to_cancel.clone(),
                        why: "pending or restarted too often".into(),
                    });
                    if let Err(e) = self.sched.cancel(&to_cancel).await {
                        output::error(format!("could not cancel {}: {e:#}", to_cancel.join(",")));
                    }
                    next_poll = next_poll.min(Instant::now() + Duration::from_secs(1));
                }

                // The batch script said it ended, but no source (sacct, squeue, scontrol, sacct -c)
                // has reported a final state for a long time: believe the script rather than wait
                // forever, and say so.
                for t in active.iter_mut() {
                    if let (Some(code), Some(at)) = (t.marker_exit, t.marker_at)
                        && !t.state.as_ref().is_some_and(JobState::is_final)
                        && at.elapsed() > MARKER_TRUST_AFTER
                    {
                        output::warn(format!(
                            "{}: the scheduler has not reported job {} as ended {} after its batch script exited with code {code}; taking the batch script's word for it",
                            short_label(&t.job.case),
                            t.job_id,
                            humantime::format_duration(MARKER_TRUST_AFTER)
                        ));
                        t.state = Some(JobState::of(if code == 0 {
                            BaseState::Completed
                        } else {
                            BaseState::Failed
                        }));
                        t.record = None;
                        confirm.insert(t.key().to_string());
                    }
                }
            }

            // Completion: confirm with accounting right after the marker (or a final poll state).
            if !confirm.is_empty() {
                let keys: Vec<String> = std::mem::take(&mut confirm).into_iter().collect();
                self.confirm_final(&mut active, &keys, &mut progress).await;
                let (done, rest): (Vec<Tracked>, Vec<Tracked>) = active
                    .into_iter()
                    .partition(|t| t.state.as_ref().is_some_and(JobState::is_final));
                active = rest;
                for t in done {
                    let r = self.finish(t, &mut progress).await;
                    results.insert(r.0, r.1);
                }
            }
        }
        drop(progress);
        Ok(DriveOutcome {
            results,
            interrupted,
            detached: false,
            cycles,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::RecordSource;

    fn rec(state: &str, source: RecordSource) -> JobRecord {
        JobRecord::bare("1", JobState::parse(state), source)
    }

    #[test]
    fn a_stale_pending_from_accounting_is_ignored_once_the_log_has_output() {
        assert!(accounting_lags(true, &rec("PENDING", RecordSource::Sacct)));
        assert!(
            !accounting_lags(false, &rec("PENDING", RecordSource::Sacct)),
            "no output yet: believe it"
        );
        assert!(
            !accounting_lags(true, &rec("PENDING", RecordSource::Squeue)),
            "slurmctld knows"
        );
        assert!(!accounting_lags(true, &rec("RUNNING", RecordSource::Sacct)));
        assert!(
            !accounting_lags(true, &rec("PENDING,REQUEUED", RecordSource::Sacct)),
            "a requeue is real"
        );
        assert!(!accounting_lags(
            true,
            &rec("COMPLETED", RecordSource::Sacct)
        ));
    }
}

#[cfg(test)]
mod sim_tests;
