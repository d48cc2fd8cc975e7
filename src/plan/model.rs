//! The plan's types: what `build_plan` produces for one case (`RunPlan` and its parts) and
//! what it is given (`PlanInput`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::layout::{Generation, Layout};
use crate::config::settings::Settings;

use super::Selected;

pub use crate::config::mode::Mode;

/// One benchmark client of a server (reference §4.1 defaults applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPlan {
    pub name: String,
    pub concurrency: u64,
    pub iterations: u64,
    pub isl: u64,
    pub osl: u64,
}

/// One server config the case runs, with its GPU math (reference §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerPlan {
    pub name: String,
    /// `aggr`, `ctx` or `gen`.
    pub role: String,
    pub model: String,
    pub precision: Option<String>,
    pub tp: u32,
    pub ep: u32,
    pub pp: u32,
    pub cp: u32,
    pub gpus: u32,
    pub max_batch_size: Option<u64>,
    pub nodes: u32,
    pub gpus_per_node_per_server: u32,
    pub clients: Vec<ClientPlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    Aggr,
    Gen,
    Ctx,
    DisaggServer,
    Benchmark,
}

/// One srun step of the batch script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolePlan {
    /// `AGGR`, `GEN_0`, `CTX_0`, `DISAGG_SERVER`, `BENCHMARK` (DISAGG_SERVING_TYPE, reference §6).
    pub name: String,
    pub kind: RoleKind,
    pub nodes: u32,
    pub ntasks: u32,
    pub ntasks_per_node: u32,
    /// Index into the job's node list where this role's nodes start (G3 node slicing).
    pub first_node: u32,
    /// `--mpi` type: only CTX/GEN workers and multi-GPU aggregated servers get one (§11.7).
    pub mpi: Option<String>,
    /// `--overlap`: the router and the benchmark share a node with a worker (reference §6).
    pub overlap: bool,
    /// The shell command every task of this step runs (`eval`ed in the defs directory).
    pub command: String,
    /// The step's output file, relative to the job workspace.
    pub log: String,
    /// The JUnit file this role's pytest writes, relative to the job workspace (§11.8 fixed).
    pub junit: String,
    /// Append to `log` instead of truncating it (gen_only_no_context, upstream agg draft).
    pub log_append: bool,
    /// A sentinel touched once the step's srun is reaped (gen workers: `gen_server_<i>.done`),
    /// relative to the job workspace.
    pub done: Option<String>,
    /// Unset PMI*/PMIX*/MPI*/OMPI*/SLURM* (but SLURM_PROCID) before pytest, as upstream's
    /// slurm_run.sh does for single-node runs, so the executor does not initialise MPI.
    pub scrub_env: bool,
    /// The cache-transceiver precheck this worker's instance runs first, and its log
    /// (relative to the job workspace).
    pub precheck_command: Option<String>,
    pub precheck_log: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbatchPlan {
    pub nodes: u32,
    pub ntasks: u32,
    pub ntasks_per_node: u32,
    pub gpus_per_node: u32,
    /// `--segment`: nodes that must share one NVLink domain.
    pub segment: Option<u32>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: String,
    pub job_name: String,
    /// `--output`, with `%j` for the job id.
    pub output: String,
    /// `--requeue` (true) or `--no-requeue` (false), always explicit.
    pub requeue: bool,
    /// `--signal=B:USR1@N`: Slurm warns the batch script N seconds before the time limit.
    pub time_warning_s: u64,
}

/// How long before the time limit Slurm warns the batch script: 2 minutes, a quarter of a
/// shorter job (at least 10 s). Slurm may send it up to a minute early (its time-limit
/// check runs every 30 s), never late.
pub fn time_warning_seconds(job_time_s: u64) -> u64 {
    (job_time_s / 4).clamp(10, 120)
}

/// Remote paths of one case (all absolute, on the cluster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemotePaths {
    pub workdir: String,
    pub trtllm_root: String,
    pub defs_dir: String,
    pub run_dir: String,
    pub job_workspace: String,
    pub agg_config_folder: String,
    pub disagg_config_folder: String,
    pub exit_marker: String,
    pub sysinfo_dir: String,
    /// Where the test writes its per-case files: `<--output-dir>/<case>` (upstream
    /// `test_output_dir`, submit.py `testOutputDir`), absolute and relative to the workspace.
    pub test_output_dir: String,
    pub test_output_rel: String,
}

/// The TensorRT-LLM wheel a job installs on every node before its roles start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallPlan {
    /// The wheel on this machine (staged once per run).
    pub local: PathBuf,
    /// Where staging puts it on the cluster: `<run dir>/wheel/<file>`.
    pub remote: String,
    /// `--trtllm-wheel`, `TRTLLM_WHEEL` or the checkout's build output.
    pub source: String,
}

/// Upstream 2026's cache-transceiver precheck: one short srun per ctx/gen instance, with the
/// instance's own node slice, MPI shape and env, before any model is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrecheckPlan {
    /// `timeout -k 60 <s>` around each precheck srun (`step_timeout_s`).
    pub timeout_s: u64,
    /// Where the precheck writes (`<case>/cache_transceiver_precheck`), relative to the job
    /// workspace.
    pub work_rel: String,
}

/// Where upstream keeps the precheck, relative to the checkout root.
pub const PRECHECK_SCRIPT: &str =
    "tests/scripts/perf-sanity/cache_transceiver_precheck/run_precheck.py";

/// Node-local directory the wheel is installed into (per job, so nothing of the image or of
/// another job is touched), exported as `PERF_RUN_SITE` by the batch script (a step's
/// PMI/SLURM scrub would remove SLURM_JOB_ID); every role puts it first on PYTHONPATH and PATH.
pub const INSTALL_SITE: &str = "/tmp/perf_run_trtllm_${SLURM_JOB_ID}";

/// Everything needed to render and submit one case.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub mode: Mode,
    pub test_id: String,
    pub case_name: String,
    pub case_dir: String,
    pub case_index: usize,
    pub config_name: String,
    pub config_path: PathBuf,
    pub config_rel: String,
    pub generation: Generation,
    pub bench_mode: Option<String>,
    pub gpus_per_node: u32,
    pub total_nodes: u32,
    pub total_gpus: u32,
    pub sbatch: SbatchPlan,
    /// The srun steps in launch order (one `AGGR` step for aggregated runs).
    pub steps: Vec<RolePlan>,
    pub servers: Vec<ServerPlan>,
    /// Slurm's time limit of the job.
    pub time_seconds: u64,
    /// pytest's per-test timeout: the test's own limit (`TIMEOUT (N)`, `--time`, …).
    pub pytest_timeout_s: u64,
    /// Upstream's id modifier (`time_breakdown`), if any.
    pub modifier: Option<String>,
    pub stage_name: String,
    pub paths: RemotePaths,
    /// Exported by the batch script (name, value), in order.
    pub exports: Vec<(String, String)>,
    pub srun_args: Vec<String>,
    /// `srun_args` without GPU requests (`--gres=gpu…`, `--gpus…`), for the overlapping
    /// router and benchmark steps (upstream requests no GRES for them).
    pub srun_args_no_gpu: Vec<String>,
    /// `#SBATCH` options written commented out (profile `strip_sbatch`).
    pub strip_sbatch: Vec<String>,
    pub launch_delay: u32,
    /// Disaggregated jobs: seconds without progress before the role monitor reports a
    /// starting role as stalled (`PERF_RUN_ROLE_STALLED`, docs/ARCHITECTURE.md).
    pub stall_s: u64,
    /// The wheel to install before the roles start (None: the image's TensorRT-LLM).
    pub install: Option<InstallPlan>,
    /// The cache-transceiver precheck, when enabled.
    pub precheck: Option<PrecheckPlan>,
    pub skip: Option<String>,
    pub list_line: Option<usize>,
    pub uploads: bool,
    pub warnings: Vec<String>,
}

/// What `build_plan` needs besides the settings and the checkout.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub settings: &'a Settings,
    pub layout: &'a Layout,
    pub selected: &'a Selected,
    pub run_id: &'a str,
    pub case_index: usize,
    /// Extra `NAME=VALUE` exports (`--env`), already validated.
    pub user_env: &'a [(String, String)],
}
