//! The render layer's errors: a template that cannot be read, parsed or rendered, and a value
//! that cannot go into a generated script. All are mistakes in what the user gave (exit 2),
//! except a context that cannot be built, which is perf-run's own bug.

use std::path::PathBuf;

use crate::error::{Exit, escape_for_message};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot read the template {}: {error}", .path.display())]
    ReadTemplate {
        path: PathBuf,
        error: std::io::Error,
    },

    #[error("the templates directory {} does not exist (--templates)", .dir.display())]
    NoTemplatesDir { dir: PathBuf },

    /// `template` is the override's path, or `(built-in) <name>`.
    #[error("the template {template} has a syntax error: {why}")]
    TemplateSyntax { template: String, why: String },

    #[error("the template {template} cannot be rendered: {why}")]
    TemplateRender { template: String, why: String },

    #[error("internal error: the render context cannot be built: {why}")]
    Context { why: String },

    #[error(
        "the #SBATCH --{key} value `{}` cannot be used: sbatch reads these lines itself, so only letters, digits and . _ , : = @ % + / - are allowed (check the cluster profile, CLUSTER_* variables and flags)",
        escape_for_message(.value)
    )]
    SbatchValue { key: String, value: String },

    #[error(
        "the srun argument `{}` cannot be used: srun arguments may not contain spaces or control characters (check EXTRA_SRUN_PARAMS, DOCKER_IMAGE and the paths in the profile)",
        escape_for_message(.arg)
    )]
    SrunArg { arg: String },

    #[error(
        "`{name}` cannot be exported: environment variable names must match ^[A-Za-z_][A-Za-z0-9_]*$"
    )]
    ExportName { name: String },

    /// A value a shell script cannot hold (`shell::check_value` says why).
    #[error("{why}")]
    ExportValue { name: String, why: String },
}

impl RenderError {
    pub fn exit(&self) -> Exit {
        match self {
            RenderError::Context { .. } => Exit::Infra,
            _ => Exit::Usage,
        }
    }
}
