use super::*;
use Generation::*;

#[test]
fn parses_every_form_of_reference_section_3() {
    let t = parse_node_id(
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k1k]",
        G3,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Aggr {
            config: "deepseek_r1_fp4_v2_grace_blackwell".into(),
            servers: Some(vec!["r1_fp4_v2_tp4_mtp3_1k1k".into()])
        }
    );
    assert!(t.uploads());
    let t = parse_node_id("perf/test_perf_sanity.py::test_e2e[aggr-cfg]", G3).unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Aggr {
            config: "cfg".into(),
            servers: None
        }
    );
    assert!(!t.uploads());
    let t = parse_node_id(
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-a,b]",
        G3,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Aggr {
            config: "cfg".into(),
            servers: Some(vec!["a".into(), "b".into()])
        }
    );
    let id = "perf/test_perf_sanity.py::test_e2e[disagg_upload-gen_only-gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX]";
    let t = parse_node_id(id, G3).unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Disagg {
            config: "gb200_deepseek-r1-fp4_1k1k_con1024_ctx1_dep4_gen1_dep8_eplb0_mtp0_ccb-UCX"
                .into(),
            bench_mode: Some("gen_only".into())
        }
    );
    assert_eq!(t.node_id(), id);
    assert_eq!(t.modifier, None);
    let t = parse_node_id(
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-ctx_only-gb200_x-y]",
        G2,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::CtxOnly {
            config: "gb200_x-y".into()
        }
    );
    // G1: everything after the prefix is the config
    let t = parse_node_id(
        "perf/test_perf_sanity.py::test_e2e[disagg_upload-deepseek-r1-fp4_1k1k_ctx1_gen1_dep8_bs768_eplb0_mtp0_ccb-UCX]",
        G1,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Disagg {
            config: "deepseek-r1-fp4_1k1k_ctx1_gen1_dep8_bs768_eplb0_mtp0_ccb-UCX".into(),
            bench_mode: None
        }
    );
}

#[test]
fn txt_list_module_gets_perf_folder() {
    let t = parse_node_id("test_perf_sanity.py::test_e2e[aggr_upload-cfg]", G3).unwrap();
    assert_eq!(t.module, "perf/test_perf_sanity.py");
}

#[test]
fn rejects_what_the_test_would_reject() {
    for (id, g) in [
        ("perf/test_perf_sanity.py::test_e2e[disagg_upload-cfg]", G3),
        ("perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e]", G3),
        ("perf/test_perf_sanity.py::test_e2e[aggr_upload]", G3),
        (
            "perf/test_perf_sanity.py::test_e2e[aggr_upload-ctx_only-x]",
            G1,
        ),
        ("perf/test_perf_sanity.py::test_e2e[aggr_upload--x]", G3),
        ("perf/test_perf_sanity.py::test_e2e[aggr_upload-x y]", G3),
        ("perf/test_perf_sanity.py::test_e2e[aggr_upload-$(id)]", G3),
        ("perf/test_perf_sanity.py::test_e2e", G3),
        ("perf/test_perf_sanity.py::test_e2e[aggr_upload-x", G3),
        ("test_e2e[aggr_upload-x]", G3),
        (
            "perf/test_perf.py::test_perf[gpt_next_2b-cppmanager-exe-plugin-float16-input_output_len:128,8]",
            G3,
        ),
        (
            "accuracy/test_llm_api_pytorch.py::TestLlama3_1_8B::test_nvfp4",
            G3,
        ),
        (
            "perf/test_visual_gen_perf_sanity.py::test_visual_gen_e2e[vg_upload-flux2_blackwell-flux2_fp8_cfg1_ulysses4_teacache_on]",
            G3,
        ),
    ] {
        assert!(parse_node_id(id, g).is_err(), "{id} should be refused");
    }
}

#[test]
fn current_upstream_id_forms() {
    // upstream-2026 fixtures: the time_breakdown modifier and gen_only_no_context
    let t = parse_node_id(
        "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-time_breakdown-gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL]",
        G3,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Disagg {
            config: "gb300_deepseek-v4-pro-fp4_8k1k_con8_ctx1_dep4_gen4_tep8_eplb0_mtp3_ccb-NIXL"
                .into(),
            bench_mode: Some("e2e".into())
        }
    );
    assert_eq!(t.modifier.as_deref(), Some("time_breakdown"));
    let t = parse_node_id(
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-gen_only_no_context-gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL]",
        G3,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::GenOnlyNoContext {
            config: "gb200_deepseek-r1-fp4_8k1k_con1_ctx1_dep4_gen1_tep8_eplb0_mtp3_ccb-NIXL"
                .into()
        }
    );
    assert!(
        parse_node_id(
            "perf/test_perf_sanity.py::test_e2e[disagg_upload-e2e-time_breakdown]",
            G3
        )
        .is_err(),
        "a modifier needs a config after it"
    );
}

#[test]
fn custom_modules_and_prefixes() {
    // The seed's custom example: any prefix works with a custom module.
    let t = parse_node_id(
        "perf/my_custom_tests.py::test_custom_benchmark[custom_test-gb200_tiny-x]",
        G3,
    )
    .unwrap();
    assert_eq!(
        t.kind,
        CaseKind::Custom {
            rest: "gb200_tiny-x".into()
        }
    );
    assert!(t.notes.is_empty());
    // With upstream's module a foreign prefix is a note, not a refusal.
    let t = parse_node_id("perf/test_perf_sanity.py::test_e2e[foo-cfg]", G3).unwrap();
    assert_eq!(t.notes.len(), 1, "{:?}", t.notes);
    assert!(t.notes[0].contains("`foo`"), "{:?}", t.notes);
    // A module given from the checkout root is normalised to the defs dir.
    for m in [
        "tests/integration/defs/perf/test_perf_enhanced.py",
        "./tests/integration/defs/perf/test_perf_enhanced.py",
        "/home/u/TensorRT-LLM/tests/integration/defs/perf/test_perf_enhanced.py",
        "perf/test_perf_enhanced.py",
        "test_perf_enhanced.py",
    ] {
        assert_eq!(normalize_module(m), "perf/test_perf_enhanced.py", "{m}");
    }
    let t = parse_node_id(
        "tests/integration/defs/perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg]",
        G3,
    )
    .unwrap();
    assert_eq!(
        t.node_id(),
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg]"
    );
}

#[test]
fn builds_ids_per_generation_and_prefix() {
    let d = CaseKind::Disagg {
        config: "c-x".into(),
        bench_mode: Some("e2e".into()),
    };
    let b = |g, k: &CaseKind, m: Option<&str>, p: Option<&str>| build_case(g, k, m, p, true);
    assert_eq!(b(G3, &d, None, None).unwrap(), "disagg_upload-e2e-c-x");
    assert_eq!(b(G1, &d, None, None).unwrap(), "disagg_upload-c-x");
    assert_eq!(
        b(G3, &d, None, Some("disagg_upload-e2e")).unwrap(),
        "disagg_upload-e2e-c-x"
    );
    assert_eq!(b(G3, &d, None, Some("disagg")).unwrap(), "disagg-e2e-c-x");
    assert_eq!(
        b(G3, &d, Some("time_breakdown"), None).unwrap(),
        "disagg_upload-e2e-time_breakdown-c-x"
    );
    let g = CaseKind::GenOnlyNoContext {
        config: "d-x".into(),
    };
    assert_eq!(
        b(G3, &g, None, None).unwrap(),
        "aggr_upload-gen_only_no_context-d-x"
    );
    // A custom prefix: `${PERF_TEST_PREFIX}-${CONFIG_NAME}`, also with upstream's module.
    for upstream in [false, true] {
        assert_eq!(
            build_case(G3, &d, None, Some("custom_test"), upstream).unwrap(),
            "custom_test-c-x"
        );
    }
    let a = CaseKind::Aggr {
        config: "cfg".into(),
        servers: Some(vec!["s1".into()]),
    };
    assert_eq!(b(G3, &a, None, None).unwrap(), "aggr_upload-cfg-s1");
    assert!(b(G3, &a, None, Some("disagg_upload")).is_err());
    let bad = CaseKind::Aggr {
        config: "has-dash".into(),
        servers: None,
    };
    assert!(b(G3, &bad, None, None).is_err());
    let c = CaseKind::CtxOnly {
        config: "d-x".into(),
    };
    assert_eq!(b(G3, &c, None, None).unwrap(), "aggr_upload-ctx_only-d-x");
}
