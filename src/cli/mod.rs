//! Command-line definitions only (clap structs). Nothing here does any work: `convert` turns
//! the flags into domain values (`config::settings::Overrides`, `plan::select::Selection`,
//! `perfdb::settings::DbOverrides`, `plan::Mode`, `judge::Stage`), once, and `ops::*` runs the
//! command with them. Nothing below `ops` imports this module.

mod convert;
pub mod extract;
mod history;
mod run;
pub mod upload;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use extract::ExtractArgs;
pub use history::{CompareArgs, HistoryArgs, RegressArgs};
pub use run::{
    ClusterArgs, ConnectionArgs, InstallArg, ModeFilter, RenderArgs, ResumeArgs, RunArgs,
    SelectArgs, Stage,
};
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

const REGRESS_HELP: &str = "\
Examples:
  perf-run regress                                   judge the newest point of every series
  perf-run regress RUN --stage pre_merge             judge one run; exit 6 on a gating regression
  perf-run regress -k llama --metric token_throughput --json
  perf-run regress --accept -k llama --since 2026-11-20 --reason 'new default batch size'

Rules, thresholds and the explanation of every verdict: docs/verdicts.md.";

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
