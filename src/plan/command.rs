//! The commands the batch script runs: the pytest command of each role (reference §2.4 with the
//! §11 defects fixed, §2.8 role variants), the exports, and the srun arguments.

use super::{RoleEnv, RoleKind, RolePlan};
use crate::config::settings::Settings;
use crate::plan::RemotePaths;
use crate::render::quote::{is_env_name, quote_word};

pub struct CommandContext<'a> {
    pub settings: &'a Settings,
    pub paths: &'a RemotePaths,
    pub stage_name: &'a str,
    pub node_id: &'a str,
    pub pytest_timeout_s: u64,
    pub env: &'a RoleEnv,
    pub gen_only: bool,
}

/// Environment of every pytest command (reference §2.4 `pytestCommand`).
fn common_env(ctx: &CommandContext) -> Vec<(String, String)> {
    let root = &ctx.paths.trtllm_root;
    let data = &ctx.settings.llm_data;
    vec![
        ("LLM_ROOT".into(), root.clone()),
        ("LLM_BACKEND_ROOT".into(), format!("{root}/triton_backend")),
        ("LLM_MODELS_ROOT".into(), data.clone()),
        ("MODEL_CACHE_DIR".into(), data.clone()),
        ("COLUMNS".into(), "300".into()),
        ("NCCL_DEBUG".into(), "INFO".into()),
    ]
}

/// pytest's own arguments. Each role writes its own JUnit file (§11.8: in the legacy glue all
/// roles wrote the same results.xml and the last writer won). Workers drop `--csv` (§2.8 G2).
fn pytest_args(ctx: &CommandContext, junit: &str, with_csv: bool) -> Vec<String> {
    let ws = &ctx.paths.job_workspace;
    let mut a = vec![
        "pytest".to_string(),
        "-vv".into(),
        "--timeout-method=thread".into(),
        format!("--timeout={}", ctx.pytest_timeout_s),
        "--rootdir".into(),
        ctx.paths.defs_dir.clone(),
        format!("--test-prefix={}", ctx.stage_name),
        format!("--output-dir={ws}"),
    ];
    if with_csv {
        a.push(format!("--csv={ws}/report.csv"));
    }
    a.extend([
        "-o".into(),
        "junit_logging=out-err".into(),
        format!("--junit-xml={ws}/{junit}"),
        ctx.node_id.to_string(),
    ]);
    a
}

/// Join words into one shell string, each word quoted (the string is later `eval`ed).
fn shell_join(raw_prefix: &str, env: &[(String, String)], argv: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !raw_prefix.is_empty() {
        parts.push(raw_prefix.to_string());
    }
    for (k, v) in env {
        debug_assert!(is_env_name(k));
        parts.push(format!("{k}={}", quote_word(v)));
    }
    parts.extend(argv.iter().map(|w| quote_word(w)));
    parts.join(" ")
}

/// Attach the command, MPI type, log and JUnit file to a step.
pub fn finish_step(mut s: RolePlan, ctx: &CommandContext) -> RolePlan {
    let launcher = format!(
        "{}/tensorrt_llm/llmapi/trtllm-llmapi-launch",
        ctx.paths.trtllm_root
    );
    let multi_task = s.ntasks > 1;
    let mut env = common_env(ctx);
    let (raw_prefix, junit, with_csv, llmapi, log) = match s.kind {
        RoleKind::Aggr => {
            // Multi-GPU aggregated servers: one task per GPU, ranks wired by MPI (§5, NV-aggdraft).
            if multi_task {
                s.mpi = ctx.settings.mpi_type.clone();
            }
            (
                "",
                "results.xml".to_string(),
                true,
                multi_task,
                String::new(),
            )
        }
        RoleKind::Gen | RoleKind::Ctx => {
            // MPI only on the workers (§11.7).
            s.mpi = ctx.settings.mpi_type.clone();
            env.extend(ctx.env.worker.iter().cloned());
            let (extra, log) = if s.kind == RoleKind::Gen {
                (
                    &ctx.env.gen_worker,
                    format!("logs/gen_server_{}.log", idx(&s.name)),
                )
            } else {
                (
                    &ctx.env.ctx_worker,
                    format!("logs/ctx_server_{}.log", idx(&s.name)),
                )
            };
            env.extend(extra.iter().cloned());
            if ctx.gen_only {
                // reference §2.8 (gen_only worker env)
                env.push(("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY".into(), "1".into()));
                env.push((
                    "TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP".into(),
                    "1".into(),
                ));
            }
            (
                "unset UCX_TLS &&",
                format!("results-{}.xml", s.name),
                false,
                multi_task,
                log,
            )
        }
        RoleKind::DisaggServer => {
            env.extend(ctx.env.server.iter().cloned());
            if ctx.gen_only {
                env.push(("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY".into(), "1".into()));
            }
            (
                "",
                format!("results-{}.xml", s.name),
                false,
                false,
                "logs/disagg_server.log".to_string(),
            )
        }
        RoleKind::Benchmark => {
            env.extend(ctx.env.benchmark.iter().cloned());
            ("", "results.xml".to_string(), true, false, String::new())
        }
    };
    let mut argv = Vec::new();
    if llmapi {
        argv.push(launcher);
    }
    argv.extend(pytest_args(ctx, &junit, with_csv));
    s.command = shell_join(raw_prefix, &env, &argv);
    s.junit = junit;
    s.log = log;
    s
}

fn idx(name: &str) -> &str {
    name.rsplit('_').next().unwrap_or("0")
}

/// What the batch script exports before any step, in order. The resolved settings are
/// forwarded explicitly (§11.3: the legacy ssh path forwarded nothing).
pub fn exports(
    ctx: &CommandContext,
    run_id: &str,
    case: &str,
    user_env: &[(String, String)],
) -> Vec<(String, String)> {
    let s = ctx.settings;
    let p = ctx.paths;
    let mut e: Vec<(String, String)> = vec![
        ("jobWorkspace".into(), p.job_workspace.clone()),
        ("llmSrcNode".into(), p.trtllm_root.clone()),
        ("resourcePathNode".into(), p.workdir.clone()),
        ("stageName".into(), ctx.stage_name.to_string()),
        // reference §11.5: perfMode=true made slurm_run.sh run a perf check nobody writes for.
        ("perfMode".into(), "false".into()),
        (
            "coverageConfigFile".into(),
            format!("{}/coverage_config.json", p.job_workspace),
        ),
        ("LLM_ROOT".into(), p.trtllm_root.clone()),
        ("LLM_MODELS_ROOT".into(), s.llm_data.clone()),
        ("AGG_CONFIG_FOLDER".into(), p.agg_config_folder.clone()),
        (
            "DISAGG_CONFIG_FOLDER".into(),
            p.disagg_config_folder.clone(),
        ),
        ("PERF_RUN_DEFS_DIR".into(), p.defs_dir.clone()),
        ("PERF_RUN_RUN_ID".into(), run_id.to_string()),
        ("PERF_RUN_CASE".into(), case.to_string()),
        ("PERF_TEST_MODULE".into(), s.module.clone()),
        ("PERF_TEST_FUNCTION".into(), s.function.clone()),
    ];
    if let Some(pfx) = &s.prefix {
        e.push(("PERF_TEST_PREFIX".into(), pfx.clone()));
    }
    let opt = [
        ("CLUSTER_NAME", s.cluster_name.clone()),
        ("CLUSTER_HOST", s.host.clone()),
        ("CLUSTER_USER", s.user.clone()),
        (
            "CLUSTER_TYPE",
            Some(
                match s.cluster_type {
                    crate::config::settings::ClusterType::Ssh => "ssh",
                    crate::config::settings::ClusterType::Local => "local",
                }
                .to_string(),
            ),
        ),
        ("CLUSTER_WORKDIR", Some(p.workdir.clone())),
        ("CLUSTER_PARTITION", s.partition.clone()),
        ("CLUSTER_ACCOUNT", s.account.clone()),
        ("CLUSTER_STORAGE", s.storage.clone()),
        ("CLUSTER_LLM_DATA", Some(s.llm_data.clone())),
        (
            "EXTRA_SRUN_PARAMS",
            (!s.extra_srun_params.is_empty()).then(|| s.extra_srun_params.join(" ")),
        ),
        ("DOCKER_IMAGE", s.docker_image.clone()),
        ("MPI_TYPE", s.mpi_type.clone()),
    ];
    for (k, v) in opt {
        if let Some(v) = v {
            e.push((k.to_string(), v));
        }
    }
    for (k, v) in user_env {
        e.retain(|(ek, _)| ek != k);
        e.push((k.clone(), v.clone()));
    }
    e
}

/// srun arguments common to every step: container flags (only when the profile has an image,
/// so the same script runs on a cluster without pyxis) and the profile's extra arguments.
pub fn srun_args(s: &Settings, p: &RemotePaths) -> Vec<String> {
    let mut a = Vec::new();
    if let Some(image) = &s.docker_image {
        // Mount the whole work directory (checkout + job workspaces) and the model storage at
        // the same paths inside the container (§11.6: the legacy mounts missed the workspace).
        let mut mounts = vec![
            format!("{0}:{0}", p.workdir),
            format!("{0}:{0}", s.llm_data),
        ];
        if let Some(st) = &s.storage
            && st != &s.llm_data
        {
            mounts.push(format!("{st}:{st}"));
        }
        mounts.extend(s.container_mounts.iter().cloned());
        a.push(format!("--container-image={image}"));
        a.push("--container-name=perf_run".into());
        a.push(format!("--container-workdir={}", p.defs_dir));
        a.push(format!("--container-mounts={}", mounts.join(",")));
        a.push("--container-env=DISAGG_SERVING_TYPE,pytestCommand".into());
    }
    a.extend(s.extra_srun_params.iter().cloned());
    a
}
