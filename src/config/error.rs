//! The errors of the configuration layer: cluster profiles, settings, perf-sanity configs, the
//! checkout layout, test lists and `-k` expressions. Every one is a mistake in what the user
//! gave (a flag, a variable, a file), so every one is exit code 2. The texts are the sentences
//! perf-run has always printed; echoed input goes through `escape_for_message`.

use std::path::PathBuf;

use super::kexpr::{MAX_DEPTH, MAX_TOKENS};
use super::layout::{G1_DISAGG, G2_DISAGG, G3_AGG, G3_DISAGG, LEGACY_AGG};
use super::perf_sanity::{
    ConfigKind, MAX_GPUS_PER_NODE, MAX_PARALLEL, MAX_SERVERS, MAX_TOTAL_GPUS,
};
use crate::error::{Exit, escape_for_message as esc};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // ---- -k expressions (kexpr.rs)
    #[error("the -k expression is empty")]
    KEmpty,
    #[error(
        "the -k expression has {words} words and parentheses, more than the {MAX_TOKENS} perf-run accepts"
    )]
    KTooLong { words: usize },
    #[error("the -k expression `{}` has an unexpected `{}` at word {word}", esc(.expr), esc(.token))]
    KUnexpected {
        expr: String,
        token: String,
        word: usize,
    },
    #[error("the -k expression nests `(` and `not` more than {MAX_DEPTH} deep")]
    KTooDeep,
    #[error("the -k expression has an unclosed `(`")]
    KUnclosed,
    #[error("the -k expression has `{}` where a word was expected", esc(.token))]
    KWordExpected { token: String },
    #[error("the -k expression ends too early")]
    KEndsEarly,

    // ---- the checkout (layout.rs)
    #[error(
        "the TensorRT-LLM checkout {} does not exist or is not a directory (--trtllm-dir / TRTLLM_DIR)",
        .root.display()
    )]
    CheckoutMissing { root: PathBuf },
    #[error(
        "{} does not look like a TensorRT-LLM checkout: none of the perf-sanity config folders exist (looked for {G3_AGG}, {G3_DISAGG}, {G2_DISAGG}, {G1_DISAGG}, {LEGACY_AGG})",
        .root.display()
    )]
    NotACheckout { root: PathBuf },
    #[error(
        "`{}` is not a config name; give the file name without folder, e.g. `deepseek_r1_fp4_v2_grace_blackwell`",
        esc(.name)
    )]
    NotAConfigName { name: String },
    #[error(
        "no perf-sanity config named `{}` was found (searched {}).{}",
        esc(.name),
        joined(.searched, ", "),
        close_hint(.close)
    )]
    ConfigNotFound {
        name: String,
        searched: Vec<PathBuf>,
        /// Likely typos of `name`, already quoted.
        close: Vec<String>,
    },
    #[error("the config name `{}` is ambiguous: {}", esc(.name), joined(.paths, " and "))]
    AmbiguousConfig { name: String, paths: Vec<PathBuf> },

    // ---- perf-sanity configs (perf_sanity.rs)
    #[error("cannot read the perf-sanity config {}: {err}", .path.display())]
    ReadConfig { path: PathBuf, err: std::io::Error },
    /// `yaml` is `file:line:column: field …: problem` (`config::yaml_error`).
    #[error("{yaml} (in this {} perf-sanity config)", kind_word(*.kind))]
    ConfigYaml { yaml: String, kind: ConfigKind },
    #[error(
        "{}: `server_configs` is empty; an aggregated config needs at least one server",
        .path.display()
    )]
    NoServers { path: PathBuf },
    #[error("{}: `hardware.gpus_per_node` must be at least 1", .path.display())]
    NoGpusPerNode { path: PathBuf },
    #[error(
        "{}: `hardware.num_gen_servers` is 0; a disaggregated run needs at least one gen server",
        .path.display()
    )]
    NoGenServers { path: PathBuf },
    #[error(
        "{}: field `{field}` is {count}, more than the {MAX_SERVERS} servers perf-run supports",
        .path.display()
    )]
    TooManyServers {
        path: PathBuf,
        field: &'static str,
        count: u32,
    },
    #[error(
        "{}: the servers of this config need {total} GPUs in all, more than the {MAX_TOTAL_GPUS} perf-run supports (check `hardware.num_*_servers` and the parallel sizes)",
        .path.display()
    )]
    TooManyGpus { path: PathBuf, total: u64 },
    #[error(
        "{}: field `{field}` is {gpus}, more than the {MAX_GPUS_PER_NODE} GPUs per node perf-run supports",
        .path.display()
    )]
    TooManyGpusPerNode {
        path: PathBuf,
        field: String,
        gpus: u32,
    },
    #[error(
        "{}: field `{field}` is {value}, more than the {MAX_PARALLEL} perf-run supports",
        .path.display()
    )]
    ParallelTooLarge {
        path: PathBuf,
        field: String,
        value: u32,
    },
    #[error(
        "{}: `{at}`: tensor_parallel_size × pipeline_parallel_size × context_parallel_size = {gpus} GPUs for one server, more than the {MAX_PARALLEL} perf-run supports",
        .path.display()
    )]
    ServerTooLarge {
        path: PathBuf,
        at: String,
        gpus: u64,
    },

    // ---- cluster profiles (profile.rs)
    #[error("cannot read the cluster profile file {}: {err}", .path.display())]
    ReadProfiles { path: PathBuf, err: std::io::Error },
    #[error(
        "there is no cluster profile `{}` in {file}; known profiles: {}.{}",
        esc(.name),
        .known.join(", "),
        .suggestion.as_ref().map(|s| format!(" Did you mean `{s}`?")).unwrap_or_default()
    )]
    NoSuchProfile {
        name: String,
        /// The profile file (or "built-in configs/clusters.yaml").
        file: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },
    /// `yaml` is `file:line:column: field …: problem` (`config::yaml_error`).
    #[error("{yaml} (in the cluster profile file)")]
    ProfilesYaml { yaml: String },
    #[error(
        "{file}:{line}: a section header must look like `[name]`, found `{}`",
        esc(.text)
    )]
    IniSection {
        file: String,
        line: usize,
        text: String,
    },
    #[error("{file}:{line}: expected `KEY=VALUE`, found `{}`", esc(.text))]
    IniNotKeyValue {
        file: String,
        line: usize,
        text: String,
    },
    #[error("{file}:{line}: `{}` appears before any `[cluster]` section", esc(.key))]
    IniBeforeSection {
        file: String,
        line: usize,
        key: String,
    },
    #[error("{file}:{line}: {key} must be a whole number, found `{}`", esc(.value))]
    IniNotANumber {
        file: String,
        line: usize,
        key: String,
        value: String,
    },
    #[error(
        "{file}:{line}: unknown key `{}` in section [{}] (known: CLUSTER_NAME, CLUSTER_HOST, CLUSTER_USER, CLUSTER_SSH_CONFIG, CLUSTER_TYPE, CLUSTER_WORKDIR, CLUSTER_PARTITION, CLUSTER_ACCOUNT, CLUSTER_STORAGE, CLUSTER_LLM_DATA, DOCKER_IMAGE, MPI_TYPE, EXTRA_SRUN_PARAMS)",
        esc(.key),
        esc(.section)
    )]
    IniUnknownKey {
        file: String,
        line: usize,
        key: String,
        section: String,
    },

    // ---- settings (settings.rs)
    #[error(
        "cluster profile `{}` was asked for, but no profile file was found",
        esc(.name)
    )]
    NoProfileFile { name: String },
    #[error(
        "PERF_RUN_INSTALL=`{}` is not an install mode; use auto or none",
        esc(.value)
    )]
    InstallMode { value: String },
    #[error(
        "{from} {} is not a wheel file (a `*.whl` that exists on this machine)",
        .path.display()
    )]
    NotAWheel {
        path: PathBuf,
        /// `--trtllm-wheel` or `TRTLLM_WHEEL`.
        from: &'static str,
    },
    #[error("--stall-after {seconds} is not a number of seconds between 1 and {max}")]
    StallFlag { seconds: u64, max: u64 },
    #[error(
        "PERF_RUN_STALL_S=`{}` is not a whole number of seconds between 1 and {max}; unset it for the default (600 s)",
        esc(.value)
    )]
    StallEnv { value: String, max: u64 },
    #[error(
        "cluster type `{}` (from {from}) is not known; use `ssh` or `local`",
        esc(.value)
    )]
    ClusterType {
        value: String,
        /// Which setting said it (`Source::describe`).
        from: String,
    },
    #[error(
        "the remote work directory `{}` needs a user name, but none is known; set CLUSTER_USER or CLUSTER_WORKDIR",
        esc(.workdir)
    )]
    WorkdirNeedsUser { workdir: String },
    #[error(
        "the remote work directory must be an absolute path, got `{}` (CLUSTER_WORKDIR / --workdir / profile `workdir`)",
        esc(.workdir)
    )]
    WorkdirNotAbsolute { workdir: String },
    #[error(
        "the remote work directory `{}` contains `%`, which sbatch would expand as a file-name pattern in #SBATCH --output; use a path without `%` (CLUSTER_WORKDIR / --workdir / profile `workdir`)",
        esc(.workdir)
    )]
    WorkdirPercent { workdir: String },
    #[error(
        "MPI_TYPE `{}` is not an srun MPI plugin; use none, pmi2, pmix, pmix_v<N> or cray_shasta (`srun --mpi=list` shows the cluster's)",
        esc(.value)
    )]
    MpiType { value: String },
    #[error(
        "time limit `{}` is not a Slurm time of at most 365 days; use minutes (`90`) or `HH:MM:SS` (`04:00:00`)",
        esc(.value)
    )]
    TimeLimit { value: String },
    #[error(
        "{var} / {flag} `{}` contains a control character (newline, escape, …)",
        esc(.value)
    )]
    ControlCharacter {
        var: &'static str,
        flag: &'static str,
        value: String,
    },
    #[error(
        "TRTLLM_DISAGG_CT_PRECHECK=`{}` is neither on (1, true, on, yes) nor off (0, false, off, no)",
        esc(.value)
    )]
    CtPrecheck { value: String },

    // ---- test lists (testlist.rs)
    #[error("cannot read the test list {}: {err}", .path.display())]
    ReadList { path: PathBuf, err: std::io::Error },
    #[error(
        "{}: the test list is not UTF-8 text (bad byte at offset {offset})",
        .path.display()
    )]
    ListNotUtf8 { path: PathBuf, offset: usize },
    #[error(
        "the test list has {} line(s) perf-run cannot read:\n  {}",
        .problems.len(),
        .problems.join("\n  ")
    )]
    ListLines {
        /// One `file:line: problem` per unreadable line.
        problems: Vec<String>,
    },
    #[error("{}: the test list has no tests", .path.display())]
    ListEmpty { path: PathBuf },
    /// `yaml` is `file:line:column: field …: problem` (`config::yaml_error`).
    #[error("{yaml} (the test list is not valid test-db YAML)")]
    ListYaml { yaml: String },
    #[error(
        "{}:{line}: field `condition.terms.stage` is `{}`; test-db stages are `pre_merge` and `post_merge`",
        .path.display(),
        esc(.stage)
    )]
    ListStage {
        path: PathBuf,
        line: usize,
        stage: String,
    },
}

impl ConfigError {
    /// Every configuration error is a mistake in what the user gave.
    pub fn exit(&self) -> Exit {
        Exit::Usage
    }
}

fn joined(paths: &[PathBuf], sep: &str) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

fn close_hint(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" Close matches: {}.", close.join(", "))
    }
}

fn kind_word(kind: ConfigKind) -> &'static str {
    match kind {
        ConfigKind::Aggregated => "aggregated",
        ConfigKind::Disaggregated => "disaggregated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentences_name_the_facts_and_escape_what_the_user_typed() {
        assert_eq!(
            ConfigError::KTooLong { words: 5000 }.to_string(),
            "the -k expression has 5000 words and parentheses, more than the 4096 perf-run accepts"
        );
        assert_eq!(
            ConfigError::KTooDeep.to_string(),
            "the -k expression nests `(` and `not` more than 64 deep"
        );
        let e = ConfigError::ConfigNotFound {
            name: "x\u{1b}[31m".into(),
            searched: vec!["/a".into(), "/b".into()],
            close: vec!["`xy`".into()],
        };
        assert_eq!(
            e.to_string(),
            "no perf-sanity config named `x\\u{1b}[31m` was found (searched /a, /b). Close matches: `xy`."
        );
        let e = ConfigError::NoSuchProfile {
            name: "gb2000".into(),
            file: "clusters.yaml".into(),
            known: vec!["gb200".into(), "gb300".into()],
            suggestion: Some("gb200".into()),
        };
        assert_eq!(
            e.to_string(),
            "there is no cluster profile `gb2000` in clusters.yaml; known profiles: gb200, gb300. Did you mean `gb200`?"
        );
        assert_eq!(
            ConfigError::ConfigYaml {
                yaml: "f.yaml:2:3: oops".into(),
                kind: ConfigKind::Disaggregated
            }
            .to_string(),
            "f.yaml:2:3: oops (in this disaggregated perf-sanity config)"
        );
        assert_eq!(ConfigError::KEmpty.exit(), Exit::Usage);
        let wrapped = anyhow::Error::new(ConfigError::KEmpty).context("while selecting");
        assert_eq!(crate::ops::exit::exit_of(&wrapped), Exit::Usage);
    }
}
