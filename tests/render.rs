//! `perf-run render`: snapshots of every generated file for the real fixture configs and lists,
//! `bash -n` on every script, the `--json` contract, and the bad inputs of the foundation issue.

mod common;

use std::path::Path;

use common::{fixtures, g1_tree, g3_tree, perf_run};
use predicates::prelude::*;
use serde_json::Value;

const DISAGG: &str = "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX";
const AGG: &str = "deepseek_r1_fp4_v2_grace_blackwell";
const LEGACY_DISAGG: &str = "deepseek-r1-fp4_1k1k_ctx1_gen1_dep8_bs768_eplb0_mtp0_ccb-UCX";

/// Render into `out` and return the JSON plans (always as an array).
fn render_json(tree: &Path, out: &Path, args: &[&str]) -> Vec<Value> {
    let assert = perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(tree)
        .arg("--output-dir")
        .arg(out)
        .args(["--run-id", "snap", "--json"])
        .args(args)
        .assert()
        .success();
    let v: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    match v {
        Value::Array(a) => a,
        o => vec![o],
    }
}

/// Every generated file of every plan: snapshot it, and `bash -n` the scripts.
fn check_files(name: &str, plans: &[Value]) {
    for (i, p) in plans.iter().enumerate() {
        let files = p["files"].as_object().unwrap();
        for (fname, path) in files {
            let path = path.as_str().unwrap();
            let content = std::fs::read_to_string(path).unwrap();
            if fname.ends_with(".sh") {
                let st = std::process::Command::new("bash")
                    .arg("-n")
                    .arg(path)
                    .status()
                    .unwrap();
                assert!(st.success(), "bash -n failed for {path}");
            }
            // The prefix is included verbatim at the top of slurm_launch.sh.
            if fname == "slurm_launch_prefix.sh" {
                let full =
                    std::fs::read_to_string(files["slurm_launch.sh"].as_str().unwrap()).unwrap();
                assert!(full.starts_with(content.trim_end()), "{path}");
                continue;
            }
            // The crate version is not part of what a snapshot proves.
            let content = content.replace(
                concat!("perf-run ", env!("CARGO_PKG_VERSION")),
                "perf-run <version>",
            );
            insta::assert_snapshot!(format!("{name}__{i:02}__{fname}"), content);
        }
    }
}

#[test]
fn disagg_current_layout_plans_3_nodes_12_gpus() {
    let tree = g3_tree();
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &["--cluster", "gb200", "--config", DISAGG],
    );
    let p = &plans[0];
    assert_eq!(p["mode"], "disagg");
    assert_eq!(
        p["test_id"],
        format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{DISAGG}]")
    );
    assert_eq!(p["total_nodes"], 3);
    assert_eq!(p["total_gpus"], 12);
    assert_eq!(p["gpus_per_node"], 4);
    assert_eq!(p["sbatch"]["nodes"], 3);
    assert_eq!(p["sbatch"]["ntasks"], 12);
    assert_eq!(p["sbatch"]["ntasks_per_node"], 4);
    assert_eq!(p["sbatch"]["gpus_per_node"], 4);
    assert_eq!(p["sbatch"]["partition"], "batch");
    assert_eq!(p["sbatch"]["account"], "coreai_comparch_trtllm");
    assert_eq!(
        p["sbatch"]["time"], "02:15:00",
        "slurm.job_time of the config is the test's limit; the job gets 15 minutes more"
    );
    assert_eq!(p["pytest_timeout_s"], 7200);
    assert_eq!(p["sbatch"]["segment"], 3, "one NVLink domain");
    let roles: Vec<(String, u64, u64, u64)> = p["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["nodes"].as_u64().unwrap(),
                r["ntasks"].as_u64().unwrap(),
                r["ntasks_per_node"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        vec![
            ("GEN_0".into(), 2, 8, 4),
            ("CTX_0".into(), 1, 4, 4),
            ("DISAGG_SERVER".into(), 1, 1, 1),
            ("BENCHMARK".into(), 1, 1, 1),
        ]
    );
    check_files("disagg_g3_e2e_gb200", &plans);
    let launch = std::fs::read_to_string(p["files"]["slurm_launch.sh"].as_str().unwrap()).unwrap();
    // MPI only on the workers, a stage name the TensorRT-LLM scripts recognise, per-role JUnit.
    assert_eq!(launch.matches("--mpi=pmix").count(), 2, "{launch}");
    assert!(launch.contains("Disagg-PerfSanity"));
    assert!(launch.contains("export perfMode=false"));
    for f in [
        "results-GEN_0.xml",
        "results-CTX_0.xml",
        "results-DISAGG_SERVER.xml",
        "results.xml",
    ] {
        assert!(launch.contains(f), "{f}");
    }
}

#[test]
fn disagg_gen_only_and_ctx_only() {
    let tree = g3_tree();
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--config",
            DISAGG,
            "--benchmark-mode",
            "gen_only",
        ],
    );
    assert!(
        plans[0]["test_id"]
            .as_str()
            .unwrap()
            .contains("[disagg_upload-gen_only-")
    );
    // Current layout: gen_only still allocates the ctx servers (reference §5).
    assert_eq!(plans[0]["total_nodes"], 3);
    check_files("disagg_g3_gen_only_gb200", &plans);
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--config",
            DISAGG,
            "--benchmark-mode",
            "ctx_only",
        ],
    );
    assert_eq!(plans[0]["mode"], "single-agg");
    assert!(
        plans[0]["test_id"]
            .as_str()
            .unwrap()
            .contains("[aggr_upload-ctx_only-")
    );
    assert_eq!(plans[0]["total_nodes"], 1);
    check_files("ctx_only_g3_gb200", &plans);
}

#[test]
fn legacy_layout_disagg_id_and_math() {
    let tree = g1_tree();
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &["--cluster", "gb200", "--config", LEGACY_DISAGG],
    );
    let p = &plans[0];
    assert_eq!(p["generation"], "G1");
    assert_eq!(
        p["test_id"],
        format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-{LEGACY_DISAGG}]")
    );
    assert_eq!(p["total_nodes"], 3);
    assert_eq!(p["total_gpus"], 12);
    check_files("disagg_g1_gb200", &plans);
}

#[test]
fn aggregated_single_node_one_server_and_all_servers() {
    let tree = g3_tree();
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "local-test",
            "--config",
            AGG,
            "--server",
            "r1_fp4_v2_tp4_mtp3_1k1k",
        ],
    );
    let p = &plans[0];
    assert_eq!(p["mode"], "single-agg");
    assert_eq!(
        p["test_id"],
        format!("perf/test_perf_sanity.py::test_e2e[aggr_upload-{AGG}-r1_fp4_v2_tp4_mtp3_1k1k]")
    );
    assert_eq!(
        (p["total_nodes"].as_u64(), p["total_gpus"].as_u64()),
        (Some(1), Some(4))
    );
    assert_eq!(p["roles"].as_array().unwrap().len(), 0);
    assert_eq!(
        p["sbatch"]["account"],
        Value::Null,
        "local-test has no account"
    );
    check_files("agg_one_server_local_test", &plans);
    let launch = std::fs::read_to_string(p["files"]["slurm_launch.sh"].as_str().unwrap()).unwrap();
    assert!(
        !launch.contains("--container-image"),
        "no image in the local-test profile"
    );
    assert!(!launch.contains("--mpi="), "mpi_type none");

    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &["--cluster", "gb200", "--config", AGG],
    );
    assert_eq!(
        plans[0]["test_id"],
        format!("perf/test_perf_sanity.py::test_e2e[aggr_upload-{AGG}]")
    );
    assert_eq!(plans[0]["servers"].as_array().unwrap().len(), 9);
    check_files("agg_all_servers_gb200", &plans);
}

#[test]
fn aggregated_multi_node_when_a_server_needs_more_than_a_node() {
    let tree = g3_tree();
    // A 2-node config in the real schema (tp8 on 4 GPUs per node); EP does not multiply.
    std::fs::write(
        tree.path().join("tests/scripts/perf-sanity/aggregated/r1_2_nodes_grace_blackwell.yaml"),
        "metadata:\n  model_name: deepseek_r1_0528_fp4_v2\nhardware:\n  gpus_per_node: 4\nserver_configs:\n  - name: dep8\n    tensor_parallel_size: 8\n    moe_expert_parallel_size: 8\n    client_configs:\n      - {name: c1, concurrency: 8}\n  - name: tp2ep4\n    tensor_parallel_size: 2\n    moe_expert_parallel_size: 4\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--config",
            "r1_2_nodes_grace_blackwell",
            "--server",
            "dep8",
        ],
    );
    assert_eq!(plans[0]["mode"], "multi-agg");
    assert_eq!(plans[0]["total_nodes"], 2);
    assert_eq!(plans[0]["total_gpus"], 8);
    assert_eq!(plans[0]["sbatch"]["ntasks"], 8);
    assert_eq!(plans[0]["sbatch"]["ntasks_per_node"], 4);
    check_files("multi_agg_gb200", &plans);
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--config",
            "r1_2_nodes_grace_blackwell",
            "--server",
            "tp2ep4",
        ],
    );
    assert_eq!(
        plans[0]["mode"], "single-agg",
        "tp2 x ep4 needs 2 GPUs, not 8"
    );
    // Single node: one task, the executor in-process (upstream L0 getNodeArgs).
    assert_eq!(plans[0]["sbatch"]["ntasks"], 1);
    assert_eq!(plans[0]["pytest_timeout_s"], 4 * 3600);
}

#[test]
fn test_lists_render_one_plan_per_case() {
    let tree = g3_tree();
    let lists = [
        (
            "testdb_single",
            "test-db/l0_gb200_multi_gpus_perf_sanity.yml",
            AGG,
            9,
        ),
        (
            "testdb_disagg_gen_only",
            "test-db/l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8.yml",
            "deepseek-r1-fp4_1k1k_con1024",
            1,
        ),
        (
            "jenkins_single",
            "jenkins-testlists/gb200_perf_sanity.yml",
            AGG,
            9,
        ),
        (
            "debug_txt",
            "jenkins-testlists/debug_cases.txt",
            "v2_grace_blackwell-r1_fp4",
            3,
        ),
    ];
    for (name, list, k, n) in lists {
        let out = tempfile::tempdir().unwrap();
        let plans = render_json(
            tree.path(),
            out.path(),
            &[
                "--cluster",
                "gb200",
                "--testlist",
                fixtures().join(list).to_str().unwrap(),
                "-k",
                k,
            ],
        );
        assert_eq!(plans.len(), n, "{list}");
        check_files(&format!("list_{name}"), &plans);
    }
    // TIMEOUT (90) → 90-minute job
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--testlist",
            fixtures()
                .join("test-db/l0_gb200_multi_gpus_perf_sanity.yml")
                .to_str()
                .unwrap(),
            "-k",
            "r1_fp4_v2_dep4_mtp1_1k1k",
        ],
    );
    // TIMEOUT (90) is pytest's per-test limit; Slurm's is 15 minutes longer.
    assert_eq!(plans[0]["sbatch"]["time"], "01:45:00");
    assert_eq!(plans[0]["pytest_timeout_s"], 90 * 60);
    // The legacy list against the legacy layout.
    let g1 = g1_tree();
    let out = tempfile::tempdir().unwrap();
    let plans = render_json(
        g1.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--testlist",
            fixtures()
                .join("jenkins-testlists/gb200_3nodes_sanity.yml")
                .to_str()
                .unwrap(),
        ],
    );
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0]["total_nodes"], 3);
    check_files("list_jenkins_disagg_g1", &plans);
}

#[test]
fn mode_filter_keeps_only_that_mode() {
    let tree = g3_tree();
    let out = tempfile::tempdir().unwrap();
    perf_run()
        .args(["render", "--cluster", "gb200", "--json", "--run-id", "m"])
        .arg("--trtllm-dir")
        .arg(tree.path())
        .arg("--output-dir")
        .arg(out.path())
        .arg("--testlist")
        .arg(fixtures().join("test-db/l0_gb200_multi_gpus_perf_sanity.yml"))
        .args(["-k", AGG, "--mode", "disagg"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no selected case is a disagg run"));
}

#[test]
fn text_output_has_a_header_per_file() {
    let tree = g3_tree();
    let out = tempfile::tempdir().unwrap();
    let a = perf_run()
        .args([
            "render",
            "--cluster",
            "gb200",
            "--config",
            DISAGG,
            "--run-id",
            "t",
            "--show-files",
        ])
        .arg("--trtllm-dir")
        .arg(tree.path())
        .arg("--output-dir")
        .arg(out.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    for f in [
        "slurm_launch_prefix.sh",
        "slurm_launch.sh",
        "test_list.txt",
        "slurm_srun_args.txt",
    ] {
        assert!(stdout.contains(&format!("/{f} <==")), "{f}");
        assert!(out.path().join(f).is_file());
    }
}

/// The default dry run is one screen of plan per case plus the batch script once, for each
/// mode and for a test list; it goes to a scratch directory, never into the runs home.
#[test]
fn dry_run_prints_a_plan_table_per_case_and_the_batch_script_once() {
    let tree = g3_tree();
    let scratch = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let stub = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stub-trtllm");
    let cases: [(&str, Vec<String>, usize, usize); 4] = [
        (
            "single-agg",
            vec![
                "--config".into(),
                AGG.into(),
                "--server".into(),
                "r1_fp4_v2_tp4_mtp3_1k1k".into(),
            ],
            1,
            1,
        ),
        (
            "multi-agg",
            vec![
                "--config".into(),
                "deepseek_r1_fp4_v2_2_nodes_grace_blackwell".into(),
                "--server".into(),
                "r1_fp4_v2_dep8_mtp1_1k1k".into(),
                "--trtllm-dir".into(),
                stub.display().to_string(),
            ],
            1,
            1,
        ),
        ("disagg", vec!["--config".into(), DISAGG.into()], 1, 4),
        (
            "list",
            vec![
                "--testlist".into(),
                fixtures()
                    .join("jenkins-testlists/debug_cases.txt")
                    .display()
                    .to_string(),
            ],
            3,
            1,
        ),
    ];
    for (what, args, n_cases, n_roles) in cases {
        let mut cmd = perf_run();
        cmd.args(["run", "--dry-run", "--cluster", "gb200"]);
        if !args.iter().any(|a| a == "--trtllm-dir") {
            cmd.arg("--trtllm-dir").arg(tree.path());
        }
        let a = cmd
            .args(&args)
            .env("PERF_RUN_SCRATCH", scratch.path())
            .env("PERF_RUN_HOME", home.path())
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
        assert_eq!(
            stdout.matches("==> ").count(),
            1,
            "{what}: one file shown\n{stdout}"
        );
        let script_start = stdout
            .find("#!/bin/bash")
            .expect("the batch script is shown");
        let table_start = stdout.find("case 1 of ").expect("a plan table");
        assert!(
            script_start < table_start,
            "{what}: the table comes last, on screen"
        );
        let table = &stdout[table_start..];
        let table_lines = table.lines().count();
        let skipped = table.lines().filter(|l| l.contains("  skipped: ")).count();
        let planned = table.lines().filter(|l| l.starts_with("case ")).count() - skipped;
        assert_eq!(planned, n_cases, "{what}: planned cases\n{table}");
        // Per planned case: mode+id, config, job, image, one line per role, install, files;
        // a line each for the list lines perf-run cannot run.
        assert_eq!(
            table_lines,
            n_cases * (6 + n_roles) + skipped,
            "{what}: plan table lines\n{table}"
        );
        for l in table.lines().filter(|l| !l.starts_with("case ")) {
            assert!(
                l.len() <= 220,
                "{what}: a table line of {} chars: {l}",
                l.len()
            );
        }
        assert!(table.contains("  job       "), "{what}: {table}");
        assert!(
            table.contains(&scratch.path().display().to_string()),
            "{what}: the files are in the scratch directory\n{table}"
        );
    }
    assert!(
        std::fs::read_dir(home.path()).unwrap().next().is_none(),
        "a dry run never writes into the runs home"
    );
    let disagg = perf_run()
        .args(["run", "--dry-run", "--cluster", "gb200", "--config", DISAGG])
        .arg("--trtllm-dir")
        .arg(tree.path())
        .env("PERF_RUN_SCRATCH", scratch.path())
        .assert()
        .success();
    let out = String::from_utf8_lossy(&disagg.get_output().stdout).to_string();
    for role in [
        "GEN_0          nodes 0-1   8 tasks (4/node), mpi pmix",
        "CTX_0          node 2      4 tasks (4/node), mpi pmix",
        "DISAGG_SERVER  node 0      1 task (1/node), overlaps",
    ] {
        assert!(out.contains(role), "{role}\n{out}");
    }
    // The scratch directory keeps the newest 20 renders.
    for _ in 0..22 {
        perf_run()
            .args(["render", "--cluster", "gb200", "--config", DISAGG])
            .arg("--trtllm-dir")
            .arg(tree.path())
            .env("PERF_RUN_SCRATCH", scratch.path())
            .assert()
            .success();
    }
    let kept = std::fs::read_dir(scratch.path()).unwrap().count();
    assert_eq!(kept, 20, "scratch renders kept");
}

// ------------------------------------------------------------------ bad input

fn bad(args: &[&str], tree: &Path, needle: &str) {
    let out = tempfile::tempdir().unwrap();
    let a = perf_run()
        .arg("render")
        .arg("--trtllm-dir")
        .arg(tree)
        .arg("--output-dir")
        .arg(out.path())
        .args(args)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains(needle), "expected `{needle}` in:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("stack backtrace"),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("error:")).count(),
        1,
        "{err}"
    );
}

#[test]
fn unknown_config_suggests_and_names_folders() {
    let tree = g3_tree();
    bad(
        &["--config", "deepseek_r1_fp4_v2_grace_blackwel"],
        tree.path(),
        "Close matches: `deepseek_r1_fp4_v2_grace_blackwell`",
    );
    bad(
        &["--config", "nope"],
        tree.path(),
        "tests/scripts/perf-sanity/aggregated",
    );
}

#[test]
fn malformed_yaml_and_missing_key_name_file_line_field() {
    let tree = g3_tree();
    let dir = tree.path().join("tests/scripts/perf-sanity/aggregated");
    std::fs::write(
        dir.join("broken.yaml"),
        "hardware:\n  gpus_per_node: four\nserver_configs: [{name: a}]\n",
    )
    .unwrap();
    bad(
        &["--config", "broken"],
        tree.path(),
        "broken.yaml:2:18: field `hardware.gpus_per_node`",
    );
    std::fs::write(
        dir.join("nokey.yaml"),
        "metadata: {model_name: m}\nserver_configs: [{name: a}]\n",
    )
    .unwrap();
    bad(
        &["--config", "nokey"],
        tree.path(),
        "missing field `hardware`",
    );
    std::fs::write(dir.join("syntax.yaml"), "hardware: [\n").unwrap();
    bad(&["--config", "syntax"], tree.path(), "syntax.yaml:1:");
}

#[test]
fn unparseable_ids_and_conflicting_selections() {
    let tree = g3_tree();
    bad(
        &[
            "--test",
            "perf/test_perf.py::test_perf[gpt_next_2b-float16]",
        ],
        tree.path(),
        "QA perf suite",
    );
    bad(
        &[
            "--test",
            &format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-{DISAGG}]"),
        ],
        tree.path(),
        "disagg_upload-e2e-<config>",
    );
    bad(
        &["--config", AGG, "--test", "a.py::f[x]"],
        tree.path(),
        "cannot be combined",
    );
    bad(&[], tree.path(), "nothing selected");
    bad(
        &["--config", AGG, "-k", "x"],
        tree.path(),
        "use them together with --testlist",
    );
    bad(
        &["--config", AGG, "--server", "nope"],
        tree.path(),
        "no server config named `nope`",
    );
    let list = tree.path().join("list.txt");
    std::fs::write(&list, "perf/test_perf_sanity.py::test_e2e[aggr_upload-x] TIMEOUT (soon)\naccuracy/test_x.py::T::test_y\n").unwrap();
    bad(
        &["--testlist", list.to_str().unwrap()],
        tree.path(),
        "list.txt:1",
    );
}

#[test]
fn gpu_count_that_does_not_fit_the_cluster() {
    let tree = g3_tree();
    // local-test has 4 nodes; 3 nodes fit, so ask for a config that needs 5.
    std::fs::write(
        tree.path().join("tests/scripts/perf-sanity/aggregated/huge_grace_blackwell.yaml"),
        "hardware: {gpus_per_node: 4}\nserver_configs:\n  - {name: big, tensor_parallel_size: 20}\n",
    )
    .unwrap();
    bad(
        &[
            "--cluster",
            "local-test",
            "--config",
            "huge_grace_blackwell",
        ],
        tree.path(),
        "needs 5 nodes",
    );
    std::fs::write(
        tree.path()
            .join("tests/scripts/perf-sanity/aggregated/wide_grace_blackwell.yaml"),
        "hardware: {gpus_per_node: 8}\nserver_configs:\n  - {name: w, tensor_parallel_size: 8}\n",
    )
    .unwrap();
    bad(
        &[
            "--cluster",
            "local-test",
            "--config",
            "wide_grace_blackwell",
        ],
        tree.path(),
        "8 GPUs per node",
    );
}

#[test]
fn template_with_undefined_variable_and_unsafe_values() {
    let tree = g3_tree();
    let tdir = tempfile::tempdir().unwrap();
    std::fs::write(
        tdir.path().join("test_list.txt"),
        "{{ no_such_variable }}\n",
    )
    .unwrap();
    bad(
        &[
            "--config",
            AGG,
            "--templates",
            tdir.path().to_str().unwrap(),
        ],
        tree.path(),
        "no_such_variable",
    );
    bad(
        &["--config", AGG, "--partition", "batch\nsrun evil"],
        tree.path(),
        "#SBATCH --partition",
    );
    bad(
        &["--config", AGG, "--env", "1BAD=x"],
        tree.path(),
        "--env `1BAD=x`",
    );
    bad(
        &["--config", AGG, "--extra-srun-params", "--x=a\u{7}b"],
        tree.path(),
        "srun argument",
    );
}

#[test]
fn not_a_checkout() {
    let empty = tempfile::tempdir().unwrap();
    bad(
        &["--config", AGG],
        empty.path(),
        "does not look like a TensorRT-LLM checkout",
    );
    bad(
        &["--config", AGG],
        Path::new("/nonexistent/trt"),
        "does not exist",
    );
}

/// A G3 tree holding the upstream-2026 samples (unchanged) beside the older fixtures.
fn upstream_2026_tree() -> tempfile::TempDir {
    let tree = g3_tree();
    let up = common::fixtures().join("upstream-2026/perf-sanity");
    for (sub, dst) in [
        ("aggregated", "tests/scripts/perf-sanity/aggregated"),
        ("disaggregated", "tests/scripts/perf-sanity/disaggregated"),
    ] {
        for e in std::fs::read_dir(up.join(sub)).unwrap().flatten() {
            std::fs::copy(e.path(), tree.path().join(dst).join(e.file_name())).unwrap();
        }
    }
    tree
}

fn render_env(tree: &Path, env: &[(&str, &str)], args: &[&str]) -> assert_cmd::assert::Assert {
    let out = tempfile::tempdir().unwrap();
    let mut c = perf_run();
    for (k, v) in env {
        c.env(k, v);
    }
    c.arg("render")
        .arg("--trtllm-dir")
        .arg(tree)
        .arg("--output-dir")
        .arg(out.path())
        .args(["--run-id", "snap", "--json"])
        .args(args)
        .assert()
}

const DSV4: &str = "gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL";
const R1_8K: &str = "gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL";

#[test]
fn upstream_2026_samples_plan_and_run_as_upstream_ci_does() {
    let tree = upstream_2026_tree();
    let out = tempfile::tempdir().unwrap();

    // AutoDeploy (`backend: _autodeploy`, `world_size: 4`): one node, one task, in-process.
    let p = &render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--config",
            "super_ad_blackwell",
            "--server",
            "super_ad_ws4_1k1k",
        ],
    )[0];
    assert_eq!(p["mode"], "single-agg");
    assert_eq!(p["servers"][0]["gpus"], 4, "world_size sizes the server");
    assert_eq!(p["sbatch"]["ntasks"], 1, "one task, no launcher");
    let launch = std::fs::read_to_string(p["files"]["slurm_launch.sh"].as_str().unwrap()).unwrap();
    assert!(
        !launch.contains("trtllm-llmapi-launch"),
        "single node: no launcher"
    );
    assert!(launch.contains("${!SLURM@}"), "the PMI/SLURM scrub");

    // Servers of 4, 2 and 1 GPUs in one config: one in-process task, as CI's single-node stage.
    let p = &render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--config",
            "gpt_oss_120b_fp4_grace_blackwell",
        ],
    )[0];
    assert_eq!(
        (p["mode"].as_str(), p["sbatch"]["ntasks"].as_u64()),
        (Some("single-agg"), Some(1))
    );

    // DSv4-Pro on GB300: quoted env token, per-role env, GB300 UCX rule on every role, --segment.
    let p = &render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb300",
            "--test",
            &format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{DSV4}]"),
        ],
    )[0];
    assert_eq!(
        (p["total_nodes"].as_u64(), p["total_gpus"].as_u64()),
        (Some(9), Some(36))
    );
    assert_eq!(p["sbatch"]["segment"], 9);
    let launch = std::fs::read_to_string(p["files"]["slurm_launch.sh"].as_str().unwrap()).unwrap();
    assert_eq!(
        launch
            .matches("export UCX_TLS=cuda_copy,cuda_ipc,sm,self,tcp &&")
            .count(),
        4 + 1 + 2,
        "4 GEN, 1 CTX, the router and the benchmark"
    );
    assert!(launch.contains(" PYTHONWARNINGS=ignore::DeprecationWarning:cutlass.cute.core "));
    assert!(
        !launch.contains("\"PYTHONWARNINGS"),
        "the token's quotes are shell syntax"
    );
    assert_eq!(
        launch
            .matches("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True")
            .count(),
        1,
        "ctx only"
    );
    assert_eq!(
        launch
            .lines()
            .filter(|l| l.starts_with("perf_run_launch GEN_")
                && l.split_whitespace()
                    .nth(2)
                    .is_some_and(|d| d.ends_with(".done")))
            .count(),
        4,
        "a .done per gen server"
    );

    // The time_breakdown modifier: the same config and shape, the modifier recorded.
    let p = &render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb300",
            "--test",
            &format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-time_breakdown-{DSV4}]"),
        ],
    )[0];
    assert_eq!(p["modifier"], "time_breakdown");
    assert_eq!(p["total_gpus"], 36);

    // aggr_upload-gen_only_no_context-<disagg>: the tep8 gen server alone, 2 nodes x 4 GPUs.
    let p = &render_json(
        tree.path(),
        out.path(),
        &[
            "--cluster",
            "gb200",
            "--test",
            &format!("perf/test_perf_sanity.py::test_e2e[aggr_upload-gen_only_no_context-{R1_8K}]"),
        ],
    )[0];
    assert_eq!(p["mode"], "multi-agg");
    assert_eq!(
        (p["total_nodes"].as_u64(), p["sbatch"]["ntasks"].as_u64()),
        (Some(2), Some(8))
    );
    assert_eq!(p["benchmark_mode"], "gen_only_no_context");
    let launch = std::fs::read_to_string(p["files"]["slurm_launch.sh"].as_str().unwrap()).unwrap();
    assert!(launch.contains("export TRTLLM_DISAGG_BENCHMARK_GEN_ONLY=1"));
    assert!(launch.contains("--open-mode=append --output=\"$jobWorkspace\"/"));
    assert!(
        !launch.contains("TLLM_BENCHMARK_REQ_QUEUES_SIZE"),
        "no queue cap for no-context"
    );
}

#[test]
fn precheck_load_balancer_and_unknown_keys_are_never_ignored() {
    let tree = upstream_2026_tree();
    let id = format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{R1_8K}]");
    // Enabled, but the checkout has no run_precheck.py: refused with the way out.
    let a = render_env(
        tree.path(),
        &[("TRTLLM_DISAGG_CT_PRECHECK", "1")],
        &["--cluster", "gb200", "--test", &id],
    )
    .failure()
    .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("run_precheck.py") && err.contains("TRTLLM_DISAGG_CT_PRECHECK=0"),
        "{err}"
    );

    // A config with a precheck block that is not enabled, a load balancer path and a new key.
    let dir = tree.path().join("tests/scripts/perf-sanity/disaggregated");
    let text = std::fs::read_to_string(dir.join(format!("{R1_8K}.yaml"))).unwrap();
    let lb = "tests/scripts/perf-sanity/disaggregated/eplb/lb.yaml";
    let patched = text.replacen(
        "    moe_config:\n",
        &format!("    moe_config:\n      load_balancer: {lb}\n"),
        1,
    ) + "cache_transceiver_precheck:\n  step_timeout_s: 900\nexpected_communication_strategy: NVLINK_ONE_SIDED\n";
    assert_ne!(patched, text);
    std::fs::write(dir.join("patched-x.yaml"), &patched).unwrap();
    let pid = "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-patched-x]";
    let a = render_env(tree.path(), &[], &["--cluster", "gb200", "--test", pid])
        .failure()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("moe_config.load_balancer") && err.contains(lb),
        "{err}"
    );
    std::fs::create_dir_all(
        tree.path()
            .join("tests/scripts/perf-sanity/disaggregated/eplb"),
    )
    .unwrap();
    std::fs::write(tree.path().join(lb), "num_slots: 288\n").unwrap();
    let a = render_env(tree.path(), &[], &["--cluster", "gb200", "--test", pid]).success();
    let v: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("`expected_communication_strategy`"),
        "{warnings}"
    );
    assert!(
        warnings.contains("does not say `enabled: true`"),
        "{warnings}"
    );
}

/// The seed's PERF_TEST_* examples (reference §2–§3): the exact node id pytest is given.
#[test]
fn the_seeds_perf_test_examples_give_the_exact_node_ids() {
    let tree = g3_tree();
    let perf = tree.path().join("tests/integration/defs/perf");
    for m in ["my_custom_tests.py", "test_perf_enhanced.py"] {
        std::fs::write(perf.join(m), "").unwrap();
    }
    let id = |env: &[(&str, &str)], config: &str| -> String {
        let a = render_env(
            tree.path(),
            env,
            &["--cluster", "gb200", "--config", config],
        )
        .success();
        let v: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
        let plan = if v.is_array() { &v[0] } else { &v };
        plan["test_id"].as_str().unwrap().to_string()
    };
    // 1. The defaults, spelled out, on a disaggregated config (current layout: the mode is in the id).
    assert_eq!(
        id(
            &[
                ("PERF_TEST_MODULE", "perf/test_perf_sanity.py"),
                ("PERF_TEST_FUNCTION", "test_e2e"),
                ("PERF_TEST_PREFIX", "disagg_upload"),
            ],
            DISAGG
        ),
        format!("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-{DISAGG}]")
    );
    // 2. A custom module takes any prefix: `${MODULE}::${FUNCTION}[${PREFIX}-${CONFIG_NAME}]`.
    assert_eq!(
        id(
            &[
                ("PERF_TEST_MODULE", "perf/my_custom_tests.py"),
                ("PERF_TEST_FUNCTION", "test_custom_benchmark"),
                ("PERF_TEST_PREFIX", "custom_test"),
            ],
            DISAGG
        ),
        format!("perf/my_custom_tests.py::test_custom_benchmark[custom_test-{DISAGG}]")
    );
    // 3. A module given from the checkout root (as the single/multi-agg scripts do) is
    //    normalised to where pytest runs, tests/integration/defs.
    assert_eq!(
        id(
            &[(
                "PERF_TEST_MODULE",
                "tests/integration/defs/perf/test_perf_enhanced.py"
            )],
            AGG
        ),
        format!("perf/test_perf_enhanced.py::test_e2e[aggr_upload-{AGG}]")
    );
    // A module that is not in the checkout is named with the closest one.
    let a = render_env(
        tree.path(),
        &[("PERF_TEST_MODULE", "perf/test_perf_santy.py")],
        &["--cluster", "gb200", "--config", AGG],
    )
    .failure()
    .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("`perf/test_perf_santy.py`")
            && err.contains("did you mean `perf/test_perf_sanity.py`"),
        "{err}"
    );
}

/// A real run's files go into a new run directory under the runs home it is given (`run
/// --output-dir DIR`), whatever PERF_RUN_HOME says: the home is a value, not an environment
/// variable faked for the planner.
#[test]
fn prepare_puts_a_run_directory_under_the_runs_home_given() {
    use perf_run::cli::{ClusterArgs, ConnectionArgs, RenderArgs, SelectArgs};
    let tree = g3_tree();
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let args = RenderArgs {
        select: SelectArgs {
            config: Some(AGG.into()),
            trtllm_dir: Some(tree.path().to_path_buf()),
            install: Some(perf_run::cli::InstallArg::None),
            ..Default::default()
        },
        cluster: ClusterArgs {
            conn: ConnectionArgs {
                cluster: Some("local-test".into()),
                clusters_file: Some(common::repo().join("configs/clusters.yaml")),
                user: Some("ci".into()),
                ..Default::default()
            },
            ..Default::default()
        },
        output_dir: None,
        json: false,
        show_files: false,
        env: vec![],
        run_id: Some("home-test".into()),
    };
    let not_here = elsewhere.path().display().to_string();
    let env = move |k: &str| (k == "PERF_RUN_HOME").then(|| not_here.clone());
    let prep = perf_run::ops::render::prepare(&args, home.path(), &env).unwrap();
    let root = prep.run_dir.expect("a run directory").root;
    assert_eq!(root, home.path().join("home-test"));
    assert!(prep.cases.iter().all(|c| c.dir.starts_with(&root)));
    assert!(prep.cases[0].dir.join("plan.json").is_file());
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing was written under PERF_RUN_HOME"
    );
}
