//! Planning: from a selected test id and the checkout's config to a `RunPlan` — the mode, the
//! node/GPU math, the role layout, the remote paths and the commands each task runs. Pure
//! apart from reading the config YAML (DESIGN.md "plan").

pub mod command;
pub mod error;
pub mod select;
pub mod test_id;
pub mod workspace;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::layout::{DEFS_DIR, Generation, Layout};
use crate::config::perf_sanity::{
    ClientConfig, ConfigKind, DisaggConfig, PerfConfig, ServerConfig, load_config,
};
use crate::config::settings::{Settings, SlurmTime, Source};
pub use error::PlanError;
pub use select::Selected;
pub use test_id::{CaseKind, TestId};

pub use crate::config::mode::Mode;

/// One benchmark client of a server (reference §4.1 defaults applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientPlan {
    pub name: String,
    pub concurrency: u64,
    pub iterations: u64,
    pub isl: u64,
    pub osl: u64,
}

/// One server config the case runs, with its GPU math (reference §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerPlan {
    pub name: String,
    /// `aggr`, `ctx` or `gen`.
    pub role: String,
    pub model: String,
    pub precision: Option<String>,
    pub tp: u32,
    pub ep: u32,
    pub pp: u32,
    pub cp: u32,
    pub gpus: u32,
    pub max_batch_size: Option<u64>,
    pub nodes: u32,
    pub gpus_per_node_per_server: u32,
    pub clients: Vec<ClientPlan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    Aggr,
    Gen,
    Ctx,
    DisaggServer,
    Benchmark,
}

/// One srun step of the batch script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolePlan {
    /// `AGGR`, `GEN_0`, `CTX_0`, `DISAGG_SERVER`, `BENCHMARK` (DISAGG_SERVING_TYPE, reference §6).
    pub name: String,
    pub kind: RoleKind,
    pub nodes: u32,
    pub ntasks: u32,
    pub ntasks_per_node: u32,
    /// Index into the job's node list where this role's nodes start (G3 node slicing).
    pub first_node: u32,
    /// `--mpi` type: only CTX/GEN workers and multi-GPU aggregated servers get one (§11.7).
    pub mpi: Option<String>,
    /// `--overlap`: the router and the benchmark share a node with a worker (reference §6).
    pub overlap: bool,
    /// The shell command every task of this step runs (`eval`ed in the defs directory).
    pub command: String,
    /// The step's output file, relative to the job workspace.
    pub log: String,
    /// The JUnit file this role's pytest writes, relative to the job workspace (§11.8 fixed).
    pub junit: String,
    /// Append to `log` instead of truncating it (gen_only_no_context, upstream agg draft).
    pub log_append: bool,
    /// A sentinel touched once the step's srun is reaped (gen workers: `gen_server_<i>.done`),
    /// relative to the job workspace.
    pub done: Option<String>,
    /// Unset PMI*/PMIX*/MPI*/OMPI*/SLURM* (but SLURM_PROCID) before pytest, as upstream's
    /// slurm_run.sh does for single-node runs, so the executor does not initialise MPI.
    pub scrub_env: bool,
    /// The cache-transceiver precheck this worker's instance runs first, and its log
    /// (relative to the job workspace).
    pub precheck_command: Option<String>,
    pub precheck_log: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbatchPlan {
    pub nodes: u32,
    pub ntasks: u32,
    pub ntasks_per_node: u32,
    pub gpus_per_node: u32,
    /// `--segment`: nodes that must share one NVLink domain.
    pub segment: Option<u32>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub time: String,
    pub job_name: String,
    /// `--output`, with `%j` for the job id.
    pub output: String,
    /// `--requeue` (true) or `--no-requeue` (false), always explicit.
    pub requeue: bool,
    /// `--signal=B:USR1@N`: Slurm warns the batch script N seconds before the time limit.
    pub time_warning_s: u64,
}

/// How long before the time limit Slurm warns the batch script: 2 minutes, a quarter of a
/// shorter job (at least 10 s). Slurm may send it up to a minute early (its time-limit
/// check runs every 30 s), never late.
pub fn time_warning_seconds(job_time_s: u64) -> u64 {
    (job_time_s / 4).clamp(10, 120)
}

/// Remote paths of one case (all absolute, on the cluster).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemotePaths {
    pub workdir: String,
    pub trtllm_root: String,
    pub defs_dir: String,
    pub run_dir: String,
    pub job_workspace: String,
    pub agg_config_folder: String,
    pub disagg_config_folder: String,
    pub exit_marker: String,
    pub sysinfo_dir: String,
    /// Where the test writes its per-case files: `<--output-dir>/<case>` (upstream
    /// `test_output_dir`, submit.py `testOutputDir`), absolute and relative to the workspace.
    pub test_output_dir: String,
    pub test_output_rel: String,
}

/// The TensorRT-LLM wheel a job installs on every node before its roles start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallPlan {
    /// The wheel on this machine (staged once per run).
    pub local: PathBuf,
    /// Where staging puts it on the cluster: `<run dir>/wheel/<file>`.
    pub remote: String,
    /// `--trtllm-wheel`, `TRTLLM_WHEEL` or the checkout's build output.
    pub source: String,
}

/// Upstream 2026's cache-transceiver precheck: one short srun per ctx/gen instance, with the
/// instance's own node slice, MPI shape and env, before any model is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrecheckPlan {
    /// `timeout -k 60 <s>` around each precheck srun (`step_timeout_s`).
    pub timeout_s: u64,
    /// Where the precheck writes (`<case>/cache_transceiver_precheck`), relative to the job
    /// workspace.
    pub work_rel: String,
}

/// Where upstream keeps the precheck, relative to the checkout root.
pub const PRECHECK_SCRIPT: &str =
    "tests/scripts/perf-sanity/cache_transceiver_precheck/run_precheck.py";

/// Node-local directory the wheel is installed into (per job, so nothing of the image or of
/// another job is touched), exported as `PERF_RUN_SITE` by the batch script (a step's
/// PMI/SLURM scrub would remove SLURM_JOB_ID); every role puts it first on PYTHONPATH and PATH.
pub const INSTALL_SITE: &str = "/tmp/perf_run_trtllm_${SLURM_JOB_ID}";

/// Everything needed to render and submit one case.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub mode: Mode,
    pub test_id: String,
    pub case_name: String,
    pub case_dir: String,
    pub case_index: usize,
    pub config_name: String,
    pub config_path: PathBuf,
    pub config_rel: String,
    pub generation: Generation,
    pub bench_mode: Option<String>,
    pub gpus_per_node: u32,
    pub total_nodes: u32,
    pub total_gpus: u32,
    pub sbatch: SbatchPlan,
    /// The srun steps in launch order (one `AGGR` step for aggregated runs).
    pub steps: Vec<RolePlan>,
    pub servers: Vec<ServerPlan>,
    /// Slurm's time limit of the job.
    pub time_seconds: u64,
    /// pytest's per-test timeout: the test's own limit (`TIMEOUT (N)`, `--time`, …).
    pub pytest_timeout_s: u64,
    /// Upstream's id modifier (`time_breakdown`), if any.
    pub modifier: Option<String>,
    pub stage_name: String,
    pub paths: RemotePaths,
    /// Exported by the batch script (name, value), in order.
    pub exports: Vec<(String, String)>,
    pub srun_args: Vec<String>,
    /// `srun_args` without GPU requests (`--gres=gpu…`, `--gpus…`), for the overlapping
    /// router and benchmark steps (upstream requests no GRES for them).
    pub srun_args_no_gpu: Vec<String>,
    /// `#SBATCH` options written commented out (profile `strip_sbatch`).
    pub strip_sbatch: Vec<String>,
    pub launch_delay: u32,
    /// Disaggregated jobs: seconds without progress before the role monitor reports a
    /// starting role as stalled (`PERF_RUN_ROLE_STALLED`, docs/ARCHITECTURE.md).
    pub stall_s: u64,
    /// The wheel to install before the roles start (None: the image's TensorRT-LLM).
    pub install: Option<InstallPlan>,
    /// The cache-transceiver precheck, when enabled.
    pub precheck: Option<PrecheckPlan>,
    pub skip: Option<String>,
    pub list_line: Option<usize>,
    pub uploads: bool,
    pub warnings: Vec<String>,
}

/// What `build_plan` needs besides the settings and the checkout.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub settings: &'a Settings,
    pub layout: &'a Layout,
    pub selected: &'a Selected,
    pub run_id: &'a str,
    pub case_index: usize,
    /// Extra `NAME=VALUE` exports (`--env`), already validated.
    pub user_env: &'a [(String, String)],
}

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

/// Whether (and how) the cache-transceiver precheck runs. `TRTLLM_DISAGG_CT_PRECHECK`
/// decides when set (upstream's switch); else the YAML's `cache_transceiver_precheck.enabled`;
/// else off (upstream's default since #17337, 2026-08-06). `step_timeout_s` defaults to
/// 1200 s and may not exceed 1800 s (upstream precheck_config.py).
fn plan_precheck(
    c: &DisaggConfig,
    settings: &Settings,
    layout: &Layout,
    path: &std::path::Path,
    case: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<PrecheckPlan>, PlanError> {
    let yaml = c.cache_transceiver_precheck.as_ref();
    let enabled = settings
        .ct_precheck
        .or_else(|| yaml.and_then(|p| p.enabled))
        .unwrap_or(false);
    if !enabled {
        if yaml.is_some() && settings.ct_precheck.is_none() {
            warnings.push(format!(
                "{}: `cache_transceiver_precheck` does not say `enabled: true`, so the precheck does not run (upstream's default is off since 2026-08-06; TRTLLM_DISAGG_CT_PRECHECK=1 turns it on)",
                path.display()
            ));
        }
        return Ok(None);
    }
    if !layout.root.join(PRECHECK_SCRIPT).is_file() {
        return Err(PlanError::PrecheckScriptMissing {
            config: path.to_path_buf(),
            switch: if settings.ct_precheck.is_some() {
                "TRTLLM_DISAGG_CT_PRECHECK"
            } else {
                "cache_transceiver_precheck.enabled"
            },
            checkout: layout.root.clone(),
            script: PRECHECK_SCRIPT,
        });
    }
    let timeout_s = yaml.and_then(|p| p.step_timeout_s).unwrap_or(1200);
    if timeout_s == 0 || timeout_s > 1800 {
        return Err(PlanError::PrecheckTimeout {
            config: path.to_path_buf(),
            seconds: timeout_s,
        });
    }
    Ok(Some(PrecheckPlan {
        timeout_s,
        work_rel: format!("{case}/cache_transceiver_precheck"),
    }))
}

/// `moe_config.load_balancer` as a path is resolved against the checkout root by the test
/// (upstream 2026): it must be in the checkout perf-run syncs, or the server fails at start.
fn check_load_balancers(
    layout: &Layout,
    config: &PerfConfig,
    path: &std::path::Path,
) -> Result<(), PlanError> {
    let servers: Vec<(String, &ServerConfig)> = match config {
        PerfConfig::Aggregated(c) => c
            .server_configs
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("server_configs[{i}]"), s))
            .collect(),
        PerfConfig::Disaggregated(c) => vec![
            ("worker_config.ctx".to_string(), &c.worker_config.ctx),
            ("worker_config.gen".to_string(), &c.worker_config.generation),
        ],
    };
    for (field, s) in servers {
        let Some(serde_json::Value::String(lb)) =
            s.moe_config.as_ref().and_then(|m| m.load_balancer.as_ref())
        else {
            continue;
        };
        let p = std::path::Path::new(lb);
        let in_checkout = if p.is_absolute() {
            None
        } else {
            Some(layout.root.join(p))
        };
        if let Some(full) = in_checkout
            && !full.is_file()
        {
            return Err(PlanError::LoadBalancerOutsideCheckout {
                config: path.to_path_buf(),
                field,
                value: lb.clone(),
                checkout: layout.root.clone(),
            });
        }
    }
    Ok(())
}

/// A `gen_only` id whose YAML `benchmark.mode` says `gen_only_no_context` runs no ctx
/// servers (upstream submit.py @05323f95 and test_perf_sanity.py).
fn yaml_says_no_context(c: &DisaggConfig) -> bool {
    c.benchmark
        .mode
        .as_deref()
        .is_some_and(|m| m.contains("gen_only_no_context"))
}

/// `TLLM_BENCHMARK_REQ_QUEUES_SIZE` of plain gen_only (upstream submit.py @05323f95
/// `get_benchmark_request_queue_size`): the concurrency, capped at the gen executor's active
/// capacity `max_batch_size × (tp if attention DP)`.
fn request_queue_size(c: &DisaggConfig) -> u64 {
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

/// The `server_env_var` of the selected aggregated servers, for every rank of a multi-node
/// step. One job has one environment: servers with different env strings are run with none
/// and a warning (run them as separate cases).
fn aggregated_env(
    chosen: &[&ServerConfig],
    model: &str,
    path: &std::path::Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, PlanError> {
    let mut envs = Vec::new();
    for s in chosen {
        let text = s.server_env_var.as_deref().unwrap_or("");
        let env = parse_env_assignments(text).map_err(|why| PlanError::EnvField {
            config: path.to_path_buf(),
            field: format!("server_configs[{}].server_env_var", s.resolved_name(model)),
            why,
        })?;
        envs.push(env);
    }
    envs.dedup();
    if envs.len() > 1 {
        warnings.push(
            "the selected servers have different `server_env_var`s, and one multi-node job can give its ranks only one environment; the test still sets each server's own, but worker ranks get none (select one server per case)".into(),
        );
        return Ok(Vec::new());
    }
    Ok(envs.pop().unwrap_or_default())
}

/// The test module must exist in the checkout (pytest would only say "file not found" from
/// inside the job); the message names the closest module that does.
fn check_module(layout: &Layout, module: &str) -> Result<(), PlanError> {
    let defs = layout.root.join(DEFS_DIR);
    if defs.join(module).is_file() {
        return Ok(());
    }
    let mut candidates = Vec::new();
    for dir in ["perf", "perf/disagg", ""] {
        let Ok(rd) = std::fs::read_dir(defs.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.ends_with(".py") && n.starts_with("test_") {
                candidates.push(if dir.is_empty() {
                    n
                } else {
                    format!("{dir}/{n}")
                });
            }
        }
    }
    let close =
        crate::config::layout::close_matches(module, candidates.iter().map(String::as_str), 3);
    Err(PlanError::NoModule {
        module: module.to_string(),
        checkout: layout.root.clone(),
        close,
    })
}

/// A custom prefix's case (`custom_test-<rest>`): the mode comes from where the config lives.
/// `<rest>` is a config name of either kind, or `<aggregated config>-<server>[,<server>…]`.
/// A disaggregated config runs the mode its YAML's `benchmark.mode` names.
fn resolve_custom(layout: &Layout, rest: &str) -> Result<CaseKind, PlanError> {
    let whole = layout.find_config(rest, None);
    let found = match whole {
        Ok(f) => f,
        Err(e) => {
            if let Some((cfg, servers)) = rest.split_once('-')
                && let Ok(f) = layout.find_config(cfg, Some(ConfigKind::Aggregated))
            {
                return Ok(CaseKind::Aggr {
                    config: f.name,
                    servers: Some(servers.split(',').map(str::to_string).collect()),
                });
            }
            return Err(e.into());
        }
    };
    Ok(match found.kind {
        ConfigKind::Aggregated => CaseKind::Aggr {
            config: found.name,
            servers: None,
        },
        ConfigKind::Disaggregated => {
            let PerfConfig::Disaggregated(c) = load_config(&found.path, found.kind)? else {
                unreachable!("kind follows the folder")
            };
            match c.benchmark.mode.as_deref().unwrap_or("e2e") {
                "ctx_only" => CaseKind::CtxOnly { config: found.name },
                "gen_only_no_context" => CaseKind::GenOnlyNoContext { config: found.name },
                m => CaseKind::Disagg {
                    config: found.name,
                    bench_mode: Some(
                        if m.contains("gen_only") {
                            "gen_only"
                        } else {
                            "e2e"
                        }
                        .into(),
                    ),
                },
            }
        }
    })
}

/// Env-var strings of a disagg config (`worker_env_var`, …), parsed into pairs.
#[derive(Debug, Clone, Default)]
pub struct RoleEnv {
    pub worker: Vec<(String, String)>,
    pub ctx_worker: Vec<(String, String)>,
    pub gen_worker: Vec<(String, String)>,
    pub server: Vec<(String, String)>,
    pub benchmark: Vec<(String, String)>,
}

impl RoleEnv {
    fn from_disagg(c: &DisaggConfig, path: &std::path::Path) -> Result<RoleEnv, PlanError> {
        let e = &c.environment;
        let parse = |field: &str, v: &Option<String>| -> Result<Vec<(String, String)>, PlanError> {
            parse_env_assignments(v.as_deref().unwrap_or("")).map_err(|why| PlanError::EnvField {
                config: path.to_path_buf(),
                field: format!("environment.{field}"),
                why,
            })
        };
        let mut benchmark = parse("client_env_var", &e.client_env_var)?;
        benchmark.extend(parse("benchmark_env_var", &e.benchmark_env_var)?);
        Ok(RoleEnv {
            worker: parse("worker_env_var", &e.worker_env_var)?,
            ctx_worker: parse("ctx_worker_env_var", &e.ctx_worker_env_var)?,
            gen_worker: parse("gen_worker_env_var", &e.gen_worker_env_var)?,
            server: parse("server_env_var", &e.server_env_var)?,
            benchmark,
        })
    }
}

/// `A=1 B=two "C=x y"` → [(A, 1), (B, two), (C, x y)]. Split with shell (POSIX shlex) rules,
/// as upstream's submit.py/test hand the string to a shell: quoted tokens such as
/// `"PYTHONWARNINGS=ignore::DeprecationWarning:cutlass.cute.core"` (upstream 2026 DSv4 configs)
/// lose their quotes. A word that is not an assignment, or an unclosed quote, is an error
/// naming the offending text.
pub fn parse_env_assignments(s: &str) -> Result<Vec<(String, String)>, String> {
    let words = shlex::split(s).ok_or_else(|| "a quote is not closed".to_string())?;
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if crate::shell::is_env_name(k) => Ok((k.to_string(), v.to_string())),
            _ => Err(format!(
                "`{}` is not a NAME=VALUE assignment",
                crate::error::escape_for_message(&w)
            )),
        })
        .collect()
}

fn select_servers<'a>(
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

fn server_plan(
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
fn precision_from_model(model: &str) -> Option<String> {
    let m = model.to_lowercase();
    ["nvfp4", "fp4", "fp8", "int8", "bf16", "fp16"]
        .iter()
        .find(|p| m.split(['_', '-', '.']).any(|w| w == **p))
        .map(|p| p.to_string())
}

/// Client configs of a disagg config: one per concurrency value (reference §4.2).
fn disagg_clients(c: &DisaggConfig, mode: &str) -> Vec<ClientConfig> {
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

/// The steps and allocation of a run, before commands are attached.
struct StepLayout {
    steps: Vec<RolePlan>,
    total_nodes: u32,
    sbatch_ntasks: u32,
    sbatch_ntasks_per_node: u32,
}

fn bare_step(name: &str, kind: RoleKind, nodes: u32, per_node: u32, first: u32) -> RolePlan {
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
fn aggregated_shape(
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
fn disagg_shape(
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
