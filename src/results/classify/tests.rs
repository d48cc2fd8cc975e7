use super::*;

#[test]
fn a_restarted_or_suspended_job_is_never_valid() {
    let mut j = job("COMPLETED");
    j.restarts = 1;
    j.restart_states = vec!["NODE_FAIL".into()];
    j.restart_nodes = Some("n1".into());
    j.lost_s = Some(12.0);
    let v = classify(&ok(&j));
    assert_eq!(v.status, CaseStatus::Invalid);
    assert_eq!(v.class, Some(FailureClass::InvalidMeasurement));
    assert!(
        v.reasons[0].contains(
            "restarted Slurm job 4242 1 time(s) after NODE_FAIL on n1; 12s of run time lost"
        ),
        "{:?}",
        v.reasons
    );
    let mut j = job("COMPLETED");
    j.suspended_s = Some(20);
    let v = classify(&ok(&j));
    assert_eq!(v.class, Some(FailureClass::InvalidMeasurement));
    assert!(
        v.reasons[0].contains("suspended for 20s"),
        "{:?}",
        v.reasons
    );
    // A failure keeps its class and says what happened too.
    let mut j = job("NODE_FAIL");
    j.restarts = 1;
    j.restart_states = vec!["PREEMPTED".into()];
    let v = classify(&ok(&j));
    assert_eq!(v.class, Some(FailureClass::NodeFail));
    assert!(
        v.reasons.iter().any(|r| r.contains("after PREEMPTED")),
        "{:?}",
        v.reasons
    );
    // Nothing happened: unchanged.
    assert_eq!(classify(&ok(&job("COMPLETED"))).status, CaseStatus::Passed);
}

#[test]
fn out_of_memory_state_is_oom() {
    let v = classify(&ok(&job("OUT_OF_MEMORY")));
    assert_eq!(
        (v.status, v.class),
        (CaseStatus::Failed, Some(FailureClass::Oom))
    );
}

/// A job in the state Slurm printed (`JobState::parse`, as the watcher reads it).
fn job(state: &str) -> JobInfo {
    JobInfo {
        job_id: "4242".into(),
        state: crate::slurm::JobState::parse(state).base,
        exit_code: Some(0),
        signal: Some(0),
        ..JobInfo::default()
    }
}

fn ok<'a>(j: &'a JobInfo) -> Evidence<'a> {
    Evidence {
        job: Some(j),
        junit_status: Some(JunitStatus::Passed),
        measured: true,
        any_evidence: true,
        ..Evidence::default()
    }
}

fn class(v: &Verdict) -> Option<&'static str> {
    v.class.map(FailureClass::as_str)
}

#[test]
fn completed_with_valid_metrics_passes() {
    let j = job("COMPLETED");
    let v = classify(&ok(&j));
    assert_eq!(v, Verdict::new(CaseStatus::Passed, None, vec![]));
}

#[test]
fn skip_wins_over_everything() {
    let j = job("TIMEOUT");
    let e = Evidence {
        skipped: Some("known hang, nvbug 123"),
        infra_error: Some("sbatch failed"),
        ..ok(&j)
    };
    let v = classify(&e);
    assert_eq!(v.status, CaseStatus::Skipped);
    assert_eq!(v.class, None);
    assert_eq!(
        v.reasons,
        ["skipped by the test list: known hang, nvbug 123"]
    );
    // perf-run's own reason (a line it cannot run) is shown as it is.
    let why = format!(
        "{}it is not a perf-sanity test id",
        crate::plan::select::CANNOT_RUN
    );
    let v = classify(&Evidence {
        skipped: Some(&why),
        job: None,
        ..ok(&j)
    });
    assert_eq!(v.status, CaseStatus::Skipped);
    assert_eq!(v.reasons, [why.as_str()]);
}

#[test]
fn infra_error_without_job_is_infra() {
    let e = Evidence {
        infra_error: Some("sbatch failed: Invalid account"),
        ..Evidence::default()
    };
    let v = classify(&e);
    assert_eq!(v.status, CaseStatus::Failed);
    assert_eq!(class(&v), Some("infra"));
    assert_eq!(v.reasons, ["sbatch failed: Invalid account"]);
}

#[test]
fn infra_error_with_job_but_nothing_measured_is_infra() {
    let j = job("COMPLETED");
    let e = Evidence {
        infra_error: Some("could not download the results"),
        measured: false,
        ..ok(&j)
    };
    assert_eq!(class(&classify(&e)), Some("infra"));
}

#[test]
fn infra_error_with_measurements_does_not_hide_them() {
    let j = job("COMPLETED");
    let e = Evidence {
        infra_error: Some("could not download one role log"),
        ..ok(&j)
    };
    assert_eq!(classify(&e).status, CaseStatus::Passed);
}

#[test]
fn never_ran_is_not_run() {
    let v = classify(&Evidence::default());
    assert_eq!(v.status, CaseStatus::NotRun);
    assert_eq!(v.class, None);
}

#[test]
fn no_job_but_files_is_judged_on_the_files() {
    let e = Evidence {
        junit_status: Some(JunitStatus::Passed),
        measured: true,
        any_evidence: true,
        ..Evidence::default()
    };
    assert_eq!(classify(&e).status, CaseStatus::Passed);
}

#[test]
fn slurm_end_states_map_to_classes() {
    for (state, want) in [
        ("TIMEOUT", "timeout"),
        ("DEADLINE", "timeout"),
        ("OUT_OF_MEMORY", "oom"),
        ("NODE_FAIL", "node_fail"),
        ("BOOT_FAIL", "node_fail"),
        ("CANCELLED", "cancelled"),
        ("CANCELLED by 1000", "cancelled"),
        ("PREEMPTED", "cancelled"),
        ("timeout", "timeout"),
        ("CANCELLED+", "cancelled"),
    ] {
        let j = job(state);
        let v = classify(&ok(&j));
        assert_eq!(class(&v), Some(want), "{state}");
        assert_eq!(v.status, CaseStatus::Failed, "{state}");
    }
}

#[test]
fn timeout_reason_says_how_long() {
    let mut j = job("TIMEOUT");
    j.elapsed_s = Some(14_400.0);
    let v = classify(&ok(&j));
    assert_eq!(
        v.reasons,
        ["Slurm job 4242 hit its time limit and was stopped (state TIMEOUT after 4h)"]
    );
}

#[test]
fn cancelled_reason_names_who() {
    let mut j = job("CANCELLED");
    j.cancelled_by = Some("uid 1000 (alice)".into());
    let v = classify(&ok(&j));
    assert_eq!(
        v.reasons,
        ["Slurm job 4242 was cancelled by uid 1000 (alice)"]
    );
}

#[test]
fn oom_signature_only_counts_when_the_case_fails_anyway() {
    let j = job("COMPLETED");
    let clean = Evidence {
        oom_signature: Some(("OutOfMemoryError", "logs/GEN_0.log")),
        ..ok(&j)
    };
    assert_eq!(classify(&clean).status, CaseStatus::Passed);
    let f = job("FAILED");
    let broken = Evidence {
        oom_signature: Some(("CUDA out of memory", "logs/GEN_0.log")),
        measured: false,
        ..ok(&f)
    };
    let v = classify(&broken);
    assert_eq!(class(&v), Some("oom"));
    assert_eq!(
        v.reasons[0],
        "the logs show `CUDA out of memory` (logs/GEN_0.log)"
    );
}

#[test]
fn invalid_measurement_beats_test_failed_when_something_was_measured() {
    let j = job("FAILED");
    let reasons = vec!["client s/c reported 3 failed requests".to_string()];
    let e = Evidence {
        invalid_reasons: &reasons,
        junit_status: Some(JunitStatus::Failed),
        junit_message: Some("AssertionError: failed requests"),
        ..ok(&j)
    };
    let v = classify(&e);
    assert_eq!(v.status, CaseStatus::Invalid);
    assert_eq!(class(&v), Some("invalid_measurement"));
    assert_eq!(v.reasons[0], "client s/c reported 3 failed requests");
}

#[test]
fn nothing_measured_and_test_broke_is_test_failed() {
    let mut j = job("FAILED");
    j.exit_code = Some(2);
    let reasons = vec!["client s/c has no benchmark result".to_string()];
    let e = Evidence {
        invalid_reasons: &reasons,
        measured: false,
        junit_status: Some(JunitStatus::Error),
        junit_message: Some("RuntimeError: server died\nmore"),
        ..ok(&j)
    };
    let v = classify(&e);
    assert_eq!(class(&v), Some("test_failed"));
    assert_eq!(
        v.reasons,
        [
            "Slurm job 4242 failed with exit code 2",
            "pytest reported an error: RuntimeError: server died",
            "client s/c has no benchmark result"
        ]
    );
}

#[test]
fn nothing_measured_on_a_clean_run_is_invalid() {
    let j = job("COMPLETED");
    let reasons = vec!["no benchmark result was found".to_string()];
    let e = Evidence {
        invalid_reasons: &reasons,
        measured: false,
        ..ok(&j)
    };
    assert_eq!(class(&classify(&e)), Some("invalid_measurement"));
}

#[test]
fn junit_failure_with_valid_metrics_is_test_failed() {
    let j = job("COMPLETED");
    let e = Evidence {
        junit_status: Some(JunitStatus::Failed),
        ..ok(&j)
    };
    assert_eq!(class(&classify(&e)), Some("test_failed"));
}

#[test]
fn nonzero_exit_signal_marker_and_workers_fail_the_test() {
    let mut j = job("COMPLETED");
    j.exit_code = Some(1);
    assert_eq!(class(&classify(&ok(&j))), Some("test_failed"));
    let mut j = job("COMPLETED");
    j.signal = Some(9);
    assert_eq!(class(&classify(&ok(&j))), Some("test_failed"));
    let j = job("COMPLETED");
    let e = Evidence {
        marker_exit: Some(3),
        ..ok(&j)
    };
    assert_eq!(
        classify(&e).reasons,
        ["the batch script exited with code 3"]
    );
    let workers = vec!["worker GEN_0 failed: boom".to_string()];
    let e = Evidence {
        worker_failures: &workers,
        ..ok(&j)
    };
    assert_eq!(class(&classify(&e)), Some("test_failed"));
}

#[test]
fn incomplete_junit_fails() {
    let j = job("COMPLETED");
    let e = Evidence {
        junit_status: Some(JunitStatus::Incomplete),
        ..ok(&j)
    };
    assert_eq!(class(&classify(&e)), Some("test_failed"));
}

#[test]
fn pytest_skip_at_run_time_is_skipped() {
    let j = job("COMPLETED");
    let reasons = vec!["no result".to_string()];
    let e = Evidence {
        junit_status: Some(JunitStatus::Skipped),
        junit_message: Some("needs 8 GPUs"),
        measured: false,
        invalid_reasons: &reasons,
        ..ok(&j)
    };
    let v = classify(&e);
    assert_eq!(v.status, CaseStatus::Skipped);
    assert_eq!(v.reasons, ["pytest skipped the test: needs 8 GPUs"]);
}

#[test]
fn unfinished_job_state_is_not_a_pass() {
    let j = job("RUNNING");
    let v = classify(&ok(&j));
    assert_eq!(class(&v), Some("test_failed"));
    assert_eq!(
        v.reasons,
        ["Slurm job 4242 ended in state RUNNING, not COMPLETED"]
    );
}

#[test]
fn an_unknown_end_state_is_not_a_pass() {
    let v = classify(&ok(&job("SOMETHING_NEW")));
    assert_eq!(class(&v), Some("test_failed"));
    assert_eq!(v.reasons, ["Slurm job 4242 has no known end state"]);
}
