//! The values the results stage works with: what the pipeline knows about a case
//! (`CaseContext`), what extraction found (`CaseResult`, `ClientResult`) and the run-level facts
//! the writers need (`RunInfo`, `SysInfo`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::slurm::state::BaseState;

/// Why a case did not pass. Serialised as the snake_case strings that also appear in the JUnit
/// `<failure type>` and in the database row (DESIGN.md "Honest states").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Infra,
    Timeout,
    Cancelled,
    Oom,
    NodeFail,
    TestFailed,
    InvalidMeasurement,
    Regression,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Infra => "infra",
            FailureClass::Timeout => "timeout",
            FailureClass::Cancelled => "cancelled",
            FailureClass::Oom => "oom",
            FailureClass::NodeFail => "node_fail",
            FailureClass::TestFailed => "test_failed",
            FailureClass::InvalidMeasurement => "invalid_measurement",
            FailureClass::Regression => "regression",
        }
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Passed,
    Failed,
    Invalid,
    Skipped,
    NotRun,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Passed => "passed",
            CaseStatus::Failed => "failed",
            CaseStatus::Invalid => "invalid",
            CaseStatus::Skipped => "skipped",
            CaseStatus::NotRun => "not_run",
        }
    }
}

impl fmt::Display for CaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether one client's numbers can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validity {
    Valid,
    Invalid,
}

impl Validity {
    pub fn as_str(self) -> &'static str {
        match self {
            Validity::Valid => "valid",
            Validity::Invalid => "invalid",
        }
    }
}

/// How a Slurm job ended (filled by the slurm/watch stages from accounting).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub job_id: String,
    /// Slurm base state (summary.json writes Slurm's word: COMPLETED, FAILED, TIMEOUT,
    /// CANCELLED, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, …).
    pub state: BaseState,
    pub cancelled_by: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub submit: Option<DateTime<Utc>>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub elapsed_s: Option<f64>,
    pub node_list: Option<String>,
    /// How often Slurm restarted (requeued) the job before its final attempt.
    #[serde(default)]
    pub restarts: u32,
    /// How each earlier attempt ended (NODE_FAIL, PREEMPTED, REQUEUED), oldest first.
    #[serde(default)]
    pub restart_states: Vec<String>,
    /// The nodes the earlier attempts ran on (the failed node of a NODE_FAIL).
    #[serde(default)]
    pub restart_nodes: Option<String>,
    /// Seconds the earlier attempts ran: time lost to the restarts.
    #[serde(default)]
    pub lost_s: Option<f64>,
    /// Seconds the final attempt spent suspended (sacct `Suspended`).
    #[serde(default)]
    pub suspended_s: Option<u64>,
}

/// One server of a case, from the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerMeta {
    pub name: String,
    pub model: String,
    pub precision: Option<String>,
    pub max_batch_size: Option<u64>,
    pub tp: u32,
    pub ep: u32,
    pub pp: u32,
    pub cp: u32,
    pub gpus: u32,
    pub clients: Vec<ClientMeta>,
}

/// One benchmark client of a server, from the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientMeta {
    pub name: String,
    pub concurrency: u64,
    pub iterations: u64,
    pub isl: u64,
    pub osl: u64,
}

/// What the pipeline knows about one case when extraction starts.
#[derive(Debug, Clone, Default)]
pub struct CaseContext {
    /// Full pytest node id, e.g. `perf/test_perf_sanity.py::test_e2e[aggr_upload-x]`.
    pub test_id: String,
    /// The bracket content of the test id (also the per-test output directory name, §7.1).
    pub case_name: String,
    /// "single-agg" | "multi-agg" | "disagg".
    pub mode: String,
    /// Local copy of the job workspace; maybe partial or absent.
    pub artifacts_dir: Option<PathBuf>,
    /// None: the job never ran.
    pub job: Option<JobInfo>,
    /// SKIP reason from the test list.
    pub skipped: Option<String>,
    /// From the plan; may be empty (standalone extract).
    pub servers: Vec<ServerMeta>,
    /// e.g. "sbatch failed: …".
    pub infra_error: Option<String>,
}

/// Static facts about one metric (shared by every value of that metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricInfo {
    pub name: String,
    pub unit: String,
    /// Column name in perf_summary.csv (unit in the name).
    pub column: String,
    /// PerfMetricType for the long CSV (§7.2).
    pub metric_type: String,
    /// PerfMetricType used for disaggregated runs, when it differs (§7.2).
    pub disagg_metric_type: Option<String>,
    pub required: bool,
}

impl MetricInfo {
    /// The long-CSV metric type for a run of this mode.
    pub fn metric_type_for(&self, mode: &str) -> &str {
        match (&self.disagg_metric_type, mode == "disagg") {
            (Some(t), true) => t,
            _ => &self.metric_type,
        }
    }
}

/// One measured value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    pub info: Arc<MetricInfo>,
    pub value: f64,
}

/// Request counts and facts the client printed (§8.2); `None` when the line was absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientCounts {
    pub total_requests: Option<u64>,
    pub successful_requests: Option<u64>,
    pub failed_requests: Option<u64>,
    pub generated_tokens: Option<u64>,
    pub num_prompts: Option<u64>,
}

/// Where a client's numbers came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum MetricSource {
    /// A client log file (`trtllm-benchmark.<s>.<c>.log`, §7.1).
    ClientLog(PathBuf),
    /// The `<system-out>` of a JUnit test case (result blocks in order).
    JunitSystemOut(PathBuf),
    /// Nothing was found.
    Missing,
}

/// One (server, client) benchmark result.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResult {
    pub server: String,
    pub client: String,
    pub server_idx: usize,
    pub client_idx: usize,
    pub validity: Validity,
    /// Why the result is invalid (empty when valid).
    pub reasons: Vec<String>,
    /// Things worth a look that do not invalidate the numbers (e.g. contradictory duplicates).
    pub warnings: Vec<String>,
    /// Metrics in configuration order.
    pub metrics: Vec<MetricValue>,
    pub counts: ClientCounts,
    pub source: MetricSource,
    /// From the plan, or read from the client's printed arguments.
    pub concurrency: Option<u64>,
    pub iterations: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub model: Option<String>,
}

impl ClientResult {
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.info.name == name)
            .map(|m| m.value)
    }

    /// `server/client`, the way messages name a client.
    pub fn label(&self) -> String {
        format!("{}/{}", self.server, self.client)
    }
}

/// The JUnit verdict of a case, when a JUnit file had it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JunitVerdict {
    /// passed | failed | error | skipped | incomplete
    pub status: String,
    pub time_s: Option<f64>,
    pub message: Option<String>,
    pub file: PathBuf,
}

/// Everything extraction found out about one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub test_id: String,
    pub case_name: String,
    pub mode: String,
    pub status: CaseStatus,
    pub failure_class: Option<FailureClass>,
    /// Human-readable reasons for the status (empty when passed).
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    pub job: Option<JobInfo>,
    pub junit: Option<JunitVerdict>,
    pub clients: Vec<ClientResult>,
    pub servers: Vec<ServerMeta>,
    pub artifacts_dir: Option<PathBuf>,
    /// Exit code from the `perf_run_exit` marker, when present.
    pub marker_exit: Option<i32>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub duration_s: Option<f64>,
}

impl CaseResult {
    /// A failure (or invalid measurement), as opposed to passed/skipped/not run.
    pub fn is_failure(&self) -> bool {
        matches!(self.status, CaseStatus::Failed | CaseStatus::Invalid)
    }

    /// The plan's server by name, if any.
    pub fn server_meta(&self, name: &str) -> Option<&ServerMeta> {
        self.servers.iter().find(|s| s.name == name)
    }
}

/// Host facts from `sysinfo/*.txt` (written by the batch script); "unknown" where missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SysInfo {
    pub gpu: String,
    pub driver: String,
    pub cuda: String,
    pub os: String,
    pub cpu: String,
    /// How many GPUs `gpu.txt` listed (one name per line), when known.
    pub gpu_count: Option<u32>,
    /// TensorRT's version inside the container (`tensorrt_version.txt`).
    pub tensorrt: String,
    /// `tensorrt_llm/version.py` of the synced checkout (`trtllm_version.txt`).
    pub trtllm_checkout: String,
    /// The TensorRT-LLM package the roles import (`trtllm_installed_version.txt`), and where
    /// it lives (`trtllm_installed_location.txt`).
    pub trtllm_installed: String,
    pub trtllm_location: String,
}

impl Default for SysInfo {
    fn default() -> Self {
        let u = || UNKNOWN.to_string();
        SysInfo {
            gpu: u(),
            driver: u(),
            cuda: u(),
            os: u(),
            cpu: u(),
            gpu_count: None,
            tensorrt: u(),
            trtllm_checkout: u(),
            trtllm_installed: u(),
            trtllm_location: u(),
        }
    }
}

pub const UNKNOWN: &str = "unknown";

/// Run-level facts for the writers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub cluster: Option<String>,
    pub hostname: Option<String>,
    pub ip: Option<String>,
    pub user: Option<String>,
    pub trtllm_commit: Option<String>,
    pub trtllm_branch: Option<String>,
    pub commit_time: Option<String>,
    pub sysinfo: SysInfo,
    /// Jenkins build (or other CI) link.
    pub build_url: Option<String>,
    /// Where the artifacts of the run can be browsed.
    pub artifacts_url: Option<String>,
}

impl RunInfo {
    pub fn new(run_id: impl Into<String>, started: DateTime<Utc>) -> Self {
        RunInfo {
            run_id: run_id.into(),
            started,
            finished: None,
            cluster: None,
            hostname: None,
            ip: None,
            user: None,
            trtllm_commit: None,
            trtllm_branch: None,
            commit_time: None,
            sysinfo: SysInfo::default(),
            build_url: None,
            artifacts_url: None,
        }
    }
}

/// The files `write_outputs` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFiles {
    pub long_csv: PathBuf,
    pub wide_csv: PathBuf,
    pub session_csv: PathBuf,
    pub summary_json: PathBuf,
    pub junit_xml: PathBuf,
}

impl WrittenFiles {
    pub fn all(&self) -> [&PathBuf; 5] {
        [
            &self.long_csv,
            &self.wide_csv,
            &self.session_csv,
            &self.summary_json,
            &self.junit_xml,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `job` object of a summary.json written while `state` was a string (perf-run 0.1.0):
    /// it reads into the typed state and writes back the same words.
    #[test]
    fn summary_job_objects_of_older_runs_read_into_the_typed_state() {
        let old = r#"{"job_id": "267", "state": "CANCELLED", "cancelled_by": null, "exit_code": 0, "signal": 0, "reason": null, "submit": "2026-11-30T13:07:38+00:00", "start": "2026-11-30T13:07:39+00:00", "end": "2026-11-30T13:07:39+00:00", "elapsed_s": 0.0, "node_list": "n1", "restarts": 0, "restart_states": [], "restart_nodes": null, "lost_s": null, "suspended_s": null}"#;
        let j: JobInfo = serde_json::from_str(old).unwrap();
        assert_eq!(j.state, BaseState::Cancelled);
        for (word, state) in [
            ("COMPLETED", BaseState::Completed),
            ("NODE_FAIL", BaseState::NodeFail),
            ("OUT_OF_MEMORY", BaseState::OutOfMemory),
            ("UNKNOWN", BaseState::Unknown),
        ] {
            let text = old.replace("CANCELLED", word);
            let j: JobInfo = serde_json::from_str(&text).unwrap();
            assert_eq!(j.state, state, "{word}");
            assert_eq!(serde_json::to_value(&j).unwrap()["state"], word);
        }
    }
}
