//! The flags of the pipeline commands (`render`, `run`, `submit`, `resume`): what to run
//! (`SelectArgs`), where and how (`ConnectionArgs`, `ClusterArgs`), and what each command adds.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::upload;

/// Which cases to run: exactly one of `--config`, `--test`, `--testlist`.
#[derive(Debug, Clone, Default, Args)]
pub struct SelectArgs {
    /// A perf-sanity config base name (the YAML file name without `.yaml`).
    #[arg(long, value_name = "NAME", help_heading = "Selection")]
    pub config: Option<String>,

    /// A full pytest node id, e.g. `perf/test_perf_sanity.py::test_e2e[aggr_upload-<cfg>-<server>]`.
    #[arg(long, value_name = "NODEID", help_heading = "Selection")]
    pub test: Option<String>,

    /// A test list: test-db YAML, a Jenkins YAML list, or a TXT list (one id per line).
    #[arg(long, value_name = "FILE", help_heading = "Selection")]
    pub testlist: Option<PathBuf>,

    /// Keep only test-list cases whose id matches this pytest-style expression
    /// (`and`, `or`, `not`, parentheses, substrings).
    #[arg(short = 'k', value_name = "EXPR", help_heading = "Selection")]
    pub k: Option<String>,

    /// Keep only test-list cases of this mode.
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Selection")]
    pub mode: Option<ModeFilter>,

    /// test-db lists: use only the blocks whose `condition.terms.stage` is this stage (and
    /// blocks without a stage) [default: all blocks, merged].
    #[arg(long, value_enum, value_name = "STAGE", help_heading = "Selection")]
    pub stage: Option<Stage>,

    /// With `--config` of an aggregated config: only these server_config names (comma-separated).
    #[arg(long, value_name = "NAMES", help_heading = "Selection")]
    pub server: Option<String>,

    /// With `--config` of a disaggregated config (current layout): e2e or gen_only.
    #[arg(long, value_name = "MODE", help_heading = "Selection")]
    pub benchmark_mode: Option<String>,

    /// The TensorRT-LLM checkout to read configs from [env: TRTLLM_DIR].
    #[arg(long, value_name = "DIR", help_heading = "Selection")]
    pub trtllm_dir: Option<PathBuf>,

    /// The TensorRT-LLM wheel to install on every node before the test runs, so the build
    /// under test is the one measured [env: TRTLLM_WHEEL] [default: the newest
    /// `build/tensorrt_llm-*.whl` of the checkout, if any].
    #[arg(long, value_name = "WHEEL", help_heading = "Selection")]
    pub trtllm_wheel: Option<PathBuf>,

    /// `auto` installs the wheel given or found; `none` runs the image's own TensorRT-LLM
    /// (for an image that already has the right build) [env: PERF_RUN_INSTALL] [default: auto].
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Selection")]
    pub install: Option<InstallArg>,

    /// pytest module [env: PERF_TEST_MODULE] [default: perf/test_perf_sanity.py].
    #[arg(long, value_name = "PATH", help_heading = "Test id")]
    pub module: Option<String>,

    /// pytest function [env: PERF_TEST_FUNCTION] [default: test_e2e].
    #[arg(long, value_name = "NAME", help_heading = "Test id")]
    pub function: Option<String>,

    /// Test-id prefix [env: PERF_TEST_PREFIX] [default: disagg_upload / aggr_upload].
    #[arg(long, value_name = "PREFIX", help_heading = "Test id")]
    pub prefix: Option<String>,
}

/// `--install`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InstallArg {
    Auto,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeFilter {
    #[value(name = "single-agg")]
    SingleAgg,
    #[value(name = "multi-agg")]
    MultiAgg,
    #[value(name = "disagg")]
    Disagg,
}

/// A CI stage: of upstream's test-db (`condition.terms.stage`, `--stage` of a list), and the
/// gate the numbers are judged for (`run --gate`, `regress --stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    #[value(name = "pre_merge", alias = "pre-merge")]
    PreMerge,
    #[value(name = "post_merge", alias = "post-merge")]
    PostMerge,
}

/// Which cluster and how to reach it: the part of the cluster flags that `status` and `doctor`
/// use as well.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Cluster profile name [env: CLUSTER_NAME].
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    pub cluster: Option<String>,

    /// Cluster profile file: YAML (`clusters:`) or legacy INI `clusters.conf` [env: PERF_RUN_CLUSTERS].
    #[arg(long, value_name = "FILE", help_heading = "Cluster")]
    pub clusters_file: Option<PathBuf>,

    /// Login host or ssh config alias [env: CLUSTER_HOST].
    #[arg(long, value_name = "HOST", help_heading = "Cluster")]
    pub host: Option<String>,

    /// Login user [env: CLUSTER_USER] [default: what the ssh config says (`ssh -G HOST`)].
    #[arg(long, value_name = "USER", help_heading = "Cluster")]
    pub user: Option<String>,

    /// An ssh config file for every ssh call (`ssh -F FILE`) [env: CLUSTER_SSH_CONFIG]
    /// [default: ssh's own, ~/.ssh/config].
    #[arg(long, value_name = "FILE", help_heading = "Cluster")]
    pub ssh_config: Option<PathBuf>,

    /// `ssh` (perf-run runs elsewhere) or `local` (perf-run runs on the login node) [env: CLUSTER_TYPE].
    #[arg(long, value_name = "TYPE", help_heading = "Cluster")]
    pub cluster_type: Option<String>,

    /// Remote working directory [env: CLUSTER_WORKDIR].
    #[arg(long, value_name = "DIR", help_heading = "Cluster")]
    pub workdir: Option<String>,

    /// Slurm partition [env: CLUSTER_PARTITION].
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    pub partition: Option<String>,

    /// Slurm account [env: CLUSTER_ACCOUNT].
    #[arg(long, value_name = "NAME", help_heading = "Cluster")]
    pub account: Option<String>,
}

/// Where and how to run: the connection, plus what only a job needs (image, MPI, time, …).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,

    /// Model storage on the cluster (LLM_MODELS_ROOT) [env: CLUSTER_LLM_DATA].
    #[arg(long, value_name = "DIR", help_heading = "Cluster")]
    pub llm_data: Option<String>,

    /// Shared storage on the cluster [env: CLUSTER_STORAGE].
    #[arg(long, value_name = "DIR", help_heading = "Cluster")]
    pub storage: Option<String>,

    /// Extra srun arguments, whitespace-separated [env: EXTRA_SRUN_PARAMS].
    #[arg(
        long,
        value_name = "ARGS",
        allow_hyphen_values = true,
        help_heading = "Cluster"
    )]
    pub extra_srun_params: Option<String>,

    /// Container image for pyxis; empty for no container [env: DOCKER_IMAGE].
    #[arg(long, value_name = "IMAGE", help_heading = "Cluster")]
    pub image: Option<String>,

    /// srun --mpi type for workers (pmix, pmi2, none) [env: MPI_TYPE].
    #[arg(long, value_name = "TYPE", help_heading = "Cluster")]
    pub mpi: Option<String>,

    /// Job time limit, e.g. `04:00:00` or `90` (minutes) [default: from the test list or config, else 04:00:00].
    #[arg(long, value_name = "TIME", help_heading = "Cluster")]
    pub time: Option<String>,

    /// Directory of templates that override the built-in ones (same file names).
    #[arg(long, value_name = "DIR", help_heading = "Cluster")]
    pub templates: Option<PathBuf>,

    /// Let Slurm requeue the job after a node failure or a preemption (`sbatch --requeue`);
    /// perf-run follows it to its final end [profile: requeue] [default: --no-requeue].
    #[arg(long, conflicts_with = "no_requeue", help_heading = "Cluster")]
    pub requeue: bool,

    /// A node failure or a preemption ends the job for good (`sbatch --no-requeue`, the default;
    /// docs/slurm-faults.md).
    #[arg(long, help_heading = "Cluster")]
    pub no_requeue: bool,

    /// Disaggregated jobs: report a role (its name and last log line) that shows no progress
    /// for this many seconds while the job starts [env: PERF_RUN_STALL_S] [default: 600].
    #[arg(long, value_name = "SECONDS", help_heading = "Cluster")]
    pub stall_after: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// render / run --dry-run: write the generated files here (default: a scratch directory,
    /// $PERF_RUN_SCRATCH or ~/.cache/perf-run/scratch, that keeps the 20 newest). run: create
    /// the run directory under DIR.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Print one JSON object per plan on stdout (a JSON array for --testlist) instead of the files.
    #[arg(long)]
    pub json: bool,

    /// Print every generated file of every case (default: a plan table per case and the batch
    /// script of the first case).
    #[arg(long, conflicts_with = "json")]
    pub show_files: bool,

    /// Export NAME=VALUE in the batch script for every task (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// Use this run id instead of a new one (for reproducible renders).
    #[arg(long, value_name = "ID", hide = true)]
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub render: RenderArgs,

    /// Stop after rendering: print the generated files and touch nothing remote.
    #[arg(long)]
    pub dry_run: bool,

    /// Submit, print the run directory, and exit; `perf-run resume RUN` finishes later.
    #[arg(long)]
    pub detach: bool,

    /// Upload results to TRT_perf (also when USE_TRT_PERF_DB=true).
    #[arg(long, conflicts_with = "no_upload")]
    pub upload: bool,

    /// Never upload, even when USE_TRT_PERF_DB=true.
    #[arg(long)]
    pub no_upload: bool,

    /// Do not sync the TensorRT-LLM checkout (it is already on the cluster at CLUSTER_WORKDIR).
    #[arg(long)]
    pub no_sync: bool,

    /// Extra rsync exclude patterns for the checkout sync (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub sync_exclude: Vec<String>,

    /// Stream the job log live while waiting.
    #[arg(long)]
    pub follow: bool,

    /// Cancel a job that is still pending after this long (e.g. `30m`, `2h`).
    #[arg(long, value_name = "DURATION")]
    pub max_pending: Option<String>,

    /// With --testlist: at most this many jobs in the queue at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_jobs: usize,

    /// With --requeue: cancel a job that Slurm restarts more often than this.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_restarts: u32,

    /// Judge the numbers against the history as this CI stage: `pre_merge` (10 % floor) fails
    /// the run with exit 6 on a confirmed regression of a gating metric; `post_merge` (5 %
    /// floor) only warns. Without it the numbers are still judged (post-merge thresholds, or the
    /// --stage of the list) and the verdicts shown, never changing the exit code.
    #[arg(long, value_enum, value_name = "STAGE", help_heading = "Verdicts")]
    pub gate: Option<Stage>,

    #[command(flatten)]
    pub db: upload::DbArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// Stream the job log live while waiting.
    #[arg(long)]
    pub follow: bool,

    /// Wait, collect and extract, but do not upload (what `perf-run wait` did).
    #[arg(long)]
    pub no_upload: bool,

    /// Judge the numbers against the history with this gate (see `run --gate`).
    #[arg(long, value_enum, value_name = "STAGE")]
    pub gate: Option<Stage>,

    #[command(flatten)]
    pub db: upload::DbArgs,
}
