//! Unit tests of the scheduler backend: the output parsers, the accounting fallbacks and the
//! requeue check, against a fake login node that answers by command.

use super::*;
use crate::remote::RemoteError;

#[test]
fn parsable_output() {
    assert_eq!(parse_parsable("123\n").as_deref(), Some("123"));
    assert_eq!(parse_parsable("123;perfci\n").as_deref(), Some("123"));
    assert_eq!(parse_parsable("warning: x\n456\n").as_deref(), Some("456"));
    assert_eq!(parse_parsable(""), None);
    assert_eq!(parse_parsable("Submitted batch job 5"), None);
}

#[test]
fn sacct_rows() {
    let r = parse_sacct(
        "12|CANCELLED by 1001|0:15|None|2026-11-22T10:00:00|2026-11-22T10:00:01|2026-11-22T10:00:09|8|n[1-2]\n12.batch|CANCELLED|0:15||||||\n13|PENDING|0:0|Resources|2026-11-22T10:00:00|Unknown|Unknown|0|None assigned\n",
        RecordSource::Sacct,
    );
    assert_eq!(r.len(), 2);
    let a = &r["12"];
    assert_eq!(a.state.base, BaseState::Cancelled);
    assert_eq!(a.state.cancelled_by.as_deref(), Some("1001"));
    assert_eq!((a.exit_code, a.signal), (Some(0), Some(15)));
    assert_eq!(a.elapsed_s, Some(8));
    assert_eq!(a.node_list.as_deref(), Some("n[1-2]"));
    let b = &r["13"];
    assert!(b.state.is_pending());
    assert_eq!(b.reason.as_deref(), Some("Resources"));
    assert_eq!(b.start, None);
    assert_eq!(b.node_list, None);
}

#[test]
fn placeholder_rows_are_not_the_job_yet() {
    // What sacct printed 0.4 s after a 2-node job ended, then once slurmdbd caught up.
    let early = parse_sacct(
        "69|COMPLETED|0:0||2026-11-22T18:19:04|2026-11-22T18:19:04|2026-11-22T18:19:05|1|n3|allocation\n",
        RecordSource::Sacct,
    );
    assert!(early.is_empty(), "{early:?}");
    let late = parse_sacct(
        "69|COMPLETED|0:0||2026-11-22T18:19:04|2026-11-22T18:19:04|2026-11-22T18:19:05|1|n[3-4]|perf-run.qtest\n",
        RecordSource::Sacct,
    );
    assert_eq!(late["69"].node_list.as_deref(), Some("n[3-4]"));
    // Seen for a job that failed within a second: the name and the final state are there,
    // the end time and the exit code (1) are not yet.
    let partial = parse_sacct(
        "134|FAILED|0:0||2026-11-22T18:46:12|2026-11-22T18:46:13|Unknown|1|n1|perf-run.x\n",
        RecordSource::Sacct,
    );
    assert!(partial.is_empty(), "{partial:?}");
}

#[test]
fn scontrol_line() {
    let r = parse_scontrol("JobId=7 JobName=x UserId=perfci(1001) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) ExitCode=3:0 RunTime=00:01:01 NodeList=n1\n").unwrap();
    assert_eq!(r.state.base, BaseState::Failed);
    assert_eq!(r.elapsed_s, Some(61));
    assert_eq!(r.exit_code, Some(3));
    assert_eq!(r.reason.as_deref(), Some("NonZeroExitCode"));
}

#[test]
fn squeue_rows_carry_the_exit_code() {
    // What `squeue -h -t all -O SQUEUE_FORMAT` printed on the test cluster.
    let r = parse_squeue(
        "70|FAILED|256|NonZeroExitCode|2026-11-22T18:19:38|2026-11-22T18:19:39|2026-11-22T18:19:41|n[3-4]|\n\
         88|CANCELLED|36608|None|2026-11-22T18:22:29|2026-11-22T18:22:29|2026-11-22T18:22:30|n1|\n\
         94|CANCELLED|0|PartitionConfig|2026-11-22T18:25:10|2026-11-22T18:25:11|2026-11-22T18:25:11||\n\
         95|RUNNING|0|None|2026-11-22T18:25:13|2026-11-22T18:25:14|2026-11-22T18:35:14|n[1-2]|\n",
    );
    let f = &r["70"];
    assert_eq!(
        (f.state.base, f.exit_code, f.signal),
        (BaseState::Failed, Some(1), Some(0))
    );
    assert_eq!(f.node_list.as_deref(), Some("n[3-4]"));
    assert_eq!(f.reason.as_deref(), Some("NonZeroExitCode"));
    assert_eq!((r["88"].exit_code, r["88"].signal), (Some(143), Some(0)));
    assert_eq!(r["94"].node_list, None);
    assert_eq!(r["94"].reason.as_deref(), Some("PartitionConfig"));
    assert_eq!(r["95"].exit_code, None, "no exit code while it runs");
}

/// A scripted login node: answers by the command's first word, records every call.
struct Fake {
    calls: std::sync::Mutex<Vec<String>>,
    answer: fn(&str) -> crate::remote::ExecOutput,
    stats: crate::remote::RemoteStats,
}

impl Remote for Fake {
    fn describe(&self) -> String {
        "fake".into()
    }
    async fn exec(
        &self,
        script: &str,
        _t: Duration,
        _i: bool,
    ) -> Result<crate::remote::ExecOutput, RemoteError> {
        self.calls.lock().unwrap().push(script.to_string());
        Ok((self.answer)(script))
    }
    async fn stream(&self, _: &str) -> Result<crate::remote::RemoteStream, RemoteError> {
        Err(RemoteError::Simulated {
            said: "not in this test".into(),
        })
    }
    async fn sync_to(
        &self,
        _: &std::path::Path,
        _: &str,
        _: &[String],
        _: bool,
        _: Duration,
    ) -> Result<crate::remote::SyncStats, RemoteError> {
        Err(RemoteError::Simulated {
            said: "not in this test".into(),
        })
    }
    async fn sync_from(
        &self,
        _: &str,
        _: &std::path::Path,
        _: &[String],
        _: Duration,
    ) -> Result<crate::remote::SyncStats, RemoteError> {
        Err(RemoteError::Simulated {
            said: "not in this test".into(),
        })
    }
    fn stats(&self) -> &crate::remote::RemoteStats {
        &self.stats
    }
}

fn out(code: i32, stdout: &str, stderr: &str) -> crate::remote::ExecOutput {
    crate::remote::ExecOutput {
        code: Some(code),
        stdout: stdout.into(),
        stderr: stderr.into(),
    }
}

#[test]
fn with_accounting_down_each_poll_is_one_squeue() {
    let fake = Fake {
        calls: Default::default(),
        answer: |script| {
            if script.starts_with("sacct") {
                out(
                    1,
                    "",
                    "sacct: error: Sending PersistInit msg: Connection refused\nsacct: error: Problem talking to the database: Connection refused\n",
                )
            } else if script.starts_with("squeue") {
                out(
                    0,
                    "7|COMPLETED|0|None|n1|a|b|c|\n8|RUNNING|0|None|n2|a|b|c|\n",
                    "",
                )
            } else {
                out(1, "", "unexpected")
            }
        },
        stats: Default::default(),
    };
    let sched = Slurm::new(&fake);
    let ids = vec!["7".to_string(), "8".to_string()];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for _ in 0..3 {
        let recs = rt.block_on(sched.poll(&ids, 60)).unwrap();
        assert_eq!(recs["7"].exit_code, Some(0));
        assert!(recs["7"].state.is_final());
        assert!(!recs["8"].state.is_final());
    }
    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
    assert_eq!(
        (
            g(&sched.calls.sacct),
            g(&sched.calls.squeue),
            g(&sched.calls.scontrol)
        ),
        (1, 3, 0),
        "{:#?}",
        fake.calls.lock().unwrap()
    );
}

#[test]
fn sacct_duplicates_are_the_attempts_of_a_requeued_job() {
    // `sacct -X -D` on the test cluster after a node failure and an admin requeue.
    let r = parse_sacct(
        "1|NODE_FAIL|0:0|None|2026-11-30T12:07:10|2026-11-30T12:07:10|2026-11-30T12:07:15|5|n1|perf-run.x|00:00:00\n\
         1|REQUEUED|0:0|None|2026-11-30T12:07:15|2026-11-30T12:07:30|2026-11-30T12:07:41|11|n1|perf-run.x|00:00:05\n\
         1|RUNNING|0:0|None|2026-11-30T12:07:41|2026-11-30T12:08:00|Unknown|3|n2|perf-run.x|00:00:00\n",
        RecordSource::Sacct,
    );
    let j = &r["1"];
    assert_eq!(j.state.base, BaseState::Running);
    assert_eq!(j.restarts, 2);
    assert_eq!(j.node_list.as_deref(), Some("n2"));
    let states: Vec<&str> = j.attempts.iter().map(|a| a.state.as_str()).collect();
    assert_eq!(states, ["NODE_FAIL", "REQUEUED"]);
    assert_eq!(j.attempts[1].elapsed_s, Some(11));
    assert_eq!(j.suspended_s, Some(0));
    let s = parse_sacct(
        "2|COMPLETED|0:0|None|2026-11-30T12:07:10|2026-11-30T12:07:10|2026-11-30T12:08:15|65|n1|perf-run.x|00:00:20\n",
        RecordSource::Sacct,
    );
    assert_eq!((s["2"].restarts, s["2"].suspended_s), (0, Some(20)));
}

#[test]
fn slurmctld_knows_a_requeue_before_accounting() {
    let mut acct = parse_sacct(
        "3|NODE_FAIL|0:0|None|2026-11-30T12:07:10|2026-11-30T12:07:10|2026-11-30T12:07:15|5|n1|perf-run.x|00:00:00\n",
        RecordSource::Sacct,
    )
    .remove("3")
    .unwrap();
    assert!(acct.state.is_final() && acct.may_be_requeued());
    let live = parse_squeue("3|PENDING|0|BeginTime|a|b|c||1|\n")
        .remove("3")
        .unwrap();
    merge_live(&mut acct, live);
    assert_eq!(acct.state.base, BaseState::Pending);
    assert_eq!(acct.reason.as_deref(), Some("BeginTime"));
    assert_eq!(acct.restarts, 1);
    assert_eq!(acct.attempts.len(), 1);
    assert_eq!(acct.attempts[0].state, "NODE_FAIL");
    assert_eq!(acct.attempts[0].node_list.as_deref(), Some("n1"));
    // Cancelled while Slurm held it after a requeue: slurmdbd may show REQUEUED for a
    // long time; slurmctld's CANCELLED wins.
    let mut acct = parse_sacct(
        "5|REQUEUED|0:0|None|a|b|2026-11-30T12:45:19|1|n1|perf-run.x|00:00:00\n",
        RecordSource::Sacct,
    )
    .remove("5")
    .unwrap();
    merge_live(
        &mut acct,
        parse_squeue("5|CANCELLED|0|None|a|b|c|n1|1|\n")
            .remove("5")
            .unwrap(),
    );
    assert!(acct.state.is_final(), "{acct:?}");
    assert_eq!(acct.restarts, 1);
    assert_eq!(acct.attempts[0].state, "REQUEUED");
    // --no-requeue: slurmctld says NODE_FAIL too; accounting's record stays.
    let mut acct = parse_sacct(
        "4|NODE_FAIL|0:0|None|a|b|2026-11-30T12:07:15|5|n1|perf-run.x|00:00:00\n",
        RecordSource::Sacct,
    )
    .remove("4")
    .unwrap();
    merge_live(
        &mut acct,
        parse_squeue("4|NODE_FAIL|0|None|a|b|c|n1|0|\n")
            .remove("4")
            .unwrap(),
    );
    assert!(acct.state.is_final());
    assert_eq!((acct.source, acct.restarts), (RecordSource::Sacct, 0));
}

#[test]
fn a_requeue_costs_one_squeue_and_only_then() {
    let fake = Fake {
        calls: Default::default(),
        answer: |script| {
            if script.starts_with("sacct") {
                out(
                    0,
                    "5|NODE_FAIL|0:0|None|a|b|2026-11-30T12:07:15|5|n1|perf-run.x|00:00:00\n6|RUNNING|0:0|None|a|b|Unknown|5|n2|perf-run.y|00:00:00\n",
                    "",
                )
            } else if script.starts_with("squeue") {
                out(0, "5|PENDING|0|BeginTime|a|b|c||1|\n", "")
            } else {
                out(1, "", "unexpected")
            }
        },
        stats: Default::default(),
    };
    let sched = Slurm::new(&fake);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let recs = rt
        .block_on(sched.poll(&["5".to_string(), "6".to_string()], 60))
        .unwrap();
    assert_eq!(
        recs["5"].state.base,
        BaseState::Pending,
        "{:#?}",
        fake.calls
    );
    assert_eq!(recs["5"].restarts, 1);
    assert_eq!(recs["6"].state.base, BaseState::Running);
    let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
    assert_eq!((g(&sched.calls.sacct), g(&sched.calls.squeue)), (1, 1));
    let calls = fake.calls.lock().unwrap();
    assert!(
        calls[1].contains("-j 5 "),
        "only the requeued job: {}",
        calls[1]
    );
}

#[test]
fn accounting_outage_is_recognised() {
    assert!(accounting_unavailable(
        "sacct: error: Slurm accounting storage is disabled"
    ));
    assert!(accounting_unavailable(
        "sacct: error: slurm_persist_conn_open_without_init: failed to open persistent connection to host:localhost:6819: Connection refused"
    ));
    assert!(!accounting_unavailable(""));
}
