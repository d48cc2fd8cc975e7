//! Unit tests of the node/GPU math and the role layout (perf-run issue 9, item 5).
//!
//! Every expected number is worked out by hand in the row's comment with upstream's rule
//! (`jenkins/scripts/perf/submit.py` @05323f95 `get_hardware_config`, fact sheet §5/§6):
//! GPUs of a server = `world_size`/`gpus` or tp × pp × cp (EP never multiplies), nodes =
//! ceil(GPUs / gpn), tasks per node = min(GPUs, gpn). The whole-fixture shapes are in
//! `tests/plan_shapes.rs`.

use std::path::Path;

use super::shapes::StepLayout;
use super::*;
use crate::config::layout::{Generation, Layout};
use crate::config::perf_sanity::{DisaggConfig, ServerConfig};
use crate::config::perf_sanity::{MAX_PARALLEL, MAX_TOTAL_GPUS, parse_config};
use crate::config::settings::{Overrides, resolve_with};

// ---- server_plan: GPUs, nodes and tasks per node of one server ----------------------------

/// (tp, pp, cp, ep, gpus, world_size, server gpus_per_node, config gpn) →
/// (GPUs, nodes, tasks per node).
type ServerRow = (
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    u32,
    (u32, u32, u32),
);

#[test]
fn server_gpu_math_by_hand() {
    let rows: &[ServerRow] = &[
        // No sizes at all: 1 × 1 × 1 = 1 GPU, 1 node, 1 task.
        (None, None, None, None, None, None, None, 4, (1, 1, 1)),
        // tp4 on 4-GPU nodes: exactly one node, 4 tasks on it.
        (
            Some(4),
            Some(1),
            Some(1),
            Some(4),
            None,
            None,
            None,
            4,
            (4, 1, 4),
        ),
        // tp8 on 4-GPU nodes: ceil(8/4) = 2 nodes × 4.
        (
            Some(8),
            Some(1),
            Some(1),
            Some(8),
            None,
            None,
            None,
            4,
            (8, 2, 4),
        ),
        // tp6 on 4-GPU nodes: a partial last node, ceil(6/4) = 2 nodes, min(6,4) = 4 per node.
        (Some(6), None, None, None, None, None, None, 4, (6, 2, 4)),
        // tp5 on 4-GPU nodes: ceil(5/4) = 2.
        (Some(5), None, None, None, None, None, None, 4, (5, 2, 4)),
        // tp8 on 8-GPU nodes: one node.
        (Some(8), None, None, None, None, None, None, 8, (8, 1, 8)),
        // tp16 / tp12 on 8-GPU nodes: 2 nodes × 8.
        (Some(16), None, None, None, None, None, None, 8, (16, 2, 8)),
        (Some(12), None, None, None, None, None, None, 8, (12, 2, 8)),
        // tp2 × pp2 × cp2 = 8 GPUs: pp and cp multiply; ceil(8/4) = 2.
        (
            Some(2),
            Some(2),
            Some(2),
            None,
            None,
            None,
            None,
            4,
            (8, 2, 4),
        ),
        // tp4 ep16: EP does not multiply → 4 GPUs.
        (
            Some(4),
            None,
            None,
            Some(16),
            None,
            None,
            None,
            4,
            (4, 1, 4),
        ),
        // AutoDeploy: no tp, `world_size: 8` → 8 GPUs, 2 nodes.
        (None, None, None, None, None, Some(8), None, 4, (8, 2, 4)),
        // `world_size: 4` wins over tp2.
        (Some(2), None, None, None, None, Some(4), None, 4, (4, 1, 4)),
        // DISAGREES (mildly): `gpus: 2` wins over tp4 (and over world_size) here, as fact
        // sheet §5 says; upstream submit.py @05323f95 reads only `world_size` (→ 8 GPUs for
        // this row). No fixture sets `gpus` on a server.
        (
            Some(4),
            None,
            None,
            None,
            Some(2),
            Some(8),
            None,
            4,
            (2, 1, 2),
        ),
        // `gpus: 0` means unset: tp4 → 4.
        (Some(4), None, None, None, Some(0), None, None, 4, (4, 1, 4)),
        // An explicit tp 0 counts as 1.
        (
            Some(0),
            Some(0),
            Some(0),
            None,
            None,
            None,
            None,
            4,
            (1, 1, 1),
        ),
        // Server `gpus_per_node: 0` = all of the server's GPUs on one node: tp8 → 1 × 8.
        (Some(8), None, None, None, None, None, Some(0), 4, (8, 1, 8)),
        // DISAGREES: a server's own `gpus_per_node: 8` overrides `hardware.gpus_per_node: 4`
        // here (tp8 → 1 node × 8 tasks); upstream submit.py @05323f95 sizes every server with
        // `hardware.gpus_per_node` only (→ 2 nodes × 4). No fixture sets it per server.
        (Some(8), None, None, None, None, None, Some(8), 4, (8, 1, 8)),
        // The largest server perf-run accepts (MAX_PARALLEL = 65536), 1 GPU per node:
        // 65536 nodes × 1; on 1024-GPU nodes: 64 nodes × 1024. Nothing wraps.
        (
            Some(65_536),
            None,
            None,
            None,
            None,
            None,
            None,
            1,
            (65_536, 65_536, 1),
        ),
        (
            Some(65_536),
            None,
            None,
            None,
            None,
            None,
            None,
            1024,
            (65_536, 64, 1024),
        ),
    ];
    for (i, &(tp, pp, cp, ep, gpus, ws, sgpn, gpn, want)) in rows.iter().enumerate() {
        let s = ServerConfig {
            tensor_parallel_size: tp,
            pipeline_parallel_size: pp,
            context_parallel_size: cp,
            moe_expert_parallel_size: ep,
            gpus,
            world_size: ws,
            gpus_per_node: sgpn,
            ..Default::default()
        };
        let p = server_plan(&s, "aggr", "m", None, gpn, &[]);
        assert_eq!(
            (p.gpus, p.nodes, p.gpus_per_node_per_server),
            want,
            "row {i}: tp {tp:?} pp {pp:?} cp {cp:?} gpus {gpus:?} world_size {ws:?} server gpn {sgpn:?} gpn {gpn}"
        );
    }
}

// ---- aggregated_shape: the one AGGR step and the allocation ------------------------------

fn agg_servers(gpus: &[u32], gpn: u32) -> Vec<ServerPlan> {
    gpus.iter()
        .enumerate()
        .map(|(i, g)| {
            let s = ServerConfig {
                name: Some(format!("s{i}")),
                tensor_parallel_size: Some(*g),
                ..Default::default()
            };
            server_plan(&s, "aggr", "m", None, gpn, &[])
        })
        .collect()
}

/// (server GPU counts, gpn, (mode, nodes, ntasks, per node, warnings))
type AggRow = (&'static [u32], u32, (Mode, u32, u32, u32, usize));

#[test]
fn aggregated_shape_by_hand() {
    // (server GPU counts, gpn) → (mode, nodes, ntasks, per node, warnings)
    let rows: &[AggRow] = &[
        // 1 GPU: one node, one task (single-node launch: executor in-process).
        (&[1], 4, (Mode::SingleAgg, 1, 1, 1, 0)),
        // 4 GPUs on 4-GPU nodes: exactly one node, still one task.
        (&[4], 4, (Mode::SingleAgg, 1, 1, 1, 0)),
        // 5 GPUs: ceil(5/4) = 2 nodes, min(5,4) = 4 per node, world size 2 × 4 = 8 (upstream's
        // `world_size = total_nodes × gpus_per_node_per_server`, more ranks than GPUs used).
        (&[5], 4, (Mode::MultiAgg, 2, 8, 4, 0)),
        // 8 GPUs on 4-GPU nodes: 2 × 4.
        (&[8], 4, (Mode::MultiAgg, 2, 8, 4, 0)),
        // 8 GPUs on 8-GPU nodes: one node, one task.
        (&[8], 8, (Mode::SingleAgg, 1, 1, 1, 0)),
        // 16 on 8: 2 × 8.
        (&[16], 8, (Mode::MultiAgg, 2, 16, 8, 0)),
        // 65536 GPUs, 1 per node: 65536 × 1, no wrap.
        (&[65_536], 1, (Mode::MultiAgg, 65_536, 65_536, 1, 0)),
    ];
    for (i, (gpus, gpn, want)) in rows.iter().enumerate() {
        let mut warnings = Vec::new();
        let (mode, l) = aggregated_shape(&agg_servers(gpus, *gpn), *gpn, &mut warnings);
        let [s] = l.steps.as_slice() else {
            panic!("row {i}: one AGGR step expected, got {:?}", l.steps)
        };
        assert_eq!(
            (
                mode,
                l.total_nodes,
                s.ntasks,
                s.ntasks_per_node,
                warnings.len()
            ),
            *want,
            "row {i}: {gpus:?} on {gpn}"
        );
        assert_eq!(
            (s.name.as_str(), s.nodes, s.first_node),
            ("AGGR", l.total_nodes, 0)
        );
        assert_eq!(
            (l.sbatch_ntasks, l.sbatch_ntasks_per_node),
            (s.ntasks, s.ntasks_per_node)
        );
        assert!(!s.overlap, "row {i}");
    }
}

/// Servers of one config with different sizes run in one job sized for the largest, with a
/// warning naming each size.
#[test]
fn aggregated_servers_of_different_sizes_size_the_job_for_the_largest() {
    let mut warnings = Vec::new();
    // 1, 2, 4 GPUs on 4-GPU nodes: the largest (4) fits one node.
    let (mode, l) = aggregated_shape(&agg_servers(&[1, 2, 4], 4), 4, &mut warnings);
    assert_eq!(
        (mode, l.total_nodes, l.steps[0].ntasks),
        (Mode::SingleAgg, 1, 1)
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("s0: 1, s1: 2, s2: 4") && warnings[0].contains("(4 GPUs)"));
    // 4 and 8: the 8-GPU server decides, 2 nodes × 4.
    warnings.clear();
    let (mode, l) = aggregated_shape(&agg_servers(&[8, 4], 4), 4, &mut warnings);
    assert_eq!(
        (
            mode,
            l.total_nodes,
            l.steps[0].ntasks,
            l.steps[0].ntasks_per_node
        ),
        (Mode::MultiAgg, 2, 8, 4)
    );
    assert_eq!(warnings.len(), 1);
    // Same sizes: no warning.
    warnings.clear();
    aggregated_shape(&agg_servers(&[4, 4], 4), 4, &mut warnings);
    assert!(warnings.is_empty(), "{warnings:?}");
}

// ---- disagg_shape: worker steps, node slices, router and benchmark ------------------------

fn disagg_yaml(gpn: u32, ctx: (u32, u32), r#gen: (u32, u32), mode: &str) -> String {
    format!(
        "metadata: {{model_name: m}}\nbenchmark: {{mode: {mode}, concurrency_list: '8'}}\nhardware: {{gpus_per_node: {gpn}, num_ctx_servers: {}, num_gen_servers: {}}}\nworker_config:\n  ctx: {{tensor_parallel_size: {}}}\n  gen: {{tensor_parallel_size: {}}}\n",
        ctx.0, r#gen.0, ctx.1, r#gen.1
    )
}

fn disagg_cfg(text: &str) -> DisaggConfig {
    match parse_config(Path::new("t.yaml"), text, ConfigKind::Disaggregated) {
        Ok(PerfConfig::Disaggregated(c)) => *c,
        other => panic!("not a disagg config: {other:?}"),
    }
}

type StepShape = (String, u32, u32, u32, u32, bool);

fn steps_of(l: &StepLayout) -> Vec<StepShape> {
    l.steps
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.nodes,
                s.ntasks,
                s.ntasks_per_node,
                s.first_node,
                s.overlap,
            )
        })
        .collect()
}

fn st(name: &str, nodes: u32, ntasks: u32, per: u32, first: u32) -> StepShape {
    let overlap = name == "DISAGG_SERVER" || name == "BENCHMARK";
    (name.to_string(), nodes, ntasks, per, first, overlap)
}

#[test]
fn disagg_shape_by_hand() {
    // (gpn, (num_ctx, ctx tp), (num_gen, gen tp), yaml mode, id mode, generation)
    //   → (total nodes, sbatch ntasks, sbatch per node, steps)
    type Case<'a> = (
        u32,
        (u32, u32),
        (u32, u32),
        &'a str,
        &'a str,
        Generation,
        (u32, u32, u32, Vec<StepShape>),
    );
    let router = || st("DISAGG_SERVER", 1, 1, 1, 0);
    let bench = || st("BENCHMARK", 1, 1, 1, 0);
    let rows: Vec<Case> = vec![
        // A ctx worker smaller than a node (tp1) beside a gen worker bigger than one (tp8),
        // gpn 4: GEN_0 = ceil(8/4) = 2 nodes × 4 on nodes 0-1, CTX_0 = 1 node × 1 task on
        // node 2; 2 + 1 = 3 nodes, sbatch 3 × 4 = 12 tasks.
        (
            4,
            (1, 1),
            (1, 8),
            "e2e",
            "e2e",
            Generation::G3,
            (
                3,
                12,
                4,
                vec![
                    st("GEN_0", 2, 8, 4, 0),
                    st("CTX_0", 1, 1, 1, 2),
                    router(),
                    bench(),
                ],
            ),
        ),
        // 3 gen tp4 + 2 ctx tp2, gpn 4: each server rounds up to its own node (not pooled:
        // the two tp2 ctx servers take 2 nodes, not 1); gens on 0,1,2, ctxs on 3,4; 5 nodes,
        // 20 tasks.
        (
            4,
            (2, 2),
            (3, 4),
            "e2e",
            "e2e",
            Generation::G3,
            (
                5,
                20,
                4,
                vec![
                    st("GEN_0", 1, 4, 4, 0),
                    st("GEN_1", 1, 4, 4, 1),
                    st("GEN_2", 1, 4, 4, 2),
                    st("CTX_0", 1, 2, 2, 3),
                    st("CTX_1", 1, 2, 2, 4),
                    router(),
                    bench(),
                ],
            ),
        ),
        // gpn 8: 2 gen tp16 (2 nodes × 8 each, on 0-1 and 2-3) + 1 ctx tp4 (1 node × 4, on 4):
        // 5 nodes, sbatch 5 × 8 = 40.
        (
            8,
            (1, 4),
            (2, 16),
            "e2e",
            "e2e",
            Generation::G3,
            (
                5,
                40,
                8,
                vec![
                    st("GEN_0", 2, 16, 8, 0),
                    st("GEN_1", 2, 16, 8, 2),
                    st("CTX_0", 1, 4, 4, 4),
                    router(),
                    bench(),
                ],
            ),
        ),
        // gen_only id, YAML e2e, current layout: the ctx servers stay (submit.py @05323f95):
        // gen tp8 (2 nodes) + ctx tp4 (1 node) = 3.
        (
            4,
            (1, 4),
            (1, 8),
            "e2e",
            "gen_only",
            Generation::G3,
            (
                3,
                12,
                4,
                vec![
                    st("GEN_0", 2, 8, 4, 0),
                    st("CTX_0", 1, 4, 4, 2),
                    router(),
                    bench(),
                ],
            ),
        ),
        // gen_only id, YAML gen_only_no_context: num_ctx = 0 → the gen's 2 nodes only.
        (
            4,
            (1, 4),
            (1, 8),
            "gen_only_no_context",
            "gen_only",
            Generation::G3,
            (2, 8, 4, vec![st("GEN_0", 2, 8, 4, 0), router(), bench()]),
        ),
        // G1 (legacy): any gen_only mode drops the ctx servers (fact sheet §5).
        (
            4,
            (1, 4),
            (1, 8),
            "gen_only",
            "gen_only",
            Generation::G1,
            (2, 8, 4, vec![st("GEN_0", 2, 8, 4, 0), router(), bench()]),
        ),
        // G1 e2e keeps them: 3 nodes.
        (
            4,
            (1, 4),
            (1, 8),
            "e2e",
            "e2e",
            Generation::G1,
            (
                3,
                12,
                4,
                vec![
                    st("GEN_0", 2, 8, 4, 0),
                    st("CTX_0", 1, 4, 4, 2),
                    router(),
                    bench(),
                ],
            ),
        ),
        // 0 ctx servers in the YAML: gen only, 1 node × 2 tasks (tp2 on gpn 4).
        (
            4,
            (0, 4),
            (1, 2),
            "e2e",
            "e2e",
            Generation::G3,
            (1, 4, 4, vec![st("GEN_0", 1, 2, 2, 0), router(), bench()]),
        ),
    ];
    for (i, (gpn, ctx, r#gen, yaml_mode, id_mode, generation, want)) in rows.into_iter().enumerate()
    {
        let c = disagg_cfg(&disagg_yaml(gpn, ctx, r#gen, yaml_mode));
        let (servers, l) = disagg_shape(&c, id_mode, generation, "cfg");
        let got = (
            l.total_nodes,
            l.sbatch_ntasks,
            l.sbatch_ntasks_per_node,
            steps_of(&l),
        );
        assert_eq!(got, want, "row {i}");
        // The servers listed: ctx (if any ctx step) then gen.
        let roles: Vec<&str> = servers.iter().map(|s| s.role.as_str()).collect();
        let has_ctx = l.steps.iter().any(|s| s.kind == RoleKind::Ctx);
        assert_eq!(
            roles,
            if has_ctx {
                vec!["ctx", "gen"]
            } else {
                vec!["gen"]
            },
            "row {i}"
        );
    }
}

/// DISAGREES: a disagg worker's `world_size` (or `gpus`) sizes it here (ServerConfig::gpus);
/// upstream submit.py @05323f95 sizes ctx/gen workers with tp × pp × cp only, ignoring
/// `world_size` (it reads `world_size` for aggregated and ctx_only servers). Gen
/// `world_size: 8` with tp1 on gpn 4: perf-run plans 2 nodes × 4 for GEN_0 (3 nodes in
/// all with a tp4 ctx); upstream would plan 1 node × 1 (2 nodes in all). No fixture sets
/// `world_size` on a disagg worker, so no real config is affected today.
#[test]
fn disagg_worker_world_size_counts_here() {
    let c = disagg_cfg(
        "metadata: {model_name: m}\nhardware: {gpus_per_node: 4, num_ctx_servers: 1, num_gen_servers: 1}\nworker_config:\n  ctx: {tensor_parallel_size: 4}\n  gen: {tensor_parallel_size: 1, world_size: 8}\n",
    );
    let (_, l) = disagg_shape(&c, "e2e", Generation::G3, "cfg");
    assert_eq!(
        (l.total_nodes, steps_of(&l)),
        (
            3,
            vec![
                st("GEN_0", 2, 8, 4, 0),
                st("CTX_0", 1, 4, 4, 2),
                st("DISAGG_SERVER", 1, 1, 1, 0),
                st("BENCHMARK", 1, 1, 1, 0),
            ]
        )
    );
}

#[test]
fn disagg_server_names_follow_upstream() {
    let c = disagg_cfg(&disagg_yaml(4, (1, 4), (1, 8), "e2e"));
    let (servers, _) = disagg_shape(&c, "gen_only", Generation::G3, "cfg");
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["ctx-cfg", "gen_only-cfg"]);
    // gen_only clients: one concurrency, one iteration (reference §4.2).
    assert_eq!(servers[1].clients.len(), 1);
    assert_eq!(servers[1].clients[0].iterations, 1);
}

// ---- small numeric helpers ---------------------------------------------------------------

#[test]
fn time_warning_is_a_quarter_between_10_s_and_2_min() {
    // job seconds → warning seconds: /4, at least 10, at most 120.
    for (job, want) in [
        (0, 10),
        (39, 10),
        (40, 10),
        (44, 11),
        (100, 25),
        (480, 120),
        (600, 120),
        (u64::MAX, 120),
    ] {
        assert_eq!(time_warning_seconds(job), want, "{job}");
    }
}

#[test]
fn gen_only_queue_size_is_capped_by_gen_capacity() {
    let cfg = |gen_extra: &str, con: &str| {
        disagg_cfg(&format!(
            "metadata: {{model_name: m}}\nbenchmark: {{concurrency_list: '{con}'}}\nhardware: {{gpus_per_node: 4, num_ctx_servers: 1, num_gen_servers: 1}}\nworker_config:\n  ctx: {{}}\n  gen: {{tensor_parallel_size: 8{gen_extra}}}\n"
        ))
    };
    // max_batch_size 768 without attention DP: min(768, 1024) = 768.
    assert_eq!(
        request_queue_size(&cfg(", max_batch_size: 768", "1024")),
        768
    );
    // attention DP: 128 × tp8 = 1024 ≥ 1024 → 1024.
    assert_eq!(
        request_queue_size(&cfg(
            ", max_batch_size: 128, enable_attention_dp: true",
            "1024"
        )),
        1024
    );
    // attention DP: 64 × 8 = 512 < 1024 → 512.
    assert_eq!(
        request_queue_size(&cfg(
            ", max_batch_size: 64, enable_attention_dp: true",
            "1024"
        )),
        512
    );
    // no max_batch_size: the concurrency (first of the list).
    assert_eq!(request_queue_size(&cfg("", "16 32")), 16);
}

// ---- build_plan: the whole plan from a checkout (capacity, --segment, range checks) -------

/// A G3 checkout with the given aggregated and disaggregated configs.
fn tree(agg: &[(&str, &str)], disagg: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (dir, files) in [
        (crate::config::layout::G3_AGG, agg),
        (crate::config::layout::G3_DISAGG, disagg),
    ] {
        let d = t.path().join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            std::fs::write(d.join(format!("{name}.yaml")), text).unwrap();
        }
    }
    let defs = t.path().join(DEFS_DIR).join("perf");
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(defs.join("test_perf_sanity.py"), "").unwrap();
    t
}

/// Profiles: `free` has no capacity; `small` has 4 GPUs per node and 4 nodes.
const CLUSTERS: &str = "clusters:\n  free:\n    host: h\n    type: local\n    workdir: /w\n    docker_image: \"\"\n  small:\n    host: h\n    type: local\n    workdir: /w\n    docker_image: \"\"\n    gpus_per_node: 4\n    nodes: 4\n";

fn plan_of(t: &Path, cluster: &str, case: &str) -> anyhow::Result<RunPlan> {
    let clusters = t.join("clusters.yaml");
    std::fs::write(&clusters, CLUSTERS).unwrap();
    let overrides = Overrides {
        cluster: Some(cluster.into()),
        clusters_file: Some(clusters),
        user: Some("ci".into()),
        trtllm_dir: Some(t.to_path_buf()),
        install: Some(crate::config::settings::InstallMode::None),
        ..Default::default()
    };
    let env = |k: &str| (k == "USER").then(|| "ci".to_string());
    let settings = resolve_with(&overrides, &env, &|_, _| Err("no ssh".into()))?;
    let layout = Layout::detect(t)?;
    let id = test_id::parse_node_id(
        &format!("perf/test_perf_sanity.py::test_e2e[{case}]"),
        layout.generation,
    )?;
    let selected = Selected {
        test_id: id,
        timeout_min: None,
        skip: None,
        xfail: None,
        unstable: None,
        list_line: None,
        mode_override: None,
        system_gpu_count: None,
    };
    build_plan(&PlanInput {
        settings: &settings,
        layout: &layout,
        selected: &selected,
        run_id: "u",
        case_index: 0,
        user_env: &[],
    })
    .map_err(anyhow::Error::from)
}

fn agg_yaml(gpn: u32, server: &str) -> String {
    format!(
        "metadata: {{model_name: m}}\nhardware: {{gpus_per_node: {gpn}}}\nserver_configs:\n  - {{name: s, {server}}}\n"
    )
}

fn shape(p: &RunPlan) -> (Mode, u32, u32, u32, u32, u32, Option<u32>) {
    (
        p.mode,
        p.total_nodes,
        p.total_gpus,
        p.gpus_per_node,
        p.sbatch.ntasks,
        p.sbatch.ntasks_per_node,
        p.sbatch.segment,
    )
}

#[test]
fn segment_only_for_disagg_with_more_than_one_gpu() {
    let t = tree(
        &[("big", &agg_yaml(4, "tensor_parallel_size: 8"))],
        &[
            ("d", &disagg_yaml(4, (1, 4), (1, 8), "e2e")),
            // gpn 1, gen tp1, YAML gen_only_no_context: with a gen_only id no ctx runs →
            // 1 node × 1 GPU, the one disagg job without --segment.
            (
                "one",
                &disagg_yaml(1, (1, 1), (1, 1), "gen_only_no_context"),
            ),
        ],
    );
    // multi-node aggregated: tp8 on 4 → 2 nodes, 8 GPUs, 8 tasks × 4, no --segment.
    let p = plan_of(t.path(), "free", "aggr_upload-big-s").unwrap();
    assert_eq!(shape(&p), (Mode::MultiAgg, 2, 8, 4, 8, 4, None));
    // disagg 2 + 1 = 3 nodes, 12 GPUs → --segment=3.
    let p = plan_of(t.path(), "free", "disagg_upload-e2e-d").unwrap();
    assert_eq!(shape(&p), (Mode::Disagg, 3, 12, 4, 12, 4, Some(3)));
    let p = plan_of(t.path(), "free", "disagg_upload-gen_only-one").unwrap();
    assert_eq!(shape(&p), (Mode::Disagg, 1, 1, 1, 1, 1, None));
    assert_eq!(p.steps.len(), 3, "GEN_0, DISAGG_SERVER, BENCHMARK");
}

#[test]
fn gen_only_no_context_is_sized_by_one_gen_worker() {
    // 4 gen servers tp8 + 1 ctx tp4 on gpn 4: the aggregated path runs ONE gen worker:
    // ceil(8/4) = 2 nodes × 4 = 8 GPUs (not 4 × 2 = 8 nodes).
    let t = tree(&[], &[("d", &disagg_yaml(4, (1, 4), (4, 8), "e2e"))]);
    let p = plan_of(t.path(), "free", "aggr_upload-gen_only_no_context-d").unwrap();
    assert_eq!(shape(&p), (Mode::MultiAgg, 2, 8, 4, 8, 4, None));
    assert_eq!(p.servers.len(), 1);
    assert_eq!((p.servers[0].role.as_str(), p.servers[0].gpus), ("gen", 8));
    // ctx_only: the ctx tp4 → one node, one task.
    let p = plan_of(t.path(), "free", "aggr_upload-ctx_only-d").unwrap();
    assert_eq!(shape(&p), (Mode::SingleAgg, 1, 4, 4, 1, 1, None));
}

#[test]
fn cluster_capacity_is_checked() {
    let t = tree(
        &[("g8", &agg_yaml(8, "tensor_parallel_size: 8"))],
        &[
            // 4 gen tp4 + 1 ctx tp4 on gpn 4: 5 nodes > the `small` cluster's 4.
            ("five", &disagg_yaml(4, (1, 4), (4, 4), "e2e")),
            // 3 gen + 1 ctx: exactly the 4 nodes it has.
            ("four", &disagg_yaml(4, (1, 4), (3, 4), "e2e")),
        ],
    );
    let e = plan_of(t.path(), "small", "aggr_upload-g8-s")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plans 8 GPUs per node, but cluster `small` has 4 GPUs per node"),
        "{e}"
    );
    let e = plan_of(t.path(), "small", "disagg_upload-e2e-five")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("needs 5 nodes (20 GPUs), but cluster `small` has only 4 nodes"),
        "{e}"
    );
    let p = plan_of(t.path(), "small", "disagg_upload-e2e-four").unwrap();
    assert_eq!(shape(&p), (Mode::Disagg, 4, 16, 4, 16, 4, Some(4)));
    // Without capacity the 8-GPU-per-node config plans 1 node × 8 GPUs.
    let p = plan_of(t.path(), "free", "aggr_upload-g8-s").unwrap();
    assert_eq!(shape(&p), (Mode::SingleAgg, 1, 8, 8, 1, 1, None));
}

/// Security review B7: sizes that used to wrap (tp 65536 × pp 65536 gave `--nodes=0`) are
/// refused with a sentence naming the file and the field, before any arithmetic.
#[test]
fn oversized_configs_are_refused_with_the_field_named() {
    let agg = |name: &str, gpn: u32, server: &str| (name.to_string(), agg_yaml(gpn, server));
    let aggs = [
        agg(
            "wrap",
            4,
            "tensor_parallel_size: 65536, pipeline_parallel_size: 65536",
        ),
        agg("tp", 4, "tensor_parallel_size: 65537"),
        agg("ws", 4, "world_size: 70000"),
        agg("gpn0", 0, "tensor_parallel_size: 1"),
        agg("gpnbig", 1025, "tensor_parallel_size: 1"),
        agg("sgpn", 4, "gpus_per_node: 2000"),
    ];
    let disaggs = [
        ("nogen".to_string(), disagg_yaml(4, (1, 1), (0, 1), "e2e")),
        (
            "manygen".to_string(),
            disagg_yaml(4, (1, 1), (1025, 1), "e2e"),
        ),
        // 1 × 1024 + 1024 × 1024 = 1,049,600 GPUs > 2^20 = 1,048,576.
        (
            "total".to_string(),
            disagg_yaml(4, (1, 1024), (1024, 1024), "e2e"),
        ),
    ];
    let a: Vec<(&str, &str)> = aggs.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let d: Vec<(&str, &str)> = disaggs
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let t = tree(&a, &d);
    for (case, needle) in [
        (
            "aggr_upload-wrap-s",
            "tensor_parallel_size × pipeline_parallel_size × context_parallel_size = 4294967296 GPUs",
        ),
        (
            "aggr_upload-tp-s",
            "`server_configs[0].tensor_parallel_size` is 65537",
        ),
        (
            "aggr_upload-ws-s",
            "`server_configs[0].world_size` is 70000",
        ),
        (
            "aggr_upload-gpn0-s",
            "`hardware.gpus_per_node` must be at least 1",
        ),
        ("aggr_upload-gpnbig-s", "`hardware.gpus_per_node` is 1025"),
        (
            "aggr_upload-sgpn-s",
            "`server_configs[0].gpus_per_node` is 2000",
        ),
        ("disagg_upload-e2e-nogen", "`hardware.num_gen_servers` is 0"),
        (
            "disagg_upload-e2e-manygen",
            "`hardware.num_gen_servers` is 1025",
        ),
        ("disagg_upload-e2e-total", "need 1049600 GPUs in all"),
    ] {
        let e = match plan_of(t.path(), "free", case) {
            Ok(p) => panic!("{case} was planned: {:?}", shape(&p)),
            Err(e) => e,
        };
        assert!(
            crate::ops::exit::exit_of(&e) == crate::error::Exit::Usage,
            "{case}: not a user error: {e:#}"
        );
        let msg = e.to_string();
        assert!(msg.contains(needle), "{case}: {msg}");
        assert!(msg.contains(".yaml"), "{case}: the file is named: {msg}");
    }
}

/// The largest sizes perf-run accepts plan without wrapping or saturating.
#[test]
fn the_largest_accepted_sizes_plan_exactly() {
    // Aggregated: tp = MAX_PARALLEL = 65536 on 1-GPU nodes → 65536 nodes × 1 task.
    // Disagg at exactly MAX_TOTAL_GPUS: 1 ctx × 1024 + 1024 gen × 1023 = 1,048,576 GPUs;
    // on 1-GPU nodes that is 1,048,576 nodes and sbatch tasks; on 1024-GPU nodes each server
    // is 1 node → 1025 nodes, 1025 × 1024 = 1,049,600 GPUs.
    assert_eq!(MAX_PARALLEL, 65_536);
    assert_eq!(MAX_TOTAL_GPUS, 1_048_576);
    let t = tree(
        &[("max", &agg_yaml(1, "tensor_parallel_size: 65536"))],
        &[
            ("maxd1", &disagg_yaml(1, (1, 1024), (1024, 1023), "e2e")),
            (
                "maxd1024",
                &disagg_yaml(1024, (1, 1024), (1024, 1023), "e2e"),
            ),
        ],
    );
    let p = plan_of(t.path(), "free", "aggr_upload-max-s").unwrap();
    assert_eq!(
        shape(&p),
        (Mode::MultiAgg, 65_536, 65_536, 1, 65_536, 1, None)
    );
    assert_eq!(p.steps[0].ntasks, 65_536);

    let p = plan_of(t.path(), "free", "disagg_upload-e2e-maxd1").unwrap();
    assert_eq!(
        shape(&p),
        (
            Mode::Disagg,
            1_048_576,
            1_048_576,
            1,
            1_048_576,
            1,
            Some(1_048_576)
        )
    );
    assert_eq!(p.steps.len(), 1024 + 1 + 2);
    let last_gen = &p.steps[1023];
    assert_eq!(
        (last_gen.name.as_str(), last_gen.nodes, last_gen.first_node),
        ("GEN_1023", 1023, 1023 * 1023)
    );
    let ctx = &p.steps[1024];
    assert_eq!(
        (ctx.name.as_str(), ctx.nodes, ctx.ntasks, ctx.first_node),
        ("CTX_0", 1024, 1024, 1024 * 1023)
    );

    let p = plan_of(t.path(), "free", "disagg_upload-e2e-maxd1024").unwrap();
    assert_eq!(
        shape(&p),
        (
            Mode::Disagg,
            1025,
            1_049_600,
            1024,
            1_049_600,
            1024,
            Some(1025)
        )
    );
    assert_eq!(
        (
            p.steps[0].nodes,
            p.steps[0].ntasks,
            p.steps[0].ntasks_per_node
        ),
        (1, 1023, 1023)
    );
}
