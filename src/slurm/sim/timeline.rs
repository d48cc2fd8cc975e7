//! The simulated jobs: a scripted [`Timeline`] of [`Phase`]s per job, the cluster's
//! [`Outage`]s, and what a job is at one moment (`View`) and what Slurm would report for it.

use super::super::{AttemptRecord, JobRecord, JobState, RecordSource};

/// One phase of a job's life.
#[derive(Debug, Clone)]
pub enum Phase {
    /// `sbatch` refuses the job with this message.
    Refused(String),
    /// Pending with Slurm's reason (`Resources`, `Priority`, `BeginTime`, `PartitionConfig`, …).
    Pending { reason: String, secs: f64 },
    /// Running: the batch script prints its start line, then `lines`, spread over `secs`.
    Running { secs: f64, lines: Vec<String> },
    /// Suspended (`scontrol suspend`), then resumed.
    Suspended { secs: f64 },
    /// This attempt ends in `state` (NODE_FAIL, PREEMPTED, REQUEUED) and Slurm requeues the
    /// job; `marker`: the batch script was told to stop and wrote its marker with this code
    /// (an administrator's requeue, a preemption), `None`: it was killed with its node.
    Requeued { state: String, marker: Option<i32> },
    /// The job ends in `state` with `exit_code`; `marker`: the code the batch script's exit
    /// marker says (`None`: no marker, the script was killed hard or its node died).
    Ends {
        state: String,
        exit_code: i32,
        marker: Option<i32>,
    },
}

/// A job's scripted life, phase after phase. A timeline that never ends keeps the job running.
#[derive(Debug, Clone)]
pub struct Timeline(pub Vec<Phase>);

impl Timeline {
    /// Pending `pend` seconds (Resources), running `run` seconds, then COMPLETED with marker 0.
    pub fn completes(pend: f64, run: f64) -> Timeline {
        Timeline(vec![
            Phase::Pending {
                reason: "Resources".into(),
                secs: pend,
            },
            Phase::Running {
                secs: run,
                lines: vec!["benchmark running".into()],
            },
            Phase::Ends {
                state: "COMPLETED".into(),
                exit_code: 0,
                marker: Some(0),
            },
        ])
    }
}

/// A window (seconds on the cluster's clock, from its creation) in which part of Slurm is out.
#[derive(Debug, Clone)]
pub enum Outage {
    /// slurmctld does not answer (a restart): every scheduler command fails.
    Controller { from: f64, to: f64 },
    /// slurmdbd is down: `sacct` fails, `squeue` answers for jobs slurmctld still holds (not
    /// those that ended more than `min_job_age` ago); `sacct -c` (jobcomp) knows ended jobs.
    Accounting { from: f64, to: f64 },
    /// slurmdbd lags `secs` behind slurmctld: accounting shows each job as it was then.
    AccountingLag { from: f64, to: f64, secs: f64 },
    /// The login node is unreachable: every command, stream and copy fails.
    Connection { from: f64, to: f64 },
}

pub(super) struct SimJob {
    pub(super) id: String,
    pub(super) workspace: String,
    pub(super) name: Option<String>,
    pub(super) submitted: f64,
    pub(super) timeline: Timeline,
    pub(super) cancelled_at: Option<f64>,
}

/// What a job is at one moment.
#[derive(Debug, Clone)]
pub(super) struct View {
    pub(super) state: String,
    pub(super) reason: Option<String>,
    pub(super) exit_code: Option<i32>,
    pub(super) start: Option<f64>,
    pub(super) end: Option<f64>,
    pub(super) attempt: u32,
    pub(super) attempts: Vec<AttemptRecord>,
    pub(super) suspended_s: f64,
    pub(super) log: String,
    pub(super) marker: Option<(i32, u32)>,
}

impl View {
    pub(super) fn is_final(&self) -> bool {
        JobState::parse(&self.state).is_final()
    }
}

pub(super) fn stamp(t: f64) -> String {
    // A fixed date: the watcher never reads these times, the results show them.
    let s = t.max(0.0) as u64;
    format!(
        "2026-11-30T{:02}:{:02}:{:02}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60
    )
}

impl SimJob {
    /// The batch script's way out at `t`: its PERF_RUN_EXIT line and its marker.
    pub(super) fn exit(&self, v: &mut View, code: i32, t: f64) {
        v.log.push_str(&format!(
            "PERF_RUN_EXIT code={code} job={} attempt={} at {}\n",
            self.id,
            v.attempt,
            stamp(t)
        ));
        v.marker = Some((code, v.attempt));
    }

    /// The job at `now` (seconds on the cluster clock).
    pub(super) fn view(&self, now: f64) -> View {
        let mut v = View {
            state: "PENDING".into(),
            reason: Some("None".into()),
            exit_code: None,
            start: None,
            end: None,
            attempt: 0,
            attempts: Vec::new(),
            suspended_s: 0.0,
            log: String::new(),
            marker: None,
        };
        let until = self.cancelled_at.map_or(now, |c| c.min(now));
        let mut t = self.submitted;
        let mut started_attempt: Option<u32> = None;
        for phase in &self.timeline.0 {
            if t > until {
                break;
            }
            match phase {
                Phase::Refused(_) => break,
                Phase::Pending { reason, secs } => {
                    v.state = "PENDING".into();
                    v.reason = Some(reason.clone());
                    t += secs;
                }
                Phase::Running { secs, lines } => {
                    v.state = "RUNNING".into();
                    v.reason = Some("None".into());
                    if started_attempt != Some(v.attempt) {
                        started_attempt = Some(v.attempt);
                        v.start = Some(t);
                        v.log.push_str(&format!(
                            "perf-run: job {} starting on n1 at {} attempt={}\n",
                            self.id,
                            stamp(t),
                            v.attempt
                        ));
                    }
                    let n = lines.len().max(1) as f64;
                    for (i, l) in lines.iter().enumerate() {
                        if t + secs * i as f64 / n <= until {
                            v.log.push_str(l);
                            v.log.push('\n');
                        }
                    }
                    t += secs;
                }
                Phase::Suspended { secs } => {
                    v.state = "SUSPENDED".into();
                    v.suspended_s += secs.min((until - t).max(0.0));
                    t += secs;
                }
                Phase::Requeued { state, marker } => {
                    if let Some(code) = marker {
                        self.exit(&mut v, *code, t);
                    }
                    v.attempts.push(AttemptRecord {
                        state: state.clone(),
                        start: v.start.map(stamp),
                        end: Some(stamp(t)),
                        elapsed_s: v.start.map(|s| (t - s) as u64),
                        node_list: Some("n1".into()),
                    });
                    v.attempt += 1;
                    v.start = None;
                    v.suspended_s = 0.0;
                    v.state = "PENDING".into();
                    v.reason = Some("BeginTime".into());
                }
                Phase::Ends {
                    state,
                    exit_code,
                    marker,
                } => {
                    if let Some(code) = marker {
                        self.exit(&mut v, *code, t);
                    }
                    v.state = state.clone();
                    v.exit_code = Some(*exit_code);
                    v.end = Some(t);
                    v.reason = Some("None".into());
                    return v;
                }
            }
        }
        if let Some(c) = self.cancelled_at.filter(|c| *c <= now) {
            // scancel: a running batch script is told to stop and writes its marker (143).
            if v.state == "RUNNING" || v.state == "SUSPENDED" {
                self.exit(&mut v, 143, c);
                v.exit_code = Some(0);
            }
            v.state = "CANCELLED by 1001".into();
            v.end = Some(c);
            v.reason = Some("None".into());
        }
        v
    }

    /// The next moment after `now` at which the job's log or state changes by its timeline
    /// (None: it has ended). A scancel can change it sooner.
    pub(super) fn next_change(&self, now: f64) -> Option<f64> {
        let mut t = self.submitted;
        for phase in &self.timeline.0 {
            match phase {
                Phase::Refused(_) | Phase::Ends { .. } => return (t > now).then_some(t),
                Phase::Requeued { .. } => {
                    if t > now {
                        return Some(t);
                    }
                }
                Phase::Pending { secs, .. } | Phase::Suspended { secs } => {
                    if t > now {
                        return Some(t);
                    }
                    t += secs;
                }
                Phase::Running { secs, lines } => {
                    let n = lines.len().max(1) as f64;
                    if t > now {
                        return Some(t);
                    }
                    for i in 0..lines.len() {
                        let at = t + secs * i as f64 / n;
                        if at > now {
                            return Some(at);
                        }
                    }
                    t += secs;
                }
            }
        }
        None
    }

    pub(super) fn record(&self, v: &View, now: f64, source: RecordSource) -> JobRecord {
        let mut r = JobRecord::bare(&self.id, JobState::parse(&v.state), source);
        r.exit_code = v.exit_code;
        r.signal = v.exit_code.map(|_| 0);
        r.reason = v.reason.clone();
        r.submit = Some(stamp(self.submitted));
        r.start = v.start.map(stamp);
        r.end = v.end.map(stamp);
        r.elapsed_s = v.start.map(|s| (v.end.unwrap_or(now) - s).max(0.0) as u64);
        r.node_list = v.start.map(|_| "n1".to_string());
        r.restarts = v.attempt;
        r.attempts = v.attempts.clone();
        r.suspended_s = (v.suspended_s > 0.0).then_some(v.suspended_s as u64);
        r
    }
}
