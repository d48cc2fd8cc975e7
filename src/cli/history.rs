//! The flags of the history commands: `history`, `regress`, `compare`.

use clap::Args;

use super::{Stage, upload};

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
