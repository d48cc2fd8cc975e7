//! The node/GPU math (reference §5, §6): the srun steps of a case and the job's allocation,
//! before commands are attached. Pure.

use crate::config::layout::Generation;
use crate::config::perf_sanity::DisaggConfig;

use super::servers::{disagg_clients, server_plan, yaml_says_no_context};
use super::{Mode, RoleKind, RolePlan, ServerPlan};

/// The steps and allocation of a run, before commands are attached.
pub(super) struct StepLayout {
    pub(super) steps: Vec<RolePlan>,
    pub(super) total_nodes: u32,
    pub(super) sbatch_ntasks: u32,
    pub(super) sbatch_ntasks_per_node: u32,
}

pub(super) fn bare_step(
    name: &str,
    kind: RoleKind,
    nodes: u32,
    per_node: u32,
    first: u32,
) -> RolePlan {
    RolePlan {
        name: name.to_string(),
        kind,
        nodes,
        ntasks: nodes * per_node,
        ntasks_per_node: per_node,
        first_node: first,
        mpi: None,
        overlap: false,
        command: String::new(),
        log: String::new(),
        junit: String::new(),
        log_append: false,
        done: None,
        scrub_env: false,
        precheck_command: None,
        precheck_log: None,
    }
}

/// Aggregated (G3 unified submit, reference §5): nodes = ceil(gpus / gpn), tasks per node =
/// min(gpus, gpn), world size = nodes × that. All selected servers run one after another in
/// one pytest, so the job is shaped for the largest.
pub(super) fn aggregated_shape(
    servers: &[ServerPlan],
    gpn: u32,
    warnings: &mut Vec<String>,
) -> (Mode, StepLayout) {
    let biggest = servers
        .iter()
        .max_by_key(|s| (s.gpus, s.nodes))
        .expect("at least one server");
    if servers.iter().any(|s| s.gpus != biggest.gpus) {
        warnings.push(format!(
            "the selected servers need different GPU counts ({}); the job is sized for the largest ({} GPUs)",
            servers
                .iter()
                .map(|s| format!("{}: {}", s.name, s.gpus))
                .collect::<Vec<_>>()
                .join(", "),
            biggest.gpus
        ));
    }
    let mode = if servers.iter().any(|s| s.gpus > gpn) {
        Mode::MultiAgg
    } else {
        Mode::SingleAgg
    };
    // Single node: one task, the executor in-process (upstream L0 `getNodeArgs`
    // `--nodes=1 --gpus-per-node=G`, no launcher); multi-node: one task per GPU.
    let per_node = if mode == Mode::SingleAgg {
        1
    } else {
        biggest.gpus_per_node_per_server
    };
    let step = bare_step("AGGR", RoleKind::Aggr, biggest.nodes, per_node, 0);
    let layout = StepLayout {
        sbatch_ntasks: step.ntasks,
        sbatch_ntasks_per_node: step.ntasks_per_node,
        total_nodes: biggest.nodes,
        steps: vec![step],
    };
    (mode, layout)
}

/// Disaggregated (submit.py, reference §5/§6): gen servers first on the first nodes, then ctx
/// servers; the router and the benchmark overlap on the first node.
pub(super) fn disagg_shape(
    c: &DisaggConfig,
    mode_label: &str,
    generation: Generation,
    config_name: &str,
) -> (Vec<ServerPlan>, StepLayout) {
    let gpn = c.hardware.gpus_per_node;
    let clients = disagg_clients(c, mode_label);
    let mut ctx = server_plan(
        &c.worker_config.ctx,
        "ctx",
        &c.metadata.model_name,
        c.metadata.precision.clone(),
        gpn,
        &[],
    );
    let mut gen_server = server_plan(
        &c.worker_config.generation,
        "gen",
        &c.metadata.model_name,
        c.metadata.precision.clone(),
        gpn,
        &clients,
    );
    // The disagg server is named "{benchmark_mode}-{config}" upstream (reference §4.2).
    if c.worker_config.generation.name.is_none() {
        gen_server.name = format!("{mode_label}-{config_name}");
    }
    if c.worker_config.ctx.name.is_none() {
        ctx.name = format!("ctx-{config_name}");
    }
    // num_ctx = 0 for gen_only_no_context (the YAML's benchmark.mode with a gen_only id,
    // upstream test_perf_sanity.py); G1 drops ctx servers for any gen_only mode (§5).
    let no_ctx = mode_label == "gen_only_no_context"
        || (mode_label == "gen_only" && yaml_says_no_context(c))
        || (generation == Generation::G1 && mode_label.contains("gen_only"));
    let num_ctx = if no_ctx {
        0
    } else {
        c.hardware.num_ctx_servers
    };
    let num_gen = c.hardware.num_gen_servers;
    let mut steps = Vec::new();
    let mut next = 0;
    for i in 0..num_gen {
        steps.push(bare_step(
            &format!("GEN_{i}"),
            RoleKind::Gen,
            gen_server.nodes,
            gen_server.gpus_per_node_per_server,
            next,
        ));
        next += gen_server.nodes;
    }
    for i in 0..num_ctx {
        steps.push(bare_step(
            &format!("CTX_{i}"),
            RoleKind::Ctx,
            ctx.nodes,
            ctx.gpus_per_node_per_server,
            next,
        ));
        next += ctx.nodes;
    }
    for (name, kind) in [
        ("DISAGG_SERVER", RoleKind::DisaggServer),
        ("BENCHMARK", RoleKind::Benchmark),
    ] {
        let mut s = bare_step(name, kind, 1, 1, 0);
        s.overlap = true;
        steps.push(s);
    }
    let total_nodes = num_ctx * ctx.nodes + num_gen * gen_server.nodes;
    let mut servers = Vec::new();
    if num_ctx > 0 {
        servers.push(ctx);
    }
    servers.push(gen_server);
    (
        servers,
        StepLayout {
            steps,
            total_nodes,
            // The legacy SBATCH shape (reference §5, FK-disagg): one task per GPU.
            sbatch_ntasks: total_nodes * gpn,
            sbatch_ntasks_per_node: gpn,
        },
    )
}
