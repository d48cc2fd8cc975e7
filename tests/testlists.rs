//! Test lists the way upstream CI's test-db reads them (docs/test-lists.md): a line perf-run
//! cannot run becomes a skipped case with its reason while the rest plans; `condition`s
//! (`terms.stage` with `--stage`, `wildcards.gpu` against the cluster profile,
//! `ranges.system_gpu_count`) select and check blocks. Dry runs only (`render`).

mod common;

use std::path::Path;

use common::{fixtures, g3_tree, perf_run};
use serde_json::Value;

const AGG: &str = "deepseek_r1_fp4_v2_grace_blackwell";
const DISAGG: &str = "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";
/// A line of upstream's `l0_gb300_multi_nodes_perf_sanity_ctx3_node1_gpu4_gen1_node8_gpu32`
/// (reference: upstream-2026 §4): a valid pytest path, not a perf-sanity id.
const MEGA_MOE: &str = "unittest/_torch/moe/test_mega_moe_symm_preflight.py";
/// An upstream id whose config is not in the stored copies (upstream-2026 §4).
const KIMI: &str = "perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-gb200_kimi-k25-thinking-fp4_1k1k_con4096_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX] TIMEOUT (120)";

fn agg_line(server: &str) -> String {
    format!("perf/test_perf_sanity.py::test_e2e[aggr_upload-{AGG}-{server}] TIMEOUT (90)")
}

/// `render --json` of a list; (exit code, JSON array or Null, stderr).
fn render(tree: &Path, list: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = tempfile::tempdir().unwrap();
    let o = perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(tree)
        .arg("--output-dir")
        .arg(out.path())
        .args(["--run-id", "tl", "--json", "--testlist"])
        .arg(list)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!err.contains("panicked"), "{err}");
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v, err)
}

/// A test-db list with the given blocks: (condition YAML lines, test lines).
fn write_list(dir: &Path, blocks: &[(&str, Vec<String>)]) -> std::path::PathBuf {
    let mut s = String::from("version: 0.0.1\nperf_run_lists:\n");
    for (cond, tests) in blocks {
        s.push_str("- condition:\n");
        for l in cond.lines() {
            s.push_str(&format!("    {l}\n"));
        }
        s.push_str("  tests:\n");
        for t in tests {
            s.push_str(&format!("  - {t}\n"));
        }
    }
    let p = dir.join("list.yml");
    std::fs::write(&p, s).unwrap();
    p
}

const GB200_POST: &str = "ranges:\n  system_gpu_count:\n    gte: 4\n    lte: 4\nwildcards:\n  gpu:\n  - '*gb200*'\n  linux_distribution_name: ubuntu*\n  cpu: aarch64\nterms:\n  stage: post_merge\n  backend: pytorch";
const GB200_PRE: &str = "wildcards:\n  gpu:\n  - '*gb200*'\nterms:\n  stage: pre_merge";

#[test]
fn unrunnable_lines_are_skipped_with_reasons_and_the_rest_plans() {
    let tree = g3_tree();
    let list = write_list(
        tree.path(),
        &[(
            GB200_POST,
            vec![
                agg_line("r1_fp4_v2_tp4_mtp3_1k1k"),
                MEGA_MOE.to_string(),
                KIMI.to_string(),
                format!("{} SKIP (nvbugs/1)", agg_line("r1_fp4_v2_dep4_mtp1_1k1k")),
            ],
        )],
    );
    let (code, v, err) = render(tree.path(), &list, &["--cluster", "gb200"]);
    assert_eq!(code, 0, "{err}");
    let cases = v.as_array().unwrap();
    assert_eq!(cases.len(), 4, "{v:#}");
    // In list order: planned, skipped (not a perf test), skipped (cannot plan), planned + SKIP.
    assert_eq!(cases[0]["mode"], "single-agg");
    assert!(cases[0]["skip"].is_null());
    assert!(!cases[0]["files"].as_object().unwrap().is_empty());
    assert_eq!(cases[1]["mode"], "unplanned");
    assert_eq!(cases[1]["test_id"], MEGA_MOE);
    assert_eq!(cases[1]["list_line"], 18);
    let why = cases[1]["skip"].as_str().unwrap();
    assert!(
        why.starts_with("perf-run cannot run this test:")
            && why.contains("not a perf-sanity test id"),
        "{why}"
    );
    assert_eq!(cases[2]["mode"], "unplanned");
    assert!(
        cases[2]["skip"]
            .as_str()
            .unwrap()
            .contains("no perf-sanity config named `gb200_kimi-k25"),
        "{}",
        cases[2]["skip"]
    );
    assert_eq!(cases[3]["mode"], "single-agg");
    assert_eq!(cases[3]["skip"], "nvbugs/1");
    // The human output names the skipped lines, file and line.
    assert!(
        err.contains(
            "list.yml:18: `unittest/_torch/moe/test_mega_moe_symm_preflight.py` will be skipped"
        ),
        "{err}"
    );
    // -k applies before anything is parsed: the non-perf line can be filtered out.
    let (code, v, err) = render(
        tree.path(),
        &list,
        &["--cluster", "gb200", "-k", "not mega and not kimi"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|c| c["mode"] == "single-agg"),
        "{v:#}"
    );
    // With --mode the unplanned lines (mode unknown) are left out, with a note.
    let (code, v, err) = render(
        tree.path(),
        &list,
        &["--cluster", "gb200", "--mode", "single-agg"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(err.contains("--mode leaves out the 2 line(s)"), "{err}");
}

#[test]
fn a_list_where_nothing_can_run_is_an_error_naming_each_line() {
    let tree = g3_tree();
    let list = write_list(
        tree.path(),
        &[(GB200_POST, vec![MEGA_MOE.into(), KIMI.into()])],
    );
    let (code, _, err) = render(tree.path(), &list, &["--cluster", "gb200"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nothing in the test list"), "{err}");
    assert!(
        err.contains("list.yml:17:") && err.contains("list.yml:18:"),
        "{err}"
    );
}

#[test]
fn stage_selects_blocks_and_merging_is_announced() {
    let tree = g3_tree();
    let list = write_list(
        tree.path(),
        &[
            (GB200_PRE, vec![agg_line("r1_fp4_v2_tp4_mtp3_1k1k")]),
            (
                GB200_POST,
                vec![
                    agg_line("r1_fp4_v2_tp4_mtp3_1k1k"),
                    agg_line("r1_fp4_v2_dep4_mtp1_8k1k"),
                ],
            ),
        ],
    );
    // Neither stage: both blocks merged (the repeated id once), and a note says so.
    let (code, v, err) = render(tree.path(), &list, &["--cluster", "gb200"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        err.contains("no --stage given, so the blocks pre_merge (line 8) and post_merge (line 22) were merged"),
        "{err}"
    );
    let (code, v, err) = render(
        tree.path(),
        &list,
        &["--cluster", "gb200", "--stage", "pre_merge"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(!err.contains("were merged"), "{err}");
    let (code, v, err) = render(
        tree.path(),
        &list,
        &["--cluster", "gb200", "--stage", "post_merge"],
    );
    assert_eq!(code, 0, "{err}");
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["test_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids[1].ends_with("r1_fp4_v2_dep4_mtp1_8k1k]"));
    // A stage no block has.
    let only_pre = write_list(
        tree.path(),
        &[(GB200_PRE, vec![agg_line("r1_fp4_v2_tp4_mtp3_1k1k")])],
    );
    let (code, _, err) = render(
        tree.path(),
        &only_pre,
        &["--cluster", "gb200", "--stage", "post_merge"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no block of the test list is for --stage post_merge")
            && err.contains("pre_merge (line 8)"),
        "{err}"
    );
    // --stage needs a test list.
    let (code, _, err) = render(
        tree.path(),
        &only_pre,
        &["--cluster", "gb200", "--stage", "nightly"],
    );
    assert_eq!(code, 2, "{err}");
    // The fixture list from upstream: pre_merge and post_merge repeat the same 14 ids (9 of
    // them of the stored config).
    let l = fixtures().join("test-db/l0_gb200_multi_gpus_perf_sanity.yml");
    for stage in ["pre_merge", "post_merge"] {
        let (code, v, err) = render(
            tree.path(),
            &l,
            &["--cluster", "gb200", "--stage", stage, "-k", AGG],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(v.as_array().unwrap().len(), 9, "{stage}");
    }
}

#[test]
fn gpu_wildcard_must_match_the_cluster_gpu() {
    let tree = g3_tree();
    let l = fixtures().join(
        "upstream-2026/test-db/l0_gb300_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen4_node2_gpu8.yml",
    );
    let (code, _, err) = render(tree.path(), &l, &["--cluster", "gb200"]);
    assert_eq!(code, 2, "{err}");
    for needle in [
        "l0_gb300_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen4_node2_gpu8.yml:12:",
        "`*gb300*`",
        "condition.wildcards.gpu",
        "cluster `gb200` has GPU type `GB200`",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
    assert_eq!(
        err.lines().filter(|l| l.contains("error:")).count(),
        1,
        "{err}"
    );
    // A list with blocks for two GPU types uses the matching one and says it left the other out.
    let list = write_list(
        tree.path(),
        &[
            (
                "wildcards:\n  gpu: ['*gb300*']",
                vec![agg_line("r1_fp4_v2_tp4_mtp3_1k1k")],
            ),
            (
                "wildcards:\n  gpu: ['*gb200*']",
                vec![agg_line("r1_fp4_v2_dep4_mtp1_8k1k")],
            ),
        ],
    );
    let (code, v, err) = render(tree.path(), &list, &["--cluster", "gb200"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert!(
        err.contains("does not apply to GPU type `GB200` and was left out"),
        "{err}"
    );
    // Without a cluster profile the GPU type is unknown: nothing is refused.
    let (code, v, err) = render(tree.path(), &list, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v.as_array().unwrap().len(), 2);
}

#[test]
fn system_gpu_count_is_checked_against_the_profile_and_the_plan() {
    let tree = g3_tree();
    // local-test: 4 nodes x 4 GPUs = 16. A block asking for 36 GPUs cannot run there; its
    // lines are skipped with the reason. A block saying 8 while the plan needs 4 warns.
    let list = write_list(
        tree.path(),
        &[
            (
                "ranges:\n  system_gpu_count:\n    gte: 36\n    lte: 36",
                vec![format!(
                    "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{DISAGG}]"
                )],
            ),
            (
                "ranges:\n  system_gpu_count:\n    gte: 8\n    lte: 8",
                vec![agg_line("r1_fp4_v2_tp4_mtp3_1k1k")],
            ),
        ],
    );
    let (code, v, err) = render(tree.path(), &list, &["--cluster", "local-test"]);
    assert_eq!(code, 0, "{err}");
    let cases = v.as_array().unwrap();
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0]["mode"], "unplanned");
    let why = cases[0]["skip"].as_str().unwrap();
    assert!(
        why.contains("needs system_gpu_count 36")
            && why.contains("cluster `local-test` has 16 GPUs"),
        "{why}"
    );
    assert_eq!(cases[1]["total_gpus"], 4);
    assert!(
        err.contains("plans 4 GPUs, but its test-db block") && err.contains("system_gpu_count 8"),
        "{err}"
    );
    // An id in a block the cluster cannot provide and in one it can runs from the latter.
    let list = write_list(
        tree.path(),
        &[
            (
                "ranges:\n  system_gpu_count:\n    gte: 36",
                vec![agg_line("r1_fp4_v2_tp4_mtp3_1k1k")],
            ),
            (
                "ranges:\n  system_gpu_count:\n    lte: 4",
                vec![agg_line("r1_fp4_v2_tp4_mtp3_1k1k")],
            ),
        ],
    );
    let (code, v, err) = render(tree.path(), &list, &["--cluster", "local-test"]);
    assert_eq!(code, 0, "{err}");
    let cases = v.as_array().unwrap();
    assert_eq!(cases.len(), 1, "{v:#}");
    assert_eq!(cases[0]["mode"], "single-agg");
}

#[test]
fn upstream_2026_lists_plan_or_skip_every_line() {
    // The sample lists of upstream-2026 (unchanged), each on its own GPU type, with the
    // configs stored next to them: every line is planned or skipped with its reason, and the
    // planned GPUs agree with the list's `system_gpu_count` (no warning).
    let tree = g3_tree();
    let up = fixtures().join("upstream-2026/perf-sanity");
    for sub in ["aggregated", "disaggregated"] {
        for e in std::fs::read_dir(up.join(sub)).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(
                &p,
                tree.path()
                    .join("tests/scripts/perf-sanity")
                    .join(sub)
                    .join(p.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let db = fixtures().join("upstream-2026/test-db");
    // gb200, gen1_node2_gpu8: the one config that is stored plans on 2 nodes / 8 GPUs; the
    // other two configs are not in the stored copies (upstream-2026 §4), so they are skipped.
    let (code, v, err) = render(
        tree.path(),
        &db.join("l0_gb200_multi_nodes_perf_sanity_gen1_node2_gpu8.yml"),
        &["--cluster", "gb200"],
    );
    assert_eq!(code, 0, "{err}");
    let cases = v.as_array().unwrap();
    assert_eq!(cases.len(), 3, "{v:#}");
    assert_eq!(cases[0]["total_gpus"], 8);
    assert!(!cases[0]["files"].as_object().unwrap().is_empty());
    for (c, line) in cases[1..].iter().zip([20, 22]) {
        assert_eq!(c["mode"], "unplanned");
        assert_eq!(c["list_line"], line);
        assert!(
            c["skip"]
                .as_str()
                .unwrap()
                .starts_with("perf-run cannot run this test: no perf-sanity config named `gb200_"),
            "{c:#}"
        );
    }
    assert!(!err.contains("plans 8 GPUs, but"), "{err}");
    // gb300, ctx1_node1_gpu4_gen4_node2_gpu8: all three (gen_only, e2e, e2e-time_breakdown)
    // plan on 36 GPUs, as the list's system_gpu_count says.
    let (code, v, err) = render(
        tree.path(),
        &db.join("l0_gb300_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen4_node2_gpu8.yml"),
        &["--cluster", "gb300"],
    );
    assert_eq!(code, 0, "{err}");
    let cases = v.as_array().unwrap();
    assert_eq!(cases.len(), 3, "{v:#}");
    for c in cases {
        assert_eq!(c["mode"], "disagg", "{c:#}");
        assert_eq!(c["total_gpus"], 36, "{c:#}");
    }
    assert!(!err.contains("GPUs, but its test-db block"), "{err}");
}
