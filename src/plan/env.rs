//! Environment strings of a config (`server_env_var`, `environment.*`) → `NAME=VALUE` pairs.

use crate::config::perf_sanity::{DisaggConfig, ServerConfig};

use super::PlanError;

/// The `server_env_var` of the selected aggregated servers, for every rank of a multi-node
/// step. One job has one environment: servers with different env strings are run with none
/// and a warning (run them as separate cases).
pub(super) fn aggregated_env(
    chosen: &[&ServerConfig],
    model: &str,
    path: &std::path::Path,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, PlanError> {
    let mut envs = Vec::new();
    for s in chosen {
        let text = s.server_env_var.as_deref().unwrap_or("");
        let env = parse_env_assignments(text).map_err(|why| PlanError::EnvField {
            config: path.to_path_buf(),
            field: format!("server_configs[{}].server_env_var", s.resolved_name(model)),
            why,
        })?;
        envs.push(env);
    }
    envs.dedup();
    if envs.len() > 1 {
        warnings.push(
            "the selected servers have different `server_env_var`s, and one multi-node job can give its ranks only one environment; the test still sets each server's own, but worker ranks get none (select one server per case)".into(),
        );
        return Ok(Vec::new());
    }
    Ok(envs.pop().unwrap_or_default())
}

/// Env-var strings of a disagg config (`worker_env_var`, …), parsed into pairs.
#[derive(Debug, Clone, Default)]
pub struct RoleEnv {
    pub worker: Vec<(String, String)>,
    pub ctx_worker: Vec<(String, String)>,
    pub gen_worker: Vec<(String, String)>,
    pub server: Vec<(String, String)>,
    pub benchmark: Vec<(String, String)>,
}

impl RoleEnv {
    pub(super) fn from_disagg(
        c: &DisaggConfig,
        path: &std::path::Path,
    ) -> Result<RoleEnv, PlanError> {
        let e = &c.environment;
        let parse = |field: &str, v: &Option<String>| -> Result<Vec<(String, String)>, PlanError> {
            parse_env_assignments(v.as_deref().unwrap_or("")).map_err(|why| PlanError::EnvField {
                config: path.to_path_buf(),
                field: format!("environment.{field}"),
                why,
            })
        };
        let mut benchmark = parse("client_env_var", &e.client_env_var)?;
        benchmark.extend(parse("benchmark_env_var", &e.benchmark_env_var)?);
        Ok(RoleEnv {
            worker: parse("worker_env_var", &e.worker_env_var)?,
            ctx_worker: parse("ctx_worker_env_var", &e.ctx_worker_env_var)?,
            gen_worker: parse("gen_worker_env_var", &e.gen_worker_env_var)?,
            server: parse("server_env_var", &e.server_env_var)?,
            benchmark,
        })
    }
}

/// `A=1 B=two "C=x y"` → [(A, 1), (B, two), (C, x y)]. Split with shell (POSIX shlex) rules,
/// as upstream's submit.py/test hand the string to a shell: quoted tokens such as
/// `"PYTHONWARNINGS=ignore::DeprecationWarning:cutlass.cute.core"` (upstream 2026 DSv4 configs)
/// lose their quotes. A word that is not an assignment, or an unclosed quote, is an error
/// naming the offending text.
pub fn parse_env_assignments(s: &str) -> Result<Vec<(String, String)>, String> {
    let words = shlex::split(s).ok_or_else(|| "a quote is not closed".to_string())?;
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if crate::shell::is_env_name(k) => Ok((k.to_string(), v.to_string())),
            _ => Err(format!(
                "`{}` is not a NAME=VALUE assignment",
                crate::error::escape_for_message(&w)
            )),
        })
        .collect()
}
