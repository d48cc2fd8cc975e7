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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

mod login;
mod timeline;

pub use login::SimRemote;
pub use timeline::{Outage, Phase, Timeline};
use timeline::{SimJob, View};

use super::{CallCounter, JobRecord, JobState, RecordSource, Scheduler, SlurmError};
use crate::remote::RemoteStats;

struct Sim {
    next_id: u64,
    jobs: BTreeMap<String, SimJob>,
    scripts: Vec<(String, Timeline)>,
    default: Timeline,
    outages: Vec<Outage>,
    min_job_age: f64,
    polls: Vec<usize>,
    /// What `sinfo` knows: (partition, its `%P %a %D %G` line).
    partitions: Vec<(String, String)>,
    /// What `sacctmgr` knows.
    accounts: Vec<String>,
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
                partitions: vec![("batch".into(), "batch up 4 gpu:4".into())],
                accounts: vec!["perf".into()],
            }),
            calls: CallCounter::default(),
            t0: Instant::now(),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// The site `perf-run doctor` asks about: the partitions `sinfo` shows (name, its
    /// `%P %a %D %G` line) and the accounts `sacctmgr` knows (default: `batch`, `perf`).
    pub fn set_site(&self, partitions: &[(&str, &str)], accounts: &[&str]) {
        let mut s = self.lock();
        s.partitions = partitions
            .iter()
            .map(|(p, l)| (p.to_string(), l.to_string()))
            .collect();
        s.accounts = accounts.iter().map(|a| a.to_string()).collect();
    }

    fn acct_down(&self, s: &Sim, now: f64) -> bool {
        self.down(s, now, |o| match o {
            Outage::Accounting { from, to } | Outage::Connection { from, to } => Some((*from, *to)),
            _ => None,
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

    async fn partition_info(&self, name: &str) -> Result<Option<String>, SlurmError> {
        self.calls.sinfo.fetch_add(1, Ordering::Relaxed);
        let s = self.lock();
        if self.controller_down(&s, self.now()) {
            return Err(SlurmError::Unreachable {
                said: "slurm_load_partitions: Unable to contact slurm controller (connect failure)"
                    .into(),
            });
        }
        Ok(s.partitions
            .iter()
            .find(|(p, _)| p == name)
            .map(|(_, line)| line.clone()))
    }

    async fn account_known(&self, name: &str) -> Result<bool, SlurmError> {
        self.calls.sacctmgr.fetch_add(1, Ordering::Relaxed);
        let s = self.lock();
        if self.acct_down(&s, self.now()) {
            return Err(SlurmError::Unreachable {
                said: "sacctmgr: error: Problem talking to the database: Connection refused".into(),
            });
        }
        Ok(s.accounts.iter().any(|a| a == name))
    }

    async fn accounting_answers(&self) -> Result<bool, SlurmError> {
        self.calls.sacct.fetch_add(1, Ordering::Relaxed);
        let s = self.lock();
        Ok(!self.acct_down(&s, self.now()))
    }

    async fn test_only(&self, _workspace: &str, script: &str) -> Result<String, SlurmError> {
        self.calls.sbatch.fetch_add(1, Ordering::Relaxed);
        let text = std::fs::read_to_string(script).unwrap_or_default();
        let opt = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("#SBATCH --{key}=")))
                .map(|v| v.trim().to_string())
        };
        let s = self.lock();
        if self.controller_down(&s, self.now()) {
            return Err(SlurmError::Unreachable {
                said:
                    "sbatch: error: Batch job submission failed: Unable to contact slurm controller"
                        .into(),
            });
        }
        let partition = opt("partition")
            .or_else(|| s.partitions.first().map(|(p, _)| p.clone()))
            .unwrap_or_default();
        if !s.partitions.iter().any(|(p, _)| *p == partition) {
            return Err(SlurmError::TestOnlyRefused {
                text:
                    "sbatch: error: Batch job submission failed: Invalid partition name specified"
                        .into(),
            });
        }
        if let Some(a) = opt("account")
            && !s.accounts.contains(&a)
        {
            return Err(SlurmError::TestOnlyRefused {
                text: "sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified".into(),
            });
        }
        Ok(format!(
            "sbatch: Job {} to start at 2026-01-01T00:00:00 using 1 processors on nodes sim1 in partition {partition}",
            s.next_id
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::login::{job_of_log, number_after, parent, quoted};
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
