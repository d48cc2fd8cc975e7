//! The watcher's paths, against the in-process Slurm (`slurm::sim`) on a paused tokio clock:
//! every scheduler fault the real-cluster tests need minutes (or a real fault) for runs here in
//! milliseconds. The real-cluster tests (`tests/slurm_faults.rs`, `tests/cluster_lifecycle.rs`)
//! stay for what only real Slurm proves: that Slurm behaves the way this simulator says.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Driver;
use crate::journal::events::{CaseRef, Event, Journal, read_journal};
use crate::slurm::sim::{Outage, Phase, SimCluster, SimRemote, Timeline};
use crate::slurm::{BaseState, Scheduler};
use crate::watch::job::{CaseJob, DriveOutcome, WatchConfig};
use crate::watch::signals::Interrupt;

struct Harness {
    dir: tempfile::TempDir,
    cluster: Arc<SimCluster>,
    remote: SimRemote,
    journal: Journal,
}

fn cfg() -> WatchConfig {
    WatchConfig {
        follow: false,
        max_pending: None,
        poll_min: Duration::from_secs(10),
        poll_max: Duration::from_secs(300),
        heartbeat: Duration::from_secs(300),
        max_jobs: 4,
        detach: false,
        marker_grace: Duration::from_secs(45),
        max_restarts: 2,
    }
}

impl Harness {
    fn new(default: Timeline) -> Harness {
        crate::output::set_quiet(true);
        let dir = tempfile::tempdir().unwrap();
        let cluster = SimCluster::new(default);
        let remote = cluster.login_node();
        let journal = Journal::open(&dir.path().join("journal.jsonl")).unwrap();
        Harness {
            dir,
            cluster,
            remote,
            journal,
        }
    }

    fn job(&self, i: usize, name: &str) -> CaseJob {
        let case_dir = format!("{i:02}-{name}");
        CaseJob {
            local_dir: self.dir.path().join("cases").join(&case_dir),
            case: CaseRef {
                index: i,
                case_dir: case_dir.clone(),
                test_id: format!("perf/test_perf_sanity.py::test_e2e[{name}]"),
                case_name: name.to_string(),
                mode: Some(crate::plan::Mode::SingleAgg),
                job_name: format!("perf-run-sim-{i:02}"),
                remote_workspace: format!("/sim/run/cases/{case_dir}"),
                skip: None,
            },
            time_limit_s: 3600,
        }
    }

    async fn drive_with(
        &self,
        cfg: WatchConfig,
        jobs: Vec<CaseJob>,
        interrupt_at: Option<Duration>,
    ) -> DriveOutcome {
        let (tx, mut rx) = tokio::sync::watch::channel(None);
        if let Some(at) = interrupt_at {
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                let _ = tx.send(Some(Interrupt::Term));
            });
        } else {
            // Keep the sender: a dropped one would look like a closed signal channel.
            std::mem::forget(tx);
        }
        let d = Driver {
            remote: &self.remote,
            sched: &self.cluster,
            journal: &self.journal,
            cfg,
            started: tokio::time::Instant::now(),
        };
        d.drive(VecDeque::from(jobs), Vec::new(), &mut rx)
            .await
            .unwrap()
    }

    async fn drive(&self, jobs: Vec<CaseJob>) -> DriveOutcome {
        self.drive_with(cfg(), jobs, None).await
    }

    fn events(&self, kind: &str) -> Vec<Event> {
        read_journal(&self.dir.path().join("journal.jsonl"))
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .filter(|e| {
                serde_json::to_value(e).unwrap()["event"]
                    .as_str()
                    .is_some_and(|k| k == kind)
            })
            .collect()
    }

    fn calls(&self) -> (u64, u64, u64) {
        let c = self.cluster.calls();
        (
            c.sbatch.load(Ordering::Relaxed),
            c.sacct.load(Ordering::Relaxed),
            c.squeue.load(Ordering::Relaxed) + c.scontrol.load(Ordering::Relaxed),
        )
    }
}

fn ends(state: &str, exit_code: i32, marker: Option<i32>) -> Phase {
    Phase::Ends {
        state: state.into(),
        exit_code,
        marker,
    }
}
fn pend(reason: &str, secs: f64) -> Phase {
    Phase::Pending {
        reason: reason.into(),
        secs,
    }
}
fn run(secs: f64) -> Phase {
    Phase::Running {
        secs,
        lines: vec!["point con4 done".into(), "point con8 done".into()],
    }
}

#[tokio::test(start_paused = true)]
async fn a_job_that_completes_costs_sbatch_and_a_few_polls() {
    let h = Harness::new(Timeline::completes(30.0, 600.0));
    let out = h.drive(vec![h.job(0, "tiny")]).await;
    let r = &out.results["00-tiny"];
    let rec = r.record.as_ref().unwrap();
    assert_eq!(rec.state.base, BaseState::Completed);
    assert_eq!(r.marker_exit, Some(0));
    assert!(r.collected);
    // The job's log and marker were brought home.
    let art = h.dir.path().join("cases/00-tiny/artifacts");
    let id = &rec.job_id;
    let log = std::fs::read_to_string(art.join(format!("slurm-{id}.log"))).unwrap();
    assert!(log.contains("PERF_RUN_EXIT code=0"), "{log}");
    assert!(art.join("perf_run_exit").is_file());
    let (sbatch, sacct, other) = h.calls();
    assert_eq!(sbatch, 1);
    // One early look, the heartbeat polls of a 10-minute run (every 5 min at most), and the
    // confirmation after the marker.
    assert!(sacct <= 5, "{sacct} sacct calls for one 10-minute job");
    assert_eq!(other, 0, "no squeue for a job that was never requeued");
    assert_eq!(h.events("marker_seen").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failing_job_keeps_its_exit_code_and_marker() {
    let h = Harness::new(Timeline(vec![
        pend("Priority", 5.0),
        run(20.0),
        ends("FAILED", 1, Some(1)),
    ]));
    let out = h.drive(vec![h.job(0, "bad")]).await;
    let r = &out.results["00-bad"];
    let rec = r.record.as_ref().unwrap();
    assert_eq!(rec.state.base, BaseState::Failed);
    assert_eq!(rec.exit_code, Some(1));
    assert_eq!(r.marker_exit, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_keeps_the_marker_the_exit_trap_wrote() {
    let h = Harness::new(Timeline(vec![run(3600.0), ends("TIMEOUT", 0, Some(143))]));
    let out = h.drive(vec![h.job(0, "slow")]).await;
    let r = &out.results["00-slow"];
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::Timeout);
    assert_eq!(r.marker_exit, Some(143));
}

#[tokio::test(start_paused = true)]
async fn out_of_memory_without_a_marker_is_final() {
    let h = Harness::new(Timeline(vec![run(40.0), ends("OUT_OF_MEMORY", 0, None)]));
    let out = h.drive(vec![h.job(0, "big")]).await;
    let r = &out.results["00-big"];
    assert_eq!(
        r.record.as_ref().unwrap().state.base,
        BaseState::OutOfMemory
    );
    assert_eq!(r.marker_exit, None, "no marker was written");
}

#[tokio::test(start_paused = true)]
async fn a_node_failure_without_requeue_ends_the_job_after_one_slurmctld_check() {
    let h = Harness::new(Timeline(vec![run(60.0), ends("NODE_FAIL", 0, None)]));
    let out = h.drive(vec![h.job(0, "nf")]).await;
    let r = &out.results["00-nf"];
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::NodeFail);
    assert_eq!(r.marker_exit, None);
    assert!(h.events("attempt").is_empty());
    let (_, _, squeue) = h.calls();
    assert!(
        squeue >= 1,
        "a NODE_FAIL is checked with slurmctld (it may be requeued)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_failure_with_requeue_is_followed_to_the_next_attempts_end() {
    let h = Harness::new(Timeline(vec![
        run(60.0),
        Phase::Requeued {
            state: "NODE_FAIL".into(),
            marker: None,
        },
        pend("BeginTime", 120.0),
        run(60.0),
        ends("COMPLETED", 0, Some(0)),
    ]));
    let out = h.drive(vec![h.job(0, "rq")]).await;
    let r = &out.results["00-rq"];
    let rec = r.record.as_ref().unwrap();
    assert_eq!(rec.state.base, BaseState::Completed);
    assert_eq!(rec.restarts, 1);
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(rec.attempts[0].state, "NODE_FAIL");
    assert_eq!(r.marker_exit, Some(0));
    let attempts = h.events("attempt");
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    let Event::Attempt { attempt, .. } = &attempts[0] else {
        unreachable!()
    };
    assert_eq!(*attempt, 1);
}

#[tokio::test(start_paused = true)]
async fn an_admin_requeue_whose_old_marker_says_143_is_not_the_end() {
    let h = Harness::new(Timeline(vec![
        run(30.0),
        Phase::Requeued {
            state: "REQUEUED".into(),
            marker: Some(143),
        },
        pend("BeginTime", 90.0),
        run(30.0),
        ends("COMPLETED", 0, Some(0)),
    ]));
    let out = h.drive(vec![h.job(0, "adm")]).await;
    let r = &out.results["00-adm"];
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::Completed);
    assert_eq!(
        r.marker_exit,
        Some(0),
        "attempt 1's marker, not attempt 0's 143"
    );
}

#[tokio::test(start_paused = true)]
async fn preemption_in_cancel_mode_is_final() {
    let h = Harness::new(Timeline(vec![run(30.0), ends("PREEMPTED", 0, Some(143))]));
    let out = h.drive(vec![h.job(0, "pre")]).await;
    let r = &out.results["00-pre"];
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::Preempted);
    assert_eq!(r.record.as_ref().unwrap().restarts, 0);
}

#[tokio::test(start_paused = true)]
async fn too_many_restarts_are_cancelled() {
    let mut phases = vec![];
    for _ in 0..4 {
        phases.push(run(20.0));
        phases.push(Phase::Requeued {
            state: "PREEMPTED".into(),
            marker: Some(143),
        });
        phases.push(pend("BeginTime", 30.0));
    }
    phases.push(run(20.0));
    phases.push(ends("COMPLETED", 0, Some(0)));
    let h = Harness::new(Timeline(phases));
    let out = h.drive(vec![h.job(0, "flappy")]).await;
    let r = &out.results["00-flappy"];
    let why = r.cancelled_by_perf_run.as_deref().unwrap_or_default();
    assert!(why.contains("more than --max-restarts 2"), "{why}");
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_suspended_job_is_followed_and_its_suspension_counted() {
    let h = Harness::new(Timeline(vec![
        run(30.0),
        Phase::Suspended { secs: 120.0 },
        run(30.0),
        ends("COMPLETED", 0, Some(0)),
    ]));
    let out = h.drive(vec![h.job(0, "susp")]).await;
    let rec = out.results["00-susp"].record.clone().unwrap();
    assert_eq!(rec.state.base, BaseState::Completed);
    assert_eq!(rec.suspended_s, Some(120));
}

#[tokio::test(start_paused = true)]
async fn a_hopeless_pending_reason_is_cancelled_at_the_first_look() {
    let h = Harness::new(Timeline(vec![pend("PartitionConfig", 1e9)]));
    let out = h.drive(vec![h.job(0, "never")]).await;
    let r = &out.results["00-never"];
    let why = r.cancelled_by_perf_run.as_deref().unwrap_or_default();
    assert!(why.contains("PartitionConfig"), "{why}");
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::Cancelled);
    assert_eq!(r.marker_exit, None, "it never ran");
}

#[tokio::test(start_paused = true)]
async fn max_pending_cancels_a_job_that_waits_too_long() {
    let h = Harness::new(Timeline(vec![pend("Resources", 1e9)]));
    let mut c = cfg();
    c.max_pending = Some(Duration::from_secs(600));
    let t0 = tokio::time::Instant::now();
    let out = h.drive_with(c, vec![h.job(0, "queued")], None).await;
    let r = &out.results["00-queued"];
    assert!(
        r.cancelled_by_perf_run
            .as_deref()
            .is_some_and(|w| w.contains("--max-pending")),
        "{r:?}"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(600) && waited < Duration::from_secs(1300),
        "cancelled after {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refused_submission_is_a_submit_error_and_the_next_case_still_runs() {
    let h = Harness::new(Timeline::completes(5.0, 30.0));
    h.cluster.script(
        "00-refused",
        Timeline(vec![Phase::Refused(
            "Invalid account or account/partition combination specified".into(),
        )]),
    );
    let out = h.drive(vec![h.job(0, "refused"), h.job(1, "fine")]).await;
    assert!(
        out.results["00-refused"]
            .submit_error
            .as_deref()
            .is_some_and(|e| e.contains("Invalid account"))
    );
    assert_eq!(
        out.results["01-fine"].record.as_ref().unwrap().state.base,
        BaseState::Completed
    );
}

#[tokio::test(start_paused = true)]
async fn a_slurmctld_restart_while_the_job_runs_loses_nothing() {
    let h = Harness::new(Timeline(vec![run(900.0), ends("COMPLETED", 0, Some(0))]));
    // slurmctld is away for ten minutes in the middle of the run, and again at its end.
    h.cluster.outage(Outage::Controller {
        from: 100.0,
        to: 700.0,
    });
    h.cluster.outage(Outage::Controller {
        from: 890.0,
        to: 1000.0,
    });
    let out = h.drive(vec![h.job(0, "ctld")]).await;
    let r = &out.results["00-ctld"];
    assert_eq!(r.record.as_ref().unwrap().state.base, BaseState::Completed);
    assert_eq!(r.marker_exit, Some(0));
}

#[tokio::test(start_paused = true)]
async fn an_accounting_outage_is_bridged_by_slurmctld_and_jobcomp() {
    let h = Harness::new(Timeline(vec![run(60.0), ends("FAILED", 2, None)]));
    h.cluster.outage(Outage::Accounting { from: 0.0, to: 1e9 });
    // slurmctld forgets the job 30 s after its end: jobcomp (`sacct -c`) still knows it.
    h.cluster.set_min_job_age(30.0);
    let out = h.drive(vec![h.job(0, "nodbd")]).await;
    let rec = out.results["00-nodbd"].record.clone().unwrap();
    assert_eq!(rec.state.base, BaseState::Failed);
    assert_eq!(rec.exit_code, Some(2));
}

#[tokio::test(start_paused = true)]
async fn a_lagging_accounting_never_moves_a_running_job_back_to_pending() {
    // The start line at 5 s, then silence: the log's output skips the early look, and the
    // heartbeat poll at ~305 s asks an accounting that is seven minutes behind (pending).
    let h = Harness::new(Timeline(vec![
        pend("Resources", 5.0),
        Phase::Running {
            secs: 700.0,
            lines: vec![],
        },
        ends("COMPLETED", 0, Some(0)),
    ]));
    h.cluster.outage(Outage::AccountingLag {
        from: 0.0,
        to: 1e9,
        secs: 420.0,
    });
    let out = h.drive(vec![h.job(0, "lag")]).await;
    assert_eq!(
        out.results["00-lag"].record.as_ref().unwrap().state.base,
        BaseState::Completed
    );
    let states: Vec<String> = h
        .events("job_state")
        .into_iter()
        .filter_map(|e| match e {
            Event::JobState { state, .. } => Some(state),
            _ => None,
        })
        .collect();
    // A state is journaled when it changes, not at every poll that repeats it.
    assert!(
        states.windows(2).all(|w| w[0] != w[1]),
        "the same state journaled twice in a row: {states:?}"
    );
    // The log showed the start line long before any poll: accounting's PENDING is stale.
    assert!(
        !states.iter().any(|s| s == "PENDING"),
        "a stale PENDING from accounting was believed: {states:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_marker_no_scheduler_ever_confirms_is_believed_after_a_quarter_hour() {
    let h = Harness::new(Timeline(vec![run(30.0), ends("COMPLETED", 0, Some(0))]));
    // From just before the end on, no scheduler command answers (for days).
    h.cluster.outage(Outage::Controller {
        from: 25.0,
        to: 1e9,
    });
    let t0 = tokio::time::Instant::now();
    let out = h.drive(vec![h.job(0, "lost")]).await;
    let r = &out.results["00-lost"];
    assert_eq!(r.marker_exit, Some(0));
    assert!(
        t0.elapsed() >= Duration::from_secs(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(1300),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_signal_cancels_every_job_with_one_scancel_and_submits_no_more() {
    let h = Harness::new(Timeline::completes(5.0, 3600.0));
    let mut c = cfg();
    c.max_jobs = 2;
    let jobs = vec![h.job(0, "a"), h.job(1, "b"), h.job(2, "c")];
    let out = h.drive_with(c, jobs, Some(Duration::from_secs(120))).await;
    assert!(matches!(out.interrupted, Some(Interrupt::Term)));
    for k in ["00-a", "01-b"] {
        let r = &out.results[k];
        assert_eq!(
            r.record.as_ref().unwrap().state.base,
            BaseState::Cancelled,
            "{k}"
        );
        assert_eq!(
            r.marker_exit,
            Some(143),
            "{k}: the batch script was told to stop"
        );
        assert!(r.cancelled_by_perf_run.is_some());
    }
    assert!(out.results["02-c"].not_submitted);
    assert_eq!(
        h.cluster.calls().scancel.load(Ordering::Relaxed),
        1,
        "one scancel for both jobs"
    );
    assert_eq!(h.calls().0, 2, "the third case is never submitted");
}

#[tokio::test(start_paused = true)]
async fn max_jobs_bounds_the_queue_and_every_poll_is_one_batched_call() {
    let h = Harness::new(Timeline::completes(20.0, 300.0));
    let mut c = cfg();
    c.max_jobs = 3;
    let jobs: Vec<CaseJob> = (0..7).map(|i| h.job(i, "n")).collect();
    let out = h.drive_with(c, jobs, None).await;
    assert_eq!(out.results.len(), 7);
    assert!(out.results.values().all(|r| {
        r.record
            .as_ref()
            .is_some_and(|r| r.state.base == BaseState::Completed)
    }));
    let polls = h.cluster.polls();
    assert!(polls.iter().all(|n| *n <= 3), "{polls:?}");
    let (_, sacct, squeue) = h.calls();
    assert_eq!(sacct as usize, polls.len(), "one sacct per poll");
    assert_eq!(squeue, 0);
}
