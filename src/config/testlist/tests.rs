use super::*;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trtllm")
        .join(p)
}

#[test]
fn test_db_yaml_dedupes_pre_and_post_merge() {
    let l = load_testlist(&fixture("test-db/l0_gb200_multi_gpus_perf_sanity.yml")).unwrap();
    assert_eq!(l.entries.len(), 28);
    let u = l.unique_entries(|_| true);
    assert_eq!(u.len(), 14);
    assert_eq!(u[0].timeout_min, Some(90));
    assert_eq!(u[1].timeout_min, Some(60));
    assert_eq!(u[0].line, 17);
    assert!(u[0].id.ends_with("r1_fp4_v2_dep4_mtp1_1k1k]"));
    // The blocks and their conditions.
    assert_eq!(l.blocks.len(), 2);
    assert_eq!(l.blocks[0].stage.as_deref(), Some("pre_merge"));
    assert_eq!(l.blocks[1].stage.as_deref(), Some("post_merge"));
    assert_eq!(l.blocks[0].gpu, ["*gb200*"]);
    assert_eq!(
        l.blocks[0].system_gpu_count,
        Some(CountRange {
            min: Some(4),
            max: Some(4)
        })
    );
    assert_eq!(l.blocks[0].line, 4);
    assert_eq!(l.blocks[0].gpu_line, 10);
    assert_eq!(l.blocks[0].stage_line, 14);
    // Only the post_merge block: its own 14 lines.
    assert_eq!(l.unique_entries(|b| b == 1).len(), 14);
    assert!(l.unique_entries(|b| b == 1).iter().all(|e| e.line > 31));
}

#[test]
fn test_db_yaml_ignores_commented_lines() {
    let l = load_testlist(&fixture(
        "test-db/l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8.yml",
    ))
    .unwrap();
    let u = l.unique_entries(|_| true);
    assert_eq!(u.len(), 7);
    assert!(u.iter().all(|e| e.id.contains("gen_only")));
    assert!(u.iter().all(|e| e.timeout_min == Some(120)));
}

#[test]
fn jenkins_lists_with_and_without_timeout() {
    let l = load_testlist(&fixture("jenkins-testlists/gb200_perf_sanity.yml")).unwrap();
    assert_eq!(l.entries.len(), 20);
    assert_eq!(l.entries[1].timeout_min, None);
    let l = load_testlist(&fixture("jenkins-testlists/gb200_3nodes_sanity.yml")).unwrap();
    assert_eq!(l.entries.len(), 1);
}

#[test]
fn txt_list_with_unicode_comments() {
    let l = load_testlist(&fixture("jenkins-testlists/debug_cases.txt")).unwrap();
    assert_eq!(l.entries.len(), 14);
    assert!(
        l.entries[0]
            .id
            .starts_with("test_perf_sanity.py::test_e2e[")
    );
}

#[test]
fn markers_and_mode_override() {
    let e = parse_entry(3, "a.py::f[x] TIMEOUT (5) SKIP (nvbugs/1) # mode:multi-agg").unwrap();
    assert_eq!(e.timeout_min, Some(5));
    assert_eq!(e.skip.as_deref(), Some("nvbugs/1"));
    assert_eq!(e.mode_override, Some(Mode::MultiAgg));
    let e = parse_entry(1, "a.py::f[x] XFAIL UNSTABLE").unwrap();
    assert!(e.xfail.is_some() && e.unstable.is_some());
    assert!(parse_entry(1, "a.py::f[x] TIMEOUT").is_err());
    assert!(parse_entry(1, "a.py::f[x] TIMEOUT (0)").is_err());
    assert!(parse_entry(1, "a.py::f[x] FROBNICATE").is_err());
    assert!(parse_entry(1, "not_an_id").is_err());
    assert!(parse_entry(1, "a.py::f[x] # mode:weird").is_err());
}

#[test]
fn bad_lines_are_listed_with_line_numbers() {
    let err = parse_testlist(
        Path::new("l.txt"),
        "# c\na.py::f[x]\nnonsense here\nb.py::g[y] TIMEOUT (x)\n",
    )
    .unwrap_err();
    let m = format!("{err}");
    assert!(m.contains("l.txt:3") && m.contains("l.txt:4"), "{m}");
}

#[test]
fn malformed_yaml_is_reported() {
    let err = parse_testlist(Path::new("l.yml"), "version: 1\nx:\n- tests: [a\n").unwrap_err();
    assert!(format!("{err}").contains("l.yml"), "{err}");
}

#[test]
fn non_perf_lines_are_read_and_kept_for_selection() {
    let l = parse_testlist(
        Path::new("l.yml"),
        "version: 0.0.1\nl0:\n- condition:\n    terms:\n      stage: post_merge\n  tests:\n  - unittest/_torch/moe/test_mega_moe_symm_preflight.py\n  - unittest/trt/attention/test_gpt_attention.py -k \"partition0\"\n  - perf/test_perf_sanity.py::test_e2e[aggr_upload-x-y] TIMEOUT (5)\n",
    )
    .unwrap();
    let ids: Vec<&str> = l.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "unittest/_torch/moe/test_mega_moe_symm_preflight.py",
            "unittest/trt/attention/test_gpt_attention.py",
            "perf/test_perf_sanity.py::test_e2e[aggr_upload-x-y]"
        ]
    );
    assert!(l.entries.iter().all(|e| e.block == Some(0)));
    assert_eq!(l.entries[2].timeout_min, Some(5));
    // Words that are no pytest target at all stay an error; so do unknown markers on ids.
    assert!(parse_entry(1, "nonsense").is_err());
    assert!(parse_entry(1, "a.py::f[x] -k y").is_err());
}

#[test]
fn conditions_terms_wildcards_ranges() {
    let l = parse_testlist(
        Path::new("l.yml"),
        "version: 0.0.1\nl0:\n- condition:\n    ranges:\n      system_gpu_count:\n        gt: 3\n        lt: 9\n    wildcards:\n      gpu: '*gb300*'\n      linux_distribution_name: ubuntu*\n      cpu: [aarch64]\n    terms:\n      supports_fp8: true\n      backend: pytorch\n  tests:\n  - a.py::f[x]\n",
    )
    .unwrap();
    let c = &l.blocks[0];
    assert_eq!(c.stage, None);
    assert_eq!(c.gpu, ["*gb300*"]);
    assert_eq!(c.gpu_line, 9);
    assert_eq!(
        c.system_gpu_count,
        Some(CountRange {
            min: Some(4),
            max: Some(8)
        })
    );
    assert!(
        c.other_terms
            .contains(&("supports_fp8".into(), "true".into()))
    );
    assert_eq!(c.other_wildcards.len(), 2);
    let r = c.system_gpu_count.unwrap();
    assert!(r.contains(4) && r.contains(8) && !r.contains(9) && !r.contains(3));
    assert_eq!(r.to_string(), "4 to 8");
}

#[test]
fn bad_conditions_name_file_line_field() {
    let err = parse_testlist(
        Path::new("l.yml"),
        "version: 0.0.1\nl0:\n- condition:\n    terms:\n      stage: nightly\n  tests:\n  - a.py::f[x]\n",
    )
    .unwrap_err();
    let m = format!("{err}");
    assert!(
        m.contains("l.yml:5") && m.contains("condition.terms.stage") && m.contains("nightly"),
        "{m}"
    );
    let err = parse_testlist(
        Path::new("l.yml"),
        "version: 0.0.1\nl0:\n- condition:\n    wildcard:\n      gpu: ['*a*']\n  tests:\n  - a.py::f[x]\n",
    )
    .unwrap_err();
    let m = format!("{err}");
    assert!(m.contains("l.yml:4") && m.contains("wildcard"), "{m}");
    let err = parse_testlist(
        Path::new("l.yml"),
        "version: 0.0.1\nl0:\n- condition:\n    ranges:\n      system_gpu_count:\n        gte: four\n  tests:\n  - a.py::f[x]\n",
    )
    .unwrap_err();
    let m = format!("{err}");
    assert!(m.contains("l.yml:6") && m.contains("four"), "{m}");
}

#[test]
fn wildcards_match_like_fnmatch_ignoring_case() {
    assert!(wildcard_match("*gb200*", "GB200"));
    assert!(wildcard_match("*gb200*", "NVIDIA GB200"));
    assert!(!wildcard_match("*gb300*", "GB200"));
    assert!(wildcard_match("ubuntu*", "Ubuntu"));
    assert!(wildcard_match("b?00", "B200"));
    assert!(!wildcard_match("b?00", "B2000"));
    assert!(wildcard_match("*", ""));
    assert!(wildcard_match("*h100*", "h100-sxm"));
    assert!(!wildcard_match("h100", "h100-sxm"));
}
