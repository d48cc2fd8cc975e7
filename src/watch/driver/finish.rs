//! The end of a job as the watcher sees it: confirm a final state with the scheduler, let
//! the batch script finish writing its marker, collect the job's files, record the outcome;
//! and submission.

use std::time::Duration;

use tokio::time::Instant;

use crate::watch::WatchError;

use super::{Driver, Tracked};
use crate::journal::events::Event;
use crate::output;
use crate::remote::Remote;
use crate::slurm::{JobRecord, JobState, RecordSource, Scheduler};
use crate::watch::collect::{await_marker, collect_case};
use crate::watch::job::{CaseJob, CaseResult, short_label};
use crate::watch::progress::Progress;

impl<'a, R: Remote, S: Scheduler> Driver<'a, R, S> {
    /// After the exit marker: one accounting query, repeated briefly while the job is still
    /// COMPLETING (or not yet in accounting).
    pub(super) async fn confirm_final(
        &self,
        active: &mut [Tracked],
        keys: &[String],
        progress: &mut Progress,
    ) {
        let mut delay = Duration::from_millis(0);
        for _attempt in 0..12 {
            let ids: Vec<String> = active
                .iter()
                .filter(|t| keys.iter().any(|k| k == t.key()))
                .filter(|t| !t.state.as_ref().is_some_and(JobState::is_final))
                // A job that turned out requeued (its marker was an earlier attempt's) is
                // followed by the stream again, not confirmed.
                .filter(|t| t.marker_exit.is_some())
                .map(|t| t.job_id.clone())
                .collect();
            if ids.is_empty() {
                return;
            }
            tokio::time::sleep(delay).await;
            match self.sched.poll(&ids, self.since_secs()).await {
                Ok(recs) => {
                    for t in active.iter_mut() {
                        if let Some(r) = recs.get(&t.job_id) {
                            self.observe(t, r, progress);
                        }
                    }
                }
                Err(e) => output::warn(format!("the scheduler did not answer ({e:#})")),
            }
            delay = (delay * 2)
                .max(Duration::from_millis(250))
                .min(Duration::from_secs(5));
        }
    }

    /// After a cancel: poll until every job is final or `limit` passes.
    pub(super) async fn settle(
        &self,
        active: &mut [Tracked],
        limit: Duration,
        progress: &mut Progress,
    ) {
        let end = Instant::now() + limit;
        let mut delay = Duration::from_millis(500);
        while Instant::now() < end {
            let ids: Vec<String> = active
                .iter()
                .filter(|t| !t.state.as_ref().is_some_and(JobState::is_final))
                .map(|t| t.job_id.clone())
                .collect();
            if ids.is_empty() {
                return;
            }
            if let Ok(recs) = self.sched.poll(&ids, self.since_secs()).await {
                for t in active.iter_mut() {
                    if let Some(r) = recs.get(&t.job_id) {
                        self.observe(t, r, progress);
                    }
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(4));
        }
    }

    /// The job is done (or we stop watching it): journal, stop the stream, collect.
    pub(super) async fn finish(&self, t: Tracked, progress: &mut Progress) -> (String, CaseResult) {
        if let Some(h) = &t.stream {
            h.abort();
        }
        let key = t.key().to_string();
        self.journal.note(Event::LogOffset {
            case: key.clone(),
            offset: t.offset,
        });
        // Ended without the marker seen (scancel, time limit): let the batch script's exit
        // trap finish before collecting, or the marker and the end of the log are lost.
        let mut marker_exit = t.marker_exit;
        // An attempt that never started (cancelled while pending after a requeue) writes none.
        // (After a resume the start line may have been streamed before the crash: then
        // accounting's start time of the attempt says it; squeue shows a start time also for
        // a job cancelled while pending, so only sacct's counts.)
        let started = t.log_attempt.is_some_and(|a| a >= t.attempt)
            || t.attempt == 0
            || t.record
                .as_ref()
                .is_some_and(|r| r.start.is_some() && r.source == RecordSource::Sacct);
        if marker_exit.is_none() && started {
            marker_exit = await_marker(
                self.remote,
                &t.batch_log,
                &t.marker,
                self.cfg.marker_grace,
                t.attempt,
            )
            .await;
            if let Some(code) = marker_exit {
                self.journal.note(Event::MarkerSeen {
                    case: key.clone(),
                    exit_code: code,
                });
            }
        }
        let last = t.record.clone().filter(|r| r.state.is_final());
        let record = t
            .state
            .as_ref()
            .filter(|s| s.is_final())
            .map(|s| JobRecord::bare(&t.job_id, s.clone(), RecordSource::PerfRun));
        // The full record of the last poll; ask once more only when it is not final (a job we
        // stop watching after a signal).
        let full = match last {
            Some(r) => Some(r),
            None => match self
                .sched
                .poll(std::slice::from_ref(&t.job_id), self.since_secs())
                .await
            {
                Ok(mut m) => m.remove(&t.job_id).filter(|r| r.state.is_final()),
                Err(_) => None,
            },
        }
        .or(record)
        .map(|mut r| {
            if let Some(n) = &t.node_list {
                r.node_list = Some(n.clone());
            }
            r
        });
        if let Some(r) = &full {
            self.journal.note(Event::Finished {
                case: key.clone(),
                record: r.clone(),
            });
            let code = r
                .exit_code
                .map(|c| format!(", exit code {c}"))
                .unwrap_or_default();
            progress.finish(&key, &format!("finished: {}{code}", r.state.raw));
        } else {
            progress.finish(&key, "stopped watching (state unknown)");
        }
        let collected = collect_case(
            self.remote,
            self.journal,
            &t.job.case,
            &t.job.local_dir,
            &t.job_id,
        )
        .await;
        (
            key,
            CaseResult {
                record: full,
                submit_error: None,
                cancelled_by_perf_run: t.cancel_reason,
                marker_exit,
                collected,
                not_submitted: false,
            },
        )
    }

    /// Record intent, submit, record the job id.
    pub(super) async fn submit(&self, job: &CaseJob) -> Result<(String, String), WatchError> {
        use sha2::Digest;
        let script_path = job.local_dir.join("slurm_launch.sh");
        let script = std::fs::read(&script_path).unwrap_or_default();
        self.journal.record(Event::SubmitIntent {
            case: job.case.case_dir.clone(),
            script_sha256: hex::encode(sha2::Sha256::digest(&script)),
        })?;
        let ws = &job.case.remote_workspace;
        let id = self
            .sched
            .submit(ws, &format!("{ws}/slurm_launch.sh"))
            .await?;
        let log = crate::plan::workspace::JobWorkspace(ws).batch_log(&id);
        self.journal.record(Event::Submitted {
            case: job.case.case_dir.clone(),
            job_id: id.clone(),
            batch_log: log.clone(),
        })?;
        output::info(format!(
            "{}: submitted as Slurm job {id}",
            short_label(&job.case)
        ));
        Ok((id, log))
    }
}
