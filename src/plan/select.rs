//! Selection: `--config NAME`, `--test NODEID` or `--testlist FILE [-k EXPR]` → the test ids to
//! plan, each with what the test list said about it.

use anyhow::Result;

use super::test_id::{CaseKind, TestId, build_case, normalize_module, parse_node_id};
use crate::cli::{ModeFilter, SelectArgs};
use crate::config::kexpr::KExpr;
use crate::config::layout::Layout;
use crate::config::perf_sanity::{ConfigKind, PerfConfig, load_config};
use crate::config::settings::Settings;
use crate::config::testlist::load_testlist;
use crate::error::UserError;

/// One selected case.
#[derive(Debug, Clone)]
pub struct Selected {
    pub test_id: TestId,
    /// `TIMEOUT (N)` from the test list, in minutes.
    pub timeout_min: Option<u64>,
    pub skip: Option<String>,
    pub xfail: Option<String>,
    pub unstable: Option<String>,
    pub list_line: Option<usize>,
    pub mode_override: Option<ModeFilter>,
}

impl Selected {
    fn plain(test_id: TestId) -> Selected {
        Selected {
            test_id,
            timeout_min: None,
            skip: None,
            xfail: None,
            unstable: None,
            list_line: None,
            mode_override: None,
        }
    }
}

/// Validate the selection flags and produce the cases in list order.
pub fn select(args: &SelectArgs, settings: &Settings, layout: &Layout) -> Result<Vec<Selected>> {
    let given: Vec<&str> = [
        args.config.as_ref().map(|_| "--config"),
        args.test.as_ref().map(|_| "--test"),
        args.testlist.as_ref().map(|_| "--testlist"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.len() {
        0 => {
            return Err(UserError(
                "nothing selected: give one of --config NAME, --test NODEID or --testlist FILE"
                    .into(),
            )
            .into());
        }
        1 => {}
        _ => {
            return Err(UserError(format!(
                "{} cannot be combined: choose exactly one way to select what to run",
                given.join(" and ")
            ))
            .into());
        }
    }
    if args.testlist.is_none() && (args.k.is_some() || args.mode.is_some()) {
        return Err(UserError(
            "-k and --mode filter a test list; use them together with --testlist".into(),
        )
        .into());
    }
    if args.config.is_none() && (args.server.is_some() || args.benchmark_mode.is_some()) {
        return Err(UserError(
            "--server and --benchmark-mode refine --config; use them together with --config".into(),
        )
        .into());
    }

    if let Some(name) = &args.config {
        return Ok(vec![Selected::plain(from_config(
            name, args, settings, layout,
        )?)]);
    }
    if let Some(id) = &args.test {
        return Ok(vec![Selected::plain(parse_node_id(id, layout.generation)?)]);
    }
    let path = args.testlist.as_ref().expect("one selection");
    let list = load_testlist(path)?;
    let k = args.k.as_deref().map(KExpr::parse).transpose()?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for e in list.entries {
        // -k selects on the id as written (like pytest's keyword match); lines it drops are
        // not parsed, so a list may mix ids of other layouts as long as they are filtered out.
        if k.as_ref().is_some_and(|k| !k.matches(&e.id)) {
            continue;
        }
        match parse_node_id(&e.id, layout.generation) {
            Ok(id) => {
                out.push(Selected {
                    test_id: id,
                    timeout_min: e.timeout_min,
                    skip: e.skip,
                    xfail: e.xfail,
                    unstable: e.unstable,
                    list_line: Some(e.line),
                    mode_override: e.mode_override,
                });
            }
            Err(err) => problems.push(format!("{}:{}: {}", path.display(), e.line, err.0)),
        }
    }
    if !problems.is_empty() {
        return Err(UserError(format!(
            "the test list has {} id(s) perf-run cannot run:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
        .into());
    }
    if out.is_empty() {
        return Err(UserError(format!(
            "no test in {} matches -k `{}`",
            path.display(),
            args.k.as_deref().unwrap_or("")
        ))
        .into());
    }
    Ok(out)
}

fn from_config(
    name: &str,
    args: &SelectArgs,
    settings: &Settings,
    layout: &Layout,
) -> Result<TestId> {
    let found = layout.find_config(name, None)?;
    let servers = args.server.as_ref().map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    let kind = match found.kind {
        ConfigKind::Aggregated => {
            if args.benchmark_mode.is_some() {
                return Err(UserError(format!(
                    "--benchmark-mode applies to disaggregated configs, and `{}` is aggregated",
                    found.name
                ))
                .into());
            }
            CaseKind::Aggr {
                config: found.name.clone(),
                servers,
            }
        }
        ConfigKind::Disaggregated => {
            if servers.is_some() {
                return Err(UserError(format!(
                    "--server selects server configs of an aggregated config, and `{}` is disaggregated",
                    found.name
                ))
                .into());
            }
            let PerfConfig::Disaggregated(cfg) = load_config(&found.path, found.kind)? else {
                unreachable!("kind follows the folder")
            };
            let wanted = args
                .benchmark_mode
                .clone()
                .or(cfg.benchmark.mode.clone())
                .unwrap_or_else(|| "e2e".into());
            match wanted.as_str() {
                "ctx_only" => CaseKind::CtxOnly {
                    config: found.name.clone(),
                },
                // upstream 2026: the gen server alone on the aggregated launch path
                "gen_only_no_context" if layout.generation.disagg_id_has_mode() => {
                    CaseKind::GenOnlyNoContext {
                        config: found.name.clone(),
                    }
                }
                m if m == "e2e" || m.contains("gen_only") => CaseKind::Disagg {
                    config: found.name.clone(),
                    bench_mode: layout
                        .generation
                        .disagg_id_has_mode()
                        .then(|| if m == "e2e" { "e2e" } else { "gen_only" }.to_string()),
                },
                other => {
                    return Err(UserError(format!(
                        "benchmark mode `{other}` is not known; use e2e, gen_only, ctx_only or gen_only_no_context"
                    ))
                    .into());
                }
            }
        }
    };
    let module = normalize_module(&settings.module);
    let perf_sanity = module.rsplit('/').next() == Some("test_perf_sanity.py");
    let case = build_case(
        layout.generation,
        &kind,
        None,
        settings.prefix.as_deref(),
        perf_sanity,
    )?;
    let node = format!("{module}::{}[{case}]", settings.function);
    let mut id = parse_node_id(&node, layout.generation)?;
    // The mode comes from where the config lives, not from the prefix (a custom prefix
    // parses as `Custom`).
    id.kind = kind;
    Ok(id)
}
