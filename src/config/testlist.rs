//! Test lists: upstream test-db YAML, the Jenkins YAML lists of the legacy glue (same shape) and
//! the TXT debug lists (one id per line), with `TIMEOUT (N)` / `SKIP` / `XFAIL` / `UNSTABLE`
//! markers and `# comments` (reference §3 "test-db line format", §2.8 G3).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::cli::ModeFilter;
use crate::error::UserError;

/// One line of a test list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// 1-based line in the list file.
    pub line: usize,
    /// The pytest node id as written.
    pub id: String,
    /// `TIMEOUT (N)`: minutes.
    pub timeout_min: Option<u64>,
    /// `SKIP` or `SKIP (reason)`.
    pub skip: Option<String>,
    pub xfail: Option<String>,
    pub unstable: Option<String>,
    /// TXT lists: `# mode:multi-agg` at the end of the line.
    pub mode_override: Option<ModeFilter>,
}

#[derive(Debug, Clone)]
pub struct TestList {
    pub path: PathBuf,
    pub entries: Vec<ListEntry>,
}

/// Read a test list, detecting the format from the content.
pub fn load_testlist(path: &Path) -> Result<TestList> {
    let bytes = std::fs::read(path)
        .map_err(|e| UserError(format!("cannot read the test list {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        UserError(format!(
            "{}: the test list is not UTF-8 text (bad byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse_testlist(path, &text)
}

pub fn parse_testlist(path: &Path, text: &str) -> Result<TestList> {
    let is_yaml = text.lines().map(str::trim).any(|l| {
        l.starts_with("version:") || l.starts_with("- condition:") || l.starts_with("tests:")
    }) || path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let raw: Vec<(usize, String)> = if is_yaml {
        yaml_entries(path, text)?
    } else {
        text.lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let t = l.trim();
                (!t.is_empty() && !t.starts_with('#')).then(|| (i + 1, t.to_string()))
            })
            .collect()
    };
    let mut entries: Vec<ListEntry> = Vec::new();
    let mut problems = Vec::new();
    for (line, text) in raw {
        match parse_entry(line, &text) {
            Ok(e) => {
                // test-db files repeat ids in pre_merge and post_merge blocks: run each once.
                if let Some(prev) = entries.iter_mut().find(|p| p.id == e.id) {
                    if prev.timeout_min.is_none() {
                        prev.timeout_min = e.timeout_min;
                    }
                } else {
                    entries.push(e);
                }
            }
            Err(msg) => problems.push(format!("{}:{line}: {msg}", path.display())),
        }
    }
    if !problems.is_empty() {
        return Err(UserError(format!(
            "the test list has {} line(s) perf-run cannot read:\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
        .into());
    }
    if entries.is_empty() {
        return Err(UserError(format!("{}: the test list has no tests", path.display())).into());
    }
    Ok(TestList {
        path: path.to_path_buf(),
        entries,
    })
}

/// test-db YAML: `version: …` plus one key whose value is a list of `{condition, tests}` blocks.
struct TestDb {
    tests: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
struct Block {
    #[allow(dead_code)]
    #[serde(default)]
    condition: Option<IgnoredAny>,
    #[serde(default)]
    tests: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for TestDb {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TestDb;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a test-db map: `version:` and a list of `{condition, tests}` blocks")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<TestDb, A::Error> {
                let mut tests = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    if k == "version" {
                        m.next_value::<IgnoredAny>()?;
                    } else {
                        let blocks: Vec<Block> = m.next_value()?;
                        tests.extend(blocks.into_iter().flat_map(|b| b.tests));
                    }
                }
                Ok(TestDb { tests })
            }
        }
        d.deserialize_map(V)
    }
}

fn yaml_entries(path: &Path, text: &str) -> Result<Vec<(usize, String)>> {
    let db: TestDb = serde_saphyr::from_str(text).map_err(|e| {
        UserError(format!(
            "{} (the test list is not valid test-db YAML)",
            crate::config::yaml_error(path, text, &e)
        ))
    })?;
    Ok(db
        .tests
        .into_iter()
        .map(|s| (s.referenced.line() as usize, s.value))
        .collect())
}

/// Parse one entry: `<id> [TIMEOUT (N)] [SKIP [(why)]] [XFAIL …] [UNSTABLE …] [# comment]`.
fn parse_entry(line: usize, text: &str) -> Result<ListEntry, String> {
    // A trailing `# comment` (TXT lists may carry `# mode:<m>` there).
    let (body, comment) = match text.find(" #").or_else(|| text.find("\t#")) {
        Some(i) => (
            text[..i].trim(),
            Some(text[i..].trim().trim_start_matches('#').trim()),
        ),
        None => (text.trim(), None),
    };
    let mut rest = body;
    let id_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let id = rest[..id_end].to_string();
    rest = rest[id_end..].trim_start();
    if !id.contains("::") {
        return Err(format!(
            "`{id}` is not a pytest node id (expected `<module>::<function>[<case>]`)"
        ));
    }
    let mut e = ListEntry {
        line,
        id,
        timeout_min: None,
        skip: None,
        xfail: None,
        unstable: None,
        mode_override: None,
    };
    while !rest.is_empty() {
        let word_end = rest
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(rest.len());
        let word = &rest[..word_end];
        rest = rest[word_end..].trim_start();
        let arg = if rest.starts_with('(') {
            let close = rest
                .find(')')
                .ok_or_else(|| format!("marker `{word}` has an unclosed `(`"))?;
            let a = rest[1..close].trim().to_string();
            rest = rest[close + 1..].trim_start();
            Some(a)
        } else {
            None
        };
        match word.to_ascii_uppercase().as_str() {
            "TIMEOUT" => {
                let a = arg.ok_or("`TIMEOUT` needs minutes in parentheses, e.g. `TIMEOUT (90)`")?;
                let m: u64 = a.parse().ok().filter(|m| *m > 0).ok_or_else(|| {
                    format!("`TIMEOUT ({a})` is not a positive number of minutes")
                })?;
                e.timeout_min = Some(m);
            }
            "SKIP" => e.skip = Some(arg.unwrap_or_else(|| "marked SKIP in the test list".into())),
            "XFAIL" => e.xfail = Some(arg.unwrap_or_default()),
            "UNSTABLE" => e.unstable = Some(arg.unwrap_or_default()),
            _ => {
                return Err(format!(
                    "unknown marker `{word}` after the test id (known: TIMEOUT (N), SKIP, XFAIL, UNSTABLE)"
                ));
            }
        }
    }
    if let Some(c) = comment
        && let Some(m) = c.strip_prefix("mode:")
    {
        e.mode_override = Some(match m.trim() {
            "single-agg" => ModeFilter::SingleAgg,
            "multi-agg" => ModeFilter::MultiAgg,
            "disagg" => ModeFilter::Disagg,
            other => {
                return Err(format!(
                    "`# mode:{other}` is not a mode (single-agg, multi-agg, disagg)"
                ));
            }
        });
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(p: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/trtllm")
            .join(p)
    }

    #[test]
    fn test_db_yaml_dedupes_pre_and_post_merge() {
        let l = load_testlist(&fixture("test-db/l0_gb200_multi_gpus_perf_sanity.yml")).unwrap();
        assert_eq!(l.entries.len(), 14);
        assert_eq!(l.entries[0].timeout_min, Some(90));
        assert_eq!(l.entries[1].timeout_min, Some(60));
        assert_eq!(l.entries[0].line, 17);
        assert!(l.entries[0].id.ends_with("r1_fp4_v2_dep4_mtp1_1k1k]"));
    }

    #[test]
    fn test_db_yaml_ignores_commented_lines() {
        let l = load_testlist(&fixture(
            "test-db/l0_gb200_multi_nodes_perf_sanity_ctx1_node1_gpu4_gen1_node2_gpu8.yml",
        ))
        .unwrap();
        assert_eq!(l.entries.len(), 7);
        assert!(l.entries.iter().all(|e| e.id.contains("gen_only")));
        assert!(l.entries.iter().all(|e| e.timeout_min == Some(120)));
    }

    #[test]
    fn jenkins_lists_with_and_without_timeout() {
        let l = load_testlist(&fixture("jenkins-testlists/gb200_perf_sanity.yml")).unwrap();
        assert_eq!(l.entries.len(), 20);
        assert_eq!(l.entries[1].timeout_min, None);
        let l = load_testlist(&fixture("jenkins-testlists/gb200_3nodes_sanity.yml")).unwrap();
        assert_eq!(l.entries.len(), 1);
    }

    #[test]
    fn txt_list_with_unicode_comments() {
        let l = load_testlist(&fixture("jenkins-testlists/debug_cases.txt")).unwrap();
        assert_eq!(l.entries.len(), 14);
        assert!(
            l.entries[0]
                .id
                .starts_with("test_perf_sanity.py::test_e2e[")
        );
    }

    #[test]
    fn markers_and_mode_override() {
        let e = parse_entry(3, "a.py::f[x] TIMEOUT (5) SKIP (nvbugs/1) # mode:multi-agg").unwrap();
        assert_eq!(e.timeout_min, Some(5));
        assert_eq!(e.skip.as_deref(), Some("nvbugs/1"));
        assert_eq!(e.mode_override, Some(ModeFilter::MultiAgg));
        let e = parse_entry(1, "a.py::f[x] XFAIL UNSTABLE").unwrap();
        assert!(e.xfail.is_some() && e.unstable.is_some());
        assert!(parse_entry(1, "a.py::f[x] TIMEOUT").is_err());
        assert!(parse_entry(1, "a.py::f[x] TIMEOUT (0)").is_err());
        assert!(parse_entry(1, "a.py::f[x] FROBNICATE").is_err());
        assert!(parse_entry(1, "not_an_id").is_err());
        assert!(parse_entry(1, "a.py::f[x] # mode:weird").is_err());
    }

    #[test]
    fn bad_lines_are_listed_with_line_numbers() {
        let err = parse_testlist(
            Path::new("l.txt"),
            "# c\na.py::f[x]\nnonsense here\nb.py::g[y] TIMEOUT (x)\n",
        )
        .unwrap_err();
        let m = format!("{err}");
        assert!(m.contains("l.txt:3") && m.contains("l.txt:4"), "{m}");
    }

    #[test]
    fn malformed_yaml_is_reported() {
        let err = parse_testlist(Path::new("l.yml"), "version: 1\nx:\n- tests: [a\n").unwrap_err();
        assert!(format!("{err}").contains("l.yml"), "{err}");
    }
}
