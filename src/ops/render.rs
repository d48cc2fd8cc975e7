//! `perf-run render` (and the first half of `run`): resolve → select → plan → render → write.
//! Touches no network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::json;

use crate::cli::RenderArgs;
use crate::config::layout::Layout;
use crate::config::settings::{Overrides, Settings, resolve};
use crate::error::{Exit, UserError};
use crate::journal::{self, RunDir};
use crate::output;
use crate::plan::select::{CANNOT_RUN, Choice, Selection, select};
use crate::plan::{Mode, PlanInput, RunPlan, build_plan, case_dir_name};
use crate::render::{Rendered, Templates};

/// One case, planned and rendered, with where its files were written.
#[derive(Debug, Clone)]
pub struct PreparedCase {
    pub plan: RunPlan,
    pub files: Vec<Rendered>,
    pub dir: PathBuf,
}

/// A test-list line that is part of the run as a skipped case because perf-run cannot run it
/// (not a perf-sanity id, a condition the cluster does not meet, or planning failed).
#[derive(Debug, Clone)]
pub struct UnplannedCase {
    pub index: usize,
    pub case_dir: String,
    pub test_id: String,
    pub case_name: String,
    pub list_line: usize,
    pub reason: String,
}

/// The `mode` recorded for a case that was never planned.
pub const UNPLANNED_MODE: &str = "unplanned";

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
    /// Test-list lines that become skipped cases without a plan (see `UnplannedCase`).
    pub unplanned: Vec<UnplannedCase>,
    /// Whether a test list was the selection (JSON output is then an array).
    pub is_list: bool,
}

pub fn parse_user_env(items: &[String]) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if crate::shell::is_env_name(k) => Ok((k.to_string(), v.to_string())),
            _ => Err(UserError(format!(
                "--env `{item}` must look like NAME=VALUE with NAME matching ^[A-Za-z_][A-Za-z0-9_]*$", item = crate::error::escape_for_message(item)
            ))
            .into()),
        })
        .collect()
}

/// Resolve, select, plan and render; write the files: into `args.output_dir` when given (render
/// and `run --dry-run` always give one, see `with_scratch_output`), else into a new run
/// directory under `runs_home` (a real run).
pub fn prepare(
    args: &RenderArgs,
    runs_home: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Prepared> {
    let selection = Selection::try_from(&args.select)?;
    let settings = resolve(&Overrides::from(args), env)?;
    let trtllm = settings.trtllm_dir.clone().ok_or_else(|| {
        UserError(
            "no TensorRT-LLM checkout was given: pass --trtllm-dir DIR or set TRTLLM_DIR".into(),
        )
    })?;
    let layout = Layout::detect(&trtllm)?;
    let selected = select(&selection, &settings, &layout)?;
    let user_env = parse_user_env(&args.env)?;
    let run_id = match &args.run_id {
        Some(id) if journal::valid_run_id(id) => id.clone(),
        Some(id) => {
            return Err(UserError(format!(
                "run id `{id}` may only contain letters, digits, `-`, `_` and `.`",
                id = crate::error::escape_for_message(id)
            ))
            .into());
        }
        None => journal::new_run_id(),
    };

    let list = selection.list();
    let is_list = list.is_some();
    let list_path = list
        .map_or(Path::new("?"), |l| l.path.as_path())
        .display()
        .to_string();
    let mut plans = Vec::new();
    let mut unplanned = Vec::new();
    for (i, choice) in selected.iter().enumerate() {
        let sel = match choice {
            Choice::Run(sel) => sel,
            Choice::Skip(u) => {
                unplanned.push(UnplannedCase {
                    index: i,
                    case_dir: case_dir_name(i, &u.case_name()),
                    test_id: u.id.clone(),
                    case_name: u.case_name(),
                    list_line: u.list_line,
                    reason: u.reason.clone(),
                });
                continue;
            }
        };
        let input = PlanInput {
            settings: &settings,
            layout: &layout,
            selected: sel,
            run_id: &run_id,
            case_index: i,
            user_env: &user_env,
        };
        match build_plan(&input) {
            Ok(mut p) => {
                if let Some((range, line)) = sel.system_gpu_count
                    && !range.contains(p.total_gpus)
                {
                    p.warnings.push(format!(
                        "{}: plans {} GPUs, but its test-db block ({list_path}:{line}) says system_gpu_count {range}: the list and perf-run's GPU math disagree (the case still runs)",
                        p.test_id, p.total_gpus
                    ));
                }
                plans.push(p)
            }
            // One case alone (--config, --test): its planning error is the command's error.
            Err(e) if !is_list => return Err(e.into()),
            // A test list runs what it can, like CI: this case becomes a skipped one.
            Err(e) => unplanned.push(UnplannedCase {
                index: i,
                case_dir: case_dir_name(i, &sel.test_id.case),
                test_id: sel.test_id.node_id(),
                case_name: sel.test_id.case.clone(),
                list_line: sel.list_line.unwrap_or(0),
                reason: format!("{CANNOT_RUN}{}", one_line(&format!("{e:#}"))),
            }),
        }
    }
    if let Some(m) = list.and_then(|l| l.mode) {
        plans.retain(|p| {
            let overridden = selected
                .iter()
                .filter_map(|c| match c {
                    Choice::Run(s) => Some(s),
                    Choice::Skip(_) => None,
                })
                .find(|s| s.test_id.node_id() == p.test_id)
                .and_then(|s| s.mode_override);
            overridden.map(|o| o == m).unwrap_or(p.mode == m)
        });
        if !unplanned.is_empty() {
            output::info(format!(
                "note: --mode leaves out the {} line(s) perf-run cannot plan (their mode is unknown)",
                unplanned.len()
            ));
            unplanned.clear();
        }
        if plans.is_empty() {
            return Err(UserError(format!("no selected case is a {} run", m.as_str())).into());
        }
    }
    if plans.is_empty() {
        let why: Vec<String> = unplanned
            .iter()
            .map(|u| {
                format!(
                    "{list_path}:{}: {}",
                    u.list_line,
                    u.reason.trim_start_matches(CANNOT_RUN)
                )
            })
            .collect();
        return Err(UserError(format!(
            "nothing in the test list {list_path} can run: perf-run cannot run any of its {} selected test(s):\n  {}",
            unplanned.len(),
            why.join("\n  ")
        ))
        .into());
    }
    for u in &unplanned {
        output::warn(format!(
            "{list_path}:{}: `{}` will be skipped: {}",
            u.list_line,
            crate::error::escape_for_message(&u.test_id),
            u.reason.trim_start_matches(CANNOT_RUN)
        ));
    }
    for p in &plans {
        for w in &p.warnings {
            output::warn(w);
        }
    }

    let templates = Templates::load(settings.templates_dir.as_deref())?;
    let (run_dir, out_dir) = match &args.output_dir {
        Some(d) => (None, d.clone()),
        None => {
            let rd = RunDir::create(runs_home, &run_id)?;
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
    for u in &unplanned {
        let dir = match &run_dir {
            Some(rd) => rd.case_dir(&u.case_dir),
            None => out_dir.join(&u.case_dir),
        };
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
        journal::write_atomic(
            &dir.join("skipped.txt"),
            format!("{}\n", u.reason).as_bytes(),
        )?;
    }
    Ok(Prepared {
        settings,
        layout,
        run_id,
        run_dir,
        out_dir,
        cases,
        unplanned,
        is_list,
    })
}

/// An error chain on one line (a skip reason is one sentence in the summary and JUnit).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn write_case(dir: &Path, plan: &RunPlan, files: &[Rendered]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output directory {}", dir.display()))?;
    for f in files {
        let path = dir.join(f.name);
        if f.name.ends_with(".sh") {
            crate::fsutil::write_atomic_executable(&path, f.content.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        } else {
            journal::write_atomic(&path, f.content.as_bytes())?;
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

/// The `--json` object of a test-list line that was not planned: no files, a `skip` reason.
pub fn unplanned_json(u: &UnplannedCase) -> serde_json::Value {
    json!({
        "mode": UNPLANNED_MODE,
        "test_id": u.test_id,
        "case_name": u.case_name,
        "list_line": u.list_line,
        "skip": u.reason,
        "files": {},
    })
}

/// Print what `render` / `run --dry-run` produced: JSON; every file under a header
/// (`--show-files`); or, by default, the batch script of the first case once and then a plan
/// table per case — a screen a tired engineer can read (issue #12).
pub fn print_prepared(prep: &Prepared, json_out: bool, show_files: bool) {
    if json_out {
        let mut v: Vec<(usize, serde_json::Value)> = prep
            .cases
            .iter()
            .map(|c| (c.plan.case_index, plan_json(c)))
            .collect();
        v.extend(prep.unplanned.iter().map(|u| (u.index, unplanned_json(u))));
        v.sort_by_key(|(i, _)| *i);
        let v: Vec<serde_json::Value> = v.into_iter().map(|(_, j)| j).collect();
        let text = if prep.is_list {
            serde_json::to_string_pretty(&v)
        } else {
            serde_json::to_string_pretty(&v[0])
        };
        output::data(text.unwrap_or_default());
        return;
    }
    let mut out = String::new();
    if show_files {
        for c in &prep.cases {
            for f in &c.files {
                out.push_str(&format!(
                    "==> {} <== ({}, {} {})\n",
                    c.dir.join(f.name).display(),
                    c.plan.test_id,
                    c.plan.mode.as_str(),
                    plural(c.plan.total_nodes, "node")
                ));
                push_text(&mut out, &f.content);
            }
        }
    } else {
        if let Some(c) = prep.cases.first()
            && let Some(f) = c.files.iter().find(|f| f.name == BATCH_SCRIPT)
        {
            out.push_str(&format!(
                "==> {} <== (the batch script of {}; --show-files prints every file of every case)\n",
                c.dir.join(f.name).display(),
                c.plan.case_name
            ));
            push_text(&mut out, &f.content);
        }
        let total = prep.cases.len() + prep.unplanned.len();
        let mut rows: Vec<(usize, String)> = prep
            .cases
            .iter()
            .map(|c| (c.plan.case_index, plan_table(c, &prep.settings)))
            .collect();
        rows.extend(prep.unplanned.iter().map(|u| {
            (
                u.index,
                format!(
                    "{}  skipped: {}\n",
                    u.test_id,
                    u.reason.trim_start_matches(CANNOT_RUN)
                ),
            )
        }));
        rows.sort_by_key(|(i, _)| *i);
        for (n, (_, text)) in rows.iter().enumerate() {
            out.push_str(&format!("case {} of {total}: {text}", n + 1));
        }
    }
    output::data(out);
    if show_files {
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
        for u in &prep.unplanned {
            output::info(format!("{}: skipped ({})", u.test_id, u.reason));
        }
    }
    output::info(format!(
        "wrote the generated files to {}",
        prep.out_dir.display()
    ));
}

fn hhmmss(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The file `sbatch` runs.
const BATCH_SCRIPT: &str = "slurm_launch.sh";

fn push_text(out: &mut String, text: &str) {
    out.push_str(text);
    if !text.ends_with('\n') {
        out.push('\n');
    }
    out.push('\n');
}

/// One case of the compact dry run: mode and id, the job's shape, the roles with their node
/// slices, what is installed, and where the files went.
fn plan_table(c: &PreparedCase, settings: &crate::config::settings::Settings) -> String {
    let p = &c.plan;
    let mut t = format!("{}  {}\n", p.mode.as_str(), p.test_id);
    let mut row = |k: &str, v: String| t.push_str(&format!("  {k:<9} {v}\n"));
    row("config", p.config_rel.clone());
    let mut job = format!(
        "{} x {} GPUs = {} GPUs, time {} (pytest {})",
        plural(p.total_nodes, "node"),
        p.gpus_per_node,
        p.total_gpus,
        p.sbatch.time,
        hhmmss(p.pytest_timeout_s)
    );
    if let Some(part) = &p.sbatch.partition {
        job.push_str(&format!(", partition {part}"));
    }
    if let Some(acc) = &p.sbatch.account {
        job.push_str(&format!(", account {acc}"));
    }
    if let Some(seg) = p.sbatch.segment {
        job.push_str(&format!(", segment {seg}"));
    }
    row("job", job);
    row(
        "image",
        settings
            .docker_image
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "none (no container)".into()),
    );
    let width = p.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for (i, s) in p.steps.iter().enumerate() {
        let nodes = if s.nodes <= 1 {
            format!("node {}", s.first_node)
        } else {
            format!("nodes {}-{}", s.first_node, s.first_node + s.nodes - 1)
        };
        let mut v = format!(
            "{:<width$}  {nodes:<11} {} ({}/node)",
            s.name,
            plural(s.ntasks, "task"),
            s.ntasks_per_node
        );
        if let Some(m) = &s.mpi {
            v.push_str(&format!(", mpi {m}"));
        }
        if s.overlap {
            v.push_str(", overlaps");
        }
        row(if i == 0 { "roles" } else { "" }, v);
    }
    row(
        "install",
        match &p.install {
            Some(i) => format!("{} ({})", i.local.display(), i.source),
            None => "nothing (the image's TensorRT-LLM)".into(),
        },
    );
    if let Some(s) = &p.skip {
        row("skip", s.clone());
    }
    let names: Vec<&str> = c.files.iter().map(|f| f.name).collect();
    row(
        "files",
        format!("{}/ ({}, plan.json)", c.dir.display(), names.join(", ")),
    );
    t
}

fn plural(n: u32, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `render` and `run --dry-run` without `--output-dir` write into a new scratch directory
/// (`journal::scratch_home`), never into the runs home where real runs live.
pub fn with_scratch_output(args: &RenderArgs, env: &dyn Fn(&str) -> Option<String>) -> RenderArgs {
    let mut a = args.clone();
    if a.output_dir.is_none() {
        let home = journal::scratch_home(env);
        journal::prune_scratch(&home, journal::SCRATCH_KEEP.saturating_sub(1));
        let id = a.run_id.clone().unwrap_or_else(journal::new_run_id);
        a.output_dir = Some(home.join(&id));
        a.run_id = Some(id);
    }
    a
}

pub fn run(args: RenderArgs) -> Result<Exit> {
    let env = crate::config::process_env;
    let args = with_scratch_output(&args, &env);
    let prep = prepare(&args, &journal::runs_home(&env), &env)?;
    print_prepared(&prep, args.json, args.show_files);
    Ok(Exit::Success)
}
