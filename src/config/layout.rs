//! Which generation of the TensorRT-LLM perf-sanity layout a checkout has (reference §0 table),
//! and where its config files live.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::ConfigError;
use super::perf_sanity::{ConfigKind, FoundConfig};

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
    pub fn detect(root: &Path) -> Result<Layout, ConfigError> {
        if !root.is_dir() {
            return Err(ConfigError::CheckoutMissing {
                root: root.to_path_buf(),
            });
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
            return Err(ConfigError::NotACheckout {
                root: root.to_path_buf(),
            });
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
    pub fn find_config(
        &self,
        name: &str,
        kind: Option<ConfigKind>,
    ) -> Result<FoundConfig, ConfigError> {
        let base = name
            .strip_suffix(".yaml")
            .or_else(|| name.strip_suffix(".yml"))
            .unwrap_or(name);
        if base.is_empty() || base.contains('/') || base.contains('\0') {
            return Err(ConfigError::NotAConfigName {
                name: name.to_string(),
            });
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
                let searched = kinds
                    .iter()
                    .flat_map(|k| self.candidates(*k).iter())
                    .map(|d| self.root.join(d))
                    .collect();
                let names = self.config_names(&kinds);
                let close = close_matches(base, names.iter().map(String::as_str), 3);
                Err(ConfigError::ConfigNotFound {
                    name: base.to_string(),
                    searched,
                    close,
                })
            }
            _ => Err(ConfigError::AmbiguousConfig {
                name: base.to_string(),
                paths: found.into_iter().map(|f| f.path).collect(),
            }),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkout with these folders and (relative path) files.
    fn checkout(dirs: &[&str], files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("temp dir");
        for d in dirs {
            std::fs::create_dir_all(t.path().join(d)).expect("mkdir");
        }
        for f in files {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, "").expect("write");
        }
        t
    }

    /// (folders that exist, generation, agg folders, disagg folders)
    type LayoutRow<'a> = (&'a [&'a str], Generation, &'a [&'a str], &'a [&'a str]);

    #[test]
    fn generation_follows_the_folders_that_exist() {
        // (folders) → (generation, agg folders, disagg folders)
        let rows: &[LayoutRow] = &[
            (&[G3_AGG], Generation::G3, &[G3_AGG], &[G3_DISAGG]),
            (&[G3_DISAGG], Generation::G3, &[G3_AGG], &[G3_DISAGG]),
            // G3 wins over older folders left in the same tree.
            (
                &[G3_AGG, G2_DISAGG, G1_DISAGG],
                Generation::G3,
                &[G3_AGG],
                &[G3_DISAGG],
            ),
            (&[G2_DISAGG], Generation::G2, &[LEGACY_AGG], &[G2_DISAGG]),
            (
                &[G2_DISAGG, G1_DISAGG],
                Generation::G2,
                &[LEGACY_AGG],
                &[G2_DISAGG],
            ),
            (
                &[G1_DISAGG],
                Generation::G1,
                &[LEGACY_AGG],
                &[G1_DISAGG, G1_DISAGG_WIDEEP],
            ),
            (
                &[G1_DISAGG_WIDEEP],
                Generation::G1,
                &[LEGACY_AGG],
                &[G1_DISAGG, G1_DISAGG_WIDEEP],
            ),
            (
                &[LEGACY_AGG],
                Generation::G1,
                &[LEGACY_AGG],
                &[G1_DISAGG, G1_DISAGG_WIDEEP],
            ),
        ];
        for (dirs, generation, agg, disagg) in rows {
            let t = checkout(dirs, &[]);
            let l = Layout::detect(t.path()).expect("detected");
            assert_eq!(
                (
                    l.generation,
                    l.agg_dirs.as_slice(),
                    l.disagg_dirs.as_slice()
                ),
                (*generation, *agg, *disagg),
                "{dirs:?}"
            );
            assert_eq!((l.agg_dir(), l.disagg_dir()), (agg[0], disagg[0]));
        }
        assert!(!Generation::G1.disagg_id_has_mode());
        assert!(Generation::G2.disagg_id_has_mode());
        assert!(Generation::G3.disagg_id_has_mode());
    }

    #[test]
    fn not_a_checkout_is_one_clear_sentence() {
        let t = checkout(&["tests/integration/defs"], &[]);
        let e = Layout::detect(t.path())
            .expect_err("no config folder")
            .to_string();
        assert!(
            e.contains("does not look like a TensorRT-LLM checkout") && e.contains(G3_AGG),
            "{e}"
        );
        let missing = t.path().join("nope");
        let e = Layout::detect(&missing).expect_err("missing").to_string();
        assert!(e.contains("does not exist or is not a directory"), "{e}");
        assert!(e.contains("--trtllm-dir"), "{e}");
    }

    #[test]
    fn find_config_by_name_kind_and_extension() {
        let t = checkout(
            &[],
            &[
                &format!("{G3_AGG}/agg_a.yaml"),
                &format!("{G3_AGG}/agg_b.yml"),
                &format!("{G3_DISAGG}/gb200_dis-x.yaml"),
                &format!("{G3_AGG}/both.yaml"),
                &format!("{G3_DISAGG}/both.yaml"),
                &format!("{G3_AGG}/notes.txt"),
            ],
        );
        let l = Layout::detect(t.path()).expect("G3");
        // With or without the extension; .yml too; kind from the folder.
        for (name, kind, want_kind, file) in [
            ("agg_a", None, ConfigKind::Aggregated, "agg_a.yaml"),
            ("agg_a.yaml", None, ConfigKind::Aggregated, "agg_a.yaml"),
            ("agg_b", None, ConfigKind::Aggregated, "agg_b.yml"),
            ("agg_b.yml", None, ConfigKind::Aggregated, "agg_b.yml"),
            (
                "gb200_dis-x",
                None,
                ConfigKind::Disaggregated,
                "gb200_dis-x.yaml",
            ),
            (
                "both",
                Some(ConfigKind::Disaggregated),
                ConfigKind::Disaggregated,
                "both.yaml",
            ),
            (
                "both",
                Some(ConfigKind::Aggregated),
                ConfigKind::Aggregated,
                "both.yaml",
            ),
        ] {
            let f = l.find_config(name, kind).expect(name);
            assert_eq!(f.kind, want_kind, "{name}");
            assert_eq!(f.name, name.split('.').next().unwrap_or(name), "{name}");
            assert_eq!(f.path.file_name().and_then(|n| n.to_str()), Some(file));
        }
        // The same name in both folders without a kind is ambiguous, naming both files.
        let e = l
            .find_config("both", None)
            .expect_err("ambiguous")
            .to_string();
        assert!(
            e.contains("ambiguous") && e.matches("both.yaml").count() == 2,
            "{e}"
        );
        // Asked for the wrong kind: not found.
        let e = l
            .find_config("agg_a", Some(ConfigKind::Disaggregated))
            .expect_err("wrong kind")
            .to_string();
        assert!(e.contains("no perf-sanity config named `agg_a`"), "{e}");
        // Not found: the folders searched and the close names.
        let e = l
            .find_config("agg_c", None)
            .expect_err("missing")
            .to_string();
        assert!(e.contains(G3_AGG) && e.contains(G3_DISAGG), "{e}");
        assert!(e.contains("Close matches: `agg_a`, `agg_b`"), "{e}");
        // Not a name at all.
        for bad in ["", ".yaml", "../agg_a", "a/b", "a\0b"] {
            let e = l.find_config(bad, None).expect_err(bad).to_string();
            assert!(e.contains("is not a config name"), "{bad:?}: {e}");
        }
        assert_eq!(
            l.config_names(&[ConfigKind::Aggregated, ConfigKind::Disaggregated]),
            ["agg_a", "agg_b", "both", "gb200_dis-x"]
        );
        assert_eq!(
            l.config_names(&[ConfigKind::Disaggregated]),
            ["both", "gb200_dis-x"]
        );
    }

    #[test]
    fn g1_searches_both_legacy_disagg_folders() {
        let t = checkout(
            &[],
            &[
                &format!("{LEGACY_AGG}/agg.yaml"),
                &format!("{G1_DISAGG}/d1.yaml"),
                &format!("{G1_DISAGG_WIDEEP}/wide.yaml"),
            ],
        );
        let l = Layout::detect(t.path()).expect("G1");
        assert_eq!(l.generation, Generation::G1);
        let w = l.find_config("wide", None).expect("wideep folder");
        assert_eq!(w.kind, ConfigKind::Disaggregated);
        assert!(w.path.ends_with(format!("{G1_DISAGG_WIDEEP}/wide.yaml")));
        assert_eq!(
            l.find_config("agg", None).expect("agg").kind,
            ConfigKind::Aggregated
        );
    }

    #[test]
    fn close_matches_rank_and_limit() {
        let names = [
            "deepseek_r1_fp4_v2_grace_blackwell",
            "deepseek_r1_fp4_v2_2_nodes_grace_blackwell",
            "gpt_oss_120b_fp4_grace_blackwell",
            "tiny_llama_fp8_grace_blackwell",
        ];
        let got = close_matches("deepseek_r1_fp4_v2", names.iter().copied(), 3);
        assert_eq!(
            got.first().map(String::as_str),
            Some("`deepseek_r1_fp4_v2_grace_blackwell`"),
            "{got:?}"
        );
        assert!(got.len() <= 3);
        // Case does not matter; nothing close gives nothing.
        assert_eq!(
            close_matches("TINY_LLAMA", names.iter().copied(), 1),
            ["`tiny_llama_fp8_grace_blackwell`"]
        );
        assert!(close_matches("zzzz", names.iter().copied(), 3).is_empty());
        assert!(close_matches("deepseek", names.iter().copied(), 0).is_empty());
    }
}
