//! Selection: `--config NAME`, `--test NODEID` or `--testlist FILE [-k EXPR] [--stage S]` → the
//! cases to plan, each with what the test list said about it.
//!
//! A test list is read the way upstream CI's `trt-test-db` reads it (docs/test-lists.md): the
//! blocks whose `condition` fits are merged (`terms.stage` by `--stage`, `wildcards.gpu`
//! against the cluster profile's GPU type, `ranges.system_gpu_count` against the profile's
//! capacity), each id runs once, and a line perf-run cannot run becomes a skipped case with
//! the reason instead of failing the whole list.

use std::path::PathBuf;

use super::PlanError;
use super::test_id::{CaseKind, TestId, build_case, normalize_module, parse_node_id};
use crate::config::ConfigError;
use crate::config::kexpr::KExpr;
use crate::config::layout::Layout;
use crate::config::mode::Mode;
use crate::config::perf_sanity::{ConfigKind, PerfConfig, load_config};
use crate::config::settings::Settings;
use crate::config::stage::Stage;
use crate::config::testlist::{Condition, CountRange, TestList, load_testlist, wildcard_match};
use crate::output;

/// What to run: exactly one of a config, a test id or a test list. `crate::cli` makes it from
/// the flags, so "nothing selected", "two at once" and a filter without what it filters cannot
/// be represented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `--config NAME [--server A,B] [--benchmark-mode M]`.
    Config(ConfigSelection),
    /// `--test NODEID`: a full pytest node id.
    Test(String),
    /// `--testlist FILE [-k EXPR] [--mode M] [--stage S]`.
    List(ListSelection),
}

/// `--config NAME` and what refines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSelection {
    /// The perf-sanity config base name (the YAML file name without `.yaml`).
    pub name: String,
    /// Aggregated configs: only these server_config names.
    pub servers: Option<Vec<String>>,
    /// Disaggregated configs: e2e, gen_only, ctx_only or gen_only_no_context.
    pub benchmark_mode: Option<String>,
}

/// `--testlist FILE` and its filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSelection {
    pub path: PathBuf,
    /// A pytest-style `-k` expression on the ids as written.
    pub k: Option<String>,
    /// Keep only the cases of this mode.
    pub mode: Option<Mode>,
    /// test-db lists: the blocks of this `condition.terms.stage` (and those without one).
    pub stage: Option<Stage>,
}

impl Selection {
    /// The test list, when the selection is one.
    pub fn list(&self) -> Option<&ListSelection> {
        match self {
            Selection::List(l) => Some(l),
            _ => None,
        }
    }
}

/// Why the selection flags do not make a [`Selection`], or a selection selects nothing.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("nothing selected: give one of --config NAME, --test NODEID or --testlist FILE")]
    NothingSelected,
    /// The flags given, e.g. `["--config", "--test"]`.
    #[error("{} cannot be combined: choose exactly one way to select what to run", .0.join(" and "))]
    Conflicting(Vec<&'static str>),
    #[error("-k, --mode and --stage filter a test list; use them together with --testlist")]
    ListFilterWithoutList,
    #[error("--server and --benchmark-mode refine --config; use them together with --config")]
    RefinementWithoutConfig,
    #[error("no test in {} matches -k `{}`", .path.display(), esc(.k))]
    NoMatch { path: PathBuf, k: String },
    #[error(
        "{}: no block of the test list is for --stage {} (its `condition.terms.stage` blocks are {})",
        .path.display(),
        .stage.as_str(),
        .blocks.join(", ")
    )]
    NoBlockForStage {
        path: PathBuf,
        stage: Stage,
        /// `post_merge (line 4)`, one per block that names a stage.
        blocks: Vec<String>,
    },
    #[error(
        "{}:{line}: the test list is for GPUs matching {} (field `condition.wildcards.gpu`), but cluster `{}` has GPU type `{}`; choose a cluster profile with a matching GPU (--cluster) or set its `gpu:`",
        .path.display(),
        quoted(.patterns),
        .cluster,
        esc(.gpu)
    )]
    GpuMismatch {
        path: PathBuf,
        /// The line of `condition.wildcards.gpu`.
        line: usize,
        patterns: Vec<String>,
        cluster: String,
        gpu: String,
    },
    #[error("--benchmark-mode applies to disaggregated configs, and `{config}` is aggregated")]
    BenchmarkModeOnAggregated { config: String },
    #[error(
        "--server selects server configs of an aggregated config, and `{config}` is disaggregated"
    )]
    ServerOnDisaggregated { config: String },
    #[error(
        "benchmark mode `{}` is not known; use e2e, gen_only, ctx_only or gen_only_no_context",
        esc(.mode)
    )]
    UnknownBenchmarkMode { mode: String },
    /// A test list, a `-k` expression or a config that cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A test id that does not parse, or a case that cannot be built from it (`plan::test_id`).
    #[error(transparent)]
    Plan(#[from] PlanError),
}

impl SelectError {
    pub fn exit(&self) -> crate::error::Exit {
        match self {
            SelectError::Config(e) => e.exit(),
            SelectError::Plan(e) => e.exit(),
            _ => crate::error::Exit::Usage,
        }
    }
}

fn esc(s: &str) -> String {
    crate::error::escape_for_message(s)
}

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
    pub mode_override: Option<Mode>,
    /// test-db `ranges.system_gpu_count` of the line's block, and the block's line.
    pub system_gpu_count: Option<(CountRange, usize)>,
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
            system_gpu_count: None,
        }
    }
}

/// A test-list line perf-run will not run: it still appears in the run as a skipped case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrunnable {
    /// The test as written in the list.
    pub id: String,
    pub list_line: usize,
    /// Why, as one sentence (goes to the summary and the JUnit `<skipped message>`).
    pub reason: String,
}

impl Unrunnable {
    /// The bracket content of a node id, else the id itself (for the case directory name).
    pub fn case_name(&self) -> String {
        match (self.id.find('['), self.id.ends_with(']')) {
            (Some(i), true) => self.id[i + 1..self.id.len() - 1].to_string(),
            _ => self.id.clone(),
        }
    }
}

/// One line of the selection, in list order.
#[derive(Debug, Clone)]
pub enum Choice {
    Run(Box<Selected>),
    Skip(Unrunnable),
}

/// The reason prefix of a case perf-run did not run because it cannot (as opposed to a `SKIP`
/// marker in the list); `results::classify` shows such a reason as it is.
pub const CANNOT_RUN: &str = "perf-run cannot run this test: ";

/// The cases of a selection, in list order.
pub fn select(
    selection: &Selection,
    settings: &Settings,
    layout: &Layout,
) -> Result<Vec<Choice>, SelectError> {
    let list_sel = match selection {
        Selection::Config(c) => {
            return Ok(vec![Choice::Run(Box::new(Selected::plain(from_config(
                c, settings, layout,
            )?)))]);
        }
        Selection::Test(id) => {
            return Ok(vec![Choice::Run(Box::new(Selected::plain(parse_node_id(
                id,
                layout.generation,
            )?)))]);
        }
        Selection::List(l) => l,
    };
    let path = &list_sel.path;
    let list = load_testlist(path)?;
    let k = list_sel.k.as_deref().map(KExpr::parse).transpose()?;
    let blocks = choose_blocks(&list, list_sel.stage, settings)?;
    let mut out = Vec::new();
    // An id in a block this cluster cannot run and in one it can runs from the latter.
    let runnable = list.unique_entries(|b| {
        blocks
            .get(b)
            .is_some_and(|v| v.keep && v.cannot_run.is_none())
    });
    let entries = list
        .unique_entries(|b| blocks.get(b).is_some_and(|v| v.keep))
        .into_iter()
        .map(|e| match runnable.iter().find(|r| r.id == e.id) {
            Some(r) if r.block != e.block => r.clone(),
            _ => e,
        });
    for e in entries {
        // -k selects on the id as written (like pytest's keyword match); lines it drops are
        // not parsed, so a list may mix ids of other layouts as long as they are filtered out.
        if k.as_ref().is_some_and(|k| !k.matches(&e.id)) {
            continue;
        }
        let block = e.block.and_then(|b| blocks.get(b));
        if let Some(why) = block.and_then(|b| b.cannot_run.clone()) {
            out.push(Choice::Skip(Unrunnable {
                id: e.id.clone(),
                list_line: e.line,
                reason: format!("{CANNOT_RUN}{why}"),
            }));
            continue;
        }
        match parse_node_id(&e.id, layout.generation) {
            Ok(id) => out.push(Choice::Run(Box::new(Selected {
                test_id: id,
                timeout_min: e.timeout_min,
                skip: e.skip,
                xfail: e.xfail,
                unstable: e.unstable,
                list_line: Some(e.line),
                mode_override: e.mode_override,
                system_gpu_count: e
                    .block
                    .and_then(|b| list.blocks.get(b))
                    .and_then(|c| c.system_gpu_count.map(|r| (r, c.line))),
            }))),
            Err(err) => out.push(Choice::Skip(Unrunnable {
                id: e.id.clone(),
                list_line: e.line,
                reason: if e.id.contains("::") {
                    format!("{CANNOT_RUN}{err}")
                } else {
                    // A pytest file or folder of another suite (upstream CI runs it with
                    // plain pytest in the same stage).
                    format!(
                        "{CANNOT_RUN}`{}` is not a perf-sanity test id but a pytest path of another test suite (perf-run runs `<module>::test_e2e[<case>]` perf-sanity ids)",
                        crate::error::escape_for_message(&e.id)
                    )
                },
            })),
        }
    }
    if out.is_empty() {
        return Err(SelectError::NoMatch {
            path: path.clone(),
            k: list_sel.k.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

/// What selection decided about one test-db block.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BlockVerdict {
    /// The block's lines are selected at all (stage and GPU type fit).
    keep: bool,
    /// The block's lines are selected but cannot run on this cluster (why).
    cannot_run: Option<String>,
}

/// Match each block's condition like `trt-test-db` matches a CI stage's machine.
fn choose_blocks(
    list: &TestList,
    stage: Option<Stage>,
    settings: &Settings,
) -> Result<Vec<BlockVerdict>, SelectError> {
    let file = list.path.display();
    let blocks = &list.blocks;
    let mut verdicts: Vec<BlockVerdict> = blocks
        .iter()
        .map(|_| BlockVerdict {
            keep: true,
            cannot_run: None,
        })
        .collect();
    if blocks.is_empty() {
        return Ok(verdicts);
    }
    // terms.stage: --stage picks the blocks of that stage (and blocks that name no stage).
    let staged: Vec<&Condition> = blocks.iter().filter(|c| c.stage.is_some()).collect();
    // `post_merge (line 4)`, one per block that names a stage.
    let staged_blocks: Vec<String> = staged
        .iter()
        .map(|c| {
            format!(
                "{} (line {})",
                c.stage.as_deref().unwrap_or(""),
                c.stage_line
            )
        })
        .collect();
    match stage {
        Some(want) => {
            for (v, c) in verdicts.iter_mut().zip(blocks) {
                v.keep = c.stage.as_deref().is_none_or(|s| s == want.as_str());
            }
            if !staged.is_empty() && !verdicts.iter().any(|v| v.keep) {
                return Err(SelectError::NoBlockForStage {
                    path: list.path.clone(),
                    stage: want,
                    blocks: staged_blocks,
                });
            }
        }
        None => {
            if staged.len() > 1 {
                output::info(format!(
                    "note: {file}: no --stage given, so the blocks {} were merged (each test runs once); choose one with --stage pre_merge or --stage post_merge",
                    staged_blocks.join(" and ")
                ));
            }
        }
    }
    // wildcards.gpu against the cluster profile's GPU type.
    let gpu = settings
        .cluster_name
        .as_ref()
        .map(|_| settings.gpu_label.clone());
    let mut refused = Vec::new();
    for (v, c) in verdicts.iter_mut().zip(blocks) {
        if !v.keep || c.gpu.is_empty() {
            continue;
        }
        match &gpu {
            Some(g) if !c.gpu.iter().any(|p| wildcard_match(p, g)) => {
                v.keep = false;
                refused.push(c);
            }
            Some(_) => {}
            None => output::detail(format!(
                "{file}:{}: the block is for GPUs matching {}, but no cluster profile was named (--cluster), so the GPU type is not checked",
                c.line,
                quoted(&c.gpu)
            )),
        }
    }
    if let Some(first) = refused.first()
        && !verdicts.iter().any(|v| v.keep)
    {
        return Err(SelectError::GpuMismatch {
            path: list.path.clone(),
            line: first.gpu_line,
            patterns: first.gpu.clone(),
            cluster: settings.cluster_name.clone().unwrap_or_else(|| "?".into()),
            gpu: gpu.clone().unwrap_or_else(|| "?".into()),
        });
    }
    for c in &refused {
        output::info(format!(
            "note: {file}:{}: the block for GPUs matching {} does not apply to GPU type `{}` and was left out",
            c.gpu_line,
            quoted(&c.gpu),
            crate::error::escape_for_message(gpu.as_deref().unwrap_or("?"))
        ));
    }
    // ranges.system_gpu_count against what the cluster profile can allocate.
    let capacity = settings
        .gpus_per_node_capacity
        .zip(settings.nodes_capacity)
        .map(|(g, n)| (g * n, g, n));
    for (v, c) in verdicts.iter_mut().zip(blocks) {
        if let (true, Some(r), Some((cap, g, n))) = (v.keep, c.system_gpu_count, capacity)
            && r.min.is_some_and(|m| m > cap)
        {
            v.cannot_run = Some(format!(
                "its test-db block (line {}) needs system_gpu_count {r}, but cluster `{}` has {cap} GPUs ({n} nodes x {g})",
                c.line,
                settings.cluster_name.as_deref().unwrap_or("?")
            ));
        }
    }
    // Informational wildcards: perf-run cannot see the compute nodes' OS or CPU beforehand.
    for c in blocks
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| v.keep)
        .map(|(c, _)| c)
    {
        for (k, pats) in &c.other_wildcards {
            output::detail(format!(
                "{file}:{}: `condition.wildcards.{k}` {} is not checked (informational)",
                c.line,
                quoted(pats)
            ));
        }
    }
    Ok(verdicts)
}

fn quoted(pats: &[String]) -> String {
    pats.iter()
        .map(|p| format!("`{}`", crate::error::escape_for_message(p)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn from_config(
    sel: &ConfigSelection,
    settings: &Settings,
    layout: &Layout,
) -> Result<TestId, SelectError> {
    let found = layout.find_config(&sel.name, None)?;
    let servers = sel.servers.clone();
    let kind = match found.kind {
        ConfigKind::Aggregated => {
            if sel.benchmark_mode.is_some() {
                return Err(SelectError::BenchmarkModeOnAggregated { config: found.name });
            }
            CaseKind::Aggr {
                config: found.name.clone(),
                servers,
            }
        }
        ConfigKind::Disaggregated => {
            if servers.is_some() {
                return Err(SelectError::ServerOnDisaggregated { config: found.name });
            }
            let PerfConfig::Disaggregated(cfg) = load_config(&found.path, found.kind)? else {
                unreachable!("kind follows the folder")
            };
            let wanted = sel
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
                    return Err(SelectError::UnknownBenchmarkMode {
                        mode: other.to_string(),
                    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_errors_are_the_sentences_users_saw_before() {
        let e = SelectError::NoMatch {
            path: "l.txt".into(),
            k: "r1\nx".into(),
        };
        assert_eq!(e.to_string(), "no test in l.txt matches -k `r1\\nx`");
        let e = SelectError::GpuMismatch {
            path: "l.yml".into(),
            line: 7,
            patterns: vec!["*b300*".into(), "*h100*".into()],
            cluster: "gb200".into(),
            gpu: "GB200".into(),
        };
        assert_eq!(
            e.to_string(),
            "l.yml:7: the test list is for GPUs matching `*b300*`, `*h100*` (field `condition.wildcards.gpu`), but cluster `gb200` has GPU type `GB200`; choose a cluster profile with a matching GPU (--cluster) or set its `gpu:`"
        );
        let e = SelectError::NoBlockForStage {
            path: "l.yml".into(),
            stage: Stage::PostMerge,
            blocks: vec!["pre_merge (line 4)".into()],
        };
        assert_eq!(
            e.to_string(),
            "l.yml: no block of the test list is for --stage post_merge (its `condition.terms.stage` blocks are pre_merge (line 4))"
        );
        assert_eq!(
            SelectError::UnknownBenchmarkMode {
                mode: "fast".into()
            }
            .to_string(),
            "benchmark mode `fast` is not known; use e2e, gen_only, ctx_only or gen_only_no_context"
        );
        // A wrapped configuration error keeps its own sentence and exit code.
        let e = SelectError::from(ConfigError::KEmpty);
        assert_eq!(e.to_string(), "the -k expression is empty");
        assert_eq!(e.exit(), crate::error::Exit::Usage);
    }
}
