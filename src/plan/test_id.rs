//! Test ids: parse a pytest node id the way the checkout's `test_perf_sanity.py` parses it, and
//! build one from a config name (reference §3).

use serde::Serialize;

use crate::config::layout::Generation;
use crate::error::UserError;

/// What a test id's case string selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CaseKind {
    /// `aggr_upload-<cfg>` or `aggr_upload-<cfg>-<server>[,<server>…]`.
    Aggr {
        config: String,
        servers: Option<Vec<String>>,
    },
    /// `aggr_upload-ctx_only-<disagg cfg>` (G2/G3): the ctx server of a disagg config, aggregated.
    CtxOnly { config: String },
    /// `disagg_upload-<cfg>` (G1) or `disagg_upload-<e2e|gen_only>-<cfg>` (G2/G3).
    Disagg {
        config: String,
        bench_mode: Option<String>,
    },
}

impl CaseKind {
    pub fn config(&self) -> &str {
        match self {
            CaseKind::Aggr { config, .. }
            | CaseKind::CtxOnly { config }
            | CaseKind::Disagg { config, .. } => config,
        }
    }
}

/// A parsed pytest node id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestId {
    pub module: String,
    pub function: String,
    /// The bracket content, e.g. `aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k1k`.
    pub case: String,
    pub prefix: String,
    pub kind: CaseKind,
}

impl TestId {
    /// The full node id, relative to `tests/integration/defs`.
    pub fn node_id(&self) -> String {
        format!("{}::{}[{}]", self.module, self.function, self.case)
    }

    /// Whether the checkout's test would post results (`upload` in the prefix, reference §3).
    pub fn uploads(&self) -> bool {
        self.prefix.contains("upload")
    }
}

/// Characters a case string may contain: what config and server names use. Anything else
/// (whitespace, quotes, `$`, brackets) cannot be a perf-sanity id and is refused early.
fn valid_case_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.,+:=@".contains(c)
}

/// Parse `module::function[case]` (reference §3, G3 `parse_test_string`; G1 rule for disagg).
pub fn parse_node_id(text: &str, generation: Generation) -> Result<TestId, UserError> {
    let t = text.trim();
    let bad = |why: &str| {
        UserError(format!(
            "`{t}` is not a perf-sanity test id: {why} (expected e.g. `perf/test_perf_sanity.py::test_e2e[aggr_upload-<config>-<server>]`)"
        ))
    };
    let (module, rest) = t.split_once("::").ok_or_else(|| bad("there is no `::`"))?;
    let open = rest
        .find('[')
        .ok_or_else(|| bad("there is no `[case]` part"))?;
    if !rest.ends_with(']') {
        return Err(bad("it does not end with `]`"));
    }
    let function = &rest[..open];
    let case = &rest[open + 1..rest.len() - 1];
    if module.is_empty() || function.is_empty() || case.is_empty() {
        return Err(bad("the module, function or case is empty"));
    }
    if !module.ends_with(".py") || module.chars().any(char::is_whitespace) {
        return Err(bad("the module must be a `.py` path"));
    }
    if !function
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(bad(
            "the function name has characters a Python name cannot have",
        ));
    }
    if let Some(c) = case.chars().find(|c| !valid_case_char(*c)) {
        return Err(bad(&format!("the case contains `{}`", c.escape_default())));
    }
    // TXT debug lists omit the `perf/` folder (reference §3); the node id is relative to
    // tests/integration/defs, where the module lives in perf/.
    let module = if module.contains('/') {
        module.to_string()
    } else {
        format!("perf/{module}")
    };
    let (prefix, kind) = parse_case(case, generation).map_err(|why| bad(&why))?;
    Ok(TestId {
        module,
        function: function.to_string(),
        case: case.to_string(),
        prefix,
        kind,
    })
}

/// Split the case string on `-`; `labels[0]` is the prefix (reference §3 rules).
pub fn parse_case(case: &str, generation: Generation) -> Result<(String, CaseKind), String> {
    let labels: Vec<&str> = case.split('-').collect();
    let prefix = labels[0].to_string();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("it has an empty part between `-`".into());
    }
    if prefix.contains("disagg") {
        if generation.disagg_id_has_mode() {
            if labels.len() < 3 || !["e2e", "gen_only"].contains(&labels[1]) {
                return Err(format!(
                    "this checkout ({generation:?} layout) expects disaggregated ids like `{prefix}-e2e-<config>` or `{prefix}-gen_only-<config>`"
                ));
            }
            Ok((
                prefix,
                CaseKind::Disagg {
                    config: labels[2..].join("-"),
                    bench_mode: Some(labels[1].to_string()),
                },
            ))
        } else {
            if labels.len() < 2 {
                return Err("the disaggregated id has no config name".into());
            }
            Ok((
                prefix,
                CaseKind::Disagg {
                    config: labels[1..].join("-"),
                    bench_mode: None,
                },
            ))
        }
    } else if prefix.contains("aggr") {
        if labels.len() < 2 {
            return Err("the aggregated id has no config name".into());
        }
        if labels[1] == "ctx_only" {
            if !generation.disagg_id_has_mode() || labels.len() < 3 {
                return Err(
                    "`ctx_only` ids need the current layout and a config name after `ctx_only`"
                        .into(),
                );
            }
            return Ok((
                prefix,
                CaseKind::CtxOnly {
                    config: labels[2..].join("-"),
                },
            ));
        }
        let servers = (labels.len() > 2).then(|| {
            labels[2..]
                .join("-")
                .split(',')
                .map(str::to_string)
                .collect()
        });
        Ok((
            prefix,
            CaseKind::Aggr {
                config: labels[1].to_string(),
                servers,
            },
        ))
    } else {
        Err(format!(
            "the prefix `{prefix}` contains neither `aggr` nor `disagg`"
        ))
    }
}

/// Build the case string for a config, the way the checkout's test parses it back. `prefix`
/// is PERF_TEST_PREFIX when set; a prefix that already carries the benchmark mode
/// (`disagg_upload-e2e`, reference §3 note) is not given the mode twice.
pub fn build_case(
    generation: Generation,
    kind: &CaseKind,
    prefix: Option<&str>,
) -> Result<String, UserError> {
    let case = match kind {
        CaseKind::Aggr { config, servers } => {
            let p = prefix.unwrap_or("aggr_upload");
            let mut c = format!("{p}-{config}");
            if let Some(s) = servers {
                c.push('-');
                c.push_str(&s.join(","));
            }
            c
        }
        CaseKind::CtxOnly { config } => {
            let p = prefix.unwrap_or("aggr_upload");
            if p.ends_with("-ctx_only") {
                format!("{p}-{config}")
            } else {
                format!("{p}-ctx_only-{config}")
            }
        }
        CaseKind::Disagg { config, bench_mode } => {
            let p = prefix.unwrap_or("disagg_upload");
            match bench_mode {
                Some(m) if generation.disagg_id_has_mode() && !p.ends_with(&format!("-{m}")) => {
                    format!("{p}-{m}-{config}")
                }
                _ => format!("{p}-{config}"),
            }
        }
    };
    // Round-trip: the id must parse back to the same selection, or pytest will not find it.
    let (_, back) = parse_case(&case, generation).map_err(|why| {
        UserError(format!(
            "the test id `{case}` built from the prefix `{}` cannot work: {why}",
            prefix.unwrap_or("(default)")
        ))
    })?;
    let same = match (&back, kind) {
        (CaseKind::Disagg { config: a, .. }, CaseKind::Disagg { config: b, .. }) => a == b,
        (CaseKind::CtxOnly { config: a }, CaseKind::CtxOnly { config: b }) => a == b,
        (CaseKind::Aggr { config: a, .. }, CaseKind::Aggr { config: b, .. }) => a == b,
        _ => false,
    };
    if !same {
        return Err(UserError(format!(
            "the test id `{case}` would not select config `{}`: the prefix `{}` does not fit this kind of config (aggregated ids need `aggr` in the prefix, disaggregated ids `disagg`, and aggregated config names must not contain `-`)",
            kind.config(),
            prefix.unwrap_or("(default)")
        )));
    }
    Ok(case)
}

#[cfg(test)]
mod tests {
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
            ("perf/test_perf_sanity.py::test_e2e[foo-cfg]", G3),
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
        ] {
            assert!(parse_node_id(id, g).is_err(), "{id} should be refused");
        }
    }

    #[test]
    fn builds_ids_per_generation_and_prefix() {
        let d = CaseKind::Disagg {
            config: "c-x".into(),
            bench_mode: Some("e2e".into()),
        };
        assert_eq!(build_case(G3, &d, None).unwrap(), "disagg_upload-e2e-c-x");
        assert_eq!(build_case(G1, &d, None).unwrap(), "disagg_upload-c-x");
        assert_eq!(
            build_case(G3, &d, Some("disagg_upload-e2e")).unwrap(),
            "disagg_upload-e2e-c-x"
        );
        assert_eq!(
            build_case(G3, &d, Some("disagg")).unwrap(),
            "disagg-e2e-c-x"
        );
        let a = CaseKind::Aggr {
            config: "cfg".into(),
            servers: Some(vec!["s1".into()]),
        };
        assert_eq!(build_case(G3, &a, None).unwrap(), "aggr_upload-cfg-s1");
        assert!(build_case(G3, &a, Some("disagg_upload")).is_err());
        let bad = CaseKind::Aggr {
            config: "has-dash".into(),
            servers: None,
        };
        assert!(build_case(G3, &bad, None).is_err());
        let c = CaseKind::CtxOnly {
            config: "d-x".into(),
        };
        assert_eq!(
            build_case(G3, &c, None).unwrap(),
            "aggr_upload-ctx_only-d-x"
        );
    }
}
