//! The results stage: client logs and JUnit XML in; metrics, a validity verdict and a failure
//! class per case out; then the five output files (long CSV for the TRT_perf uploader, a wide
//! human CSV, session properties, `summary.json`, a JUnit report for Jenkins).
//!
//! Everything streams: a 1 GB client log or a 500 MB JUnit file is read with bounded memory.
//!
//! Entry points for the pipeline: [`extract_case`], [`write_outputs`], [`read_sysinfo`],
//! [`MetricConfig`]; for the uploader: [`crate::trtperf::long_csv::read_long_csv`] and
//! [`writers::summary::record_upload`].

pub mod classify;
pub mod extract;
pub mod junit;
pub mod lines;
pub mod metrics;
pub mod model;
pub mod validity;
pub mod writers;

pub use extract::{LooseInputs, extract_case, extract_loose, extract_loose_each, read_sysinfo};
pub use metrics::{BlockMode, MetricConfig};
pub use model::*;
pub use writers::summary::record_upload;
pub use writers::{OutputWriter, write_outputs};

use crate::error::Exit;

/// The one rule from case outcomes to an exit code, for every command that ends cases (`run`,
/// `resume`, `extract`): the most actionable wins — 1 (a test failed, timed out or ran out of
/// memory; a failed case without a class), then 3 (an invalid measurement), 4 (infrastructure,
/// node failure), 7 (cancelled), 6 (a regression, only under the pre-merge gate), 5 (the upload
/// is pending), else 0. README "Exit codes" documents the same order.
pub fn exit_for_outcomes(
    outcomes: impl IntoIterator<Item = (CaseStatus, Option<FailureClass>)>,
    regression_fails: bool,
    upload_pending: bool,
) -> Exit {
    let mut rank = 0u8;
    for (status, class) in outcomes {
        let r = match (status, class) {
            (_, Some(FailureClass::TestFailed | FailureClass::Timeout | FailureClass::Oom)) => 6,
            (CaseStatus::Failed, None) => 6,
            (_, Some(FailureClass::InvalidMeasurement)) | (CaseStatus::Invalid, None) => 5,
            (_, Some(FailureClass::Infra | FailureClass::NodeFail)) => 4,
            (_, Some(FailureClass::Cancelled)) => 3,
            (_, Some(FailureClass::Regression)) if regression_fails => 2,
            _ => 0,
        };
        rank = rank.max(r);
    }
    match rank {
        6 => Exit::TestFailed,
        5 => Exit::InvalidMeasurement,
        4 => Exit::Infra,
        3 => Exit::Cancelled,
        2 => Exit::Regression,
        _ if upload_pending => Exit::UploadPending,
        _ => Exit::Success,
    }
}

/// [`exit_for_outcomes`] of a set of cases, without a gate or an upload.
pub fn exit_for(cases: &[CaseResult]) -> Exit {
    exit_for_outcomes(
        cases.iter().map(|c| (c.status, c.failure_class)),
        false,
        false,
    )
}

#[cfg(test)]
mod exit_tests {
    use super::*;

    #[test]
    fn one_rule_for_every_command_the_most_actionable_wins() {
        use CaseStatus::*;
        use FailureClass::*;
        let e = |o: &[(CaseStatus, Option<FailureClass>)], gate: bool, pending: bool| {
            exit_for_outcomes(o.iter().copied(), gate, pending)
        };
        assert_eq!(e(&[(Passed, None)], false, false), Exit::Success);
        assert_eq!(e(&[(Passed, None)], false, true), Exit::UploadPending);
        // A node failure is infrastructure from `extract` as from `run` (the review's finding).
        assert_eq!(e(&[(Failed, Some(NodeFail))], false, false), Exit::Infra);
        assert_eq!(
            e(
                &[
                    (Failed, Some(NodeFail)),
                    (Invalid, Some(InvalidMeasurement))
                ],
                false,
                false
            ),
            Exit::InvalidMeasurement
        );
        assert_eq!(
            e(
                &[(Failed, Some(Cancelled)), (Failed, Some(Timeout))],
                false,
                false
            ),
            Exit::TestFailed
        );
        assert_eq!(e(&[(Failed, None)], false, false), Exit::TestFailed);
        assert_eq!(
            e(&[(Failed, Some(Cancelled))], false, true),
            Exit::Cancelled
        );
        // A regression gates only pre-merge, and loses to everything but the pending upload.
        assert_eq!(
            e(&[(Failed, Some(Regression))], false, false),
            Exit::Success
        );
        assert_eq!(
            e(&[(Failed, Some(Regression))], true, true),
            Exit::Regression
        );
        assert_eq!(
            e(
                &[(Failed, Some(Regression)), (Failed, Some(Cancelled))],
                true,
                false
            ),
            Exit::Cancelled
        );
    }
}
