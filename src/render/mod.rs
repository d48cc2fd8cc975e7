//! Rendering: a `RunPlan` → the generated files, through tera templates (`templates/`, built in;
//! `--templates DIR` overrides any of them by file name). Every `{{ value }}` in a `.sh`
//! template is shell-quoted by the escape function; `#SBATCH` values and env-var names go
//! through validating filters instead (DESIGN.md "Quoting").

pub mod error;

use std::path::{Path, PathBuf};

use serde::Serialize;
use tera::{Context, Kwargs, State, Tera, TeraResult, Value};

use crate::plan::{Mode, RunPlan};
use crate::shell::{check_value, is_env_name, is_sbatch_key, is_sbatch_value, quote_word};
pub use error::RenderError;

/// The files perf-run generates for each case, in the order they are printed.
pub const FILES: [&str; 4] = [
    "slurm_launch_prefix.sh",
    "slurm_launch.sh",
    "test_list.txt",
    "slurm_srun_args.txt",
];

const BUILTIN: [(&str, &str); 4] = [
    (
        "slurm_launch_prefix.sh",
        include_str!("../../templates/slurm_launch_prefix.sh"),
    ),
    (
        "slurm_launch.sh",
        include_str!("../../templates/slurm_launch.sh"),
    ),
    (
        "test_list.txt",
        include_str!("../../templates/test_list.txt"),
    ),
    (
        "slurm_srun_args.txt",
        include_str!("../../templates/slurm_srun_args.txt"),
    ),
];

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: &'static str,
    pub content: String,
}

fn escape_bash(input: &str, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    out.write_all(quote_word(input).as_bytes())
}

/// A filter whose output is trusted because it was validated, not quoted.
struct Validated {
    what: &'static str,
    ok: fn(&str) -> bool,
    rule: &'static str,
}

impl tera::Filter<&Value, TeraResult<Value>> for Validated {
    fn call(&self, v: &Value, _: Kwargs, _: &State) -> TeraResult<Value> {
        let s = match v.as_str() {
            Some(s) => s.to_string(),
            None => v.to_string(),
        };
        if (self.ok)(&s) {
            Ok(Value::safe_string(&s))
        } else {
            Err(tera::Error::message(format!(
                "{} `{}` is not allowed: {}",
                self.what,
                crate::error::escape_for_message(&s),
                self.rule
            )))
        }
    }
    fn is_safe(&self) -> bool {
        true
    }
}

/// The template set: built-in files, overridden by same-named files in `dir`.
pub struct Templates {
    tera: Tera,
    origin: Option<PathBuf>,
}

impl Templates {
    pub fn load(dir: Option<&Path>) -> Result<Templates, RenderError> {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".sh"]);
        tera.set_escape_fn(escape_bash);
        tera.register_filter(
            "sbatch_value",
            Validated {
                what: "#SBATCH value",
                ok: is_sbatch_value,
                rule: "sbatch reads these lines itself (not bash), so only letters, digits and . _ , : = @ % + / - are allowed",
            },
        );
        tera.register_filter(
            "sbatch_key",
            Validated {
                what: "#SBATCH option",
                ok: is_sbatch_key,
                rule: "option names are lower-case words joined by -",
            },
        );
        tera.register_filter(
            "env_name",
            Validated {
                what: "environment variable name",
                ok: is_env_name,
                rule: "names must match ^[A-Za-z_][A-Za-z0-9_]*$",
            },
        );
        let mut sources = Vec::new();
        for (name, builtin) in BUILTIN {
            let over = dir.map(|d| d.join(name)).filter(|p| p.is_file());
            let text = match &over {
                Some(p) => {
                    std::fs::read_to_string(p).map_err(|error| RenderError::ReadTemplate {
                        path: p.clone(),
                        error,
                    })?
                }
                None => builtin.to_string(),
            };
            sources.push((name, text, over));
        }
        if let Some(d) = dir
            && !d.is_dir()
        {
            return Err(RenderError::NoTemplatesDir {
                dir: d.to_path_buf(),
            });
        }
        for (name, text, over) in &sources {
            tera.add_raw_template(name, text)
                .map_err(|e| RenderError::TemplateSyntax {
                    template: over
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| format!("(built-in) {name}")),
                    why: one_line(&e.to_string()),
                })?;
        }
        Ok(Templates {
            tera,
            origin: dir.map(Path::to_path_buf),
        })
    }

    /// Render every file of one plan.
    pub fn render(&self, plan: &RunPlan) -> Result<Vec<Rendered>, RenderError> {
        let ctx = Context::from_serialize(&context(plan)?)
            .map_err(|e| RenderError::Context { why: e.to_string() })?;
        FILES
            .iter()
            .map(|name| {
                let content = self.tera.render(name, &ctx).map_err(|e| {
                    let from = match &self.origin {
                        Some(d) if d.join(name).is_file() => d.join(name).display().to_string(),
                        _ => format!("(built-in) {name}"),
                    };
                    RenderError::TemplateRender {
                        template: from,
                        why: one_line(&format!("{e:#}")),
                    }
                })?;
                Ok(Rendered { name, content })
            })
            .collect()
    }
}

/// Tera's errors come with a multi-line snippet; keep the sentence and the location.
fn one_line(s: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for l in s.lines() {
        let t = l.trim();
        if t.starts_with('|') || t.chars().all(|c| c == '^' || c == ' ' || c == '-') {
            continue;
        }
        let e = t.trim_start_matches("-->").trim();
        if !e.is_empty() && !parts.contains(&e) {
            parts.push(e);
        }
    }
    parts.join("; ")
}

#[derive(Serialize)]
struct KeyValue {
    key: String,
    value: String,
    /// Written commented out: the cluster's Slurm rejects it (profile `strip_sbatch`).
    stripped: bool,
}

#[derive(Serialize)]
struct NameValue {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct StepCtx<'a> {
    name: &'a str,
    nodes: u32,
    ntasks: u32,
    ntasks_per_node: u32,
    first_node: u32,
    mpi: Option<&'a str>,
    overlap: bool,
    command: &'a str,
    log: &'a str,
    log_append: bool,
    done: Option<&'a str>,
    scrub_env: bool,
    precheck_command: Option<&'a str>,
    precheck_log: Option<&'a str>,
}

#[derive(Serialize)]
struct RenderContext<'a> {
    version: &'static str,
    mode: &'static str,
    disagg: bool,
    test_id: &'a str,
    case_name: &'a str,
    config_rel: &'a str,
    stage_name: &'a str,
    total_nodes: u32,
    total_gpus: u32,
    gpus_per_node: u32,
    sbatch: Vec<KeyValue>,
    /// `#SBATCH --requeue` or `--no-requeue` (docs/slurm-faults.md).
    requeue: bool,
    /// `#SBATCH --signal=B:USR1@N`: N.
    time_warning_s: u64,
    /// The job workspace's file names (`plan::workspace`).
    files: crate::plan::workspace::TemplateFiles,
    exports: Vec<NameValue>,
    srun_args: &'a [String],
    srun_args_no_gpu: &'a [String],
    steps: Vec<StepCtx<'a>>,
    paths: &'a crate::plan::RemotePaths,
    launch_delay: u32,
    stall_s: u64,
    install: Option<&'a crate::plan::InstallPlan>,
    precheck: Option<&'a crate::plan::PrecheckPlan>,
}

/// An `#SBATCH --key=value` value must pass the allowlist: sbatch reads these lines itself,
/// not bash (DESIGN.md "Quoting"). Used by `render` and `doctor`.
pub fn check_sbatch_value(key: &str, value: &str) -> Result<(), RenderError> {
    if is_sbatch_value(value) {
        return Ok(());
    }
    Err(RenderError::SbatchValue {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// The template context of a plan, after checking every value that is not quoted.
fn context(plan: &RunPlan) -> Result<RenderContext<'_>, RenderError> {
    let s = &plan.sbatch;
    let mut sbatch = vec![
        ("job-name", s.job_name.clone()),
        ("output", s.output.clone()),
        ("nodes", s.nodes.to_string()),
        ("ntasks", s.ntasks.to_string()),
        ("ntasks-per-node", s.ntasks_per_node.to_string()),
        ("gpus-per-node", s.gpus_per_node.to_string()),
    ];
    if let Some(n) = s.segment {
        sbatch.push(("segment", n.to_string()));
    }
    if let Some(p) = &s.partition {
        sbatch.push(("partition", p.clone()));
    }
    if let Some(a) = &s.account {
        sbatch.push(("account", a.clone()));
    }
    sbatch.push(("time", s.time.clone()));
    // Slurm's warning before the time limit, to the batch shell only (templates/slurm_launch.sh
    // `perf_run_on_warning`).
    sbatch.push(("signal", format!("B:USR1@{}", s.time_warning_s)));
    for (k, v) in &sbatch {
        check_sbatch_value(k, v)?;
    }
    for a in &plan.srun_args {
        if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RenderError::SrunArg { arg: a.clone() });
        }
    }
    let mut exports = Vec::new();
    for (k, v) in &plan.exports {
        if !is_env_name(k) {
            return Err(RenderError::ExportName { name: k.clone() });
        }
        check_value(&format!("the value of {k}"), v).map_err(|why| RenderError::ExportValue {
            name: k.clone(),
            why,
        })?;
        exports.push(NameValue {
            name: k.clone(),
            value: v.clone(),
        });
    }
    let steps = plan
        .steps
        .iter()
        .map(|st| StepCtx {
            name: &st.name,
            nodes: st.nodes,
            ntasks: st.ntasks,
            ntasks_per_node: st.ntasks_per_node,
            first_node: st.first_node,
            mpi: st.mpi.as_deref(),
            overlap: st.overlap,
            command: &st.command,
            log: &st.log,
            log_append: st.log_append,
            done: st.done.as_deref(),
            scrub_env: st.scrub_env,
            precheck_command: st.precheck_command.as_deref(),
            precheck_log: st.precheck_log.as_deref(),
        })
        .collect();
    Ok(RenderContext {
        version: env!("CARGO_PKG_VERSION"),
        mode: plan.mode.as_str(),
        disagg: plan.mode == Mode::Disagg,
        test_id: &plan.test_id,
        case_name: &plan.case_name,
        config_rel: &plan.config_rel,
        stage_name: &plan.stage_name,
        total_nodes: plan.total_nodes,
        total_gpus: plan.total_gpus,
        gpus_per_node: plan.gpus_per_node,
        sbatch: sbatch
            .into_iter()
            .map(|(k, v)| KeyValue {
                stripped: plan.strip_sbatch.iter().any(|o| o == k),
                key: k.to_string(),
                value: v,
            })
            .collect(),
        requeue: s.requeue,
        time_warning_s: s.time_warning_s,
        files: crate::plan::workspace::TEMPLATE_FILES,
        exports,
        srun_args: &plan.srun_args,
        srun_args_no_gpu: &plan.srun_args_no_gpu,
        steps,
        paths: &plan.paths,
        launch_delay: plan.launch_delay,
        stall_s: plan.stall_s,
        install: plan.install.as_ref(),
        precheck: plan.precheck.as_ref(),
    })
}
