//! Flags of `perf-run upload`: the flags of the legacy `trt_perf_parser.py` (reference §9.1)
//! plus run-directory upload, the spool, and idempotency controls.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Database connection settings. The flags are kebab-case (`--db-host`); the legacy
/// `trt_perf_parser.py` spellings (`--DB-host`, …) stay accepted as hidden aliases.
/// The password is never a flag: it comes from `DB_PASSWORD`
/// or `--db-password-file` (DESIGN.md "Secrets").
#[derive(Debug, Clone, Default, Args)]
pub struct DbArgs {
    /// Database host [env: DB_HOST].
    #[arg(
        long = "db-host",
        alias = "DB-host",
        value_name = "HOST",
        help_heading = "Database"
    )]
    pub db_host: Option<String>,

    /// Database port [env: DB_PORT] [default: 3306].
    #[arg(
        long = "db-port",
        alias = "DB-port",
        value_name = "PORT",
        help_heading = "Database"
    )]
    pub db_port: Option<u16>,

    /// Database user [env: DB_USER].
    #[arg(
        long = "db-user",
        alias = "DB-user",
        value_name = "USER",
        help_heading = "Database"
    )]
    pub db_user: Option<String>,

    /// Database schema [env: DB_SCHEMA] [default: TRT_perf].
    #[arg(
        long = "db-schema",
        alias = "DB-schema",
        value_name = "NAME",
        help_heading = "Database"
    )]
    pub db_schema: Option<String>,

    /// Read the database password from this file (first line). Otherwise DB_PASSWORD is used.
    #[arg(
        long = "db-password-file",
        alias = "DB-password-file",
        value_name = "FILE",
        help_heading = "Database"
    )]
    pub db_password_file: Option<PathBuf>,

    /// Refused: a password on the command line is visible in `ps` and CI logs.
    #[arg(
        long = "db-password",
        alias = "DB-password",
        value_name = "PASSWORD",
        hide = true,
        help_heading = "Database"
    )]
    pub db_password_on_cli: Option<String>,

    /// Spool directory for uploads that could not reach the database [default: <runs home>/spool].
    #[arg(long, value_name = "DIR", help_heading = "Database")]
    pub spool_dir: Option<PathBuf>,

    /// Base URL of the TRTPerf page printed after an upload [env: TRTPERF_URL]
    /// [default: http://dlswqa.nvidia.com/trtperf].
    #[arg(long, value_name = "URL", help_heading = "Database")]
    pub trtperf_url: Option<String>,

    /// Give up connecting (and logging in) after this many seconds [default: 15].
    #[arg(
        long = "db-connect-timeout",
        alias = "DB-connect-timeout",
        value_name = "SECS",
        help_heading = "Database"
    )]
    pub db_connect_timeout: Option<u64>,

    /// TLS to the database [env: DB_SSL_MODE] [default: preferred]: `disabled`, `preferred`
    /// (TLS when the server offers it), `required`, `verify-ca` or `verify-identity`.
    #[arg(
        long = "db-ssl-mode",
        alias = "DB-ssl-mode",
        value_name = "MODE",
        help_heading = "Database"
    )]
    pub db_ssl_mode: Option<String>,

    /// PEM file of the CA that signed the server's certificate, for `verify-ca` and
    /// `verify-identity` [env: DB_SSL_CA].
    #[arg(
        long = "db-ssl-ca",
        alias = "DB-ssl-ca",
        value_name = "FILE",
        help_heading = "Database"
    )]
    pub db_ssl_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum YesNo {
    Yes,
    No,
}

#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// A collected run directory (or run id) to upload directly.
    #[arg(value_name = "RUN")]
    pub run: Option<String>,

    /// Retry every pending upload in the spool directory (safe from cron or the next job).
    #[arg(long)]
    pub spool: bool,

    /// perf_script_test_results.csv (long format).
    #[arg(long, value_name = "FILE")]
    pub source_metric_csv: Option<PathBuf>,
    /// session_properties.csv.
    #[arg(long, value_name = "FILE")]
    pub source_properties: Option<PathBuf>,
    /// gpu_monitoring.csv.
    #[arg(long, value_name = "FILE")]
    pub source_gpu_monitoring: Option<PathBuf>,
    /// JUnit XML whose <system-out> becomes the `log` column.
    #[arg(long, value_name = "FILE")]
    pub junit_xml: Option<PathBuf>,

    /// TensorRT version (runs.tensorrt) [else: session_properties trt_version].
    #[arg(long, value_name = "VERSION")]
    pub tensorrt: Option<String>,
    /// TensorRT-LLM version (runs.trtllm); only the first line is used.
    #[arg(long, value_name = "VERSION")]
    pub trtllm: Option<String>,
    /// GPU driver version (runs.driver) [else: session_properties].
    #[arg(long, value_name = "VERSION")]
    pub driver: Option<String>,
    /// GPU name (runs.gpu), the word "NVIDIA" is dropped [else: session_properties].
    #[arg(long, value_name = "NAME")]
    pub gpu: Option<String>,
    /// CUDA version (runs.cuda) [else: session_properties].
    #[arg(long, value_name = "VERSION")]
    pub cuda: Option<String>,
    /// OS name and version (runs.os) [else: session_properties].
    #[arg(long, value_name = "NAME")]
    pub os: Option<String>,
    /// CPU name (runs.cpu) [else: session_properties].
    #[arg(long, visible_alias = "cpu-name", value_name = "NAME")]
    pub cpu: Option<String>,
    /// SM clock (runs.graphic_freq) [else: gpu_monitoring, properties, the CSV].
    #[arg(long, value_name = "MHZ")]
    pub sm_clock: Option<String>,
    /// Memory clock (runs.memory_freq) [else: gpu_monitoring, properties, the CSV].
    #[arg(long, value_name = "MHZ")]
    pub mem_clock: Option<String>,
    /// Run start, "YYYY-MM-DD HH:MM:SS" [else: properties, earliest CSV start_timestamp].
    #[arg(long, value_name = "TIME")]
    pub start_time: Option<String>,
    /// Run end, "YYYY-MM-DD HH:MM:SS" [else: properties, latest CSV end_timestamp].
    #[arg(long, value_name = "TIME")]
    pub end_time: Option<String>,
    /// TensorRT-LLM commit (runs.cl) [else: session_properties trt_change_id].
    #[arg(long, value_name = "SHA")]
    pub commit: Option<String>,
    /// Commit time, "YYYY-MM-DD HH:MM:SS" (runs.commit_time) [else: properties].
    #[arg(long, value_name = "TIME")]
    pub commit_time: Option<String>,
    /// Link to the CI job (runs.link); part of the run key.
    #[arg(long, value_name = "URL")]
    pub link: Option<String>,
    /// Free text (runs.notes, at most 2000 characters).
    #[arg(long, value_name = "TEXT")]
    pub notes: Option<String>,
    /// Host the benchmark ran on (shown only; TRT_perf has no column for it).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// IP address of that host (shown only; TRT_perf has no column for it).
    #[arg(long, value_name = "ADDR")]
    pub ip: Option<String>,

    /// `no` prints what would be written (secrets redacted) without connecting.
    #[arg(long, value_enum, value_name = "yes|no", default_value = "yes")]
    pub write_db: YesNo,

    /// Print what would be written (secrets redacted) without connecting: `--write-db no`.
    #[arg(long)]
    pub dry_run: bool,

    /// Idempotency key of this run (default: derived from link, commit, job ids, test ids, start time).
    #[arg(long, value_name = "KEY")]
    pub run_key: Option<String>,

    /// Upload even when this run is already in the database: by its run key, or as a
    /// legacy trt_perf_parser.py upload with the same start time, commit and cases.
    #[arg(long, visible_alias = "force")]
    pub force_reupload: bool,

    /// The `cases.format` value for every row, instead of deriving it from the data
    /// (PYTORCH, TRT-LLM, AUTODEPLOY or ONNX; e.g. `ONNX` to continue legacy history).
    #[arg(long, value_name = "NAME")]
    pub framework: Option<String>,

    /// Do not record this run into the local history ($PERF_RUN_HOME/history.db), which
    /// every upload otherwise does, with or without a database.
    #[arg(long)]
    pub no_history: bool,

    #[command(flatten)]
    pub db: DbArgs,
}
