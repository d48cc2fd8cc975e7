//! Slurm job states: a base state plus flags (DESIGN.md "Honest states"). COMPLETING,
//! REQUEUED, SUSPENDED, CONFIGURING and friends are not final; `CANCELLED by 1001` keeps who
//! cancelled; a job is finished only when its base state is terminal and no transitional flag
//! is set (reference §11.12: the legacy loop treated COMPLETING as final).

use serde::{Deserialize, Serialize};

/// The base state of a job. Serde reads and writes Slurm's own words (`COMPLETED`,
/// `NODE_FAIL`, `OUT_OF_MEMORY`, …: the strings run.json, journal.jsonl and summary.json have
/// always held); a word this version does not know reads as `Unknown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BaseState {
    Pending,
    Running,
    Suspended,
    Completed,
    Cancelled,
    Failed,
    Timeout,
    NodeFail,
    Preempted,
    BootFail,
    Deadline,
    OutOfMemory,
    /// Something this version of perf-run does not know; never treated as final.
    #[default]
    #[serde(other)]
    Unknown,
}

impl std::fmt::Display for BaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BaseState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            BaseState::Completed
                | BaseState::Cancelled
                | BaseState::Failed
                | BaseState::Timeout
                | BaseState::NodeFail
                | BaseState::Preempted
                | BaseState::BootFail
                | BaseState::Deadline
                | BaseState::OutOfMemory
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BaseState::Pending => "PENDING",
            BaseState::Running => "RUNNING",
            BaseState::Suspended => "SUSPENDED",
            BaseState::Completed => "COMPLETED",
            BaseState::Cancelled => "CANCELLED",
            BaseState::Failed => "FAILED",
            BaseState::Timeout => "TIMEOUT",
            BaseState::NodeFail => "NODE_FAIL",
            BaseState::Preempted => "PREEMPTED",
            BaseState::BootFail => "BOOT_FAIL",
            BaseState::Deadline => "DEADLINE",
            BaseState::OutOfMemory => "OUT_OF_MEMORY",
            BaseState::Unknown => "UNKNOWN",
        }
    }
}

/// Flags that mean "not settled yet", whatever the base state says.
const TRANSITIONAL: &[&str] = &[
    "COMPLETING",
    "CONFIGURING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SIGNALING",
    "STAGE_OUT",
    "STOPPED",
    "SPECIAL_EXIT",
    "RESV_DEL_HOLD",
    "REVOKED",
    "POWER_UP_NODE",
    "UPDATE_DB",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobState {
    pub base: BaseState,
    /// Extra flags as Slurm printed them (COMPLETING, REQUEUED, …).
    pub flags: Vec<String>,
    /// `CANCELLED by 1001`: the uid (or name) that cancelled.
    pub cancelled_by: Option<String>,
    /// What Slurm printed, for messages.
    pub raw: String,
}

impl JobState {
    /// Parse what sacct / squeue / scontrol print: `RUNNING`, `CANCELLED by 1001`,
    /// `COMPLETING`, `RUNNING+COMPLETING`, `PENDING,REQUEUED`, `CANCELLED+`.
    pub fn parse(text: &str) -> JobState {
        let raw = text.trim().to_string();
        let (main, by) = match raw.split_once(" by ") {
            Some((m, b)) => (m.trim(), Some(b.trim().to_string())),
            None => (raw.as_str(), None),
        };
        let mut base = None;
        let mut flags = Vec::new();
        for tok in main
            .split(['+', ',', ' ', '|'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let b = match tok.to_ascii_uppercase().as_str() {
                "PENDING" | "PD" => Some(BaseState::Pending),
                "RUNNING" | "R" => Some(BaseState::Running),
                "SUSPENDED" | "S" => Some(BaseState::Suspended),
                "COMPLETED" | "CD" => Some(BaseState::Completed),
                "CANCELLED" | "CA" => Some(BaseState::Cancelled),
                "FAILED" | "F" => Some(BaseState::Failed),
                "TIMEOUT" | "TO" => Some(BaseState::Timeout),
                "NODE_FAIL" | "NF" => Some(BaseState::NodeFail),
                "PREEMPTED" | "PR" => Some(BaseState::Preempted),
                "BOOT_FAIL" | "BF" => Some(BaseState::BootFail),
                "DEADLINE" | "DL" => Some(BaseState::Deadline),
                "OUT_OF_MEMORY" | "OOM" => Some(BaseState::OutOfMemory),
                _ => None,
            };
            match (b, base) {
                (Some(b), None) => base = Some(b),
                _ => flags.push(tok.to_ascii_uppercase()),
            }
        }
        // squeue prints a transitional flag alone (e.g. COMPLETING): the job still runs.
        let base = base.unwrap_or_else(|| {
            if flags
                .iter()
                .any(|f| f == "COMPLETING" || f == "CONFIGURING")
            {
                BaseState::Running
            } else if flags.iter().any(|f| f.starts_with("REQUEUE")) {
                BaseState::Pending
            } else {
                BaseState::Unknown
            }
        });
        JobState {
            base,
            flags,
            cancelled_by: by,
            raw,
        }
    }

    /// A state perf-run knows without asking Slurm (the job's first log line says it runs; its
    /// exit marker says how it ended): the base state alone, as Slurm would print it.
    pub fn of(base: BaseState) -> JobState {
        JobState {
            base,
            flags: Vec::new(),
            cancelled_by: None,
            raw: base.as_str().to_string(),
        }
    }

    /// Finished for good: terminal base state and no transitional flag.
    pub fn is_final(&self) -> bool {
        self.base.is_terminal()
            && !self
                .flags
                .iter()
                .any(|f| TRANSITIONAL.contains(&f.as_str()))
    }

    pub fn is_pending(&self) -> bool {
        self.base == BaseState::Pending
    }
}

/// Pending reasons that mean the job can never start as submitted: waiting is pointless.
pub fn reason_is_hopeless(reason: &str) -> bool {
    let r = reason.trim();
    [
        "BadConstraints",
        "PartitionNodeLimit",
        "PartitionTimeLimit",
        "PartitionConfig",
        "InvalidAccount",
        "InvalidQOS",
        "QOSMaxNodePerJobLimit",
        "QOSMaxGRESPerJob",
        "QOSMaxWallDurationPerJobLimit",
        "AssocMaxNodesPerJobLimit",
        "AssocMaxWallDurationPerJobLimit",
        "DependencyNeverSatisfied",
    ]
    .iter()
    .any(|h| r.starts_with(h))
}

/// A sentence for the common pending reasons (shown next to the state).
pub fn explain_reason(reason: &str) -> Option<&'static str> {
    let r = reason.trim();
    Some(match r {
        "Resources" => "waiting for free nodes/GPUs",
        "Priority" => "other jobs are ahead in the queue",
        "None" | "" => return None,
        _ if r.starts_with("ReqNodeNotAvail") => {
            "some requested nodes are down, drained or reserved"
        }
        _ if r.starts_with("Dependency") => "waiting for another job",
        "BeginTime" => "not allowed to start yet",
        "JobHeldUser" => "held by the user (scontrol release)",
        "JobHeldAdmin" => "held by an administrator",
        _ if r.starts_with("QOS") => "a QOS limit is reached",
        _ if r.starts_with("Assoc") => "an account limit is reached",
        _ if reason_is_hopeless(r) => "it can never start as submitted",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_slurm_prints() {
        let s = JobState::parse("CANCELLED by 1001");
        assert_eq!(s.base, BaseState::Cancelled);
        assert_eq!(s.cancelled_by.as_deref(), Some("1001"));
        assert!(s.is_final());
        for (t, base, fin) in [
            ("COMPLETED", BaseState::Completed, true),
            ("COMPLETING", BaseState::Running, false),
            ("RUNNING", BaseState::Running, false),
            ("PENDING", BaseState::Pending, false),
            ("REQUEUED", BaseState::Pending, false),
            ("SUSPENDED", BaseState::Suspended, false),
            ("CONFIGURING", BaseState::Running, false),
            ("FAILED", BaseState::Failed, true),
            ("TIMEOUT", BaseState::Timeout, true),
            ("OUT_OF_MEMORY", BaseState::OutOfMemory, true),
            ("NODE_FAIL", BaseState::NodeFail, true),
            ("PREEMPTED", BaseState::Preempted, true),
            ("DEADLINE", BaseState::Deadline, true),
            ("BOOT_FAIL", BaseState::BootFail, true),
            ("CANCELLED+", BaseState::Cancelled, true),
            ("COMPLETED+COMPLETING", BaseState::Completed, false),
            ("FAILED,REQUEUED", BaseState::Failed, false),
            ("SOMETHING_NEW", BaseState::Unknown, false),
            ("", BaseState::Unknown, false),
        ] {
            let s = JobState::parse(t);
            assert_eq!((s.base, s.is_final()), (base, fin), "{t}");
        }
    }

    #[test]
    fn a_known_state_reads_as_slurm_would_print_it() {
        for b in [BaseState::Running, BaseState::Completed, BaseState::Failed] {
            assert_eq!(JobState::of(b), JobState::parse(b.as_str()));
        }
    }

    #[test]
    fn base_states_keep_slurms_words_in_files() {
        for b in [
            BaseState::Completed,
            BaseState::NodeFail,
            BaseState::OutOfMemory,
            BaseState::BootFail,
            BaseState::Unknown,
        ] {
            let json = serde_json::to_string(&b).unwrap();
            assert_eq!(json, format!("\"{}\"", b.as_str()));
            assert_eq!(serde_json::from_str::<BaseState>(&json).unwrap(), b);
        }
        // A word a newer Slurm (or perf-run) wrote is not an error: it is not known.
        assert_eq!(
            serde_json::from_str::<BaseState>("\"RESV_DEL_HOLD\"").unwrap(),
            BaseState::Unknown
        );
    }

    #[test]
    fn reasons() {
        assert!(reason_is_hopeless("PartitionNodeLimit"));
        assert!(!reason_is_hopeless("Resources"));
        assert_eq!(
            explain_reason("Priority"),
            Some("other jobs are ahead in the queue")
        );
        assert!(explain_reason("ReqNodeNotAvail, UnavailableNodes:n1").is_some());
    }
}
