//! The planning layer's errors: a test id that is not one, a config that cannot be planned, a
//! selection the cluster cannot hold. Every one is a mistake in what the user gave (exit 2);
//! an error of the config layer passes through with its own exit code.

use std::path::PathBuf;

use crate::config::layout::DEFS_DIR;
use crate::error::{Exit, escape_for_message};

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// `parse_node_id`: the text is not `module::function[case]` of a perf-sanity test.
    #[error(
        "`{}` is not a perf-sanity test id: {why} (expected e.g. `perf/test_perf_sanity.py::test_e2e[aggr_upload-<config>-<server>]`)",
        escape_for_message(.text)
    )]
    NotATestId { text: String, why: String },

    /// `build_case`: the prefix makes an id upstream's test cannot parse.
    #[error(
        "the test id `{case}` built from the prefix `{prefix}` cannot work with upstream's test_perf_sanity.py: {why}"
    )]
    PrefixBreaksId {
        case: String,
        prefix: String,
        why: String,
    },

    /// `build_case`: the id parses, but as another config or kind.
    #[error(
        "the test id `{case}` would not select config `{config}` in upstream's test_perf_sanity.py: the prefix `{prefix}` does not fit this kind of config (aggregated ids need `aggr` in the prefix, disaggregated ids `disagg`, and aggregated config names must not contain `-`)"
    )]
    PrefixSelectsOther {
        case: String,
        config: String,
        prefix: String,
    },

    #[error(
        "the test module `{}` (PERF_TEST_MODULE / --module, relative to {DEFS_DIR}) does not exist in the checkout {}{}",
        escape_for_message(.module),
        .checkout.display(),
        did_you_mean(.close)
    )]
    NoModule {
        module: String,
        checkout: PathBuf,
        close: Vec<String>,
    },

    #[error(
        "{} has no server config named `{name}`{}; its servers are: {}",
        .config.display(),
        close_list(.close),
        .servers.join(", ")
    )]
    NoServer {
        config: PathBuf,
        name: String,
        close: Vec<String>,
        servers: Vec<String>,
    },

    #[error(
        "{} plans {gpus_per_node} GPUs per node, but cluster `{cluster}` has {capacity} GPUs per node",
        .config.display()
    )]
    TooManyGpusPerNode {
        config: PathBuf,
        gpus_per_node: u32,
        cluster: String,
        capacity: u32,
    },

    #[error(
        "`{case}` needs {nodes} nodes ({gpus} GPUs), but cluster `{cluster}` has only {capacity} nodes"
    )]
    TooManyNodes {
        case: String,
        nodes: u32,
        gpus: u32,
        cluster: String,
        capacity: u32,
    },

    #[error(
        "{}: field `slurm.job_time`: `{}` is not a Slurm time of at most 365 days",
        .config.display(),
        escape_for_message(.value)
    )]
    JobTime { config: PathBuf, value: String },

    #[error(
        "the wheel file name `{}` ({origin}) has characters a wheel name cannot have",
        escape_for_message(.file)
    )]
    WheelName { file: String, origin: String },

    /// A `NAME=VALUE` string of the config (`server_env_var`, `environment.*`).
    #[error("{}: field `{field}`: {why}", .config.display())]
    EnvField {
        config: PathBuf,
        field: String,
        why: String,
    },

    #[error(
        "{}: the cache-transceiver precheck is enabled ({switch}), but the checkout {} has no {script}; use a checkout that has it, or TRTLLM_DISAGG_CT_PRECHECK=0 to run without the precheck",
        .config.display(),
        .checkout.display()
    )]
    PrecheckScriptMissing {
        config: PathBuf,
        /// What turned the precheck on: `TRTLLM_DISAGG_CT_PRECHECK` or the YAML field.
        switch: &'static str,
        checkout: PathBuf,
        script: &'static str,
    },

    #[error(
        "{}: field `cache_transceiver_precheck.step_timeout_s`: {seconds} s is outside 1..1800 (upstream's limit)",
        .config.display()
    )]
    PrecheckTimeout { config: PathBuf, seconds: u64 },

    #[error(
        "{}: field `{field}.moe_config.load_balancer`: `{}` is not in the checkout {} (the test resolves it from the checkout root)",
        .config.display(),
        escape_for_message(.value),
        .checkout.display()
    )]
    LoadBalancerOutsideCheckout {
        config: PathBuf,
        field: String,
        value: String,
        checkout: PathBuf,
    },

    /// An error of the config layer (finding or reading the YAML), unchanged.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl PlanError {
    pub fn exit(&self) -> Exit {
        match self {
            PlanError::Config(e) => e.exit(),
            _ => Exit::Usage,
        }
    }
}

fn did_you_mean(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", close.join(" or "))
    }
}

fn close_list(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (close: {})", close.join(", "))
    }
}
