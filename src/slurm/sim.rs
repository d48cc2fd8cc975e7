//! An in-process Slurm: the watcher's unit tests and its scale benchmark run against it in
//! milliseconds, on tokio's clock (a paused runtime jumps over every wait), without services.
//!
//! [`SimCluster`] is a [`Scheduler`]: each submitted job follows a scripted [`Timeline`] —
//! pending with reasons, running (printing the batch script's lines), suspended, requeued after
//! NODE_FAIL / PREEMPTED / REQUEUED, ending COMPLETED, FAILED, TIMEOUT, OUT_OF_MEMORY,
//! NODE_FAIL, PREEMPTED, … with or without the batch script's exit marker — and the cluster
//! around it has scripted [`Outage`]s: slurmctld not answering (a restart), slurmdbd down
//! (squeue answers, and forgets a job `MinJobAge` after its end; jobcomp still knows it) or
//! lagging behind slurmctld. [`SimRemote`] is the login node the same jobs write to: the log
//! stream (the `tail` script of `watch::stream`), the marker wait and the collection.
//!
//! The records `poll` returns are the ones the real backend ([`super::Slurm`]) builds after
//! its own merging (accounting first, slurmctld for a job that may have been requeued), and
//! the call counts follow the same pattern: one `sacct` per poll, one `squeue` when a record
//! may have been requeued or accounting is down.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{AttemptRecord, CallCounter, JobRecord, JobState, RecordSource, Scheduler, SlurmError};
use crate::plan::workspace;
use crate::remote::{ExecOutput, Remote, RemoteError, RemoteStats, RemoteStream, SyncStats};

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

struct SimJob {
    id: String,
    workspace: String,
    name: Option<String>,
    submitted: f64,
    timeline: Timeline,
    cancelled_at: Option<f64>,
}

/// What a job is at one moment.
#[derive(Debug, Clone)]
struct View {
    state: String,
    reason: Option<String>,
    exit_code: Option<i32>,
    start: Option<f64>,
    end: Option<f64>,
    attempt: u32,
    attempts: Vec<AttemptRecord>,
    suspended_s: f64,
    log: String,
    marker: Option<(i32, u32)>,
}

impl View {
    fn is_final(&self) -> bool {
        JobState::parse(&self.state).is_final()
    }
}

fn stamp(t: f64) -> String {
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
    fn exit(&self, v: &mut View, code: i32, t: f64) {
        v.log.push_str(&format!(
            "PERF_RUN_EXIT code={code} job={} attempt={} at {}\n",
            self.id,
            v.attempt,
            stamp(t)
        ));
        v.marker = Some((code, v.attempt));
    }

    /// The job at `now` (seconds on the cluster clock).
    fn view(&self, now: f64) -> View {
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
    fn next_change(&self, now: f64) -> Option<f64> {
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

    fn record(&self, v: &View, now: f64, source: RecordSource) -> JobRecord {
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

struct Sim {
    next_id: u64,
    jobs: BTreeMap<String, SimJob>,
    scripts: Vec<(String, Timeline)>,
    default: Timeline,
    outages: Vec<Outage>,
    min_job_age: f64,
    polls: Vec<usize>,
}

/// The simulated cluster: a [`Scheduler`] (and, through [`SimCluster::login_node`], the
/// [`Remote`] its jobs write to).
pub struct SimCluster {
    sim: Mutex<Sim>,
    calls: CallCounter,
    t0: Instant,
    /// Woken on a change no timeline foresees (a scancel), so an idle log stream sleeps until
    /// its job's next scripted change instead of polling.
    changed: tokio::sync::Notify,
}

impl SimCluster {
    /// A cluster where every job follows `default` unless a script matches it.
    pub fn new(default: Timeline) -> Arc<SimCluster> {
        Arc::new(SimCluster {
            sim: Mutex::new(Sim {
                next_id: 1000,
                jobs: BTreeMap::new(),
                scripts: Vec::new(),
                default,
                outages: Vec::new(),
                min_job_age: 300.0,
                polls: Vec::new(),
            }),
            calls: CallCounter::default(),
            t0: Instant::now(),
            changed: tokio::sync::Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sim> {
        // A panic elsewhere in a test poisons nothing the simulator relies on.
        self.sim.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Jobs whose workspace contains `matching` follow `timeline`.
    pub fn script(&self, matching: &str, timeline: Timeline) {
        self.lock().scripts.push((matching.to_string(), timeline));
    }

    pub fn outage(&self, o: Outage) {
        self.lock().outages.push(o);
    }

    /// slurmctld's MinJobAge (seconds it keeps an ended job; default 300).
    pub fn set_min_job_age(&self, secs: f64) {
        self.lock().min_job_age = secs;
    }

    /// Seconds on the cluster clock.
    pub fn now(&self) -> f64 {
        self.t0.elapsed().as_secs_f64()
    }

    /// How many jobs each poll asked about, in order.
    pub fn polls(&self) -> Vec<usize> {
        self.lock().polls.clone()
    }

    /// The login node of this cluster.
    pub fn login_node(self: &Arc<Self>) -> SimRemote {
        SimRemote {
            cluster: self.clone(),
            stats: RemoteStats::default(),
        }
    }

    fn down(&self, s: &Sim, now: f64, kind: fn(&Outage) -> Option<(f64, f64)>) -> bool {
        s.outages
            .iter()
            .filter_map(kind)
            .any(|(from, to)| now >= from && now < to)
    }

    fn lag(s: &Sim, now: f64) -> f64 {
        s.outages
            .iter()
            .filter_map(|o| match o {
                Outage::AccountingLag { from, to, secs } if now >= *from && now < *to => {
                    Some(*secs)
                }
                _ => None,
            })
            .fold(0.0, f64::max)
    }

    fn controller_down(&self, s: &Sim, now: f64) -> bool {
        self.down(s, now, |o| match o {
            Outage::Controller { from, to } | Outage::Connection { from, to } => Some((*from, *to)),
            _ => None,
        })
    }

    fn unreachable(&self, now: f64) -> bool {
        let s = self.lock();
        self.down(&s, now, |o| match o {
            Outage::Connection { from, to } => Some((*from, *to)),
            _ => None,
        })
    }

    /// The job whose workspace is `ws` (the newest one).
    fn job_in(&self, ws: &str) -> Option<(String, View)> {
        let now = self.now();
        let s = self.lock();
        s.jobs
            .values()
            .rev()
            .find(|j| j.workspace == ws)
            .map(|j| (j.id.clone(), j.view(now)))
    }

    fn next_change_of(&self, id: &str, now: f64) -> Option<f64> {
        self.lock().jobs.get(id)?.next_change(now)
    }

    fn job_view(&self, id: &str) -> Option<View> {
        let now = self.now();
        self.lock().jobs.get(id).map(|j| j.view(now))
    }
}

impl Scheduler for Arc<SimCluster> {
    async fn submit(&self, workspace: &str, script: &str) -> Result<String, SlurmError> {
        self.calls.sbatch.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        // The job name, as sbatch reads it from the script (when the file is readable here).
        let name = std::fs::read_to_string(script).ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("#SBATCH --job-name="))
                .map(|n| n.trim().to_string())
        });
        let mut s = self.lock();
        if self.controller_down(&s, now) {
            return Err(SlurmError::Unreachable {
                said:
                    "sbatch: error: Batch job submission failed: Unable to contact slurm controller"
                        .into(),
            });
        }
        let timeline = s
            .scripts
            .iter()
            .find(|(m, _)| workspace.contains(m.as_str()))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| s.default.clone());
        if let Some(Phase::Refused(why)) = timeline.0.first() {
            return Err(SlurmError::SbatchRefused {
                why: why.clone(),
                hint: "",
            });
        }
        let id = s.next_id.to_string();
        s.next_id += 1;
        s.jobs.insert(
            id.clone(),
            SimJob {
                id: id.clone(),
                workspace: workspace.to_string(),
                name,
                submitted: now,
                timeline,
                cancelled_at: None,
            },
        );
        Ok(id)
    }

    async fn poll(
        &self,
        ids: &[String],
        _since_secs: u64,
    ) -> Result<BTreeMap<String, JobRecord>, SlurmError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let now = self.now();
        let mut s = self.lock();
        s.polls.push(ids.len());
        self.calls.sacct.fetch_add(1, Ordering::Relaxed);
        if self.controller_down(&s, now) {
            return Err(SlurmError::Unreachable {
                said: "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent connection".into(),
            });
        }
        let acct_down = self.down(&s, now, |o| match o {
            Outage::Accounting { from, to } => Some((*from, *to)),
            _ => None,
        });
        let lag = SimCluster::lag(&s, now);
        let mut out = BTreeMap::new();
        let mut requeue_check = false;
        if acct_down {
            // The real backend goes to squeue, then to jobcomp for what slurmctld forgot.
            self.calls.squeue.fetch_add(1, Ordering::Relaxed);
            let mut forgotten = false;
            for id in ids {
                let Some(j) = s.jobs.get(id) else { continue };
                let v = j.view(now);
                let aged = v.end.is_some_and(|e| now - e > s.min_job_age);
                if aged {
                    forgotten = true;
                    let mut r =
                        JobRecord::bare(id, JobState::parse(&v.state), RecordSource::JobComp);
                    r.exit_code = v.exit_code;
                    out.insert(id.clone(), r);
                } else {
                    out.insert(id.clone(), j.record(&v, now, RecordSource::Squeue));
                }
            }
            if forgotten {
                self.calls.sacct.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(out);
        }
        for id in ids {
            let Some(j) = s.jobs.get(id) else { continue };
            let live = j.view(now);
            let seen = if lag > 0.0 {
                j.view((now - lag).max(j.submitted))
            } else {
                live.clone()
            };
            let mut r = j.record(&seen, now, RecordSource::Sacct);
            if r.may_be_requeued() || live.attempt > seen.attempt {
                // What the real backend's one squeue adds: slurmctld's state and restarts.
                requeue_check = true;
                r = j.record(&live, now, RecordSource::Squeue);
            }
            out.insert(id.clone(), r);
        }
        if requeue_check {
            self.calls.squeue.fetch_add(1, Ordering::Relaxed);
        }
        drop(s);
        Ok(out)
    }

    async fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.calls.scancel.fetch_add(1, Ordering::Relaxed);
        let now = self.now();
        let mut s = self.lock();
        if self.controller_down(&s, now) {
            return Err(SlurmError::Unreachable {
                said: format!(
                    "scancel: error: Kill job error on job id {}: Unable to contact slurm controller",
                    ids[0]
                ),
            });
        }
        for id in ids {
            if let Some(j) = s.jobs.get_mut(id)
                && !j.view(now).is_final()
                && j.cancelled_at.is_none()
            {
                j.cancelled_at = Some(now);
            }
        }
        drop(s);
        self.changed.notify_waiters();
        Ok(())
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<String>, SlurmError> {
        self.calls.squeue.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .lock()
            .jobs
            .values()
            .find(|j| j.name.as_deref() == Some(name))
            .map(|j| j.id.clone()))
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }
}

/// The login node of a [`SimCluster`]: its jobs' logs and markers, streamed, waited for and
/// collected the way `watch::stream` and `watch::collect` ask for them.
pub struct SimRemote {
    cluster: Arc<SimCluster>,
    stats: RemoteStats,
}

/// The value of `name=` in a generated script (`f=/path; m='/a path'`): quoted by
/// `shell::sh` only when it needs to be.
fn quoted(script: &str, name: &str) -> Option<String> {
    let at = script.find(&format!("{name}="))? + name.len() + 1;
    let rest = &script[at..];
    if let Some(q) = rest.strip_prefix('\'') {
        return Some(q[..q.find('\'')?].to_string());
    }
    let end = rest.find([';', ' ']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The number after `prefix` in `script`.
fn number_after(script: &str, prefix: &str) -> Option<u64> {
    let rest = &script[script.find(prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn job_of_log(path: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::stream::{marker_wait_script, tail_script};

    #[test]
    fn it_reads_the_watchers_own_scripts() {
        for ws in ["/sim/run/cases/00-a", "/sim/a dir/00-a"] {
            let log = format!("{ws}/slurm-1234.log");
            let marker = format!("{ws}/perf_run_exit");
            let t = tail_script(&log, &marker, 41, 4500, 2);
            assert_eq!(quoted(&t, "f").as_deref(), Some(log.as_str()), "{t}");
            assert_eq!(job_of_log(&log).as_deref(), Some("1234"));
            assert_eq!(number_after(&t, "-c +"), Some(42));
            assert_eq!(number_after(&t, "-ge "), Some(2));
            assert_eq!(number_after(&t, "SECONDS + "), Some(4500));
            let w = marker_wait_script(&log, &marker, 45, 1);
            assert_eq!(quoted(&w, "m").as_deref(), Some(marker.as_str()), "{w}");
            assert_eq!(parent(&marker), ws);
        }
    }

    #[test]
    fn a_requeued_job_shows_its_attempts_and_only_the_new_attempts_marker_counts() {
        let j = SimJob {
            id: "7".into(),
            workspace: "/w".into(),
            name: None,
            submitted: 0.0,
            timeline: Timeline(vec![
                Phase::Running {
                    secs: 10.0,
                    lines: vec![],
                },
                Phase::Requeued {
                    state: "PREEMPTED".into(),
                    marker: Some(143),
                },
                Phase::Pending {
                    reason: "BeginTime".into(),
                    secs: 5.0,
                },
                Phase::Running {
                    secs: 10.0,
                    lines: vec![],
                },
                Phase::Ends {
                    state: "COMPLETED".into(),
                    exit_code: 0,
                    marker: Some(0),
                },
            ]),
            cancelled_at: None,
        };
        let v = j.view(12.0);
        assert_eq!((v.state.as_str(), v.attempt), ("PENDING", 1));
        assert_eq!(v.marker, Some((143, 0)));
        let v = j.view(30.0);
        assert_eq!((v.state.as_str(), v.attempt), ("COMPLETED", 1));
        assert_eq!(v.marker, Some((0, 1)));
        assert_eq!(v.log.matches("starting on").count(), 2);
        let r = j.record(&v, 30.0, RecordSource::Sacct);
        assert_eq!(r.restarts, 1);
        assert_eq!(r.attempts[0].state, "PREEMPTED");
    }
}
