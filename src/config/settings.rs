//! Resolve every setting: command-line flag > environment > cluster profile > built-in default
//! (DESIGN.md "resolve"). Pure: the environment is passed in as a lookup function, and so is
//! the one question asked of ssh (`ssh -G`: which user the ssh config logs in as), so the
//! precedence rules are unit-tested without touching the process environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::ConfigError;
use super::profile::{ClusterProfile, ProfileSet, default_profile_paths};

mod install;
mod time;

use install::resolve_install;
pub use install::{InstallMode, Wheel};
pub use time::{MAX_TIME_MINUTES, MAX_TIME_SECONDS, SlurmTime};

/// Where a resolved value came from; shown in messages so a wrong value can be traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Flag,
    Env,
    Profile,
    Default,
    /// ssh's own configuration (`ssh -G <host>`): no user was configured for perf-run.
    SshConfig,
    /// The local account name (cluster type `local`, or ssh could not be asked).
    LocalAccount,
}

impl Source {
    pub fn describe(self, flag: &str, env: &str, profile: &str) -> String {
        match self {
            Source::Flag => format!("the flag {flag}"),
            Source::Env => format!("the environment variable {env}"),
            Source::Profile => format!("the cluster profile (`{profile}`)"),
            Source::Default => "the built-in default".to_string(),
            Source::SshConfig => "the ssh config (`ssh -G`)".to_string(),
            Source::LocalAccount => "the local account name".to_string(),
        }
    }
}

/// Serde reads and writes `ssh` / `local` (run.json's `cluster.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterType {
    /// perf-run runs elsewhere and reaches the login node over ssh.
    Ssh,
    /// perf-run runs on the login node itself.
    Local,
}

impl ClusterType {
    /// The word `CLUSTER_TYPE` takes: `ssh` or `local`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterType::Ssh => "ssh",
            ClusterType::Local => "local",
        }
    }
}

/// What the user asked for explicitly (the command-line flags, converted by `crate::cli`):
/// each value wins over the environment and the cluster profile. `Default` asks for nothing.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Cluster profile name.
    pub cluster: Option<String>,
    /// Cluster profile file.
    pub clusters_file: Option<PathBuf>,
    pub host: Option<String>,
    pub user: Option<String>,
    pub ssh_config: Option<PathBuf>,
    /// `ssh` or `local` (checked with the environment's and the profile's value).
    pub cluster_type: Option<String>,
    pub workdir: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub llm_data: Option<String>,
    pub storage: Option<String>,
    /// Extra srun arguments, whitespace-separated.
    pub extra_srun_params: Option<String>,
    /// Container image; empty for no container.
    pub image: Option<String>,
    pub mpi: Option<String>,
    /// Job time limit as written (checked with the other sources' value).
    pub time: Option<String>,
    /// Directory of templates that override the built-in ones.
    pub templates: Option<PathBuf>,
    /// `sbatch --requeue` (true) or `--no-requeue` (false); `None`: the profile decides.
    pub requeue: Option<bool>,
    /// Seconds without progress before a starting role is reported as stalled.
    pub stall_after: Option<u64>,
    /// pytest module, function and test-id prefix.
    pub module: Option<String>,
    pub function: Option<String>,
    pub prefix: Option<String>,
    /// The TensorRT-LLM checkout.
    pub trtllm_dir: Option<PathBuf>,
    /// The TensorRT-LLM wheel to install on every node.
    pub trtllm_wheel: Option<PathBuf>,
    /// Whether to install a wheel at all (`--install`).
    pub install: Option<InstallMode>,
}

/// Everything perf-run needs to know about where and how to run, after precedence.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub cluster_name: Option<String>,
    pub host: Option<String>,
    /// The user the cluster sees: the configured one, else the one ssh's config logs in as
    /// (`ssh -G`), else (cluster type `local`, or ssh unavailable) the local account. `{user}`
    /// in the work directory is this name; its origin is `origins["CLUSTER_USER"]`.
    pub user: Option<String>,
    /// A user configured for perf-run (--user, CLUSTER_USER, profile `user`): passed to ssh as
    /// its login name. `None`: ssh's own config decides.
    pub ssh_user: Option<String>,
    /// An ssh config file for every ssh call (`ssh -F`; --ssh-config, CLUSTER_SSH_CONFIG,
    /// profile `ssh_config`). `None`: ssh's default files.
    pub ssh_config: Option<PathBuf>,
    pub cluster_type: ClusterType,
    pub workdir: String,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub storage: Option<String>,
    pub llm_data: String,
    pub docker_image: Option<String>,
    pub mpi_type: Option<String>,
    pub extra_srun_params: Vec<String>,
    pub gpus_per_node_capacity: Option<u32>,
    pub nodes_capacity: Option<u32>,
    pub time: Option<SlurmTime>,
    pub container_mounts: Vec<String>,
    pub gpu_label: String,
    pub launch_delay: u32,
    /// `#SBATCH` options to write commented out (profile `strip_sbatch`).
    pub strip_sbatch: Vec<String>,
    /// A cluster's own UCX prefix (profile `ucx_env`), else the per-GPU rule.
    pub ucx_env: Option<String>,
    /// Minutes Slurm's limit exceeds the test's (profile `startup_margin`).
    pub startup_margin_min: u64,
    /// `sbatch --requeue` (true) or `--no-requeue` (false): --requeue/--no-requeue > profile
    /// `requeue` > false.
    pub requeue: bool,
    pub module: String,
    pub function: String,
    pub prefix: Option<String>,
    pub trtllm_dir: Option<PathBuf>,
    /// The TensorRT-LLM wheel to install on every node (None: the image's own).
    pub install: Option<Wheel>,
    /// `TRTLLM_DISAGG_CT_PRECHECK`: forces the cache-transceiver precheck on or off.
    pub ct_precheck: Option<bool>,
    /// Seconds without progress after which the batch script's role monitor reports a
    /// starting role as stalled (--stall-after, PERF_RUN_STALL_S; default 600).
    pub stall_s: u64,
    pub templates_dir: Option<PathBuf>,
    pub profile_source: Option<String>,
    /// Which source each setting came from, by environment-variable name.
    pub origins: BTreeMap<&'static str, Source>,
}

/// Built-in defaults (reference §2.4: the legacy scripts' defaults).
pub const DEFAULT_MODULE: &str = "perf/test_perf_sanity.py";
pub const DEFAULT_FUNCTION: &str = "test_e2e";
pub const DEFAULT_WORKDIR: &str = "/home/{user}/jenkins_trtllm_perf";
pub const DEFAULT_PARTITION: &str = "batch";
pub const DEFAULT_ACCOUNT: &str = "coreai_comparch_trtllm";
pub const DEFAULT_MPI: &str = "pmix";
pub const DEFAULT_IMAGE: &str = "nvcr.io/nvidia/tensorrt-llm:latest";
pub const DEFAULT_LLM_DATA: &str = "/lustre/fsw/coreai_comparch_trtllm/common";

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Asks ssh which user it would log in as for a host (`ssh [-F config] -G host`).
pub type SshUserLookup<'a> = &'a dyn Fn(&str, Option<&Path>) -> Result<String, String>;

struct Resolver<'a> {
    env: Env<'a>,
    profile: Option<&'a ClusterProfile>,
    origins: BTreeMap<&'static str, Source>,
}

impl Resolver<'_> {
    /// flag > env (empty env = unset) > profile (empty = explicitly nothing) > default.
    fn pick(
        &mut self,
        key: &'static str,
        flag: Option<&String>,
        from_profile: impl Fn(&ClusterProfile) -> Option<String>,
        default: Option<&str>,
    ) -> Option<String> {
        let (v, s) = if let Some(f) = flag {
            (Some(f.clone()), Source::Flag)
        } else if let Some(e) = (self.env)(key).filter(|v| !v.is_empty()) {
            (Some(e), Source::Env)
        } else if let Some(p) = self.profile.and_then(from_profile) {
            (Some(p), Source::Profile)
        } else {
            (default.map(str::to_string), Source::Default)
        };
        self.origins.insert(key, s);
        // An explicit empty string means "nothing".
        v.filter(|s| !s.trim().is_empty())
    }
}

/// The role monitor's stall time: --stall-after > PERF_RUN_STALL_S > 600 s; 1 s to a week.
fn resolve_stall(flag: Option<u64>, env: &Env) -> Result<u64, ConfigError> {
    const WEEK: u64 = 604_800;
    if let Some(s) = flag {
        if !(1..=WEEK).contains(&s) {
            return Err(ConfigError::StallFlag {
                seconds: s,
                max: WEEK,
            });
        }
        return Ok(s);
    }
    match env("PERF_RUN_STALL_S").filter(|v| !v.trim().is_empty()) {
        None => Ok(600),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(s) if (1..=WEEK).contains(&s) => Ok(s),
            _ => Err(ConfigError::StallEnv {
                value: v,
                max: WEEK,
            }),
        },
    }
}

/// Resolve the settings for commands that plan or talk to a cluster.
pub fn resolve(o: &Overrides, env: Env) -> Result<Settings, ConfigError> {
    resolve_with(o, env, &super::ssh_user::ssh_config_user)
}

/// `resolve`, with the ssh question answered by `ssh_user` (tests pass a stand-in).
pub fn resolve_with(
    o: &Overrides,
    env: Env,
    ssh_user: SshUserLookup,
) -> Result<Settings, ConfigError> {
    let profile_name = o
        .cluster
        .clone()
        .or_else(|| env("CLUSTER_NAME").filter(|v| !v.is_empty()));
    let (set, explicit_file) = load_profile_set(o, env)?;
    let profile = match (&profile_name, &set) {
        (Some(name), Some(set)) => Some(set.get(name)?.clone()),
        (Some(name), None) => {
            return Err(ConfigError::NoProfileFile { name: name.clone() });
        }
        (None, _) => None,
    };
    if explicit_file && profile_name.is_none() {
        crate::output::detail(
            "a profile file was given but no cluster was named (--cluster / CLUSTER_NAME); using built-in defaults",
        );
    }

    let mut r = Resolver {
        env,
        profile: profile.as_ref(),
        origins: BTreeMap::new(),
    };
    let host = r.pick("CLUSTER_HOST", o.host.as_ref(), |p| p.host.clone(), None);
    let user_explicit = r.pick("CLUSTER_USER", o.user.as_ref(), |p| p.user.clone(), None);
    let ssh_config = r
        .pick(
            "CLUSTER_SSH_CONFIG",
            o.ssh_config
                .as_ref()
                .map(|p| p.display().to_string())
                .as_ref(),
            |p| p.ssh_config.clone(),
            None,
        )
        .map(PathBuf::from);
    let ctype = r
        .pick(
            "CLUSTER_TYPE",
            o.cluster_type.as_ref(),
            |p| p.cluster_type.clone(),
            Some("ssh"),
        )
        .unwrap_or_else(|| "ssh".into());
    let cluster_type = match ctype.as_str() {
        "ssh" => ClusterType::Ssh,
        "local" => ClusterType::Local,
        other => {
            let from = r.origins["CLUSTER_TYPE"].describe(
                "--cluster-type",
                "CLUSTER_TYPE",
                profile_name.as_deref().unwrap_or("?"),
            );
            return Err(ConfigError::ClusterType {
                value: other.to_string(),
                from,
            });
        }
    };
    // Only a configured user is passed to ssh; otherwise ssh's config (User in ~/.ssh/config,
    // or its default, the local name) decides, and `ssh -G` says which name that is.
    let local = || {
        env("USER")
            .or_else(|| env("LOGNAME"))
            .filter(|u| !u.is_empty())
            .or_else(local_user_name)
    };
    let (user, user_source) = match (&user_explicit, cluster_type, &host) {
        (Some(u), _, _) => (Some(u.clone()), r.origins["CLUSTER_USER"]),
        (None, ClusterType::Ssh, Some(h)) => match ssh_user(h, ssh_config.as_deref()) {
            Ok(u) => (Some(u), Source::SshConfig),
            Err(why) => {
                crate::output::detail(format!(
                    "cannot ask ssh which user it logs in to {h} as ({why}); assuming the local account name"
                ));
                (local(), Source::LocalAccount)
            }
        },
        (None, _, _) => (local(), Source::LocalAccount),
    };
    r.origins.insert("CLUSTER_USER", user_source);
    let ssh_user = user_explicit;
    let workdir_raw = r
        .pick(
            "CLUSTER_WORKDIR",
            o.workdir.as_ref(),
            |p| p.workdir.clone(),
            Some(DEFAULT_WORKDIR),
        )
        .unwrap_or_else(|| DEFAULT_WORKDIR.into());
    let workdir = if workdir_raw.contains("{user}") {
        let u = user.clone().ok_or_else(|| ConfigError::WorkdirNeedsUser {
            workdir: workdir_raw.clone(),
        })?;
        workdir_raw.replace("{user}", &u)
    } else {
        workdir_raw
    };
    if !workdir.starts_with('/') {
        return Err(ConfigError::WorkdirNotAbsolute { workdir });
    }
    // sbatch expands `%u`, `%x`, `%N`, … in `--output`: the batch log would land somewhere other
    // than where perf-run reads it (security review B13).
    if workdir.contains('%') {
        return Err(ConfigError::WorkdirPercent { workdir });
    }
    let partition = r.pick(
        "CLUSTER_PARTITION",
        o.partition.as_ref(),
        |p| p.partition.clone(),
        Some(DEFAULT_PARTITION),
    );
    let account = r.pick(
        "CLUSTER_ACCOUNT",
        o.account.as_ref(),
        |p| p.account.clone(),
        Some(DEFAULT_ACCOUNT),
    );
    let storage = r.pick(
        "CLUSTER_STORAGE",
        o.storage.as_ref(),
        |p| p.storage.clone(),
        None,
    );
    let llm_data = r
        .pick(
            "CLUSTER_LLM_DATA",
            o.llm_data.as_ref(),
            |p| p.llm_data.clone(),
            Some(DEFAULT_LLM_DATA),
        )
        .unwrap_or_else(|| DEFAULT_LLM_DATA.into());
    let docker_image = r.pick(
        "DOCKER_IMAGE",
        o.image.as_ref(),
        |p| p.docker_image.clone(),
        Some(DEFAULT_IMAGE),
    );
    let mpi_type = r
        .pick(
            "MPI_TYPE",
            o.mpi.as_ref(),
            |p| p.mpi_type.clone(),
            Some(DEFAULT_MPI),
        )
        .filter(|m| m != "none");
    if let Some(m) = &mpi_type
        && !valid_mpi_type(m)
    {
        return Err(ConfigError::MpiType { value: m.clone() });
    }
    let extra = r
        .pick(
            "EXTRA_SRUN_PARAMS",
            o.extra_srun_params.as_ref(),
            |p| p.extra_srun_params.clone(),
            None,
        )
        .unwrap_or_default();
    let extra_srun_params: Vec<String> = extra.split_whitespace().map(str::to_string).collect();
    let time_text = r.pick("PERF_RUN_TIME", o.time.as_ref(), |p| p.time.clone(), None);
    let time = match time_text {
        Some(t) => {
            Some(SlurmTime::parse(&t).ok_or_else(|| ConfigError::TimeLimit { value: t.clone() })?)
        }
        None => None,
    };
    let module = r
        .pick(
            "PERF_TEST_MODULE",
            o.module.as_ref(),
            |_| None,
            Some(DEFAULT_MODULE),
        )
        .unwrap_or_else(|| DEFAULT_MODULE.into());
    let function = r
        .pick(
            "PERF_TEST_FUNCTION",
            o.function.as_ref(),
            |_| None,
            Some(DEFAULT_FUNCTION),
        )
        .unwrap_or_else(|| DEFAULT_FUNCTION.into());
    let prefix = r.pick("PERF_TEST_PREFIX", o.prefix.as_ref(), |_| None, None);
    // These name files and pytest ids: a control character there is a mistake (or a forged
    // log line), never a test (security review B9).
    for (var, flag, v) in [
        ("PERF_TEST_MODULE", "--module", Some(&module)),
        ("PERF_TEST_FUNCTION", "--function", Some(&function)),
        ("PERF_TEST_PREFIX", "--prefix", prefix.as_ref()),
    ] {
        if let Some(v) = v.filter(|v| v.chars().any(char::is_control)) {
            return Err(ConfigError::ControlCharacter {
                var,
                flag,
                value: v.clone(),
            });
        }
    }
    let trtllm_dir = o.trtllm_dir.clone().or_else(|| {
        env("TRTLLM_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let install = resolve_install(o, &env, trtllm_dir.as_deref())?;
    // Upstream's switch for the cache-transceiver precheck (precheck_config.py), read when
    // the script is generated: it overrides the YAML in both directions.
    let ct_precheck = match env("TRTLLM_DISAGG_CT_PRECHECK")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") => None,
        Some("1" | "true" | "on" | "yes") => Some(true),
        Some("0" | "false" | "off" | "no") => Some(false),
        Some(other) => {
            return Err(ConfigError::CtPrecheck {
                value: other.to_string(),
            });
        }
    };
    let stall_s = resolve_stall(o.stall_after, &env)?;
    let container_mounts = profile
        .as_ref()
        .and_then(|p| p.container_mounts.clone())
        .map(|m| {
            m.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let gpu_label = profile
        .as_ref()
        .and_then(|p| p.gpu.clone())
        .or_else(|| profile_name.as_ref().map(|n| n.to_uppercase()))
        .unwrap_or_else(|| "GPU".into());
    let launch_delay = profile
        .as_ref()
        .and_then(|p| p.launch_delay)
        .unwrap_or(if docker_image.is_some() { 5 } else { 0 });

    let strip_sbatch = profile
        .as_ref()
        .and_then(|p| p.strip_sbatch.as_deref())
        .map(|v| {
            v.split(',')
                .map(|o| o.trim().trim_start_matches('-').to_string())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let ucx_env = profile
        .as_ref()
        .and_then(|p| p.ucx_env.clone())
        .filter(|u| !u.trim().is_empty());
    let startup_margin_min = profile
        .as_ref()
        .and_then(|p| p.startup_margin)
        .map_or(15, u64::from);
    let requeue = o
        .requeue
        .or_else(|| profile.as_ref().and_then(|p| p.requeue))
        .unwrap_or(false);

    Ok(Settings {
        cluster_name: profile_name,
        host,
        user,
        ssh_user,
        ssh_config,
        cluster_type,
        workdir,
        partition,
        account,
        storage,
        llm_data,
        docker_image,
        mpi_type,
        extra_srun_params,
        gpus_per_node_capacity: profile.as_ref().and_then(|p| p.gpus_per_node),
        nodes_capacity: profile.as_ref().and_then(|p| p.nodes),
        time,
        container_mounts,
        gpu_label,
        launch_delay,
        strip_sbatch,
        ucx_env,
        startup_margin_min,
        requeue,
        module,
        function,
        prefix,
        trtllm_dir,
        install,
        ct_precheck,
        stall_s,
        templates_dir: o.templates.clone(),
        profile_source: set.map(|s| s.source),
        origins: r.origins,
    })
}

/// The name of the local user from /etc/passwd (when USER/LOGNAME are not set, e.g. in CI).
fn local_user_name() -> Option<String> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
    })
}

/// The profile file: `--clusters-file` > `PERF_RUN_CLUSTERS` > the default paths > built-in.
pub fn load_profile_set(
    o: &Overrides,
    env: Env,
) -> Result<(Option<ProfileSet>, bool), ConfigError> {
    if let Some(p) = o.clusters_file.clone().or_else(|| {
        env("PERF_RUN_CLUSTERS")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }) {
        return Ok((Some(ProfileSet::load(&p)?), true));
    }
    for p in default_profile_paths(env) {
        if p.is_file() {
            return Ok((Some(ProfileSet::load(&p)?), false));
        }
    }
    Ok((Some(ProfileSet::builtin()?), false))
}

/// The values of `srun --mpi=` perf-run accepts: Slurm's MPI plugin names.
pub fn valid_mpi_type(m: &str) -> bool {
    matches!(m, "none" | "pmi2" | "pmix" | "cray_shasta")
        || m.strip_prefix("pmix_v")
            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests;
