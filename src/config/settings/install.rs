//! Which TensorRT-LLM wheel a run installs on every node (upstream slurm_install.sh).

use std::path::PathBuf;

use serde::Serialize;

use super::Overrides;
use crate::config::ConfigError;

/// `--install` / `PERF_RUN_INSTALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallMode {
    /// Install the wheel given (`--trtllm-wheel`, `TRTLLM_WHEEL`) or found in the checkout.
    Auto,
    /// Install nothing: the image's own TensorRT-LLM runs.
    None,
}

impl InstallMode {
    /// `auto` or `none`, as `--install` and `PERF_RUN_INSTALL` spell it.
    pub fn from_name(s: &str) -> Option<InstallMode> {
        match s {
            "auto" => Some(InstallMode::Auto),
            "none" => Some(InstallMode::None),
            _ => None,
        }
    }
}

/// A TensorRT-LLM wheel to install before the test (upstream slurm_install.sh).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wheel {
    pub path: PathBuf,
    /// Where it came from: `--trtllm-wheel`, `TRTLLM_WHEEL` or the checkout's build output.
    pub source: &'static str,
}

/// `--install none` > `--trtllm-wheel` > `TRTLLM_WHEEL` > the newest
/// `<checkout>/build/tensorrt_llm-*.whl` (where upstream's build_wheel.py writes it) > none.
pub(super) fn resolve_install(
    o: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
    trtllm_dir: Option<&std::path::Path>,
) -> Result<Option<Wheel>, ConfigError> {
    let mode = match o.install {
        Some(m) => m,
        None => match env("PERF_RUN_INSTALL").filter(|v| !v.is_empty()) {
            None => InstallMode::Auto,
            Some(v) => InstallMode::from_name(&v).ok_or(ConfigError::InstallMode { value: v })?,
        },
    };
    if mode == InstallMode::None {
        return Ok(None);
    }
    let given = o
        .trtllm_wheel
        .clone()
        .map(|p| (p, "--trtllm-wheel"))
        .or_else(|| {
            env("TRTLLM_WHEEL")
                .filter(|v| !v.is_empty())
                .map(|v| (PathBuf::from(v), "TRTLLM_WHEEL"))
        });
    if let Some((path, source)) = given {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if !path.is_file() || !name.ends_with(".whl") {
            return Err(ConfigError::NotAWheel { path, from: source });
        }
        return Ok(Some(Wheel { path, source }));
    }
    let Some(dir) = trtllm_dir else {
        return Ok(None);
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir.join("build"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with("tensorrt_llm-") && n.ends_with(".whl")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    Ok(found.pop().map(|(_, path)| Wheel {
        path,
        source: "the checkout's build output",
    }))
}
