//! The commands the batch script runs: the pytest command of each role (reference §2.4 with the
//! §11 defects fixed, §2.8 role variants), the exports, and the srun arguments.

use super::{RoleEnv, RoleKind, RolePlan};
use crate::config::settings::Settings;
use crate::plan::RemotePaths;
use crate::shell::{is_env_name, quote_word};

pub struct CommandContext<'a> {
    pub settings: &'a Settings,
    pub paths: &'a RemotePaths,
    pub stage_name: &'a str,
    pub node_id: &'a str,
    pub pytest_timeout_s: u64,
    pub env: &'a RoleEnv,
    /// The disagg benchmark mode (`e2e`, `gen_only`) or the aggregated-path mode of a disagg
    /// config (`ctx_only`, `gen_only_no_context`).
    pub bench_mode: Option<&'a str>,
    /// No ctx servers: `TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1` (the id's `gen_only_no_context`,
    /// or a `gen_only` id whose YAML `benchmark.mode` says `gen_only_no_context`).
    pub no_context: bool,
    /// `TLLM_BENCHMARK_REQ_QUEUES_SIZE` for plain gen_only's gen workers.
    pub queue_size: Option<u64>,
    /// The UCX prefix of the roles that get one (`… &&`), or empty.
    pub ucx_prefix: String,
    /// YAML env on every rank of an aggregated step (`server_env_var`; ctx_only: the ctx
    /// worker env), upstream's `export pytestCommand="{server_env_var} $partialPytestCommand"`.
    pub agg_env: Vec<(String, String)>,
    /// A wheel is installed into [`super::INSTALL_SITE`]: every role puts it first on
    /// PYTHONPATH and PATH (inside the container, where the command is `eval`ed).
    pub installed: bool,
    /// The cache-transceiver precheck's arguments, when it runs.
    pub precheck: Option<PrecheckArgs>,
}

/// Remote paths of upstream's `run_precheck.py` invocation.
pub struct PrecheckArgs {
    pub script: String,
    pub config: String,
    pub work_dir: String,
}

/// The UCX prefix of upstream's submit.py @05323f95 (GPU type from the stage name): GB300
/// pins UCX to NVLink/shared memory/TCP, B200 drops InfiniBand, everything else clears what
/// the site exported. A profile's `ucx_env` (a `cluster_env.py`-style line) replaces it.
pub fn ucx_prefix(settings: &Settings) -> String {
    if let Some(u) = &settings.ucx_env {
        let u = u.trim();
        return if u.ends_with("&&") {
            u.to_string()
        } else {
            format!("{u} &&")
        };
    }
    let gpu = settings.gpu_label.to_ascii_uppercase();
    if gpu.contains("GB300") {
        "export UCX_TLS=cuda_copy,cuda_ipc,sm,self,tcp &&".into()
    } else if gpu.contains("B200") && !gpu.contains("GB200") {
        "export UCX_TLS=^ib &&".into()
    } else {
        "unset UCX_TLS UCX_NET_DEVICES &&".into()
    }
}

/// The per-rank base env of upstream's disagg workers (submit.py): one FlashInfer JIT cache
/// per local rank and a node-local HF home. `${SLURM_LOCALID}` expands on each rank, when
/// the command is `eval`ed, so it is written unquoted.
const WORKER_BASE_ENV: &str =
    "FLASHINFER_JIT_DIR=/tmp/flashinfer_jit_cache_${SLURM_LOCALID} HF_HOME=/tmp/hf_home";

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
/// `--timeout` is the test's own limit, inside Slurm's (upstream L0: `TIMEOUT (N)` is the
/// per-test pytest timeout within the stage's allocation).
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
/// `raw` parts are trusted text of perf-run's own (the UCX prefix, the per-rank base env).
fn shell_join(raw: &[&str], env: &[(String, String)], argv: &[String]) -> String {
    let mut parts: Vec<String> = raw
        .iter()
        .filter(|r| !r.is_empty())
        .map(|r| r.to_string())
        .collect();
    for (k, v) in env {
        debug_assert!(is_env_name(k));
        parts.push(format!("{k}={}", quote_word(v)));
    }
    parts.extend(argv.iter().map(|w| quote_word(w)));
    parts.join(" ")
}

fn flag(name: &str, value: impl ToString) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// Attach the command, MPI type, log and JUnit file to a step.
pub fn finish_step(mut s: RolePlan, ctx: &CommandContext) -> RolePlan {
    let launcher = format!(
        "{}/tensorrt_llm/llmapi/trtllm-llmapi-launch",
        ctx.paths.trtllm_root
    );
    let multi_task = s.ntasks > 1;
    let case_dir = &ctx.paths.test_output_rel;
    let mut env = common_env(ctx);
    let mut raw: Vec<&str> = Vec::new();
    let (junit, with_csv, llmapi, log) = match s.kind {
        RoleKind::Aggr => {
            // Multi-node aggregated: one task per GPU, ranks wired by MPI, the YAML env on
            // every rank (upstream's aggregated submit.py). Single node: one task, the
            // executor in-process (upstream L0 getNodeArgs + slurm_run.sh), no launcher.
            if multi_task {
                s.mpi = ctx.settings.mpi_type.clone();
                env.extend(ctx.agg_env.iter().cloned());
            } else {
                s.scrub_env = true;
            }
            // UCX matters to an aggregated run that starts a KV-cache transceiver
            // (gen_only_no_context, upstream's generator tests) or, with a cluster's own
            // `ucx_env`, to any multi-rank one (newer cluster_env.py).
            if ctx.no_context || (multi_task && ctx.settings.ucx_env.is_some()) {
                raw.push(&ctx.ucx_prefix);
            }
            let log = if ctx.no_context {
                // upstream aggregated draft: gen_only_no_context appends the srun's output
                // to gen_server_0.log, where the test parses the device step time.
                env.push(flag("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY", 1));
                s.log_append = true;
                format!("{case_dir}/gen_server_0.log")
            } else {
                String::new()
            };
            ("results.xml".to_string(), true, multi_task, log)
        }
        RoleKind::Gen | RoleKind::Ctx => {
            // MPI only on the workers (§11.7); the draft's per-role env and log locations.
            s.mpi = ctx.settings.mpi_type.clone();
            raw.push(&ctx.ucx_prefix);
            raw.push(WORKER_BASE_ENV);
            let is_gen = s.kind == RoleKind::Gen;
            match (is_gen, ctx.bench_mode) {
                (true, _) if ctx.no_context => {
                    env.push(flag("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY", 1));
                }
                (true, Some("gen_only")) => {
                    env.push(flag("TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP", 1));
                    if let Some(q) = ctx.queue_size {
                        env.push(flag("TLLM_BENCHMARK_REQ_QUEUES_SIZE", q));
                    }
                }
                (false, Some("gen_only")) if !ctx.no_context => {
                    env.push(flag("TRTLLM_DISABLE_KV_CACHE_TRANSFER_OVERLAP", 1));
                }
                _ => {}
            }
            env.extend(ctx.env.worker.iter().cloned());
            let (extra, log) = if is_gen {
                (
                    &ctx.env.gen_worker,
                    format!("{case_dir}/gen_server_{}.log", idx(&s.name)),
                )
            } else {
                (
                    &ctx.env.ctx_worker,
                    format!("{case_dir}/ctx_server_{}.log", idx(&s.name)),
                )
            };
            env.extend(extra.iter().cloned());
            if is_gen {
                // The draft touches gen_server_<i>.done once the srun is reaped; the test
                // waits for it before parsing the gen log (upstream D1).
                s.done = Some(format!("{case_dir}/gen_server_{}.done", idx(&s.name)));
                // The test may append the in-process worker's lines to the same file; both
                // writers use O_APPEND so neither overwrites the other (upstream agg draft).
                s.log_append = true;
            }
            (format!("results-{}.xml", s.name), false, multi_task, log)
        }
        RoleKind::DisaggServer => {
            raw.push(&ctx.ucx_prefix);
            if ctx.no_context {
                env.push(flag("TRTLLM_DISAGG_BENCHMARK_GEN_ONLY", 1));
            }
            env.extend(ctx.env.server.iter().cloned());
            (
                format!("results-{}.xml", s.name),
                false,
                false,
                format!("{case_dir}/disagg_server.log"),
            )
        }
        RoleKind::Benchmark => {
            raw.push(&ctx.ucx_prefix);
            env.extend(ctx.env.benchmark.iter().cloned());
            ("results.xml".to_string(), true, false, String::new())
        }
    };
    let site_env;
    if ctx.installed {
        site_env =
            "PYTHONPATH=$PERF_RUN_SITE${PYTHONPATH:+:$PYTHONPATH} PATH=$PERF_RUN_SITE/bin:$PATH"
                .to_string();
        // After a UCX `… &&` prefix (a separate command), before the assignments.
        let at = raw
            .iter()
            .take_while(|r| r.trim_end().ends_with("&&"))
            .count();
        raw.insert(at, &site_env);
    }
    if let (Some(p), RoleKind::Gen | RoleKind::Ctx) = (&ctx.precheck, s.kind) {
        // upstream submit.py: `{ucx} $<ROLE>_WORKER_ENV_VARS python3 run_precheck.py --config …
        // --work-dir $testOutputDir/cache_transceiver_precheck --benchmark-mode … --llm-src …
        // --role ctx|gen` + `--server-idx $i`, on every rank of the instance's own shape.
        let role = if s.kind == RoleKind::Gen {
            "gen"
        } else {
            "ctx"
        };
        let argv = vec![
            "python3".to_string(),
            p.script.clone(),
            "--config".into(),
            p.config.clone(),
            "--work-dir".into(),
            p.work_dir.clone(),
            "--benchmark-mode".into(),
            ctx.bench_mode.unwrap_or("e2e").to_string(),
            "--llm-src".into(),
            ctx.paths.trtllm_root.clone(),
            "--role".into(),
            role.into(),
            "--server-idx".into(),
            idx(&s.name).to_string(),
        ];
        s.precheck_command = Some(shell_join(&raw, &env, &argv));
        s.precheck_log = Some(format!(
            "{}/cache_transceiver_precheck/logs/{role}_{}.log",
            ctx.paths.test_output_rel,
            idx(&s.name)
        ));
    }
    let mut argv = Vec::new();
    if llmapi {
        argv.push(launcher);
    }
    argv.extend(pytest_args(ctx, &junit, with_csv));
    s.command = shell_join(&raw, &env, &argv);
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
        ("CLUSTER_TYPE", Some(s.cluster_type.as_str().to_string())),
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
pub fn srun_args(s: &Settings, p: &RemotePaths, container_name: &str) -> Vec<String> {
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
        // upstream L0 srunArgs: a per-job container name (upstream `multi_node_test-<job id>`;
        // here the run id and case, unique per submission and known before sbatch), $HOME not mounted (no user
        // .cache or pip config leaking in), NVIDIA_IMEX_CHANNELS forwarded explicitly.
        a.push(format!("--container-image={image}"));
        a.push(format!("--container-name={container_name}"));
        a.push(format!("--container-workdir={}", p.defs_dir));
        a.push(format!("--container-mounts={}", mounts.join(",")));
        a.push("--no-container-mount-home".into());
        a.push("--container-env=DISAGG_SERVING_TYPE,pytestCommand,NVIDIA_IMEX_CHANNELS".into());
    }
    a.extend(s.extra_srun_params.iter().cloned());
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RoleKind;
    use crate::plan::shapes::bare_step;

    /// The built-in `gb200` profile (pmix, `--gres=gpu:4`, a container image).
    fn settings() -> Settings {
        let o = crate::config::settings::Overrides {
            cluster: Some("gb200".into()),
            clusters_file: Some(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/clusters.yaml"),
            ),
            user: Some("ci".into()),
            install: Some(crate::config::settings::InstallMode::None),
            ..Default::default()
        };
        let env = |k: &str| (k == "USER").then(|| "ci".to_string());
        crate::config::settings::resolve_with(&o, &env, &|_, _| Err("no ssh".into()))
            .expect("the built-in gb200 profile resolves")
    }

    fn paths() -> RemotePaths {
        let ws = "/w/runs/r/00-case".to_string();
        RemotePaths {
            workdir: "/w".into(),
            trtllm_root: "/w/TensorRT-LLM".into(),
            defs_dir: "/w/TensorRT-LLM/tests/integration/defs".into(),
            run_dir: "/w/runs/r".into(),
            job_workspace: ws.clone(),
            agg_config_folder: "/w/TensorRT-LLM/tests/scripts/perf-sanity/aggregated".into(),
            disagg_config_folder: "/w/TensorRT-LLM/tests/scripts/perf-sanity/disaggregated".into(),
            exit_marker: format!("{ws}/perf_run_exit"),
            sysinfo_dir: format!("{ws}/sysinfo"),
            test_output_dir: format!("{ws}/case"),
            test_output_rel: "case".into(),
        }
    }

    fn finish(settings: &Settings, step: RolePlan, bench_mode: Option<&str>) -> RolePlan {
        let paths = paths();
        let env = RoleEnv::default();
        let ctx = CommandContext {
            settings,
            paths: &paths,
            stage_name: "GB200-12_GPUs-3_Nodes-PyTorch-Disagg-PerfSanity",
            node_id: "perf/test_perf_sanity.py::test_e2e[case]",
            pytest_timeout_s: 3600,
            env: &env,
            bench_mode,
            no_context: false,
            queue_size: None,
            ucx_prefix: ucx_prefix(settings),
            agg_env: Vec::new(),
            installed: false,
            precheck: None,
        };
        finish_step(step, &ctx)
    }

    /// (name, kind, nodes, tasks per node, first node, mpi, launcher, scrub_env)
    type CommandRow = (&'static str, RoleKind, u32, u32, u32, bool, bool, bool);

    /// Attaching the command never changes a step's shape; MPI goes to the workers and to
    /// multi-rank aggregated steps only (§11.7); the launcher only where there is more than
    /// one rank; the single-node aggregated step scrubs the MPI/Slurm env (slurm_run.sh).
    #[test]
    fn commands_keep_the_shape_and_place_mpi_and_the_launcher() {
        let s = settings();
        // (name, kind, nodes, tasks per node, first node) → (mpi, launcher, scrub_env)
        let rows: &[CommandRow] = &[
            ("AGGR", RoleKind::Aggr, 1, 1, 0, false, false, true),
            ("AGGR", RoleKind::Aggr, 2, 4, 0, true, true, false),
            ("GEN_0", RoleKind::Gen, 2, 4, 0, true, true, false),
            ("GEN_1", RoleKind::Gen, 1, 1, 2, true, false, false),
            ("CTX_0", RoleKind::Ctx, 1, 4, 3, true, true, false),
            ("CTX_1", RoleKind::Ctx, 1, 1, 4, true, false, false),
            (
                "DISAGG_SERVER",
                RoleKind::DisaggServer,
                1,
                1,
                0,
                false,
                false,
                false,
            ),
            (
                "BENCHMARK",
                RoleKind::Benchmark,
                1,
                1,
                0,
                false,
                false,
                false,
            ),
        ];
        for &(name, kind, nodes, per, first, mpi, launcher, scrub) in rows {
            let mut bare = bare_step(name, kind, nodes, per, first);
            bare.overlap = matches!(kind, RoleKind::DisaggServer | RoleKind::Benchmark);
            let done = finish(&s, bare.clone(), Some("e2e"));
            assert_eq!(
                (
                    done.nodes,
                    done.ntasks,
                    done.ntasks_per_node,
                    done.first_node,
                    done.overlap
                ),
                (nodes, nodes * per, per, first, bare.overlap),
                "{name}"
            );
            assert_eq!(done.mpi.as_deref(), mpi.then_some("pmix"), "{name}");
            assert_eq!(
                done.command.contains("trtllm-llmapi-launch"),
                launcher,
                "{name}: {}",
                done.command
            );
            assert_eq!(done.scrub_env, scrub, "{name}");
        }
    }

    #[test]
    fn per_role_logs_and_junit_files_follow_the_instance_index() {
        let s = settings();
        let g = finish(&s, bare_step("GEN_3", RoleKind::Gen, 2, 4, 0), Some("e2e"));
        assert_eq!(
            (
                g.log.as_str(),
                g.done.as_deref(),
                g.log_append,
                g.junit.as_str()
            ),
            (
                "case/gen_server_3.log",
                Some("case/gen_server_3.done"),
                true,
                "results-GEN_3.xml"
            )
        );
        let c = finish(&s, bare_step("CTX_12", RoleKind::Ctx, 1, 4, 8), Some("e2e"));
        assert_eq!(
            (c.log.as_str(), c.done.as_deref(), c.junit.as_str()),
            ("case/ctx_server_12.log", None, "results-CTX_12.xml")
        );
        let r = finish(
            &s,
            bare_step("DISAGG_SERVER", RoleKind::DisaggServer, 1, 1, 0),
            Some("e2e"),
        );
        assert_eq!(
            (r.log.as_str(), r.junit.as_str()),
            ("case/disagg_server.log", "results-DISAGG_SERVER.xml")
        );
        let b = finish(
            &s,
            bare_step("BENCHMARK", RoleKind::Benchmark, 1, 1, 0),
            None,
        );
        assert_eq!((b.log.as_str(), b.junit.as_str()), ("", "results.xml"));
        assert!(b.command.contains("--csv=/w/runs/r/00-case/report.csv"));
        assert!(!g.command.contains("--csv="), "workers drop --csv");
    }

    #[test]
    fn ucx_prefix_follows_the_gpu_type_unless_the_profile_says() {
        let mut s = settings();
        for (gpu, want) in [
            ("GB300", "export UCX_TLS=cuda_copy,cuda_ipc,sm,self,tcp &&"),
            ("gb300", "export UCX_TLS=cuda_copy,cuda_ipc,sm,self,tcp &&"),
            ("B200", "export UCX_TLS=^ib &&"),
            ("GB200", "unset UCX_TLS UCX_NET_DEVICES &&"),
            ("H100", "unset UCX_TLS UCX_NET_DEVICES &&"),
        ] {
            s.gpu_label = gpu.into();
            assert_eq!(ucx_prefix(&s), want, "{gpu}");
        }
        s.ucx_env = Some(" export UCX_TLS=tcp ".into());
        assert_eq!(ucx_prefix(&s), "export UCX_TLS=tcp &&");
        s.ucx_env = Some("export UCX_TLS=tcp &&".into());
        assert_eq!(ucx_prefix(&s), "export UCX_TLS=tcp &&");
    }

    #[test]
    fn srun_args_have_container_flags_only_with_an_image() {
        let mut s = settings();
        let p = paths();
        let a = srun_args(&s, &p, "perf_run-r-00");
        assert!(
            a.contains(&"--container-name=perf_run-r-00".to_string()),
            "{a:?}"
        );
        assert!(
            a.contains(&"--no-container-mount-home".to_string()),
            "{a:?}"
        );
        assert_eq!(a.last().map(String::as_str), Some("--gres=gpu:4"), "{a:?}");
        // storage == llm_data in the gb200 profile: mounted once.
        let mounts = a
            .iter()
            .find_map(|x| x.strip_prefix("--container-mounts="))
            .unwrap_or_default();
        assert_eq!(mounts.split(',').count(), 2, "{mounts}");
        s.docker_image = None;
        assert_eq!(srun_args(&s, &p, "x"), vec!["--gres=gpu:4".to_string()]);
    }
}
