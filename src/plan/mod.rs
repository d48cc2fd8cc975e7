//! Planning: from a selected test id and the checkout's config to a `RunPlan` — the mode, the
//! node/GPU math, the role layout, the remote paths and the commands each task runs. Pure
//! apart from reading the config YAML (DESIGN.md "plan").

mod checks;
pub mod command;
mod env;
pub mod error;
mod model;
pub mod select;
mod servers;
mod shapes;
pub mod test_id;
pub mod workspace;

use crate::config::layout::DEFS_DIR;
use crate::config::perf_sanity::{ConfigKind, PerfConfig, load_config};
use crate::config::settings::{SlurmTime, Source};
use checks::{check_load_balancers, check_module, plan_precheck, resolve_custom};
use env::aggregated_env;
pub use env::{RoleEnv, parse_env_assignments};
pub use error::PlanError;
pub use model::*;
pub use select::Selected;
use servers::{
    disagg_clients, request_queue_size, select_servers, server_plan, yaml_says_no_context,
};
use shapes::{aggregated_shape, disagg_shape};
pub use test_id::{CaseKind, TestId};

const DEFAULT_TIME: &str = "04:00:00";

/// Plan one case.
pub fn build_plan(input: &PlanInput) -> Result<RunPlan, PlanError> {
    let PlanInput {
        settings,
        layout,
        selected,
        ..
    } = input;
    let mut id = selected.test_id.clone();
    check_module(layout, &id.module)?;
    let mut warnings = id.notes.clone();
    if let CaseKind::Custom { rest } = &id.kind {
        id.kind = resolve_custom(layout, rest)?;
    }
    let id = &id;
    let kind = match &id.kind {
        CaseKind::Aggr { .. } => ConfigKind::Aggregated,
        _ => ConfigKind::Disaggregated,
    };
    let found = layout.find_config(id.kind.config(), Some(kind))?;
    let config = load_config(&found.path, kind)?;
    let config_rel = found
        .path
        .strip_prefix(&layout.root)
        .unwrap_or(&found.path)
        .display()
        .to_string();

    // YAML env for every rank of an aggregated step (upstream D3).
    let mut agg_env: Vec<(String, String)> = Vec::new();
    let (mode, gpn, servers, layout_steps, job_time_cfg, bench_mode, env_cfg) =
        match (&id.kind, &config) {
            (CaseKind::Aggr { servers: sel, .. }, PerfConfig::Aggregated(c)) => {
                let model = c.metadata.model_name.clone().unwrap_or_default();
                let chosen =
                    select_servers(&c.server_configs, &model, sel.as_deref(), &found.path)?;
                agg_env = aggregated_env(&chosen, &model, &found.path, &mut warnings)?;
                let gpn = c.hardware.gpus_per_node;
                let servers: Vec<ServerPlan> = chosen
                    .iter()
                    .map(|s| server_plan(s, "aggr", &model, None, gpn, &s.client_configs))
                    .collect();
                let (mode, steps) = aggregated_shape(&servers, gpn, &mut warnings);
                (mode, gpn, servers, steps, None, None, RoleEnv::default())
            }
            (
                kind @ (CaseKind::CtxOnly { .. } | CaseKind::GenOnlyNoContext { .. }),
                PerfConfig::Disaggregated(c),
            ) => {
                // A disagg config's one worker on the aggregated launch path: ctx_only (G2/G3),
                // or upstream 2026's gen_only_no_context (the gen server alone, no ctx servers,
                // sized by the gen worker, `get_hardware_config`).
                let ctx_only = matches!(kind, CaseKind::CtxOnly { .. });
                let (label, role, worker) = if ctx_only {
                    ("ctx_only", "ctx", &c.worker_config.ctx)
                } else {
                    ("gen_only_no_context", "gen", &c.worker_config.generation)
                };
                let gpn = c.hardware.gpus_per_node;
                let clients = disagg_clients(c, label);
                let mut s = server_plan(
                    worker,
                    role,
                    &c.metadata.model_name,
                    c.metadata.precision.clone(),
                    gpn,
                    &clients,
                );
                if !ctx_only && worker.name.is_none() {
                    s.name = format!("{label}-{}", found.name);
                }
                let servers = vec![s];
                let (mode, steps) = aggregated_shape(&servers, gpn, &mut warnings);
                let env = RoleEnv::from_disagg(c, &found.path)?;
                let extra = if ctx_only {
                    &env.ctx_worker
                } else {
                    &env.gen_worker
                };
                agg_env = [env.worker.clone(), extra.clone()].concat();
                (
                    mode,
                    gpn,
                    servers,
                    steps,
                    c.slurm.job_time.clone(),
                    Some(label.to_string()),
                    env,
                )
            }
            (CaseKind::Disagg { bench_mode, .. }, PerfConfig::Disaggregated(c)) => {
                let mode_label = bench_mode
                    .clone()
                    .or_else(|| c.benchmark.mode.clone())
                    .unwrap_or_else(|| "e2e".into());
                let (servers, steps) = disagg_shape(c, &mode_label, layout.generation, &found.name);
                (
                    Mode::Disagg,
                    c.hardware.gpus_per_node,
                    servers,
                    steps,
                    c.slurm.job_time.clone(),
                    Some(mode_label),
                    RoleEnv::from_disagg(c, &found.path)?,
                )
            }
            _ => unreachable!("the config kind follows the case kind"),
        };

    // Capacity of the cluster profile.
    if let Some(cap) = settings.gpus_per_node_capacity
        && gpn > cap
    {
        return Err(PlanError::TooManyGpusPerNode {
            config: found.path.clone(),
            gpus_per_node: gpn,
            cluster: settings.cluster_name.as_deref().unwrap_or("?").to_string(),
            capacity: cap,
        });
    }
    let total_nodes = layout_steps.total_nodes;
    if let Some(cap) = settings.nodes_capacity
        && total_nodes > cap
    {
        return Err(PlanError::TooManyNodes {
            case: id.case.clone(),
            nodes: total_nodes,
            gpus: total_nodes * gpn,
            cluster: settings.cluster_name.as_deref().unwrap_or("?").to_string(),
            capacity: cap,
        });
    }
    let total_gpus = total_nodes * gpn;

    // Time limit: flag/env > TIMEOUT (N) marker > config slurm.job_time > profile > default.
    let time = {
        let origin = settings.origins.get("PERF_RUN_TIME").copied();
        let explicit = settings
            .time
            .clone()
            .filter(|_| matches!(origin, Some(Source::Flag | Source::Env)));
        let from_profile = settings
            .time
            .clone()
            .filter(|_| origin == Some(Source::Profile));
        let from_cfg = match job_time_cfg {
            Some(t) => Some(SlurmTime::parse(&t).ok_or_else(|| PlanError::JobTime {
                config: found.path.clone(),
                value: t.clone(),
            })?),
            None => None,
        };
        explicit
            .or_else(|| selected.timeout_min.map(SlurmTime::from_minutes))
            .or(from_cfg)
            .or(from_profile)
            .unwrap_or_else(|| SlurmTime::parse(DEFAULT_TIME).expect("valid default"))
    };

    let case_dir = case_dir_name(input.case_index, &id.case);
    let workdir = settings.workdir.trim_end_matches('/').to_string();
    let trtllm_root = format!("{workdir}/TensorRT-LLM");
    let run_dir = format!("{workdir}/runs/{}", input.run_id);
    let job_workspace = format!("{run_dir}/{case_dir}");
    let paths = RemotePaths {
        defs_dir: format!("{trtllm_root}/{DEFS_DIR}"),
        agg_config_folder: format!("{trtllm_root}/{}", layout.agg_dir()),
        disagg_config_folder: format!("{trtllm_root}/{}", layout.disagg_dir()),
        exit_marker: workspace::JobWorkspace(&job_workspace).exit_marker(),
        sysinfo_dir: workspace::JobWorkspace(&job_workspace).sysinfo_dir(),
        test_output_dir: format!("{job_workspace}/{}", id.case),
        test_output_rel: id.case.clone(),
        workdir,
        trtllm_root,
        run_dir,
        job_workspace,
    };
    let stage_name = format!(
        "{}-{total_gpus}_GPUs-{total_nodes}_Nodes-PyTorch-{}PerfSanity",
        settings.gpu_label,
        if mode == Mode::Disagg { "Disagg-" } else { "" }
    );

    let install = match &settings.install {
        Some(w) => {
            let file = w
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if !file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
            {
                return Err(PlanError::WheelName {
                    file,
                    origin: w.source.to_string(),
                });
            }
            Some(InstallPlan {
                local: w.path.clone(),
                remote: format!("{}/wheel/{file}", paths.run_dir),
                source: w.source.to_string(),
            })
        }
        None => None,
    };
    let disagg_cfg = match &config {
        PerfConfig::Disaggregated(c) => Some(c.as_ref()),
        PerfConfig::Aggregated(_) => None,
    };
    let no_context = matches!(id.kind, CaseKind::GenOnlyNoContext { .. })
        || (bench_mode.as_deref() == Some("gen_only")
            && disagg_cfg.is_some_and(yaml_says_no_context));
    warnings.extend(crate::config::perf_sanity::unknown_keys(&found.path, kind));
    check_load_balancers(layout, &config, &found.path)?;
    let precheck = match disagg_cfg {
        Some(c) if mode == Mode::Disagg && !no_context => {
            plan_precheck(c, settings, layout, &found.path, &id.case, &mut warnings)?
        }
        _ => None,
    };
    let queue_size = match (bench_mode.as_deref(), disagg_cfg) {
        (Some("gen_only"), Some(c)) if !no_context => Some(request_queue_size(c)),
        _ => None,
    };
    let ctx = command::CommandContext {
        settings,
        paths: &paths,
        stage_name: &stage_name,
        node_id: &id.node_id(),
        pytest_timeout_s: time.seconds,
        env: &env_cfg,
        bench_mode: bench_mode.as_deref(),
        no_context,
        queue_size,
        ucx_prefix: command::ucx_prefix(settings),
        agg_env,
        installed: install.is_some(),
        precheck: precheck.as_ref().map(|p| command::PrecheckArgs {
            script: format!("{}/{PRECHECK_SCRIPT}", paths.trtllm_root),
            config: format!("{}/{config_rel}", paths.trtllm_root),
            work_dir: format!("{}/{}", paths.job_workspace, p.work_rel),
        }),
    };
    let steps: Vec<RolePlan> = layout_steps
        .steps
        .into_iter()
        .map(|s| command::finish_step(s, &ctx))
        .collect();

    // Slurm's limit = the test's limit + the job's start-up margin, so pytest's per-test
    // timeout fires first and a hang ends with a test verdict and collected results (D8).
    let job_time = SlurmTime::from_minutes(
        time.seconds
            .div_ceil(60)
            .saturating_add(settings.startup_margin_min),
    );
    let sbatch = SbatchPlan {
        nodes: total_nodes,
        ntasks: layout_steps.sbatch_ntasks,
        ntasks_per_node: layout_steps.sbatch_ntasks_per_node,
        gpus_per_node: gpn,
        // upstream L0 getNodeArgs: `--segment=<nodes>` keeps a disaggregated job inside one
        // NVLink domain (Disagg-PerfSanity stages with more than one GPU).
        segment: (mode == Mode::Disagg && total_gpus > 1).then_some(total_nodes),
        partition: settings.partition.clone(),
        account: settings.account.clone(),
        time: job_time.text.clone(),
        job_name: job_name(input.run_id, input.case_index, &id.kind),
        output: workspace::JobWorkspace(&paths.job_workspace).batch_log_pattern(),
        requeue: settings.requeue,
        time_warning_s: time_warning_seconds(job_time.seconds),
    };
    let mut exports = command::exports(&ctx, input.run_id, &id.case, input.user_env);
    let container = format!("perf_run-{}-{:02}", input.run_id, input.case_index)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect::<String>();
    let mut srun_args = command::srun_args(settings, &paths, &container);
    if let Some(i) = &install {
        exports.push(("PERF_RUN_TRTLLM_WHEEL".into(), i.remote.clone()));
        if settings.docker_image.is_some() {
            srun_args.push("--container-env=PERF_RUN_TRTLLM_WHEEL,PERF_RUN_SITE".into());
        }
    }
    if no_context {
        // upstream submit.py: the variable reaches the script scope and the container too.
        exports.push(("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY".into(), "1".into()));
        if settings.docker_image.is_some() {
            srun_args.push("--container-env=TRTLLM_DISAGG_BENCHMARK_GEN_ONLY".into());
        }
    }

    if let Some(want) = selected.mode_override
        && want != mode
    {
        warnings.push(format!(
            "the test list marks `{}` as {} but its config plans a {} run; perf-run follows the config",
            id.case,
            want.as_str(),
            mode.as_str()
        ));
    }

    Ok(RunPlan {
        mode,
        test_id: id.node_id(),
        case_name: id.case.clone(),
        case_dir,
        case_index: input.case_index,
        config_name: found.name.clone(),
        config_path: found.path.clone(),
        config_rel,
        generation: layout.generation,
        bench_mode,
        gpus_per_node: gpn,
        total_nodes,
        total_gpus,
        sbatch,
        steps,
        servers,
        time_seconds: job_time.seconds,
        // The test's own limit; Slurm's is `startup_margin` longer (D8).
        pytest_timeout_s: time.seconds,
        modifier: id.modifier.clone(),
        stage_name,
        paths,
        exports,
        srun_args_no_gpu: srun_args
            .iter()
            .filter(|a| !(a.starts_with("--gres=gpu") || a.starts_with("--gpus")))
            .cloned()
            .collect(),
        srun_args,
        strip_sbatch: settings.strip_sbatch.clone(),
        launch_delay: settings.launch_delay,
        stall_s: settings.stall_s,
        install,
        precheck,
        skip: selected.skip.clone(),
        list_line: selected.list_line,
        uploads: id.uploads(),
        warnings,
    })
}

/// Unique per run and case, so a job can be found by name after a crash between sbatch and
/// the journal line (`perf-run resume`).
fn job_name(run_id: &str, index: usize, kind: &CaseKind) -> String {
    let cfg: String = kind
        .config()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("perf-run.{run_id}.{index:02}.{cfg}")
}

/// `03-aggr_upload-cfg-server`, shortened with a hash when long (file-system friendly).
pub fn case_dir_name(index: usize, case: &str) -> String {
    let safe: String = case
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.len() <= 90 {
        format!("{index:02}-{safe}")
    } else {
        use sha2::Digest;
        let h = hex::encode(sha2::Sha256::digest(case.as_bytes()));
        format!("{index:02}-{}-{}", &safe[..80], &h[..8])
    }
}

#[cfg(test)]
mod tests;
