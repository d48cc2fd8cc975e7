//! Which generation of the TensorRT-LLM perf-sanity layout a checkout has (reference §0 table),
//! and where its config files live.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

use super::perf_sanity::{ConfigKind, FoundConfig};
use crate::error::UserError;

/// The three generations of reference §0 (G1 legacy, G2 transitional, G3 current).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Generation {
    /// `disagg_upload-<cfg>`; disagg configs in `…/disagg/test_configs/disagg/perf/`.
    G1,
    /// `disagg_upload-{e2e,gen_only}-<cfg>`; disagg configs in `…/disagg/test_configs/disagg/perf-sanity/`.
    G2,
    /// `disagg_upload-{e2e,gen_only}-<cfg>`; `tests/scripts/perf-sanity/{aggregated,disaggregated}/`.
    G3,
}

impl Generation {
    /// Whether disagg test ids carry the benchmark mode (`e2e`/`gen_only`) label (reference §3).
    pub fn disagg_id_has_mode(self) -> bool {
        !matches!(self, Generation::G1)
    }
}

pub const G3_AGG: &str = "tests/scripts/perf-sanity/aggregated";
pub const G3_DISAGG: &str = "tests/scripts/perf-sanity/disaggregated";
pub const LEGACY_AGG: &str = "tests/scripts/perf-sanity";
pub const G2_DISAGG: &str = "tests/integration/defs/perf/disagg/test_configs/disagg/perf-sanity";
pub const G1_DISAGG: &str = "tests/integration/defs/perf/disagg/test_configs/disagg/perf";
pub const G1_DISAGG_WIDEEP: &str = "tests/integration/defs/perf/disagg/test_configs/wideep/perf";
/// pytest rootdir and working directory (reference §3).
pub const DEFS_DIR: &str = "tests/integration/defs";

/// A detected checkout layout.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub root: PathBuf,
    pub generation: Generation,
    /// Aggregated config folders, relative to `root`, in search order.
    pub agg_dirs: Vec<&'static str>,
    /// Disaggregated config folders, relative to `root`, in search order.
    pub disagg_dirs: Vec<&'static str>,
}

impl Layout {
    /// Look at a checkout and decide its generation from the folders that exist.
    pub fn detect(root: &Path) -> Result<Layout> {
        if !root.is_dir() {
            return Err(UserError(format!(
                "the TensorRT-LLM checkout {} does not exist or is not a directory (--trtllm-dir / TRTLLM_DIR)",
                root.display()
            ))
            .into());
        }
        let has = |p: &str| root.join(p).is_dir();
        let (generation, agg_dirs, disagg_dirs) = if has(G3_AGG) || has(G3_DISAGG) {
            (Generation::G3, vec![G3_AGG], vec![G3_DISAGG])
        } else if has(G2_DISAGG) {
            (Generation::G2, vec![LEGACY_AGG], vec![G2_DISAGG])
        } else if has(G1_DISAGG) || has(G1_DISAGG_WIDEEP) || has(LEGACY_AGG) {
            (
                Generation::G1,
                vec![LEGACY_AGG],
                vec![G1_DISAGG, G1_DISAGG_WIDEEP],
            )
        } else {
            return Err(UserError(format!(
                "{} does not look like a TensorRT-LLM checkout: none of the perf-sanity config folders exist (looked for {G3_AGG}, {G3_DISAGG}, {G2_DISAGG}, {G1_DISAGG}, {LEGACY_AGG})",
                root.display()
            ))
            .into());
        };
        Ok(Layout {
            root: root.to_path_buf(),
            generation,
            agg_dirs,
            disagg_dirs,
        })
    }

    /// The aggregated config folder the test reads (`AGG_CONFIG_FOLDER`), relative to root.
    pub fn agg_dir(&self) -> &'static str {
        self.agg_dirs[0]
    }

    /// The disaggregated config folder the test reads (`DISAGG_CONFIG_FOLDER`), relative to root.
    pub fn disagg_dir(&self) -> &'static str {
        self.disagg_dirs[0]
    }

    fn candidates(&self, kind: ConfigKind) -> &[&'static str] {
        match kind {
            ConfigKind::Aggregated => &self.agg_dirs,
            ConfigKind::Disaggregated => &self.disagg_dirs,
        }
    }

    /// Find `<name>.yaml` of the given kind, or (kind `None`) in either kind's folders.
    pub fn find_config(&self, name: &str, kind: Option<ConfigKind>) -> Result<FoundConfig> {
        let base = name
            .strip_suffix(".yaml")
            .or_else(|| name.strip_suffix(".yml"))
            .unwrap_or(name);
        if base.is_empty() || base.contains('/') || base.contains('\0') {
            return Err(UserError(format!(
                "`{name}` is not a config name; give the file name without folder, e.g. `deepseek_r1_fp4_v2_grace_blackwell`", name = crate::error::escape_for_message(name)
            ))
            .into());
        }
        let kinds: Vec<ConfigKind> = match kind {
            Some(k) => vec![k],
            None => vec![ConfigKind::Aggregated, ConfigKind::Disaggregated],
        };
        let mut found = Vec::new();
        for k in &kinds {
            for dir in self.candidates(*k) {
                for ext in ["yaml", "yml"] {
                    let p = self.root.join(dir).join(format!("{base}.{ext}"));
                    if p.is_file() {
                        found.push(FoundConfig {
                            name: base.to_string(),
                            path: p,
                            kind: *k,
                        });
                        break;
                    }
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                let searched: Vec<String> = kinds
                    .iter()
                    .flat_map(|k| self.candidates(*k).iter())
                    .map(|d| self.root.join(d).display().to_string())
                    .collect();
                let names = self.config_names(&kinds);
                let close = close_matches(base, names.iter().map(String::as_str), 3);
                let hint = if close.is_empty() {
                    String::new()
                } else {
                    format!(" Close matches: {}.", close.join(", "))
                };
                Err(UserError(format!(
                    "no perf-sanity config named `{}` was found (searched {}).{hint}",
                    crate::error::escape_for_message(base),
                    searched.join(", ")
                ))
                .into())
            }
            _ => Err(UserError(format!(
                "the config name `{base}` is ambiguous: {}",
                found
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                base = crate::error::escape_for_message(base)
            ))
            .into()),
        }
    }

    /// Base names of every config file of these kinds.
    pub fn config_names(&self, kinds: &[ConfigKind]) -> Vec<String> {
        let mut out = Vec::new();
        for k in kinds {
            for dir in self.candidates(*k) {
                let Ok(rd) = std::fs::read_dir(self.root.join(dir)) else {
                    continue;
                };
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().to_string();
                    if let Some(b) = n.strip_suffix(".yaml").or_else(|| n.strip_suffix(".yml")) {
                        out.push(b.to_string());
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Up to `n` names close to `want` (Jaro-Winkler on lower case, plus substring hits).
pub fn close_matches<'a>(
    want: &str,
    names: impl Iterator<Item = &'a str>,
    n: usize,
) -> Vec<String> {
    let w = want.to_lowercase();
    let mut scored: Vec<(f64, &str)> = names
        .map(|name| {
            let l = name.to_lowercase();
            let mut s = strsim::jaro_winkler(&w, &l);
            if l.contains(&w) || w.contains(&l) {
                s += 0.2;
            }
            (s, name)
        })
        .filter(|(s, _)| *s > 0.75)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(n)
        .map(|(_, s)| format!("`{s}`"))
        .collect()
}
