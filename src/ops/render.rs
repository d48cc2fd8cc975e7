//! `perf-run render` (and the first half of `run`): resolve → select → plan → render → write.
//! Touches no network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::{ModeFilter, RenderArgs};
use crate::config::layout::Layout;
use crate::config::settings::{Settings, resolve};
use crate::error::{Exit, UserError};
use crate::journal::{self, RunDir};
use crate::output;
use crate::plan::{Mode, PlanInput, RunPlan, build_plan, select::select};
use crate::render::{Rendered, Templates};

/// One case, planned and rendered, with where its files were written.
#[derive(Debug, Clone)]
pub struct PreparedCase {
    pub plan: RunPlan,
    pub files: Vec<Rendered>,
    pub dir: PathBuf,
}

/// The outcome of the render half of the pipeline.
#[derive(Debug)]
pub struct Prepared {
    pub settings: Settings,
    pub layout: Layout,
    pub run_id: String,
    /// Set when the files went into a run directory (not an explicit --output-dir).
    pub run_dir: Option<RunDir>,
    pub out_dir: PathBuf,
    pub cases: Vec<PreparedCase>,
    /// Whether a test list was the selection (JSON output is then an array).
    pub is_list: bool,
}

pub fn parse_user_env(items: &[String]) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if crate::render::quote::is_env_name(k) => Ok((k.to_string(), v.to_string())),
            _ => Err(UserError(format!(
                "--env `{item}` must look like NAME=VALUE with NAME matching ^[A-Za-z_][A-Za-z0-9_]*$"
            ))
            .into()),
        })
        .collect()
}

/// Resolve, select, plan and render; write the files. `force_run_dir` puts them into a new run
/// directory even when --output-dir is absent (render does that too; `run` always does).
pub fn prepare(args: &RenderArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Prepared> {
    let settings = resolve(&args.cluster, &args.select, env)?;
    let trtllm = settings.trtllm_dir.clone().ok_or_else(|| {
        UserError(
            "no TensorRT-LLM checkout was given: pass --trtllm-dir DIR or set TRTLLM_DIR".into(),
        )
    })?;
    let layout = Layout::detect(&trtllm)?;
    let selected = select(&args.select, &settings, &layout)?;
    let user_env = parse_user_env(&args.env)?;
    let run_id = match &args.run_id {
        Some(id) if journal::valid_run_id(id) => id.clone(),
        Some(id) => {
            return Err(UserError(format!(
                "run id `{id}` may only contain letters, digits, `-`, `_` and `.`"
            ))
            .into());
        }
        None => journal::new_run_id(),
    };

    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for (i, sel) in selected.iter().enumerate() {
        let input = PlanInput {
            settings: &settings,
            layout: &layout,
            selected: sel,
            run_id: &run_id,
            case_index: i,
            user_env: &user_env,
        };
        match build_plan(&input) {
            Ok(p) => plans.push(p),
            Err(e) => problems.push(match sel.list_line {
                Some(line) => format!(
                    "{}:{line}: {e:#}",
                    args.select
                        .testlist
                        .as_deref()
                        .unwrap_or(Path::new("?"))
                        .display()
                ),
                None => format!("{e:#}"),
            }),
        }
    }
    if !problems.is_empty() {
        let msg = if problems.len() == 1 && args.select.testlist.is_none() {
            problems.remove(0)
        } else {
            format!(
                "{} case(s) cannot be planned:\n  {}",
                problems.len(),
                problems.join("\n  ")
            )
        };
        return Err(UserError(msg).into());
    }
    if let Some(m) = args.select.mode {
        plans.retain(|p| {
            let want = match m {
                ModeFilter::SingleAgg => Mode::SingleAgg,
                ModeFilter::MultiAgg => Mode::MultiAgg,
                ModeFilter::Disagg => Mode::Disagg,
            };
            let overridden = selected
                .iter()
                .find(|s| s.test_id.node_id() == p.test_id)
                .and_then(|s| s.mode_override);
            overridden.map(|o| o == m).unwrap_or(p.mode == want)
        });
        if plans.is_empty() {
            return Err(UserError(format!(
                "no selected case is a {} run",
                match m {
                    ModeFilter::SingleAgg => "single-agg",
                    ModeFilter::MultiAgg => "multi-agg",
                    ModeFilter::Disagg => "disagg",
                }
            ))
            .into());
        }
    }
    for p in &plans {
        for w in &p.warnings {
            output::warn(w);
        }
    }

    let templates = Templates::load(settings.templates_dir.as_deref())?;
    let is_list = args.select.testlist.is_some();
    let (run_dir, out_dir) = match &args.output_dir {
        Some(d) => (None, d.clone()),
        None => {
            let rd = RunDir::create(&journal::runs_home(env), &run_id)?;
            let root = rd.root.clone();
            (Some(rd), root)
        }
    };
    let mut cases = Vec::new();
    for plan in plans {
        let files = templates.render(&plan)?;
        let dir = match (&run_dir, is_list) {
            (Some(rd), _) => rd.case_dir(&plan.case_dir),
            (None, true) => out_dir.join(&plan.case_dir),
            (None, false) => out_dir.clone(),
        };
        write_case(&dir, &plan, &files)?;
        cases.push(PreparedCase { plan, files, dir });
    }
    Ok(Prepared {
        settings,
        layout,
        run_id,
        run_dir,
        out_dir,
        cases,
        is_list,
    })
}

fn write_case(dir: &Path, plan: &RunPlan, files: &[Rendered]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
    for f in files {
        let path = dir.join(f.name);
        journal::write_atomic(&path, f.content.as_bytes())?;
        if f.name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {} executable", path.display()))?;
        }
    }
    let plan_json = serde_json::to_vec_pretty(plan).context("cannot serialise the plan")?;
    journal::write_atomic(&dir.join("plan.json"), &plan_json)?;
    Ok(())
}

/// The `--json` object of one plan (the CLI contract of the foundation issue).
pub fn plan_json(c: &PreparedCase) -> serde_json::Value {
    let p = &c.plan;
    let files: BTreeMap<&str, String> = c
        .files
        .iter()
        .map(|f| (f.name, c.dir.join(f.name).display().to_string()))
        .collect();
    let roles: Vec<serde_json::Value> = if p.mode == Mode::Disagg {
        p.steps
            .iter()
            .map(|s| {
                json!({"name": s.name, "nodes": s.nodes, "ntasks": s.ntasks, "ntasks_per_node": s.ntasks_per_node})
            })
            .collect()
    } else {
        vec![]
    };
    json!({
        "mode": p.mode,
        "test_id": p.test_id,
        "case_name": p.case_name,
        "config_path": p.config_path.display().to_string(),
        "generation": p.generation,
        "benchmark_mode": p.bench_mode,
        "modifier": p.modifier,
        "total_nodes": p.total_nodes,
        "total_gpus": p.total_gpus,
        "gpus_per_node": p.gpus_per_node,
        "sbatch": {
            "nodes": p.sbatch.nodes,
            "ntasks": p.sbatch.ntasks,
            "ntasks_per_node": p.sbatch.ntasks_per_node,
            "gpus_per_node": p.sbatch.gpus_per_node,
            "partition": p.sbatch.partition,
            "account": p.sbatch.account,
            "time": p.sbatch.time,
            "segment": p.sbatch.segment,
            "job_name": p.sbatch.job_name,
        },
        "pytest_timeout_s": p.pytest_timeout_s,
        "warnings": p.warnings,
        "roles": roles,
        "servers": p.servers,
        "skip": p.skip,
        "files": files,
    })
}

/// Print what `render` / `run --dry-run` produced: every file under a header, or JSON.
pub fn print_prepared(prep: &Prepared, json_out: bool) {
    if json_out {
        let v: Vec<serde_json::Value> = prep.cases.iter().map(plan_json).collect();
        let text = if prep.is_list {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string_pretty(&v[0])
        };
        output::data(text.unwrap_or_default());
        return;
    }
    let mut out = String::new();
    for c in &prep.cases {
        for f in &c.files {
            out.push_str(&format!(
                "==> {} <== ({}, {} {})\n",
                c.dir.join(f.name).display(),
                c.plan.test_id,
                c.plan.mode.as_str(),
                plural(c.plan.total_nodes, "node")
            ));
            out.push_str(&f.content);
            if !f.content.ends_with('\n') {
                out.push('\n');
            }
            out.push('\n');
        }
    }
    output::data(out);
    for c in &prep.cases {
        let skip = c
            .plan
            .skip
            .as_ref()
            .map(|s| format!(" (SKIP: {s})"))
            .unwrap_or_default();
        output::info(format!(
            "{}: {} on {} / {} GPUs{skip}",
            c.plan.test_id,
            c.plan.mode.as_str(),
            plural(c.plan.total_nodes, "node"),
            c.plan.total_gpus
        ));
    }
    output::info(format!(
        "wrote the generated files to {}",
        prep.out_dir.display()
    ));
}

fn plural(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

pub fn run(args: RenderArgs) -> Result<Exit> {
    let prep = prepare(&args, &crate::config::process_env)?;
    print_prepared(&prep, args.json);
    Ok(Exit::Success)
}
