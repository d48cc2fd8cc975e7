//! Command-line definitions only (clap structs). Nothing here does any work: `convert` turns
//! the flags into domain values (`config::settings::Overrides`, `plan::select::Selection`,
//! `perfdb::settings::DbOverrides`, `plan::Mode`, `judge::Stage`), once, and `ops::*` runs the
//! command with them. Nothing below `ops` imports this module.

mod convert;
pub mod extract;
pub mod upload;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use extract::ExtractArgs;
pub use upload::UploadArgs;

const ENV_HELP: &str = "\
Environment (a flag wins over the environment, which wins over the cluster profile):
  PERF_TEST_MODULE, PERF_TEST_FUNCTION, PERF_TEST_PREFIX, TRTLLM_DIR, TRTLLM_WHEEL,
  CLUSTER_NAME, CLUSTER_HOST, CLUSTER_USER, CLUSTER_SSH_CONFIG, CLUSTER_TYPE (ssh|local),
  CLUSTER_WORKDIR, CLUSTER_PARTITION, CLUSTER_ACCOUNT, CLUSTER_LLM_DATA, CLUSTER_STORAGE, EXTRA_SRUN_PARAMS,
  DOCKER_IMAGE, MPI_TYPE, PERF_RUN_CLUSTERS (profile file), PERF_RUN_HOME (run directories),
  USE_TRT_PERF_DB, DB_HOST, DB_PORT, DB_USER, DB_SCHEMA, DB_PASSWORD.
Every variable perf-run reads, with its meaning and default: docs/environment.md.

Exit codes: 0 ok, 1 a case failed, 2 bad input, 3 invalid measurement, 4 infrastructure,
5 upload pending, 6 regression (--gate pre_merge), 7 cancelled, 129/130/143 SIGHUP/SIGINT/SIGTERM.";

/// The exit codes, in `run --help` and `resume --help` (Jenkins maps them to build results).
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0    every case ran and produced valid measurements (and uploaded, when asked)
  1    a case failed: test failure, time limit, out of memory
  2    bad input: a flag, config, test id, test list or template (nothing was submitted)
  3    a measurement is not trustworthy (failed requests, zero tokens, missing metrics)
  4    infrastructure: ssh, scheduler, node failure, a job that could not be submitted
  5    results are safe on disk but the TRT_perf upload is pending (`perf-run upload --spool`)
  6    --gate pre_merge: a confirmed regression of a gating metric
  7    a job was cancelled by someone else (scancel, preemption) or by --max-pending
  129 / 130 / 143   perf-run got SIGHUP / SIGINT / SIGTERM (its jobs are cancelled first)
When cases end differently, the most actionable wins: 1, then 3, 4, 7, 6, 5."
    };
}

const RUN_HELP: &str = concat!(
    "Examples:
  # What would be submitted, without touching the cluster:
  perf-run run --dry-run --cluster gb200 --config deepseek_r1_fp4_v2_grace_blackwell
  # One aggregated server of a config, streaming the job log:
  perf-run run --cluster gb200 --config deepseek_r1_fp4_v2_grace_blackwell \\
      --server r1_fp4_v2_tp4_mtp3_1k1k --follow
  # A CI test list, only the disaggregated cases matching -k, four jobs at a time:
  perf-run run --cluster gb200 --testlist l0_gb200_multi_nodes.yml --mode disagg \\
      -k 'r1 and not mtp3' --max-jobs 4

",
    exit_codes!()
);

const RENDER_HELP: &str = "Examples:
  perf-run render --cluster gb200 \\
      --config gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX
  perf-run render --cluster gb200 --testlist l0_gb200_multi_gpus_perf_sanity.yml --json > plans.json
  perf-run render --cluster gb200 --config NAME --show-files --output-dir ./scripts";

const SUBMIT_HELP: &str = "Examples:
  perf-run submit --cluster gb200 --testlist list.yml      # prints the run directory
  perf-run status                                           # later: where are my jobs?
  perf-run resume                                           # wait, collect, extract, upload";

const STATUS_HELP: &str = "Examples:
  perf-run status                 # the newest run
  perf-run status 20261130-0915-3fa2 --json
  perf-run status 123456 --cluster gb200    # one Slurm job";

const LOGS_HELP: &str = "Examples:
  perf-run logs --follow
  perf-run logs --role GEN_0 --case 2
  perf-run logs RUN --role BENCHMARK";

const RESUME_HELP: &str = concat!(
    "Examples:
  perf-run resume                 # the newest run: re-attach, wait, collect, extract, upload
  perf-run resume perf-runs/jenkins-42 --follow
Never resubmits: a job that already ended is collected; a crash between sbatch and the journal
is recovered by the job's unique name.

",
    exit_codes!()
);

const DOCTOR_HELP: &str = "Examples:
  perf-run doctor --cluster gb200
  perf-run doctor --host login.example.com --partition batch --account myacct";

const UPLOAD_HELP: &str = "Examples:
  perf-run upload                         # the newest run's results
  perf-run upload RUN --dry-run           # what would be written, without a database
  perf-run upload --spool                 # retry uploads that could not reach the database
  perf-run upload --source-metric-csv perf.csv --start-time '2026-11-30 09:00:00' \\
      --commit abc1234";

const EXTRACT_HELP: &str = "Examples:
  perf-run extract --junit results.xml --output-dir out/
  perf-run extract --logs-dir artifacts/ --output-dir out/";

#[derive(Debug, Parser)]
#[command(
    name = "perf-run",
    version,
    about = "Run TensorRT-LLM perf-sanity benchmarks on Slurm: plan, render, submit, watch, collect, extract, upload.",
    after_help = ENV_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// More detail on stderr (repeat for debug output).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// No progress messages: only warnings, errors, the run summary and machine output.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Colour the messages: `auto` (when stderr is a terminal and NO_COLOR is unset),
    /// `always` or `never`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// `None` = decide per stream.
    pub fn forced(self) -> Option<bool> {
        match self {
            ColorChoice::Auto => None,
            ColorChoice::Always => Some(true),
            ColorChoice::Never => Some(false),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan and render the Slurm scripts for a selection; print them and touch no network.
    #[command(after_help = RENDER_HELP)]
    Render(RenderArgs),
    /// The whole pipeline: render, stage, submit, watch, collect, extract, upload, report.
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Render, stage and submit, print the run directory, and exit (like `run --detach`).
    #[command(
        after_help = SUBMIT_HELP,
        mut_arg("follow", |a| a.hide(true)),
        mut_arg("detach", |a| a.hide(true)),
        mut_arg("max_pending", |a| a.hide(true))
    )]
    Submit(RunArgs),
    /// Show the state of a run's jobs (or of one Slurm job id).
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// The same as `resume --no-upload` (kept for old scripts; hidden).
    #[command(hide = true)]
    Wait(RunRefArgs),
    /// Print (or follow) a run's job log or a role's log.
    #[command(after_help = LOGS_HELP)]
    Logs(LogsArgs),
    /// Cancel a run's jobs with one scancel.
    Cancel(RunRefArgs),
    /// Re-attach to a run after a crash, `kill -9` or `--detach`, and finish it without resubmitting.
    #[command(after_help = RESUME_HELP)]
    Resume(ResumeArgs),
    /// Check that a cluster is usable: ssh, host key, Slurm tools, partition, account, rsync.
    #[command(after_help = DOCTOR_HELP)]
    Doctor(DoctorArgs),
    /// Extract metrics from JUnit XML and benchmark logs; write CSV, JSON and JUnit.
    #[command(after_help = EXTRACT_HELP)]
    Extract(ExtractArgs),
    /// Upload results to the TRT_perf database (compatible with trt_perf_parser.py flags).
    #[command(after_help = UPLOAD_HELP)]
    Upload(Box<UploadArgs>),
    /// List the runs under PERF_RUN_HOME (state, cases, verdict, age); `runs prune` removes old ones.
    Runs(RunsArgs),
    /// Show the measurement history: one series per test, metric, GPU type and count, cluster.
    History(Box<HistoryArgs>),
    /// Judge a run against the history: regression, suspect, ok, … with an explanation for each.
    #[command(after_help = REGRESS_HELP)]
    Regress(Box<RegressArgs>),
    /// Two runs side by side: values, delta, noise band and whether the comparison is fair.
    Compare(Box<CompareArgs>),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Write the man pages (perf-run.1 and one per subcommand) into a directory (packaging).
    #[command(hide = true)]
    Manpages(ManpagesArgs),
    /// Print the values a completion script offers for an option (profile or config names),
    /// given the words typed so far. Used by `perf-run completions bash`.
    #[command(hide = true)]
    CompleteValues(CompleteValuesArgs),
    /// Write report.html, report.css and report.json for one or more runs (a comparison when
    /// several), readable inside Jenkins.
    Report(ReportArgs),
}

/// `perf-run report [RUN…] [--history] --output-dir DIR`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run directories, run ids, or `perf-run extract` output directories (default: the newest
    /// run). With several, the first is the reference the others are compared with.
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,

    /// Add the history of every case (series, baselines, change points and verdicts) from the
    /// local history store.
    #[arg(long)]
    pub history: bool,

    /// Where to write report.html, report.css and report.json.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
}

/// `perf-run runs [--json]`, `perf-run runs prune --older-than 14d [--yes]`.
#[derive(Debug, Clone, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// Print the list as JSON (an array of runs).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum RunsAction {
    /// Remove finished runs (and left-over renders) older than a duration; prints what it would
    /// remove unless --yes is given. Runs still in progress or detached are never removed.
    Prune {
        /// Age of the newest run to remove, e.g. `14d`, `36h`.
        #[arg(long, value_name = "DURATION")]
        older_than: String,
        /// Really remove them (default: only list what would be removed).
        #[arg(long)]
        yes: bool,
    },
}

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
    #[arg(long, value_name = "MODE", value_parser = ["auto", "none"], help_heading = "Selection")]
    pub install: Option<String>,

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

/// A run directory or a run id (looked up under the runs home); the newest run when omitted.
#[derive(Debug, Clone, Args)]
pub struct RunRefArgs {
    /// Run directory or run id (default: the newest run).
    #[arg(value_name = "RUN")]
    pub run: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Run directory, run id, or a Slurm job id (default: the newest run).
    #[arg(value_name = "RUN|JOBID")]
    pub target: Option<String>,

    /// With a bare job id: the cluster to ask.
    #[command(flatten)]
    pub cluster: ConnectionArgs,

    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// Keep printing as the log grows, until the job ends.
    #[arg(short, long)]
    pub follow: bool,

    /// A role's log instead of the batch log: CTX_0, GEN_0, DISAGG_SERVER, BENCHMARK.
    #[arg(long, value_name = "NAME")]
    pub role: Option<String>,

    /// With --testlist runs: which case (index or a substring of its test id).
    #[arg(long, value_name = "CASE")]
    pub case: Option<String>,
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

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub cluster: ConnectionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CompleteValuesArgs {
    /// `clusters` or `configs`.
    pub what: String,
    /// The command line typed so far (its `--trtllm-dir` and `--clusters-file` are used).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ManpagesArgs {
    /// Where to write the `.1` files.
    #[arg(long, value_name = "DIR")]
    pub output_dir: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `perf-run history [-k EXPR] [--metric M] [--json] [--limit N]`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Only series whose test name matches this pytest-style expression (`and`, `or`, `not`).
    #[arg(short = 'k', value_name = "EXPR")]
    pub k: Option<String>,

    /// Only this metric (e.g. token_throughput, total_token_throughput, first_token_time).
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,

    /// Print a JSON array of series on stdout.
    #[arg(long)]
    pub json: bool,

    /// Keep the newest N points of each series [default: all; the human view lists 5].
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Read the local history only, even when a TRT_perf database is configured.
    #[arg(long)]
    pub local_only: bool,

    #[command(flatten)]
    pub db: upload::DbArgs,
}

const REGRESS_HELP: &str = "\
Examples:
  perf-run regress                                   judge the newest point of every series
  perf-run regress RUN --stage pre_merge             judge one run; exit 6 on a gating regression
  perf-run regress -k llama --metric token_throughput --json
  perf-run regress --accept -k llama --since 2026-11-20 --reason 'new default batch size'

Rules, thresholds and the explanation of every verdict: docs/verdicts.md.";

/// `perf-run regress [RUN] [-k EXPR] [--metric M] [--stage S] [--gate-latencies] [--json]`,
/// `perf-run regress --accept -k EXPR [--metric M] --since TIME --reason TEXT`.
#[derive(Debug, Clone, Args)]
pub struct RegressArgs {
    /// A run directory (or any directory with results/), a run id under PERF_RUN_HOME, or a run
    /// key of the history (or its first 12 characters). Default: the newest point of every
    /// series.
    #[arg(value_name = "RUN", conflicts_with = "accept")]
    pub run: Option<String>,

    /// Only series whose test name matches this pytest-style expression (`and`, `or`, `not`).
    #[arg(short = 'k', value_name = "EXPR")]
    pub k: Option<String>,

    /// Only this metric (e.g. token_throughput, total_token_throughput, first_token_time).
    #[arg(long, value_name = "NAME")]
    pub metric: Option<String>,

    /// The gate: pre_merge (10 % floor, exit 6 on a gating regression) or post_merge (5 %
    /// floor, warn only).
    #[arg(long, value_enum, default_value = "post_merge")]
    pub stage: Stage,

    /// Latencies (TTFT, TPOT, ITL, E2EL, *_time) gate too, not only the token throughputs.
    #[arg(long)]
    pub gate_latencies: bool,

    /// Print a JSON array of verdicts on stdout (with --accept: of the acceptances).
    #[arg(long)]
    pub json: bool,

    /// Record that the level of the series matching -k (and --metric) since --since is the new
    /// normal: it becomes their baseline.
    #[arg(long)]
    pub accept: bool,

    /// With --accept: from when the new level counts (a change point's start time), e.g.
    /// `2026-11-20`, `2026-11-20 08:00:00` or RFC 3339; UTC unless a zone is given.
    #[arg(long, value_name = "TIME", requires = "accept")]
    pub since: Option<String>,

    /// With --accept: why the change is intended (recorded with the acceptance).
    #[arg(long, value_name = "TEXT", requires = "accept")]
    pub reason: Option<String>,

    /// Read the local history only, even when a TRT_perf database is configured.
    #[arg(long)]
    pub local_only: bool,

    #[command(flatten)]
    pub db: upload::DbArgs,
}

/// `perf-run compare RUN_A RUN_B [--json]`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The reference run: a run directory (or any directory with results/), a run id under
    /// PERF_RUN_HOME, or a run key of the history (or its first 12 characters).
    #[arg(value_name = "RUN_A")]
    pub run_a: String,

    /// The run compared with it (deltas are B against A).
    #[arg(value_name = "RUN_B")]
    pub run_b: String,

    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Read the noise from the local history only, even when a TRT_perf database is configured.
    #[arg(long)]
    pub local_only: bool,

    #[command(flatten)]
    pub db: upload::DbArgs,
}
