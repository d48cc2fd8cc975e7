//! Failure classification: one pure function from what we know about a case to its status,
//! failure class and the reasons a person reads at 2 a.m.
//!
//! Order (DESIGN.md "Honest states"; first match wins):
//! 1. a SKIP from the test list → skipped (a skipped case never needed the cluster, so an infra
//!    error of the run does not make it a failure);
//! 2. an infra error and no job (or nothing measured) → `infra`;
//! 3. no job and no evidence at all → not run;
//! 4. Slurm TIMEOUT/DEADLINE → `timeout`; OUT_OF_MEMORY → `oom`; NODE_FAIL/BOOT_FAIL →
//!    `node_fail`; CANCELLED/PREEMPTED → `cancelled`;
//! 5. an out-of-memory log signature, when the case would not pass anyway → `oom` (a stray
//!    "OutOfMemoryError" in a log of a clean run does not fail it);
//! 6. pytest skipped the test at run time and nothing was measured → skipped;
//! 7. something was measured but is not trustworthy (failed requests, zero tokens, missing
//!    metrics, nan/negative values) → `invalid_measurement`;
//! 8. job FAILED, non-zero exit, signal, failed exit marker, JUnit failure/error, a failed
//!    worker → `test_failed` (nothing measured because the test itself broke);
//! 9. nothing measured although the run looked fine → `invalid_measurement`;
//! 10. a job state other than COMPLETED → `test_failed`; else passed.

use super::junit::JunitStatus;
use super::model::{CaseStatus, FailureClass, JobInfo};
use crate::slurm::state::BaseState;

#[cfg(test)]
mod tests;

/// What extraction found out about a case, reduced to what classification needs.
#[derive(Debug, Clone, Default)]
pub struct Evidence<'a> {
    pub infra_error: Option<&'a str>,
    pub skipped: Option<&'a str>,
    pub job: Option<&'a JobInfo>,
    /// Exit code from the `perf_run_exit` marker written by the batch script.
    pub marker_exit: Option<i32>,
    /// An out-of-memory signature and where it was seen, e.g.
    /// ("CUDA out of memory", "logs/GEN_0.log").
    pub oom_signature: Option<(&'a str, &'a str)>,
    /// pytest-timeout's banner was seen in this log (the test overran its own limit).
    pub pytest_timeout: Option<&'a str>,
    pub junit_status: Option<JunitStatus>,
    pub junit_message: Option<&'a str>,
    /// Failed worker test cases (disagg `results-<ROLE>.xml`), as sentences.
    pub worker_failures: &'a [String],
    /// Some client printed at least one metric.
    pub measured: bool,
    /// Why the measurement cannot be trusted (client reasons, "no benchmark result").
    pub invalid_reasons: &'a [String],
    /// Any log or JUnit file was found for the case.
    pub any_evidence: bool,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: CaseStatus,
    pub class: Option<FailureClass>,
    pub reasons: Vec<String>,
}

impl Verdict {
    fn new(status: CaseStatus, class: Option<FailureClass>, reasons: Vec<String>) -> Self {
        Verdict {
            status,
            class,
            reasons,
        }
    }
}

fn job_name(job: &JobInfo) -> String {
    if job.job_id.is_empty() {
        "the Slurm job".to_string()
    } else {
        format!("Slurm job {}", job.job_id)
    }
}

fn after(job: &JobInfo) -> String {
    match job.elapsed_s {
        Some(s) if s.is_finite() && s >= 0.0 => format!(
            " after {}",
            humantime::format_duration(std::time::Duration::from_secs(s.round() as u64))
        ),
        _ => String::new(),
    }
}

fn with_slurm_reason(mut s: String, job: &JobInfo) -> String {
    if let Some(r) = job
        .reason
        .as_deref()
        .filter(|r| !r.trim().is_empty() && *r != "None")
    {
        s.push_str(&format!(" (Slurm reason: {})", r.trim()));
    }
    s
}

/// What happened to the job under the benchmark: restarts (requeues) and suspension, as
/// sentences; empty when nothing did.
pub fn disturbances(job: &JobInfo) -> Vec<String> {
    let mut out = Vec::new();
    let secs =
        |s: f64| humantime::format_duration(std::time::Duration::from_secs(s.round() as u64));
    if job.restarts > 0 {
        let how = if job.restart_states.is_empty() {
            String::new()
        } else {
            format!(" after {}", job.restart_states.join(", then "))
        };
        let on = job
            .restart_nodes
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default();
        let lost = job
            .lost_s
            .filter(|l| l.is_finite() && *l > 0.0)
            .map(|l| format!("; {} of run time lost", secs(l)))
            .unwrap_or_default();
        out.push(format!(
            "Slurm restarted {} {} time(s){how}{on}{lost}; the numbers of a restarted job are never reported as valid",
            job_name(job),
            job.restarts
        ));
    }
    if let Some(s) = job.suspended_s.filter(|s| *s > 0) {
        out.push(format!(
            "{} was suspended for {} while it ran, so its timings are not a benchmark's",
            job_name(job),
            secs(s as f64)
        ));
    }
    out
}

/// Classify a case. A job that Slurm restarted or suspended never passes: a case that would
/// pass (or is already invalid) becomes `invalid_measurement`, a failed one keeps its class, and
/// every verdict names what happened (`disturbances`).
pub fn classify(e: &Evidence<'_>) -> Verdict {
    let mut v = classify_inner(e);
    let notes = e.job.map(disturbances).unwrap_or_default();
    if notes.is_empty() {
        return v;
    }
    match v.status {
        CaseStatus::Passed | CaseStatus::Invalid => {
            let mut reasons = notes;
            if v.status == CaseStatus::Invalid {
                reasons.append(&mut v.reasons);
            }
            v = Verdict::new(
                CaseStatus::Invalid,
                Some(FailureClass::InvalidMeasurement),
                reasons,
            );
        }
        CaseStatus::Failed => v.reasons.extend(notes),
        CaseStatus::Skipped | CaseStatus::NotRun => {}
    }
    v
}

fn classify_inner(e: &Evidence<'_>) -> Verdict {
    use CaseStatus as S;
    use FailureClass as F;

    if let Some(why) = e.skipped {
        let why = why.trim();
        let msg = if why.is_empty() {
            "skipped by the test list".to_string()
        } else if why.starts_with(crate::plan::select::CANNOT_RUN) {
            // perf-run's own reason (not a SKIP marker): it says itself why.
            why.to_string()
        } else {
            format!("skipped by the test list: {why}")
        };
        return Verdict::new(S::Skipped, None, vec![msg]);
    }
    if let Some(err) = e.infra_error
        && (e.job.is_none() || !e.measured)
    {
        return Verdict::new(S::Failed, Some(F::Infra), vec![err.trim().to_string()]);
    }
    if e.job.is_none() && !e.any_evidence {
        return Verdict::new(
            S::NotRun,
            None,
            vec!["the case never ran: there is no Slurm job and no result file for it".into()],
        );
    }

    if let Some(job) = e.job {
        let name = job_name(job);
        let state = job.state;
        match state {
            BaseState::Timeout | BaseState::Deadline => {
                let msg = format!(
                    "{name} hit its time limit and was stopped (state {state}{})",
                    after(job)
                );
                return Verdict::new(S::Failed, Some(F::Timeout), vec![msg]);
            }
            BaseState::OutOfMemory => {
                let msg = with_slurm_reason(
                    format!(
                        "{name} ran out of memory (state OUT_OF_MEMORY{})",
                        after(job)
                    ),
                    job,
                );
                return Verdict::new(S::Failed, Some(F::Oom), vec![msg]);
            }
            BaseState::NodeFail | BaseState::BootFail => {
                let nodes = job
                    .node_list
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .map(|n| format!(" on {n}"))
                    .unwrap_or_default();
                let msg = with_slurm_reason(
                    format!("a node of {name} failed (state {state}{nodes})"),
                    job,
                );
                return Verdict::new(S::Failed, Some(F::NodeFail), vec![msg]);
            }
            BaseState::Cancelled | BaseState::Preempted => {
                let msg = if state == BaseState::Preempted {
                    format!("{name} was preempted by the scheduler{}", after(job))
                } else {
                    let by = job
                        .cancelled_by
                        .as_deref()
                        .filter(|b| !b.is_empty())
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default();
                    let why = job
                        .reason
                        .as_deref()
                        .filter(|_| job.cancelled_by.as_deref() == Some("perf-run"))
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default();
                    format!("{name} was cancelled{by}{}{why}", after(job))
                };
                return Verdict::new(S::Failed, Some(F::Cancelled), vec![msg]);
            }
            _ => {}
        }
    }

    // Did the test itself report failure?
    let mut failures: Vec<String> = Vec::new();
    if let Some(job) = e.job {
        let name = job_name(job);
        if job.state == BaseState::Failed || job.exit_code.is_some_and(|c| c != 0) {
            match job.exit_code {
                Some(c) if c != 0 => failures.push(format!("{name} failed with exit code {c}")),
                _ => failures.push(format!("{name} failed (state {})", job.state)),
            }
        }
        if let Some(sig) = job.signal.filter(|&s| s != 0) {
            failures.push(format!("{name} was killed by signal {sig}"));
        }
    }
    if let Some(code) = e.marker_exit.filter(|&c| c != 0) {
        failures.push(format!("the batch script exited with code {code}"));
    }
    match e.junit_status {
        Some(JunitStatus::Failed) | Some(JunitStatus::Error) => {
            let what = if e.junit_status == Some(JunitStatus::Error) {
                "an error"
            } else {
                "a failure"
            };
            match e.junit_message.map(str::trim).filter(|m| !m.is_empty()) {
                Some(m) => failures.push(format!("pytest reported {what}: {}", first_line(m))),
                None => failures.push(format!("pytest reported {what}")),
            }
        }
        Some(JunitStatus::Incomplete) => failures.push(
            "the JUnit report stops inside this test case, so pytest never finished it".into(),
        ),
        _ => {}
    }
    failures.extend(e.worker_failures.iter().cloned());

    let not_completed = e.job.is_some_and(|j| j.state != BaseState::Completed);
    let would_pass = failures.is_empty() && e.invalid_reasons.is_empty() && !not_completed;
    if let Some((sig, place)) = e.oom_signature
        && !would_pass
    {
        let mut reasons = vec![format!("the logs show `{sig}` ({place})")];
        reasons.extend(failures);
        return Verdict::new(S::Failed, Some(F::Oom), reasons);
    }
    if let Some(place) = e.pytest_timeout
        && !would_pass
    {
        let mut reasons = vec![format!(
            "the test overran its own time limit and pytest's timeout stopped it (see {place})"
        )];
        reasons.extend(failures);
        return Verdict::new(S::Failed, Some(F::Timeout), reasons);
    }
    if e.junit_status == Some(JunitStatus::Skipped) && !e.measured && failures.is_empty() {
        let msg = match e.junit_message.map(str::trim).filter(|m| !m.is_empty()) {
            Some(m) => format!("pytest skipped the test: {}", first_line(m)),
            None => "pytest skipped the test".to_string(),
        };
        return Verdict::new(S::Skipped, None, vec![msg]);
    }
    if e.measured && !e.invalid_reasons.is_empty() {
        let mut reasons = e.invalid_reasons.to_vec();
        reasons.extend(failures);
        return Verdict::new(S::Invalid, Some(F::InvalidMeasurement), reasons);
    }
    if !failures.is_empty() {
        let mut reasons = failures;
        reasons.extend(e.invalid_reasons.iter().cloned());
        return Verdict::new(S::Failed, Some(F::TestFailed), reasons);
    }
    if !e.invalid_reasons.is_empty() {
        return Verdict::new(
            S::Invalid,
            Some(F::InvalidMeasurement),
            e.invalid_reasons.to_vec(),
        );
    }
    if let Some(job) = e.job.filter(|_| not_completed) {
        let msg = if job.state == BaseState::Unknown {
            format!("{} has no known end state", job_name(job))
        } else {
            format!(
                "{} ended in state {}, not COMPLETED",
                job_name(job),
                job.state
            )
        };
        return Verdict::new(S::Failed, Some(F::TestFailed), vec![msg]);
    }
    Verdict::new(S::Passed, None, Vec::new())
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}
