//! Test ids: parse a pytest node id the way the checkout's `test_perf_sanity.py` parses it, and
//! build one from a config name (reference §3; the current grammar, with the `time_breakdown`
//! modifier and the `gen_only_no_context` aggregated mode, is upstream's
//! `tests/integration/defs/perf/test_perf_sanity.py::parse_test_string`, 2026, see
//! `../shared/reference/upstream-2026.md` §Layout).

use serde::Serialize;

use super::PlanError;
use crate::config::layout::{DEFS_DIR, Generation};

#[cfg(test)]
mod tests;

/// The module upstream's CI runs; its grammar is the only one perf-run can check.
pub const PERF_SANITY_MODULE: &str = "perf/test_perf_sanity.py";

/// Modes of a disaggregated benchmark (`disagg_upload-<mode>-<cfg>`).
pub const DISAGG_BENCHMARK_MODES: [&str; 2] = ["e2e", "gen_only"];
/// Modes that run a disaggregated config on the aggregated launch path
/// (`aggr_upload-<mode>-<disagg cfg>`).
pub const AGGREGATED_DISAGG_MODES: [&str; 2] = ["ctx_only", "gen_only_no_context"];
/// Upstream's closed modifier vocabulary: `<prefix>-<mode>[-<modifier>]-<stem>`
/// (`TEST_ID_MODIFIERS = ("time_breakdown",)`).
pub const TEST_ID_MODIFIERS: [&str; 1] = ["time_breakdown"];

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
    /// `aggr_upload-gen_only_no_context-<disagg cfg>`: the gen server of a disagg config alone,
    /// on the aggregated launch path, with no ctx servers (upstream 2026).
    GenOnlyNoContext { config: String },
    /// `disagg_upload-<cfg>` (G1) or `disagg_upload-<e2e|gen_only>-<cfg>` (G2/G3).
    Disagg {
        config: String,
        bench_mode: Option<String>,
    },
    /// A prefix without `aggr` or `disagg` (a custom test module, e.g. `custom_test-<cfg>`):
    /// everything after the prefix. The plan decides the mode from where the config lives.
    Custom { rest: String },
}

impl CaseKind {
    /// The config name the case names (for `Custom`, the whole rest: resolved by the plan).
    pub fn config(&self) -> &str {
        match self {
            CaseKind::Aggr { config, .. }
            | CaseKind::CtxOnly { config }
            | CaseKind::GenOnlyNoContext { config }
            | CaseKind::Disagg { config, .. } => config,
            CaseKind::Custom { rest } => rest,
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
    /// `time_breakdown` (upstream's only modifier): same workload, with per-request lifecycle
    /// spans; its numbers are a series of their own.
    pub modifier: Option<String>,
    /// What the plan should warn about (e.g. a prefix upstream's test cannot read).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
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

    /// Whether this is upstream's perf-sanity module (whose id grammar perf-run mirrors).
    pub fn is_perf_sanity_module(&self) -> bool {
        self.module.rsplit('/').next() == Some("test_perf_sanity.py")
    }
}

/// Characters a case string may contain: what config and server names use. Anything else
/// (whitespace, quotes, `$`, brackets) cannot be a perf-sanity id and is refused early.
fn valid_case_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.,+:=@".contains(c)
}

/// A module as pytest sees it from `tests/integration/defs` (its rootdir and working
/// directory): `tests/integration/defs/perf/x.py`, `./perf/x.py`, `/abs/…/tests/integration/defs/perf/x.py`
/// and `perf/x.py` all become `perf/x.py`; a bare `x.py` (TXT debug lists, reference §3) lives
/// in `perf/`.
pub fn normalize_module(module: &str) -> String {
    let m = module.trim();
    let m = match m.rfind(&format!("{DEFS_DIR}/")) {
        Some(i) => &m[i + DEFS_DIR.len() + 1..],
        None => m,
    };
    let m = m.trim_start_matches("./");
    if m.contains('/') {
        m.to_string()
    } else {
        format!("perf/{m}")
    }
}

/// Parse `module::function[case]` (reference §3, G3 `parse_test_string`; G1 rule for disagg).
pub fn parse_node_id(text: &str, generation: Generation) -> Result<TestId, PlanError> {
    let t = text.trim();
    let bad = |why: &str| PlanError::NotATestId {
        text: t.to_string(),
        why: why.to_string(),
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
    let module = normalize_module(module);
    let base = module.rsplit('/').next().unwrap_or_default();
    if base == "test_perf.py" {
        return Err(bad(
            "`test_perf.py` is TensorRT-LLM's QA perf suite, whose ids are configurations of their own; perf-run runs perf-sanity-style ids whose case names a config file",
        ));
    }
    if base.starts_with("test_visual_gen") {
        return Err(bad(&format!(
            "`{base}` is TensorRT-LLM's visual-generation perf suite, with its own harness and configs; perf-run runs the text-generation perf-sanity tests (`test_perf_sanity.py` or a custom module of that kind)"
        )));
    }
    let p = parse_case(case, generation, base == "test_perf_sanity.py").map_err(|why| bad(&why))?;
    Ok(TestId {
        module,
        function: function.to_string(),
        case: case.to_string(),
        prefix: p.prefix,
        kind: p.kind,
        modifier: p.modifier,
        notes: p.note.into_iter().collect(),
    })
}

/// Peel upstream's optional modifier segment off the front of a config stem.
fn split_modifier(rest: &[&str]) -> Result<(Option<String>, String), String> {
    let (modifier, rest) = match rest.first() {
        Some(m) if TEST_ID_MODIFIERS.contains(m) => (Some(m.to_string()), &rest[1..]),
        _ => (None, rest),
    };
    if rest.is_empty() {
        return Err("it has a modifier but no config name".into());
    }
    Ok((modifier, rest.join("-")))
}

/// A case string, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedCase {
    pub prefix: String,
    pub kind: CaseKind,
    pub modifier: Option<String>,
    /// A warning for the plan (the case is readable by perf-run but not by upstream's test).
    pub note: Option<String>,
}

/// Split the case string on `-`; `labels[0]` is the prefix (upstream's `parse_test_string`).
/// A prefix with neither `aggr` nor `disagg` is accepted as `<prefix>-<rest>` (a custom test
/// module, reference §2–§3: the mode then comes from where the config lives); with
/// upstream's own module that comes with a note, since its test would not collect the id.
pub fn parse_case(
    case: &str,
    generation: Generation,
    perf_sanity: bool,
) -> Result<ParsedCase, String> {
    let parsed = |prefix: String, kind, modifier| ParsedCase {
        prefix,
        kind,
        modifier,
        note: None,
    };
    let labels: Vec<&str> = case.split('-').collect();
    let prefix = labels[0].to_string();
    if labels.iter().any(|l| l.is_empty()) {
        return Err("it has an empty part between `-`".into());
    }
    if prefix.contains("disagg") {
        if generation.disagg_id_has_mode() {
            if labels.len() < 3 || !DISAGG_BENCHMARK_MODES.contains(&labels[1]) {
                return Err(format!(
                    "this checkout ({generation:?} layout) expects disaggregated ids like `{prefix}-e2e-<config>` or `{prefix}-gen_only-<config>`"
                ));
            }
            let (modifier, config) = split_modifier(&labels[2..])?;
            Ok(parsed(
                prefix,
                CaseKind::Disagg {
                    config,
                    bench_mode: Some(labels[1].to_string()),
                },
                modifier,
            ))
        } else {
            if labels.len() < 2 {
                return Err("the disaggregated id has no config name".into());
            }
            Ok(parsed(
                prefix,
                CaseKind::Disagg {
                    config: labels[1..].join("-"),
                    bench_mode: None,
                },
                None,
            ))
        }
    } else if prefix.contains("aggr") {
        if labels.len() < 2 {
            return Err("the aggregated id has no config name".into());
        }
        if AGGREGATED_DISAGG_MODES.contains(&labels[1]) {
            if !generation.disagg_id_has_mode() || labels.len() < 3 {
                return Err(format!(
                    "`{}` ids need the current layout and a config name after `{}`",
                    labels[1], labels[1]
                ));
            }
            let (modifier, config) = split_modifier(&labels[2..])?;
            let kind = if labels[1] == "ctx_only" {
                CaseKind::CtxOnly { config }
            } else {
                CaseKind::GenOnlyNoContext { config }
            };
            return Ok(parsed(prefix, kind, modifier));
        }
        let servers = (labels.len() > 2).then(|| {
            labels[2..]
                .join("-")
                .split(',')
                .map(str::to_string)
                .collect()
        });
        Ok(parsed(
            prefix,
            CaseKind::Aggr {
                config: labels[1].to_string(),
                servers,
            },
            None,
        ))
    } else {
        if labels.len() < 2 {
            return Err(format!(
                "the case has no config name after the prefix `{prefix}`"
            ));
        }
        let mut p = parsed(
            prefix.clone(),
            CaseKind::Custom {
                rest: labels[1..].join("-"),
            },
            None,
        );
        if perf_sanity {
            p.note = Some(format!(
                "upstream's test_perf_sanity.py only reads case prefixes that contain `aggr` or `disagg`, and `{prefix}` contains neither, so that test will not collect `{case}`; use a custom PERF_TEST_MODULE for this prefix, or a prefix like `aggr_upload`/`disagg_upload`"
            ));
        }
        Ok(p)
    }
}

/// Whether a prefix is upstream's kind (its first label names `aggr` or `disagg`).
fn upstream_style_prefix(p: &str) -> bool {
    let first = p.split('-').next().unwrap_or(p);
    first.contains("aggr") || first.contains("disagg")
}

/// Build the case string for a config (`--config`), the way the checkout's test parses it
/// back. `prefix` is PERF_TEST_PREFIX when set; a prefix that already carries the mode
/// (`disagg_upload-e2e`, reference §3 note) is not given the mode twice. A custom prefix
/// (neither `aggr` nor `disagg`) gives the legacy glue's `${PERF_TEST_PREFIX}-${CONFIG_NAME}`
/// (reference §2.4). With upstream's module (`perf_sanity`) the id must read back as the same
/// selection; a custom prefix there is accepted (`parse_node_id` adds the note).
pub fn build_case(
    generation: Generation,
    kind: &CaseKind,
    modifier: Option<&str>,
    prefix: Option<&str>,
    perf_sanity: bool,
) -> Result<String, PlanError> {
    let default_prefix = match kind {
        CaseKind::Disagg { .. } => "disagg_upload",
        _ => "aggr_upload",
    };
    let p = prefix.unwrap_or(default_prefix);
    let stem = |cfg: &str| match modifier {
        Some(m) => format!("{m}-{cfg}"),
        None => cfg.to_string(),
    };
    let with_mode = |m: &str, cfg: &str| {
        if p.ends_with(&format!("-{m}")) {
            format!("{p}-{}", stem(cfg))
        } else {
            format!("{p}-{m}-{}", stem(cfg))
        }
    };
    let aggr = |config: &str, servers: &Option<Vec<String>>| {
        let mut c = format!("{p}-{config}");
        if let Some(s) = servers {
            c.push('-');
            c.push_str(&s.join(","));
        }
        c
    };
    let case = if !upstream_style_prefix(p) {
        match kind {
            CaseKind::Aggr { config, servers } => aggr(config, servers),
            other => format!("{p}-{}", other.config()),
        }
    } else {
        match kind {
            CaseKind::Aggr { config, servers } => aggr(config, servers),
            CaseKind::CtxOnly { config } => with_mode("ctx_only", config),
            CaseKind::GenOnlyNoContext { config } => with_mode("gen_only_no_context", config),
            CaseKind::Disagg {
                config,
                bench_mode: Some(m),
            } if generation.disagg_id_has_mode() => with_mode(m, config),
            CaseKind::Disagg { config, .. } => format!("{p}-{config}"),
            CaseKind::Custom { rest } => format!("{p}-{rest}"),
        }
    };
    if !perf_sanity {
        return Ok(case);
    }
    // Round-trip: the id must read back as the same selection, or pytest will not find it.
    let back = parse_case(&case, generation, true).map_err(|why| PlanError::PrefixBreaksId {
        case: case.clone(),
        prefix: p.to_string(),
        why,
    })?;
    if back.note.is_some() {
        return Ok(case);
    }
    let same = match (&back.kind, kind) {
        (CaseKind::Disagg { config: a, .. }, CaseKind::Disagg { config: b, .. })
        | (CaseKind::CtxOnly { config: a }, CaseKind::CtxOnly { config: b })
        | (CaseKind::GenOnlyNoContext { config: a }, CaseKind::GenOnlyNoContext { config: b })
        | (CaseKind::Aggr { config: a, .. }, CaseKind::Aggr { config: b, .. }) => a == b,
        _ => false,
    } && back.modifier.as_deref() == modifier;
    if !same {
        return Err(PlanError::PrefixSelectsOther {
            case,
            config: kind.config().to_string(),
            prefix: p.to_string(),
        });
    }
    Ok(case)
}
