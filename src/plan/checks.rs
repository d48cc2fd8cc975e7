//! Checks and resolutions of `build_plan` that read the checkout: the test module, a custom
//! prefix's config, the cache-transceiver precheck, `moe_config.load_balancer` paths.

use crate::config::layout::{DEFS_DIR, Layout};
use crate::config::perf_sanity::{ConfigKind, DisaggConfig, PerfConfig, ServerConfig, load_config};
use crate::config::settings::Settings;

use super::{CaseKind, PRECHECK_SCRIPT, PlanError, PrecheckPlan};

/// Whether (and how) the cache-transceiver precheck runs. `TRTLLM_DISAGG_CT_PRECHECK`
/// decides when set (upstream's switch); else the YAML's `cache_transceiver_precheck.enabled`;
/// else off (upstream's default since #17337, 2026-08-06). `step_timeout_s` defaults to
/// 1200 s and may not exceed 1800 s (upstream precheck_config.py).
pub(super) fn plan_precheck(
    c: &DisaggConfig,
    settings: &Settings,
    layout: &Layout,
    path: &std::path::Path,
    case: &str,
    warnings: &mut Vec<String>,
) -> Result<Option<PrecheckPlan>, PlanError> {
    let yaml = c.cache_transceiver_precheck.as_ref();
    let enabled = settings
        .ct_precheck
        .or_else(|| yaml.and_then(|p| p.enabled))
        .unwrap_or(false);
    if !enabled {
        if yaml.is_some() && settings.ct_precheck.is_none() {
            warnings.push(format!(
                "{}: `cache_transceiver_precheck` does not say `enabled: true`, so the precheck does not run (upstream's default is off since 2026-08-06; TRTLLM_DISAGG_CT_PRECHECK=1 turns it on)",
                path.display()
            ));
        }
        return Ok(None);
    }
    if !layout.root.join(PRECHECK_SCRIPT).is_file() {
        return Err(PlanError::PrecheckScriptMissing {
            config: path.to_path_buf(),
            switch: if settings.ct_precheck.is_some() {
                "TRTLLM_DISAGG_CT_PRECHECK"
            } else {
                "cache_transceiver_precheck.enabled"
            },
            checkout: layout.root.clone(),
            script: PRECHECK_SCRIPT,
        });
    }
    let timeout_s = yaml.and_then(|p| p.step_timeout_s).unwrap_or(1200);
    if timeout_s == 0 || timeout_s > 1800 {
        return Err(PlanError::PrecheckTimeout {
            config: path.to_path_buf(),
            seconds: timeout_s,
        });
    }
    Ok(Some(PrecheckPlan {
        timeout_s,
        work_rel: format!("{case}/cache_transceiver_precheck"),
    }))
}

/// `moe_config.load_balancer` as a path is resolved against the checkout root by the test
/// (upstream 2026): it must be in the checkout perf-run syncs, or the server fails at start.
pub(super) fn check_load_balancers(
    layout: &Layout,
    config: &PerfConfig,
    path: &std::path::Path,
) -> Result<(), PlanError> {
    let servers: Vec<(String, &ServerConfig)> = match config {
        PerfConfig::Aggregated(c) => c
            .server_configs
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("server_configs[{i}]"), s))
            .collect(),
        PerfConfig::Disaggregated(c) => vec![
            ("worker_config.ctx".to_string(), &c.worker_config.ctx),
            ("worker_config.gen".to_string(), &c.worker_config.generation),
        ],
    };
    for (field, s) in servers {
        let Some(serde_json::Value::String(lb)) =
            s.moe_config.as_ref().and_then(|m| m.load_balancer.as_ref())
        else {
            continue;
        };
        let p = std::path::Path::new(lb);
        let in_checkout = if p.is_absolute() {
            None
        } else {
            Some(layout.root.join(p))
        };
        if let Some(full) = in_checkout
            && !full.is_file()
        {
            return Err(PlanError::LoadBalancerOutsideCheckout {
                config: path.to_path_buf(),
                field,
                value: lb.clone(),
                checkout: layout.root.clone(),
            });
        }
    }
    Ok(())
}

/// The test module must exist in the checkout (pytest would only say "file not found" from
/// inside the job); the message names the closest module that does.
pub(super) fn check_module(layout: &Layout, module: &str) -> Result<(), PlanError> {
    let defs = layout.root.join(DEFS_DIR);
    if defs.join(module).is_file() {
        return Ok(());
    }
    let mut candidates = Vec::new();
    for dir in ["perf", "perf/disagg", ""] {
        let Ok(rd) = std::fs::read_dir(defs.join(dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if n.ends_with(".py") && n.starts_with("test_") {
                candidates.push(if dir.is_empty() {
                    n
                } else {
                    format!("{dir}/{n}")
                });
            }
        }
    }
    let close =
        crate::config::layout::close_matches(module, candidates.iter().map(String::as_str), 3);
    Err(PlanError::NoModule {
        module: module.to_string(),
        checkout: layout.root.clone(),
        close,
    })
}

/// A custom prefix's case (`custom_test-<rest>`): the mode comes from where the config lives.
/// `<rest>` is a config name of either kind, or `<aggregated config>-<server>[,<server>…]`.
/// A disaggregated config runs the mode its YAML's `benchmark.mode` names.
pub(super) fn resolve_custom(layout: &Layout, rest: &str) -> Result<CaseKind, PlanError> {
    let whole = layout.find_config(rest, None);
    let found = match whole {
        Ok(f) => f,
        Err(e) => {
            if let Some((cfg, servers)) = rest.split_once('-')
                && let Ok(f) = layout.find_config(cfg, Some(ConfigKind::Aggregated))
            {
                return Ok(CaseKind::Aggr {
                    config: f.name,
                    servers: Some(servers.split(',').map(str::to_string).collect()),
                });
            }
            return Err(e.into());
        }
    };
    Ok(match found.kind {
        ConfigKind::Aggregated => CaseKind::Aggr {
            config: found.name,
            servers: None,
        },
        ConfigKind::Disaggregated => {
            let PerfConfig::Disaggregated(c) = load_config(&found.path, found.kind)? else {
                unreachable!("kind follows the folder")
            };
            match c.benchmark.mode.as_deref().unwrap_or("e2e") {
                "ctx_only" => CaseKind::CtxOnly { config: found.name },
                "gen_only_no_context" => CaseKind::GenOnlyNoContext { config: found.name },
                m => CaseKind::Disagg {
                    config: found.name,
                    bench_mode: Some(
                        if m.contains("gen_only") {
                            "gen_only"
                        } else {
                            "e2e"
                        }
                        .into(),
                    ),
                },
            }
        }
    })
}
