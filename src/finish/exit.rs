//! The one rule from how a command ended to its exit code. `run`, `resume`, `extract` and
//! `upload` all call [`exit_code`]; README "Exit codes" documents the same order. The results
//! stage only classifies cases: it knows nothing of exit codes.

use crate::error::Exit;
use crate::results::{CaseStatus, FailureClass};
use crate::watch::signals::Interrupt;

/// How a command ended: a signal wins (129/130/143); then the most actionable case outcome —
/// 1 (a test failed, timed out or ran out of memory; a failed case without a class), then 3 (an
/// invalid measurement), 4 (infrastructure, node failure), 7 (cancelled by someone else), 6 (a
/// regression, only when `regression_fails`: the pre-merge gate), 5 (the upload is pending),
/// else 0.
pub fn exit_code(
    interrupted: Option<Interrupt>,
    outcomes: impl IntoIterator<Item = (CaseStatus, Option<FailureClass>)>,
    regression_fails: bool,
    upload_pending: bool,
) -> Exit {
    if let Some(s) = interrupted {
        return s.exit();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_command_the_most_actionable_wins() {
        use CaseStatus::*;
        use FailureClass::*;
        let e = |o: &[(CaseStatus, Option<FailureClass>)], gate: bool, pending: bool| {
            exit_code(None, o.iter().copied(), gate, pending)
        };
        assert_eq!(e(&[(Passed, None)], false, false), Exit::Success);
        assert_eq!(e(&[(Passed, None)], false, true), Exit::UploadPending);
        // `upload` has no cases: only the pending upload decides.
        assert_eq!(e(&[], false, true), Exit::UploadPending);
        assert_eq!(e(&[], false, false), Exit::Success);
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

    #[test]
    fn a_signal_wins_over_every_case() {
        let failed = [(CaseStatus::Failed, Some(FailureClass::TestFailed))];
        assert_eq!(
            exit_code(Some(Interrupt::Term), failed, true, true),
            Exit::Terminated
        );
        assert_eq!(
            exit_code(Some(Interrupt::Int), [], false, false),
            Exit::Interrupted
        );
        assert_eq!(
            exit_code(Some(Interrupt::Hup), [], false, true),
            Exit::HungUp
        );
    }
}
