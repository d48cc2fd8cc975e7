//! Cluster profiles: `configs/clusters.yaml` (perf-run's format) and the legacy INI
//! `clusters.conf` of the Jenkins glue (reference §2.2), so existing setups carry over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::ConfigError;

/// The profile file shipped with perf-run; used when no other file is found.
pub const BUILTIN_CLUSTERS: &str = include_str!("../../configs/clusters.yaml");

/// One cluster's settings as written in a profile file. Every field is optional: what a
/// profile leaves out falls back to the built-in default. An empty string means "explicitly
/// nothing" (e.g. `docker_image: ""` runs without a container).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterProfile {
    #[serde(skip)]
    pub name: String,
    /// Login host or ssh config alias (CLUSTER_HOST).
    pub host: Option<String>,
    /// Login user (CLUSTER_USER); empty or absent: the ssh config / local user decides.
    pub user: Option<String>,
    /// An ssh config file for every ssh call, `ssh -F` (CLUSTER_SSH_CONFIG); absent: ssh's
    /// default files (~/.ssh/config, /etc/ssh/ssh_config).
    pub ssh_config: Option<String>,
    /// `ssh` or `local` (CLUSTER_TYPE).
    #[serde(rename = "type")]
    pub cluster_type: Option<String>,
    /// Remote working directory (CLUSTER_WORKDIR); `{user}` is replaced by the login user.
    pub workdir: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Shared storage root (CLUSTER_STORAGE).
    pub storage: Option<String>,
    /// Model storage, LLM_MODELS_ROOT on the nodes (CLUSTER_LLM_DATA).
    pub llm_data: Option<String>,
    /// Container image for pyxis (DOCKER_IMAGE); empty: no container.
    pub docker_image: Option<String>,
    /// srun --mpi type for the workers (MPI_TYPE); `none`: no --mpi flag.
    pub mpi_type: Option<String>,
    /// Extra srun arguments, whitespace-separated (EXTRA_SRUN_PARAMS).
    pub extra_srun_params: Option<String>,
    /// GPUs per node the cluster has (a plan needing more is refused).
    pub gpus_per_node: Option<u32>,
    /// Nodes the partition has (a plan needing more is refused).
    pub nodes: Option<u32>,
    /// Default job time limit (`HH:MM:SS` or minutes).
    pub time: Option<String>,
    /// Extra container mounts `src:dst[,src:dst]` added to the ones perf-run needs.
    pub container_mounts: Option<String>,
    /// Upper-case GPU name used in stage names (e.g. `GB200`).
    pub gpu: Option<String>,
    /// Seconds to wait between role launches (pyxis needs time to set up a container).
    pub launch_delay: Option<u32>,
    /// `#SBATCH` options this cluster's Slurm rejects, comma-separated (e.g. `--segment` on
    /// Slurm before 24.11): those directives are written commented out (upstream's
    /// `strip_sbatch_opts`, jenkins/scripts/perf/local/run_disagg.sh).
    pub strip_sbatch: Option<String>,
    /// The UCX prefix every disagg role runs (and multi-GPU aggregated servers), replacing
    /// the per-GPU rule of upstream's submit.py; e.g. a `cluster_env.py` line such as
    /// `unset UCX_TLS UCX_NET_DEVICES && export UCX_NET_DEVICES=mlx5_0:1 &&`.
    pub ucx_env: Option<String>,
    /// Minutes added to a test's time limit for the job's own start-up (container pull and
    /// start, install): pytest's per-test timeout is the test's limit, Slurm's is this much
    /// longer, so a hang ends as a test verdict with results (default 15).
    pub startup_margin: Option<u32>,
    /// `true`: submit with `sbatch --requeue` (Slurm restarts the job after a node failure or
    /// a preemption and perf-run follows it); `false` or absent: `--no-requeue`
    /// (docs/slurm-faults.md).
    pub requeue: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    clusters: BTreeMap<String, ClusterProfile>,
}

/// All profiles of one file, and where they came from (for messages).
#[derive(Debug, Clone)]
pub struct ProfileSet {
    pub source: String,
    pub profiles: BTreeMap<String, ClusterProfile>,
}

impl ProfileSet {
    pub fn builtin() -> Result<ProfileSet, ConfigError> {
        parse_profiles("built-in configs/clusters.yaml", BUILTIN_CLUSTERS)
    }

    pub fn load(path: &Path) -> Result<ProfileSet, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::ReadProfiles {
            path: path.to_path_buf(),
            err,
        })?;
        parse_profiles(&path.display().to_string(), &text)
    }

    /// The profile called `name`, or an error that lists the known names.
    pub fn get(&self, name: &str) -> Result<&ClusterProfile, ConfigError> {
        self.profiles.get(name).ok_or_else(|| {
            let known: Vec<String> = self.profiles.keys().cloned().collect();
            ConfigError::NoSuchProfile {
                name: name.to_string(),
                file: self.source.clone(),
                suggestion: crate::config::suggest(name, known.iter().map(String::as_str)),
                known,
            }
        })
    }
}

/// Parse a profile file, YAML or legacy INI (detected by the first meaningful line).
pub fn parse_profiles(source: &str, text: &str) -> Result<ProfileSet, ConfigError> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    let mut profiles = if first.is_some_and(|l| l.starts_with('[')) {
        parse_ini(source, text)?
    } else {
        let file: ProfileFile =
            serde_saphyr::from_str(text).map_err(|e| ConfigError::ProfilesYaml {
                yaml: crate::config::yaml_error(Path::new(source), text, &e),
            })?;
        file.clusters
    };
    for (name, p) in profiles.iter_mut() {
        p.name = name.clone();
    }
    Ok(ProfileSet {
        source: source.to_string(),
        profiles,
    })
}

/// The legacy `clusters.conf`: `[name]` sections of `KEY=VALUE` lines; surrounding quotes are
/// stripped and `$VAR` is not expanded (reference §2.2, load_cluster_config.py).
fn parse_ini(source: &str, text: &str) -> Result<BTreeMap<String, ClusterProfile>, ConfigError> {
    let mut out: BTreeMap<String, ClusterProfile> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| ConfigError::IniSection {
                    file: source.to_string(),
                    line: lineno,
                    text: line.to_string(),
                })?;
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError::IniNotKeyValue {
                file: source.to_string(),
                line: lineno,
                text: line.to_string(),
            });
        };
        let Some(section) = current.as_ref() else {
            return Err(ConfigError::IniBeforeSection {
                file: source.to_string(),
                line: lineno,
                key: key.trim().to_string(),
            });
        };
        let key = key.trim().trim_start_matches("export ").trim();
        let value = strip_quotes(value.trim());
        let p = out.entry(section.clone()).or_default();
        let v = Some(value.to_string());
        match key {
            "CLUSTER_NAME" => {}
            "CLUSTER_HOST" => p.host = v,
            // The old `[local]` entry says CLUSTER_USER=$USER literally: that means "whoever runs it".
            "CLUSTER_USER" if value == "$USER" || value == "${USER}" => p.user = None,
            "CLUSTER_USER" => p.user = v,
            "CLUSTER_SSH_CONFIG" => p.ssh_config = v,
            "CLUSTER_TYPE" => p.cluster_type = v,
            "CLUSTER_WORKDIR" => p.workdir = v,
            "CLUSTER_PARTITION" => p.partition = v,
            "CLUSTER_ACCOUNT" => p.account = v,
            "CLUSTER_STORAGE" => p.storage = v,
            "CLUSTER_LLM_DATA" => p.llm_data = v,
            "DOCKER_IMAGE" => p.docker_image = v,
            "MPI_TYPE" => p.mpi_type = v,
            "EXTRA_SRUN_PARAMS" => p.extra_srun_params = v,
            "GPUS_PER_NODE" | "CLUSTER_GPUS_PER_NODE" => {
                p.gpus_per_node = Some(value.parse().map_err(|_| ConfigError::IniNotANumber {
                    file: source.to_string(),
                    line: lineno,
                    key: key.to_string(),
                    value: value.to_string(),
                })?)
            }
            other => {
                return Err(ConfigError::IniUnknownKey {
                    file: source.to_string(),
                    line: lineno,
                    key: other.to_string(),
                    section: section.clone(),
                });
            }
        }
    }
    Ok(out)
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Where to look for a profile file when none is named: `./configs/clusters.yaml`, then
/// `$XDG_CONFIG_HOME/perf-run/clusters.yaml` (or `~/.config/...`); else the built-in file.
pub fn default_profile_paths(env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("configs/clusters.yaml")];
    if let Some(x) = env("XDG_CONFIG_HOME").filter(|s| !s.is_empty()) {
        out.push(PathBuf::from(x).join("perf-run/clusters.yaml"));
    } else if let Some(h) = env("HOME").filter(|s| !s.is_empty()) {
        out.push(PathBuf::from(h).join(".config/perf-run/clusters.yaml"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_have_legacy_values() {
        let set = ProfileSet::builtin().unwrap();
        let gb200 = set.get("gb200").unwrap();
        // reference §2.2
        assert_eq!(gb200.host.as_deref(), Some("oci-hsg-cs-001-login-01"));
        assert_eq!(gb200.cluster_type.as_deref(), Some("ssh"));
        assert_eq!(gb200.partition.as_deref(), Some("batch"));
        assert_eq!(gb200.account.as_deref(), Some("coreai_comparch_trtllm"));
        assert_eq!(gb200.extra_srun_params.as_deref(), Some("--gres=gpu:4"));
        assert_eq!(
            gb200.llm_data.as_deref(),
            Some("/lustre/fs1/portfolios/coreai/projects/coreai_comparch_trtllm/common")
        );
        let gb300 = set.get("gb300").unwrap();
        assert_eq!(gb300.host.as_deref(), Some("login-lyris02"));
        assert_eq!(gb300.cluster_type.as_deref(), Some("local"));
        assert_eq!(gb300.partition.as_deref(), Some("gb300"));
        let lyris = set.get("gb200_lyris").unwrap();
        assert_eq!(lyris.partition.as_deref(), Some("gb200"));
        assert_eq!(lyris.storage, gb300.storage);
        assert!(set.get("local-test").is_ok());
    }

    #[test]
    fn legacy_ini_is_read() {
        let ini = r#"
# cluster config
[gb200]
CLUSTER_NAME=gb200
CLUSTER_HOST="oci-hsg-cs-001-login-01"
CLUSTER_USER='svc'
CLUSTER_TYPE=ssh
CLUSTER_WORKDIR=/home/svc/jenkins_trtllm_perf
EXTRA_SRUN_PARAMS="--gres=gpu:4"

[local]
CLUSTER_USER=$USER
CLUSTER_TYPE=local
"#;
        let set = parse_profiles("clusters.conf", ini).unwrap();
        let p = set.get("gb200").unwrap();
        assert_eq!(p.host.as_deref(), Some("oci-hsg-cs-001-login-01"));
        assert_eq!(p.user.as_deref(), Some("svc"));
        assert_eq!(p.extra_srun_params.as_deref(), Some("--gres=gpu:4"));
        assert_eq!(set.get("local").unwrap().user, None);
    }

    #[test]
    fn ini_errors_name_the_line() {
        let err = parse_profiles("c.conf", "[a]\nCLUSTER_HOST=x\nBOGUS=1\n").unwrap_err();
        assert!(format!("{err:#}").contains("c.conf:3"), "{err:#}");
        let err = parse_profiles("c.conf", "[a]\njust words\n").unwrap_err();
        assert!(format!("{err:#}").contains("c.conf:2"), "{err:#}");
    }

    #[test]
    fn yaml_unknown_field_is_an_error_with_location() {
        let err = parse_profiles("x.yaml", "clusters:\n  a:\n    hots: h\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("x.yaml"), "{msg}");
        assert!(msg.contains("hots"), "{msg}");
        assert!(msg.contains('3'), "{msg}");
    }

    #[test]
    fn unknown_profile_suggests() {
        let set = ProfileSet::builtin().unwrap();
        let err = set.get("gb20").unwrap_err();
        assert!(format!("{err}").contains("gb200"), "{err}");
    }
}
