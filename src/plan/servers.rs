//! The servers and clients a case runs: selection by name, the per-server GPU math, the
//! disaggregated clients and request queue size.

use crate::config::perf_sanity::{ClientConfig, DisaggConfig, ServerConfig};

use super::{ClientPlan, PlanError, ServerPlan};

/// A `gen_only` id whose YAML `benchmark.mode` says `gen_only_no_context` runs no ctx
/// servers (upstream submit.py @05323f95 and test_perf_sanity.py).
pub(super) fn yaml_says_no_context(c: &DisaggConfig) -> bool {
    c.benchmark
        .mode
        .as_deref()
        .is_some_and(|m| m.contains("gen_only_no_context"))
}

/// `TLLM_BENCHMARK_REQ_QUEUES_SIZE` of plain gen_only (upstream submit.py @05323f95
/// `get_benchmark_request_queue_size`): the concurrency, capped at the gen executor's active
/// capacity `max_batch_size × (tp if attention DP)`.
pub(super) fn request_queue_size(c: &DisaggConfig) -> u64 {
    let concurrency = c.benchmark.concurrency_list.first().copied().unwrap_or(1);
    let g = &c.worker_config.generation;
    let mbs = g.max_batch_size.unwrap_or(concurrency);
    let cap = if g.enable_attention_dp.unwrap_or(false) {
        mbs.saturating_mul(u64::from(g.tp()))
    } else {
        mbs
    };
    cap.min(concurrency)
}

pub(super) fn select_servers<'a>(
    all: &'a [ServerConfig],
    model: &str,
    wanted: Option<&[String]>,
    path: &std::path::Path,
) -> Result<Vec<&'a ServerConfig>, PlanError> {
    let Some(wanted) = wanted else {
        return Ok(all.iter().collect());
    };
    let names: Vec<String> = all.iter().map(|s| s.resolved_name(model)).collect();
    let mut out = Vec::new();
    for w in wanted {
        match names.iter().position(|n| n == w) {
            Some(i) => out.push(&all[i]),
            None => {
                let close =
                    crate::config::layout::close_matches(w, names.iter().map(String::as_str), 3);
                return Err(PlanError::NoServer {
                    config: path.to_path_buf(),
                    name: w.clone(),
                    close,
                    servers: names.clone(),
                });
            }
        }
    }
    Ok(out)
}

pub(super) fn server_plan(
    s: &ServerConfig,
    role: &str,
    model: &str,
    precision: Option<String>,
    config_gpn: u32,
    clients: &[ClientConfig],
) -> ServerPlan {
    let model = s.model_name.clone().unwrap_or_else(|| model.to_string());
    let gpus = s.gpus();
    // gpus_per_node of the server overrides the hardware one; 0 means "all of the server's".
    let gpn = match s.gpus_per_node {
        Some(0) => gpus,
        Some(g) => g,
        None => config_gpn,
    };
    let nodes = gpus.div_ceil(gpn.max(1));
    let precision = precision.or_else(|| precision_from_model(&model));
    ServerPlan {
        name: s.resolved_name(&model),
        role: role.to_string(),
        model,
        precision,
        tp: s.tp(),
        ep: s.ep(),
        pp: s.pp(),
        cp: s.cp(),
        gpus,
        max_batch_size: s.max_batch_size,
        nodes,
        gpus_per_node_per_server: gpus.min(gpn),
        clients: clients
            .iter()
            .map(|c| ClientPlan {
                name: c.resolved_name(),
                concurrency: c.concurrency(),
                iterations: c.iterations(),
                isl: c.isl(),
                osl: c.osl(),
            })
            .collect(),
    }
}

/// `deepseek_r1_0528_fp4_v2` → `fp4` (model names carry the quantisation).
pub(super) fn precision_from_model(model: &str) -> Option<String> {
    let m = model.to_lowercase();
    ["nvfp4", "fp4", "fp8", "int8", "bf16", "fp16"]
        .iter()
        .find(|p| m.split(['_', '-', '.']).any(|w| w == **p))
        .map(|p| p.to_string())
}

/// Client configs of a disagg config: one per concurrency value (reference §4.2).
pub(super) fn disagg_clients(c: &DisaggConfig, mode: &str) -> Vec<ClientConfig> {
    let b = &c.benchmark;
    let mut list = b.concurrency_list.clone();
    if list.is_empty() {
        list.push(1);
    }
    if mode.contains("gen_only") {
        list.truncate(1);
    }
    let iterations = if mode.contains("gen_only") {
        1
    } else {
        b.multi_round.unwrap_or(1)
    };
    let osl = if mode == "ctx_only" {
        1
    } else {
        b.output_length.unwrap_or(1024)
    };
    list.into_iter()
        .map(|con| ClientConfig {
            name: None,
            concurrency: Some(con),
            iterations: Some(iterations),
            isl: Some(b.input_length.unwrap_or(1024)),
            osl: Some(osl),
            backend: Some("openai".into()),
            client_env_var: None,
        })
        .collect()
}
