//! The perf-sanity YAML configs of a TensorRT-LLM checkout (reference §4): aggregated
//! (`server_configs`) and disaggregated (`worker_config.{ctx,gen}`). Only the keys perf-run
//! needs are typed; everything else is kept out of the way (the LLM-API keys are TensorRT-LLM's
//! business, not ours), so a config that TensorRT-LLM accepts is never refused for an extra key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::error::ConfigError;

/// One perf-sanity config file, parsed.
#[derive(Debug, Clone)]
pub enum PerfConfig {
    Aggregated(AggConfig),
    Disaggregated(Box<DisaggConfig>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct AggConfig {
    #[serde(default)]
    pub metadata: AggMetadata,
    pub hardware: AggHardware,
    pub server_configs: Vec<ServerConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AggMetadata {
    pub model_name: Option<String>,
    #[serde(default)]
    pub supported_gpus: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AggHardware {
    pub gpus_per_node: u32,
}

/// A server config (aggregated entry, or a disagg ctx/gen worker), reference §4.1.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServerConfig {
    pub name: Option<String>,
    pub model_name: Option<String>,
    pub tensor_parallel_size: Option<u32>,
    pub moe_expert_parallel_size: Option<u32>,
    pub pipeline_parallel_size: Option<u32>,
    pub context_parallel_size: Option<u32>,
    /// Overrides tp×pp×cp (reference §5).
    pub gpus: Option<u32>,
    /// Alternative spelling of the GPU count used by some configs (reference §5).
    pub world_size: Option<u32>,
    pub gpus_per_node: Option<u32>,
    pub max_batch_size: Option<u64>,
    pub max_num_tokens: Option<u64>,
    pub attn_backend: Option<String>,
    pub enable_attention_dp: Option<bool>,
    pub moe_config: Option<MoeConfig>,
    pub server_env_var: Option<String>,
    #[serde(default)]
    pub client_configs: Vec<ClientConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct MoeConfig {
    pub backend: Option<String>,
    /// An offline EPLB config: a dict inline, or a path relative to the checkout root
    /// (upstream 2026 resolves it against `LLM_ROOT`).
    pub load_balancer: Option<serde_json::Value>,
}

/// A benchmark client config, reference §4.1 (defaults applied in `plan`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClientConfig {
    pub name: Option<String>,
    pub concurrency: Option<u64>,
    pub iterations: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub backend: Option<String>,
    pub client_env_var: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DisaggConfig {
    pub metadata: DisaggMetadata,
    #[serde(default)]
    pub slurm: DisaggSlurm,
    #[serde(default)]
    pub benchmark: DisaggBenchmark,
    pub hardware: DisaggHardware,
    #[serde(default)]
    pub environment: DisaggEnvironment,
    pub worker_config: WorkerConfig,
    /// Upstream 2026's cache-transceiver network precheck (`enabled`, `step_timeout_s`).
    pub cache_transceiver_precheck: Option<PrecheckConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PrecheckConfig {
    pub enabled: Option<bool>,
    pub step_timeout_s: Option<u64>,
}

/// Keys perf-run knows (acts on, or knows TensorRT-LLM's test acts on) per section; anything
/// else is named in a warning, so a new upstream key is never ignored silently. Server
/// configs are LLM-API options (TensorRT-LLM's business) and are not checked.
const KNOWN_AGG_TOP: &[&str] = &["metadata", "hardware", "server_configs", "accuracy"];
const KNOWN_DISAGG_TOP: &[&str] = &[
    "metadata",
    "slurm",
    "benchmark",
    "hardware",
    "environment",
    "profiling",
    "accuracy",
    "worker_config",
    "cache_transceiver_precheck",
    "internal_request_auth_key",
];
const KNOWN_HARDWARE: &[&str] = &["gpus_per_node", "num_ctx_servers", "num_gen_servers"];
const KNOWN_BENCHMARK: &[&str] = &[
    "mode",
    "use_nv_sa_benchmark",
    "multi_round",
    "benchmark_ratio",
    "streaming",
    "concurrency_list",
    "input_length",
    "output_length",
    "dataset_file",
];

/// Warnings for keys of a config that perf-run does not know (see the lists above).
pub fn unknown_keys(path: &Path, kind: ConfigKind) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut check = |section: &str, value: Option<&serde_json::Value>, known: &[&str]| {
        let Some(map) = value.and_then(|v| v.as_object()) else {
            return;
        };
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| format!("`{}`", crate::error::escape_for_message(k)))
            .collect();
        if !unknown.is_empty() {
            out.push(format!(
                "{}: perf-run does not know the key(s) {} {section}: the test still reads the whole file, but perf-run's plan (nodes, GPUs, roles, env) and its metric extraction do not take them into account, so check the results of this case",
                path.display(),
                unknown.join(", ")
            ));
        }
    };
    match kind {
        ConfigKind::Aggregated => {
            check("at the top level", Some(&v), KNOWN_AGG_TOP);
            check("in `hardware`", v.get("hardware"), &["gpus_per_node"]);
        }
        ConfigKind::Disaggregated => {
            check("at the top level", Some(&v), KNOWN_DISAGG_TOP);
            check("in `hardware`", v.get("hardware"), KNOWN_HARDWARE);
            check("in `benchmark`", v.get("benchmark"), KNOWN_BENCHMARK);
        }
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
pub struct DisaggMetadata {
    pub model_name: String,
    pub precision: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DisaggSlurm {
    pub job_time: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DisaggBenchmark {
    pub mode: Option<String>,
    #[serde(default, deserialize_with = "concurrency_list")]
    pub concurrency_list: Vec<u64>,
    pub input_length: Option<u64>,
    pub output_length: Option<u64>,
    pub multi_round: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DisaggHardware {
    pub gpus_per_node: u32,
    pub num_ctx_servers: u32,
    pub num_gen_servers: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DisaggEnvironment {
    pub worker_env_var: Option<String>,
    pub ctx_worker_env_var: Option<String>,
    pub gen_worker_env_var: Option<String>,
    pub server_env_var: Option<String>,
    pub client_env_var: Option<String>,
    pub benchmark_env_var: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerConfig {
    pub ctx: ServerConfig,
    #[serde(rename = "gen")]
    pub generation: ServerConfig,
}

/// `concurrency_list` is `'1024'`, `'1 2 4'`, `1024` or `[1, 2, 4]` in real configs (§4.2).
fn concurrency_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    use serde::de::Error;
    let v = serde_json::Value::deserialize(d)?;
    let words: Vec<String> = match v {
        serde_json::Value::Null => vec![],
        serde_json::Value::Number(n) => vec![n.to_string()],
        serde_json::Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        serde_json::Value::Array(a) => a
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        other => {
            return Err(D::Error::custom(format!(
                "concurrency_list must be a number, a space-separated string or a list, found {other}"
            )));
        }
    };
    words
        .iter()
        .map(|w| {
            w.parse::<u64>().map_err(|_| {
                D::Error::custom(format!(
                    "concurrency_list entry `{w}` is not a whole number",
                    w = crate::error::escape_for_message(w)
                ))
            })
        })
        .collect()
}

impl ServerConfig {
    pub fn tp(&self) -> u32 {
        self.tensor_parallel_size.unwrap_or(1).max(1)
    }
    pub fn ep(&self) -> u32 {
        self.moe_expert_parallel_size.unwrap_or(1).max(1)
    }
    pub fn pp(&self) -> u32 {
        self.pipeline_parallel_size.unwrap_or(1).max(1)
    }
    pub fn cp(&self) -> u32 {
        self.context_parallel_size.unwrap_or(1).max(1)
    }
    /// GPUs of one server instance: tp × pp × cp; EP does not multiply; `gpus` or
    /// `world_size` override (reference §5).
    pub fn gpus(&self) -> u32 {
        self.gpus
            .or(self.world_size)
            .filter(|g| *g > 0)
            .unwrap_or_else(|| self.tp() * self.pp() * self.cp())
    }
    /// The server's name, or upstream's automatic one (reference §4.1).
    pub fn resolved_name(&self, model: &str) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        format!(
            "{model}_tp{}_ep{}_pp{}_cp{}_bs{}_attn{}_moe{}",
            self.tp(),
            self.ep(),
            self.pp(),
            self.cp(),
            self.max_batch_size.unwrap_or(512),
            self.attn_backend.as_deref().unwrap_or("TRTLLM"),
            self.moe_config
                .as_ref()
                .and_then(|m| m.backend.as_deref())
                .unwrap_or("")
        )
    }
}

impl ClientConfig {
    pub fn concurrency(&self) -> u64 {
        self.concurrency.unwrap_or(1)
    }
    pub fn iterations(&self) -> u64 {
        self.iterations.unwrap_or(1)
    }
    pub fn isl(&self) -> u64 {
        self.isl.unwrap_or(1024)
    }
    pub fn osl(&self) -> u64 {
        self.osl.unwrap_or(1024)
    }
    /// The client's name, or upstream's automatic one (reference §4.1).
    pub fn resolved_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            format!(
                "con{}_iter{}_isl{}_osl{}",
                self.concurrency(),
                self.iterations(),
                self.isl(),
                self.osl()
            )
        })
    }
}

/// Which kind of file we expect (decided by the folder it was found in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    Aggregated,
    Disaggregated,
}

/// Read and parse one config file. Errors name the file, line, column and field.
pub fn load_config(path: &Path, kind: ConfigKind) -> Result<PerfConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::ReadConfig {
        path: path.to_path_buf(),
        err,
    })?;
    parse_config(path, &text, kind)
}

pub fn parse_config(path: &Path, text: &str, kind: ConfigKind) -> Result<PerfConfig, ConfigError> {
    let bad = |e: serde_saphyr::Error| ConfigError::ConfigYaml {
        yaml: crate::config::yaml_error(path, text, &e),
        kind,
    };
    let cfg = match kind {
        ConfigKind::Aggregated => {
            let c: AggConfig = serde_saphyr::from_str(text).map_err(bad)?;
            if c.server_configs.is_empty() {
                return Err(ConfigError::NoServers {
                    path: path.to_path_buf(),
                });
            }
            if c.hardware.gpus_per_node == 0 {
                return Err(ConfigError::NoGpusPerNode {
                    path: path.to_path_buf(),
                });
            }
            check_gpus_per_node(path, "hardware.gpus_per_node", c.hardware.gpus_per_node)?;
            for (i, sc) in c.server_configs.iter().enumerate() {
                check_server(path, &format!("server_configs[{i}]"), sc)?;
            }
            PerfConfig::Aggregated(c)
        }
        ConfigKind::Disaggregated => {
            let c: DisaggConfig = serde_saphyr::from_str(text).map_err(bad)?;
            if c.hardware.gpus_per_node == 0 {
                return Err(ConfigError::NoGpusPerNode {
                    path: path.to_path_buf(),
                });
            }
            if c.hardware.num_gen_servers == 0 {
                return Err(ConfigError::NoGenServers {
                    path: path.to_path_buf(),
                });
            }
            check_gpus_per_node(path, "hardware.gpus_per_node", c.hardware.gpus_per_node)?;
            let ctx = check_server(path, "worker_config.ctx", &c.worker_config.ctx)?;
            let r#gen = check_server(path, "worker_config.gen", &c.worker_config.generation)?;
            let mut total: u64 = 0;
            for (field, n, gpus) in [
                ("hardware.num_ctx_servers", c.hardware.num_ctx_servers, ctx),
                (
                    "hardware.num_gen_servers",
                    c.hardware.num_gen_servers,
                    r#gen,
                ),
            ] {
                if n > MAX_SERVERS {
                    return Err(ConfigError::TooManyServers {
                        path: path.to_path_buf(),
                        field,
                        count: n,
                    });
                }
                total += u64::from(n) * gpus;
            }
            if total > MAX_TOTAL_GPUS {
                return Err(ConfigError::TooManyGpus {
                    path: path.to_path_buf(),
                    total,
                });
            }
            PerfConfig::Disaggregated(Box::new(c))
        }
    };
    Ok(cfg)
}

/// Upper bounds on the sizes in a config, so that no node or task count overflows and a
/// typo cannot make perf-run plan billions of steps (security review B6/B7).
pub const MAX_SERVERS: u32 = 1024;
pub const MAX_PARALLEL: u32 = 65_536;
pub const MAX_GPUS_PER_NODE: u32 = 1024;
pub const MAX_TOTAL_GPUS: u64 = 1 << 20;

fn check_gpus_per_node(path: &Path, field: &str, gpn: u32) -> Result<(), ConfigError> {
    if gpn > MAX_GPUS_PER_NODE {
        return Err(ConfigError::TooManyGpusPerNode {
            path: path.to_path_buf(),
            field: field.to_string(),
            gpus: gpn,
        });
    }
    Ok(())
}

/// Range-check one server's sizes; returns its GPU count (never wrapped).
fn check_server(path: &Path, at: &str, sc: &ServerConfig) -> Result<u64, ConfigError> {
    for (name, v) in [
        ("tensor_parallel_size", sc.tensor_parallel_size),
        ("moe_expert_parallel_size", sc.moe_expert_parallel_size),
        ("pipeline_parallel_size", sc.pipeline_parallel_size),
        ("context_parallel_size", sc.context_parallel_size),
        ("gpus", sc.gpus),
        ("world_size", sc.world_size),
    ] {
        if let Some(v) = v.filter(|v| *v > MAX_PARALLEL) {
            return Err(ConfigError::ParallelTooLarge {
                path: path.to_path_buf(),
                field: format!("{at}.{name}"),
                value: v,
            });
        }
    }
    if let Some(g) = sc.gpus_per_node {
        check_gpus_per_node(path, &format!("{at}.gpus_per_node"), g)?;
    }
    let product = u64::from(sc.tp()) * u64::from(sc.pp()) * u64::from(sc.cp());
    if product > u64::from(MAX_PARALLEL) {
        return Err(ConfigError::ServerTooLarge {
            path: path.to_path_buf(),
            at: at.to_string(),
            gpus: product,
        });
    }
    Ok(u64::from(sc.gpus()))
}

/// The config file path and its kind, as found in a checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundConfig {
    pub name: String,
    pub path: PathBuf,
    pub kind: ConfigKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/trtllm/perf-sanity")
            .join(p)
    }

    #[test]
    fn real_aggregated_fixture_parses() {
        let p = fixture("aggregated/deepseek_r1_fp4_v2_grace_blackwell.yaml");
        let PerfConfig::Aggregated(c) = load_config(&p, ConfigKind::Aggregated).unwrap() else {
            panic!("expected aggregated")
        };
        assert_eq!(c.hardware.gpus_per_node, 4);
        assert_eq!(c.server_configs.len(), 9);
        let s = &c.server_configs[0];
        assert_eq!(s.name.as_deref(), Some("r1_fp4_v2_dep4_mtp1_1k1k"));
        assert_eq!((s.tp(), s.ep(), s.gpus()), (4, 4, 4));
        assert_eq!(s.client_configs[0].concurrency(), 1024);
    }

    #[test]
    fn real_disagg_fixtures_parse() {
        for p in [
            "disaggregated/gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX.yaml",
            "disagg-legacy/deepseek-r1-fp4_1k1k_ctx1_gen1_dep8_bs768_eplb0_mtp0_ccb-UCX.yaml",
        ] {
            let PerfConfig::Disaggregated(c) =
                load_config(&fixture(p), ConfigKind::Disaggregated).unwrap()
            else {
                panic!("expected disagg")
            };
            assert_eq!(c.worker_config.ctx.gpus(), 4);
            assert_eq!(c.worker_config.generation.gpus(), 8);
            assert_eq!(c.benchmark.concurrency_list, vec![1024]);
            assert_eq!(c.benchmark.mode.as_deref(), Some("e2e"));
        }
    }

    #[test]
    fn concurrency_list_forms() {
        for (yaml, want) in [
            ("'1 2 4'", vec![1, 2, 4]),
            ("8", vec![8]),
            ("[1, '2']", vec![1, 2]),
        ] {
            let text = format!(
                "metadata: {{model_name: m}}\nbenchmark: {{concurrency_list: {yaml}}}\nhardware: {{gpus_per_node: 4, num_ctx_servers: 1, num_gen_servers: 1}}\nworker_config: {{ctx: {{}}, gen: {{}}}}\n"
            );
            let PerfConfig::Disaggregated(c) =
                parse_config(Path::new("x.yaml"), &text, ConfigKind::Disaggregated).unwrap()
            else {
                panic!()
            };
            assert_eq!(c.benchmark.concurrency_list, want, "{yaml}");
        }
    }

    #[test]
    fn missing_key_names_file_and_field() {
        let err = parse_config(
            Path::new("cfg.yaml"),
            "metadata: {model_name: m}\nserver_configs: [{name: a}]\n",
            ConfigKind::Aggregated,
        )
        .unwrap_err();
        let msg = format!("{err}");
        assert!(
            msg.contains("cfg.yaml") && msg.contains("hardware"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_yaml_has_line_and_column() {
        let err = parse_config(
            Path::new("cfg.yaml"),
            "hardware:\n  gpus_per_node: four\nserver_configs: []\n",
            ConfigKind::Aggregated,
        )
        .unwrap_err();
        let msg = format!("{err}");
        assert!(msg.contains("cfg.yaml"), "{msg}");
        assert!(msg.contains("line 2") || msg.contains(":2:"), "{msg}");
    }

    #[test]
    fn gpu_math_per_server() {
        let s = ServerConfig {
            tensor_parallel_size: Some(4),
            moe_expert_parallel_size: Some(4),
            pipeline_parallel_size: Some(2),
            ..Default::default()
        };
        assert_eq!(s.gpus(), 8, "EP does not multiply");
        let s = ServerConfig {
            tensor_parallel_size: Some(4),
            gpus: Some(2),
            ..Default::default()
        };
        assert_eq!(s.gpus(), 2, "`gpus` overrides");
    }
}
