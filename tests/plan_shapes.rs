//! The shape perf-run plans for every perf-sanity config the project carries: total nodes,
//! total GPUs, GPUs per node, the `#SBATCH` allocation and every srun step in launch order.
//!
//! Every expected number below was worked out BY HAND from the YAML (tp, pp, cp, `world_size`,
//! `hardware.gpus_per_node`, `hardware.num_{ctx,gen}_servers`) with upstream's rule
//! (`jenkins/scripts/perf/submit.py` @05323f95 `get_hardware_config`, fact sheet §5/§6,
//! L0 `getNodeArgs`), never with the code under test:
//!
//! * GPUs of one server = `world_size` (or `gpus`) if set, else tp × pp × cp (EP never
//!   multiplies); nodes of one server = ceil(GPUs / gpn); tasks per node of one server =
//!   min(GPUs, gpn).
//! * Aggregated, one node (GPUs ≤ gpn): `single-agg`, one task on one node (upstream L0
//!   `--nodes=1 --gpus=G`, the executor in-process); sbatch 1 node / 1 task / 1 per node.
//! * Aggregated, more than one node: `multi-agg`, one task per GPU slot: ntasks = nodes ×
//!   min(GPUs, gpn), per node min(GPUs, gpn) (upstream `world_size`).
//! * Several servers of one aggregated config in one case: the job is sized for the largest.
//! * Total GPUs = total nodes × gpn (upstream `total_gpus`, whole nodes are allocated).
//! * Disaggregated: gen servers first (GEN_0 on node 0, GEN_1 after it, …), then ctx
//!   servers; DISAGG_SERVER and BENCHMARK are 1 node / 1 task overlapping node 0. Total nodes
//!   = num_gen × gen nodes + num_ctx × ctx nodes; sbatch ntasks = total nodes × gpn, per node
//!   gpn; `--segment=<total nodes>` (one NVLink domain; L0: disagg and more than one GPU).
//! * `ctx_only` / `gen_only_no_context`: the one worker on the aggregated path, sized by it.
//! * `gen_only` on the current layout keeps the ctx servers unless the YAML's
//!   `benchmark.mode` says `gen_only_no_context` (submit.py @05323f95).
//!
//! The repo's `tests/fixtures/trtllm/{perf-sanity,upstream-2026}` are byte-identical copies of
//! `/work/shared/fixtures/trtllm/…` (so this test needs nothing outside the repo).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use perf_run::config::layout::Layout;
use perf_run::config::settings::{InstallMode, Overrides, resolve_with};
use perf_run::plan::select::{Choice, ListSelection, Selection, select};
use perf_run::plan::{Mode, PlanInput, RunPlan, build_plan};

/// Which checkout a row's config lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// `tests/stub-trtllm` (G3), used as it is.
    Stub,
    /// G3 tree with `tests/fixtures/trtllm/perf-sanity/{aggregated,disaggregated}` and
    /// `tests/fixtures/trtllm/upstream-2026/perf-sanity/{aggregated,disaggregated}`.
    Fixtures,
    /// G1 (legacy) tree with `perf-sanity/aggregated` and `perf-sanity/disagg-legacy`.
    Legacy,
}

/// (name, nodes, ntasks, ntasks_per_node, first_node) of one srun step.
type Step = (&'static str, u32, u32, u32, u32);

struct Row {
    tree: Tree,
    cluster: &'static str,
    /// The bracket content of `perf/test_perf_sanity.py::test_e2e[…]`.
    case: &'static str,
    mode: Mode,
    total_nodes: u32,
    total_gpus: u32,
    gpus_per_node: u32,
    /// `#SBATCH --nodes / --ntasks / --ntasks-per-node`.
    sbatch: (u32, u32, u32),
    segment: Option<u32>,
    steps: &'static [Step],
}

use Mode::{Disagg, MultiAgg, SingleAgg};
use Tree::{Fixtures, Legacy, Stub};

const ROUTER: Step = ("DISAGG_SERVER", 1, 1, 1, 0);
const BENCH: Step = ("BENCHMARK", 1, 1, 1, 0);

/// One server that fits one node: AGGR on node 0, one task (single-node launch shape).
const ONE_NODE: &[Step] = &[("AGGR", 1, 1, 1, 0)];

/// A 1-node aggregated row (gpn 4): 1 node, 4 GPUs, 1 task.
const fn one_node(tree: Tree, case: &'static str) -> Row {
    Row {
        tree,
        cluster: "gb200",
        case,
        mode: SingleAgg,
        total_nodes: 1,
        total_gpus: 4,
        gpus_per_node: 4,
        sbatch: (1, 1, 1),
        segment: None,
        steps: ONE_NODE,
    }
}

/// gen tp8 (8 GPUs → 2 nodes × 4) + ctx tp4 (4 GPUs → 1 node × 4), one of each, gpn 4:
/// 2 + 1 = 3 nodes, 12 GPUs, sbatch 3 × 4 = 12 tasks.
const R1_GEN8_CTX4: &[Step] = &[("GEN_0", 2, 8, 4, 0), ("CTX_0", 1, 4, 4, 2), ROUTER, BENCH];

const fn r1_disagg(tree: Tree, case: &'static str) -> Row {
    Row {
        tree,
        cluster: "gb200",
        case,
        mode: Disagg,
        total_nodes: 3,
        total_gpus: 12,
        gpus_per_node: 4,
        sbatch: (3, 12, 4),
        segment: Some(3),
        steps: R1_GEN8_CTX4,
    }
}

/// The gen worker of a tp8 gen (8 GPUs, gpn 4) alone on the aggregated path: 2 nodes × 4
/// tasks = world size 8; 2 × 4 = 8 GPUs.
const GEN8_ALONE: &[Step] = &[("AGGR", 2, 8, 4, 0)];

/// The gb300 DeepSeek-V4-Pro config: 4 gen tp8 (2 nodes each, on nodes 0-1, 2-3, 4-5, 6-7)
/// then 1 ctx tp4 (1 node, node 8): 4 × 2 + 1 × 1 = 9 nodes, 9 × 4 = 36 GPUs (the test-db
/// list `…_ctx1_node1_gpu4_gen4_node2_gpu8` says system_gpu_count 36).
const V4_STEPS: &[Step] = &[
    ("GEN_0", 2, 8, 4, 0),
    ("GEN_1", 2, 8, 4, 2),
    ("GEN_2", 2, 8, 4, 4),
    ("GEN_3", 2, 8, 4, 6),
    ("CTX_0", 1, 4, 4, 8),
    ROUTER,
    BENCH,
];

const fn v4_disagg(case: &'static str) -> Row {
    Row {
        tree: Fixtures,
        cluster: "gb300",
        case,
        mode: Disagg,
        total_nodes: 9,
        total_gpus: 36,
        gpus_per_node: 4,
        sbatch: (9, 36, 4),
        segment: Some(9),
        steps: V4_STEPS,
    }
}

const ROWS: &[Row] = &[
    // ---- tests/stub-trtllm (G3) -------------------------------------------------------
    // tiny_llama_fp8_grace_blackwell, gpn 4: tp1 → 1 GPU, tp2 → 2 GPUs; both fit one node.
    one_node(
        Stub,
        "aggr_upload-tiny_llama_fp8_grace_blackwell-tiny_llama_fp8_tp1",
    ),
    one_node(
        Stub,
        "aggr_upload-tiny_llama_fp8_grace_blackwell-tiny_llama_fp8_tp2",
    ),
    // Both servers in one case: sized for the largest (2 GPUs), still one node.
    one_node(Stub, "aggr_upload-tiny_llama_fp8_grace_blackwell"),
    // deepseek_r1_fp4_v2_grace_blackwell, gpn 4: all nine servers tp4 pp1 (ep 4 or 1, not
    // counted) → 4 GPUs = exactly one node.
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k1k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tep4_mtp3_1k1k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k1k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_8k1k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tep4_mtp3_8k1k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_8k1k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k8k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tep4_mtp3_1k8k",
    ),
    one_node(
        Stub,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k8k",
    ),
    one_node(Stub, "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell"),
    // deepseek_r1_fp4_v2_2_nodes_grace_blackwell, gpn 4: both servers tp8 ep8 pp1 → 8 GPUs
    // → ceil(8/4) = 2 nodes, min(8,4) = 4 per node, world size 2 × 4 = 8; 2 × 4 = 8 GPUs.
    Row {
        tree: Stub,
        cluster: "gb200",
        case: "aggr_upload-deepseek_r1_fp4_v2_2_nodes_grace_blackwell-r1_fp4_v2_dep8_mtp1_1k1k",
        mode: MultiAgg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: None,
        steps: &[("AGGR", 2, 8, 4, 0)],
    },
    Row {
        tree: Stub,
        cluster: "gb200",
        case: "aggr_upload-deepseek_r1_fp4_v2_2_nodes_grace_blackwell-r1_fp4_v2_tep8_mtp3",
        mode: MultiAgg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: None,
        steps: &[("AGGR", 2, 8, 4, 0)],
    },
    Row {
        tree: Stub,
        cluster: "gb200",
        case: "aggr_upload-deepseek_r1_fp4_v2_2_nodes_grace_blackwell",
        mode: MultiAgg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: None,
        steps: &[("AGGR", 2, 8, 4, 0)],
    },
    // gb200 DeepSeek-R1 1k1k disagg (stub copy): gen tp8 + ctx tp4, one each → see R1_GEN8_CTX4.
    r1_disagg(
        Stub,
        "disagg_upload-e2e-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
    ),
    // gen_only: YAML benchmark.mode is e2e, so the ctx server stays (submit.py @05323f95).
    r1_disagg(
        Stub,
        "disagg_upload-gen_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
    ),
    // ctx_only: the ctx worker tp4 → 4 GPUs, one node.
    one_node(
        Stub,
        "aggr_upload-ctx_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
    ),
    // gen_only_no_context: the gen worker tp8 → 2 nodes × 4.
    Row {
        tree: Stub,
        cluster: "gb200",
        case: "aggr_upload-gen_only_no_context-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
        mode: MultiAgg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: None,
        steps: GEN8_ALONE,
    },
    // tiny-llama disagg, gpn 4: gen tp2 → 1 node × 2 tasks (node 0); ctx tp1 → 1 node × 1
    // task (node 1); 1 + 1 = 2 nodes, 2 × 4 = 8 GPUs, sbatch 2 × 4 = 8 tasks.
    Row {
        tree: Stub,
        cluster: "gb200",
        case: "disagg_upload-e2e-gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX",
        mode: Disagg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: Some(2),
        steps: &[("GEN_0", 1, 2, 2, 0), ("CTX_0", 1, 1, 1, 1), ROUTER, BENCH],
    },
    Row {
        tree: Stub,
        cluster: "gb200",
        case: "disagg_upload-gen_only-gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX",
        mode: Disagg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: Some(2),
        steps: &[("GEN_0", 1, 2, 2, 0), ("CTX_0", 1, 1, 1, 1), ROUTER, BENCH],
    },
    // ctx_only (tp1) and gen_only_no_context (tp2): each fits one node.
    one_node(
        Stub,
        "aggr_upload-ctx_only-gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX",
    ),
    one_node(
        Stub,
        "aggr_upload-gen_only_no_context-gb200_tiny-llama-fp8_1k1k_con8_ctx1_tp1_gen1_tp2_eplb0_mtp0_ccb-UCX",
    ),
    // ---- tests/fixtures/trtllm/perf-sanity (G3 tree) ------------------------------------
    // The real deepseek_r1_fp4_v2_grace_blackwell: nine tp4 servers, gpn 4 → one node each.
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tep4_mtp3_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_8k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tep4_mtp3_8k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_8k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_dep4_mtp1_1k8k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tep4_mtp3_1k8k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k8k",
    ),
    one_node(Fixtures, "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell"),
    // The real gb200 R1 1k1k disagg: gen tp8 + ctx tp4 → R1_GEN8_CTX4.
    r1_disagg(
        Fixtures,
        "disagg_upload-e2e-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
    ),
    r1_disagg(
        Fixtures,
        "disagg_upload-gen_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
    ),
    one_node(
        Fixtures,
        "aggr_upload-ctx_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX",
    ),
    // ---- tests/fixtures/trtllm/upstream-2026/perf-sanity (G3 tree) ----------------------
    // gpt_oss_120b_fp4_grace_blackwell, gpn 4: servers tp4, tp2, tp2, tp2, tp4, tp2, tp1,
    // tp1 (pp1) → 4/2/2/2/4/2/1/1 GPUs, all one node, one task.
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_dep4_1k8k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_dep2_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_tep2_1k8k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_tp2_1k8k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_tp4_eagle3_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_tp2_mtp0_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_tp1_mtp0_1k1k",
    ),
    one_node(
        Fixtures,
        "aggr_upload-gpt_oss_120b_fp4_grace_blackwell-gpt_oss_fp4_tp1_mtp0_8k1k",
    ),
    // All eight in one case: sized for the largest (4 GPUs), one node.
    one_node(Fixtures, "aggr_upload-gpt_oss_120b_fp4_grace_blackwell"),
    // super_ad_blackwell (AutoDeploy): no tp, `world_size: 4` → 4 GPUs, one node.
    one_node(Fixtures, "aggr_upload-super_ad_blackwell-super_ad_ws4_1k1k"),
    one_node(Fixtures, "aggr_upload-super_ad_blackwell"),
    // gb200 R1 8k1k NIXL: gen tp8 + ctx tp4, one each → R1_GEN8_CTX4 (3 nodes, 12 GPUs).
    r1_disagg(
        Fixtures,
        "disagg_upload-e2e-gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL",
    ),
    r1_disagg(
        Fixtures,
        "disagg_upload-gen_only-gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL",
    ),
    one_node(
        Fixtures,
        "aggr_upload-ctx_only-gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL",
    ),
    // The id of upstream's list `l0_gb200_multi_nodes_perf_sanity_gen1_node2_gpu8`: the gen
    // worker tp8 alone → 2 nodes × 4 = 8 GPUs (the list says system_gpu_count 8).
    Row {
        tree: Fixtures,
        cluster: "gb200",
        case: "aggr_upload-gen_only_no_context-gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL",
        mode: MultiAgg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: None,
        steps: GEN8_ALONE,
    },
    // gb300 DeepSeek-V4-Pro: the three ids of its upstream list (e2e, gen_only, the
    // time_breakdown modifier), all the same 9-node shape → V4_STEPS.
    v4_disagg(
        "disagg_upload-e2e-gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL",
    ),
    v4_disagg(
        "disagg_upload-gen_only-gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL",
    ),
    v4_disagg(
        "disagg_upload-e2e-time_breakdown-gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL",
    ),
    // ctx_only: ctx tp4 → one node.
    Row {
        cluster: "gb300",
        ..one_node(
            Fixtures,
            "aggr_upload-ctx_only-gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL",
        )
    },
    // gen_only_no_context: one gen worker tp8 → 2 nodes (not four of them: the aggregated
    // path runs one server).
    Row {
        tree: Fixtures,
        cluster: "gb300",
        case: "aggr_upload-gen_only_no_context-gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL",
        mode: MultiAgg,
        total_nodes: 2,
        total_gpus: 8,
        gpus_per_node: 4,
        sbatch: (2, 8, 4),
        segment: None,
        steps: GEN8_ALONE,
    },
    // ---- legacy layout (G1): perf-sanity/aggregated + perf-sanity/disagg-legacy ----------
    one_node(
        Legacy,
        "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k1k",
    ),
    one_node(Legacy, "aggr_upload-deepseek_r1_fp4_v2_grace_blackwell"),
    // G1 disagg id has no mode: e2e from the YAML; gen tp8 + ctx tp4 → R1_GEN8_CTX4.
    r1_disagg(
        Legacy,
        "disagg_upload-deepseek-r1-fp4_1k1k_ctx1_gen1_dep8_bs768_eplb0_mtp0_ccb-UCX",
    ),
];

fn repo() -> PathBuf {
    common::repo()
}

/// The G3 tree of the real fixtures: the project's copies and upstream's 2026 samples.
fn fixtures_tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let f = repo().join("tests/fixtures/trtllm");
    for (src, dst) in [
        (
            "perf-sanity/aggregated",
            "tests/scripts/perf-sanity/aggregated",
        ),
        (
            "perf-sanity/disaggregated",
            "tests/scripts/perf-sanity/disaggregated",
        ),
        (
            "upstream-2026/perf-sanity/aggregated",
            "tests/scripts/perf-sanity/aggregated",
        ),
        (
            "upstream-2026/perf-sanity/disaggregated",
            "tests/scripts/perf-sanity/disaggregated",
        ),
    ] {
        let to = t.path().join(dst);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(f.join(src)).unwrap() {
            let p = e.unwrap().path();
            assert!(
                !to.join(p.file_name().unwrap()).exists(),
                "two fixtures share the name {}",
                p.display()
            );
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir_all(t.path().join("tests/integration/defs/perf")).unwrap();
    std::fs::write(
        t.path()
            .join("tests/integration/defs/perf/test_perf_sanity.py"),
        "",
    )
    .unwrap();
    t
}

/// Plan one node id the way `perf-run render --test <id>` does (resolve → select → plan),
/// in-process, with the project's cluster profiles and nothing from the host environment.
fn plan(tree: &Path, cluster: &str, case: &str) -> anyhow::Result<RunPlan> {
    let sel = Selection::Test(format!("perf/test_perf_sanity.py::test_e2e[{case}]"));
    let mut plans = plan_selection(tree, cluster, sel)?;
    anyhow::ensure!(plans.len() == 1, "`{case}` did not select exactly one case");
    plans.remove(0).1
}

/// Every case a selection yields, each with its planned result (or why it was not planned).
fn plan_selection(
    tree: &Path,
    cluster: &str,
    sel: Selection,
) -> anyhow::Result<Vec<(Choice, anyhow::Result<RunPlan>)>> {
    let overrides = Overrides {
        cluster: Some(cluster.to_string()),
        clusters_file: Some(repo().join("configs/clusters.yaml")),
        user: Some("ci".into()),
        trtllm_dir: Some(tree.to_path_buf()),
        install: Some(InstallMode::None),
        ..Default::default()
    };
    let env = |k: &str| (k == "USER").then(|| "ci".to_string());
    let settings = resolve_with(&overrides, &env, &|_, _| Err("no ssh in this test".into()))?;
    let layout = Layout::detect(tree)?;
    let choices = select(&sel, &settings, &layout)?;
    Ok(choices
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let planned = match &c {
                Choice::Run(selected) => build_plan(&PlanInput {
                    settings: &settings,
                    layout: &layout,
                    selected,
                    run_id: "shapes",
                    case_index: i,
                    user_env: &[],
                })
                .map_err(anyhow::Error::from),
                Choice::Skip(u) => Err(anyhow::anyhow!("skipped: {}", u.reason)),
            };
            (c, planned)
        })
        .collect())
}

/// The shape of a plan in the table's terms.
fn shape(p: &RunPlan) -> String {
    let steps: Vec<String> = p
        .steps
        .iter()
        .map(|s| {
            format!(
                "({}, {}, {}, {}, {})",
                s.name, s.nodes, s.ntasks, s.ntasks_per_node, s.first_node
            )
        })
        .collect();
    format!(
        "mode {} | nodes {} gpus {} gpn {} | sbatch nodes {} ntasks {} per-node {} gpus-per-node {} segment {:?} | steps [{}]",
        p.mode.as_str(),
        p.total_nodes,
        p.total_gpus,
        p.gpus_per_node,
        p.sbatch.nodes,
        p.sbatch.ntasks,
        p.sbatch.ntasks_per_node,
        p.sbatch.gpus_per_node,
        p.sbatch.segment,
        steps.join(", ")
    )
}

fn expected(r: &Row) -> String {
    let steps: Vec<String> = r
        .steps
        .iter()
        .map(|(n, nodes, ntasks, per, first)| format!("({n}, {nodes}, {ntasks}, {per}, {first})"))
        .collect();
    format!(
        "mode {} | nodes {} gpus {} gpn {} | sbatch nodes {} ntasks {} per-node {} gpus-per-node {} segment {:?} | steps [{}]",
        r.mode.as_str(),
        r.total_nodes,
        r.total_gpus,
        r.gpus_per_node,
        r.sbatch.0,
        r.sbatch.1,
        r.sbatch.2,
        r.gpus_per_node,
        r.segment,
        steps.join(", ")
    )
}

#[test]
fn every_fixture_plans_the_shape_worked_out_by_hand() {
    let stub = repo().join("tests/stub-trtllm");
    let fixtures = fixtures_tree();
    let legacy = common::g1_tree();
    let mut failures = Vec::new();
    for r in ROWS {
        let tree = match r.tree {
            Stub => stub.as_path(),
            Fixtures => fixtures.path(),
            Legacy => legacy.path(),
        };
        match plan(tree, r.cluster, r.case) {
            Ok(p) => {
                let (got, want) = (shape(&p), expected(r));
                if got != want {
                    failures.push(format!(
                        "{:?} {}\n  planned:  {got}\n  by hand:  {want}",
                        r.tree, r.case
                    ));
                }
                // Internal consistency of every plan, whatever the table says.
                assert_eq!(p.total_gpus, p.total_nodes * p.gpus_per_node, "{}", r.case);
                assert_eq!(p.sbatch.nodes, p.total_nodes, "{}", r.case);
                for s in &p.steps {
                    assert_eq!(
                        s.ntasks,
                        s.nodes * s.ntasks_per_node,
                        "{} {}",
                        r.case,
                        s.name
                    );
                    assert!(
                        s.first_node + s.nodes <= p.total_nodes,
                        "{} {}: step runs past the allocation",
                        r.case,
                        s.name
                    );
                }
            }
            Err(e) => failures.push(format!("{:?} {}: planning failed: {e:#}", r.tree, r.case)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

/// The worker steps of a disaggregated plan never share a node, and together they cover
/// every node of the allocation exactly once (gen first, then ctx, in index order).
#[test]
fn disaggregated_workers_tile_the_allocation() {
    for r in ROWS.iter().filter(|r| r.mode == Disagg) {
        let mut next = 0;
        for (name, nodes, _, _, first) in r
            .steps
            .iter()
            .filter(|s| s.0 != "DISAGG_SERVER" && s.0 != "BENCHMARK")
        {
            assert_eq!(*first, next, "{}: {name} (table)", r.case);
            next += nodes;
        }
        assert_eq!(next, r.total_nodes, "{} (table)", r.case);
    }
}

/// Every config file of every fixture folder has at least one row in the tree it is planned
/// from, so a new fixture cannot be added without its hand-computed shape.
#[test]
fn every_fixture_config_has_a_row() {
    let dirs = [
        (
            Stub,
            "tests/stub-trtllm/tests/scripts/perf-sanity/aggregated",
        ),
        (
            Stub,
            "tests/stub-trtllm/tests/scripts/perf-sanity/disaggregated",
        ),
        (Fixtures, "tests/fixtures/trtllm/perf-sanity/aggregated"),
        (Fixtures, "tests/fixtures/trtllm/perf-sanity/disaggregated"),
        (
            Fixtures,
            "tests/fixtures/trtllm/upstream-2026/perf-sanity/aggregated",
        ),
        (
            Fixtures,
            "tests/fixtures/trtllm/upstream-2026/perf-sanity/disaggregated",
        ),
        (Legacy, "tests/fixtures/trtllm/perf-sanity/aggregated"),
        (Legacy, "tests/fixtures/trtllm/perf-sanity/disagg-legacy"),
    ];
    let mut seen = BTreeSet::new();
    for (tree, d) in dirs {
        for e in std::fs::read_dir(repo().join(d)).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().to_string();
            let Some(base) = n.strip_suffix(".yaml").or_else(|| n.strip_suffix(".yml")) else {
                continue;
            };
            seen.insert(format!("{tree:?}/{base}"));
            assert!(
                ROWS.iter().any(|r| r.tree == tree
                    && (r.case.ends_with(&format!("-{base}"))
                        || r.case.contains(&format!("-{base}-")))),
                "no {tree:?} row plans the fixture `{d}/{n}`"
            );
        }
    }
    // 3 + 2 stub, 1 + 1 + 2 + 2 fixture, 1 + 1 legacy configs.
    assert_eq!(seen.len(), 13, "{seen:#?}");
}

/// Upstream's 2026 test-db lists name their shape (`…_gen1_node2_gpu8`,
/// `…_ctx1_node1_gpu4_gen4_node2_gpu8`) and say `system_gpu_count`; every id of theirs whose
/// config the project carries plans exactly that many GPUs, read through the list itself.
#[test]
fn upstream_test_db_lists_agree_with_the_plans() {
    let fixtures = fixtures_tree();
    let lists = repo().join("tests/fixtures/trtllm/upstream-2026/test-db");
    // (list, cluster, system_gpu_count of its one block (by hand from the file), ids whose
    // config is in the fixtures)
    for (list, cluster, gpus, planned_ids) in [
        // gen1_node2_gpu8: 1 gen worker tep8 on gpn 4 = 2 nodes = 8 GPUs; 1 of its 3 ids
        // names a config the project carries (the other two are upstream-only).
        (
            "l0_gb200_multi_nodes_perf_sanity_gen1_node2_gpu8.yml",
            "gb200",
            8,
            1,
        ),
        // ctx1_node1_gpu4_gen4_node2_gpu8: 1 × 4 + 4 × 8 = 36 GPUs; all 3 ids.
        (
            "l0_gb300_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen4_node2_gpu8.yml",
            "gb300",
            36,
            3,
        ),
    ] {
        let sel = Selection::List(ListSelection {
            path: lists.join(list),
            k: None,
            mode: None,
            stage: None,
        });
        let cases = plan_selection(fixtures.path(), cluster, sel).unwrap();
        let mut planned = 0;
        for (choice, p) in cases {
            let Choice::Run(selected) = choice else {
                panic!("{list}: a line was skipped")
            };
            match p {
                Ok(p) => {
                    planned += 1;
                    assert_eq!(p.total_gpus, gpus, "{list}: {}", p.test_id);
                    let (range, _) = selected.system_gpu_count.expect("the block has a range");
                    assert!(range.contains(p.total_gpus), "{list}: {}", p.test_id);
                }
                Err(e) => assert!(
                    e.to_string().contains("no perf-sanity config named"),
                    "{list}: {e:#}"
                ),
            }
        }
        assert_eq!(planned, planned_ids, "{list}");
    }
}
