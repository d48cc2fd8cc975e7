//! Test lists: upstream test-db YAML, the Jenkins YAML lists of the legacy glue (same shape) and
//! the TXT debug lists (one id per line), with `TIMEOUT (N)` / `SKIP` / `XFAIL` / `UNSTABLE`
//! markers and `# comments` (reference §3 "test-db line format", §2.8 G3).
//!
//! test-db blocks carry a `condition` (terms, wildcards, ranges) that upstream's `trt-test-db`
//! matches against the machine of a CI stage; perf-run keeps each block's condition so that
//! selection can honour it the same way (`crate::plan::select`, docs/test-lists.md).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::ConfigError;
use crate::config::mode::Mode;

#[cfg(test)]
mod tests;

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
    pub mode_override: Option<Mode>,
    /// test-db YAML: index of the block (in `TestList::blocks`) the line belongs to.
    pub block: Option<usize>,
}

/// `condition.ranges.<name>` of a test-db block, with inclusive bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountRange {
    pub min: Option<u32>,
    pub max: Option<u32>,
}

impl CountRange {
    pub fn contains(&self, n: u32) -> bool {
        self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m)
    }
}

impl fmt::Display for CountRange {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match (self.min, self.max) {
            (Some(a), Some(b)) if a == b => write!(f, "{a}"),
            (Some(a), Some(b)) => write!(f, "{a} to {b}"),
            (Some(a), None) => write!(f, "at least {a}"),
            (None, Some(b)) => write!(f, "at most {b}"),
            (None, None) => write!(f, "any number"),
        }
    }
}

/// The `condition` of one test-db block (upstream `trt-test-db` format).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Condition {
    /// 1-based line where the block's `condition` mapping starts (or of its first test when
    /// it has none).
    pub line: usize,
    /// `terms.stage`: `pre_merge` or `post_merge`.
    pub stage: Option<String>,
    /// Line of `terms.stage`.
    pub stage_line: usize,
    /// The other `terms` (e.g. `backend: pytorch`), as written; informational.
    pub other_terms: Vec<(String, String)>,
    /// `wildcards.gpu`: glob patterns, matched case-insensitively against the GPU type.
    pub gpu: Vec<String>,
    /// Line of `wildcards.gpu`.
    pub gpu_line: usize,
    /// `wildcards.linux_distribution_name`, `wildcards.cpu` and any other wildcard:
    /// informational (perf-run cannot see the compute nodes' OS or CPU before the job runs).
    pub other_wildcards: Vec<(String, Vec<String>)>,
    /// `ranges.system_gpu_count`.
    pub system_gpu_count: Option<CountRange>,
}

#[derive(Debug, Clone)]
pub struct TestList {
    pub path: PathBuf,
    /// test-db YAML: one per `{condition, tests}` block; empty for other formats.
    pub blocks: Vec<Condition>,
    /// Every test line in file order, including ids repeated in several blocks.
    pub entries: Vec<ListEntry>,
}

impl TestList {
    /// The lines of the blocks `keep` accepts (lines outside blocks are always kept), each id
    /// once: test-db files repeat ids in pre_merge and post_merge blocks, and a case runs once.
    /// The first line of an id wins; a later `TIMEOUT (N)` fills a missing one.
    pub fn unique_entries(&self, keep: impl Fn(usize) -> bool) -> Vec<ListEntry> {
        let mut out: Vec<ListEntry> = Vec::new();
        for e in &self.entries {
            if e.block.is_some_and(|b| !keep(b)) {
                continue;
            }
            if let Some(prev) = out.iter_mut().find(|p| p.id == e.id) {
                if prev.timeout_min.is_none() {
                    prev.timeout_min = e.timeout_min;
                }
            } else {
                out.push(e.clone());
            }
        }
        out
    }
}

/// Read a test list, detecting the format from the content.
pub fn load_testlist(path: &Path) -> Result<TestList, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| ConfigError::ReadList {
        path: path.to_path_buf(),
        err,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| ConfigError::ListNotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    parse_testlist(path, &text)
}

pub fn parse_testlist(path: &Path, text: &str) -> Result<TestList, ConfigError> {
    let is_yaml = text.lines().map(str::trim).any(|l| {
        l.starts_with("version:") || l.starts_with("- condition:") || l.starts_with("tests:")
    }) || path.extension().is_some_and(|e| e == "yml" || e == "yaml");
    let (blocks, raw): (Vec<Condition>, RawLines) = if is_yaml {
        yaml_entries(path, text)?
    } else {
        let lines = text
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let t = l.trim();
                (!t.is_empty() && !t.starts_with('#')).then(|| (i + 1, t.to_string(), None))
            })
            .collect();
        (Vec::new(), lines)
    };
    let mut entries: Vec<ListEntry> = Vec::new();
    let mut problems = Vec::new();
    for (line, text, block) in raw {
        match parse_entry(line, &text) {
            Ok(mut e) => {
                e.block = block;
                entries.push(e);
            }
            Err(msg) => problems.push(format!("{}:{line}: {msg}", path.display())),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::ListLines { problems });
    }
    if entries.is_empty() {
        return Err(ConfigError::ListEmpty {
            path: path.to_path_buf(),
        });
    }
    Ok(TestList {
        path: path.to_path_buf(),
        blocks,
        entries,
    })
}

/// test-db YAML: `version: …` plus one key whose value is a list of `{condition, tests}` blocks.
struct TestDb {
    blocks: Vec<Block>,
}

#[derive(Deserialize)]
struct Block {
    #[serde(default)]
    condition: Option<Spanned<RawCondition>>,
    #[serde(default)]
    tests: Vec<Spanned<String>>,
}

/// `condition:` as written. Unknown keys are refused: a misspelt `wildcard:` would otherwise
/// silently let a list run on the wrong GPU.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default)]
    terms: BTreeMap<String, Spanned<Scalar>>,
    #[serde(default)]
    wildcards: BTreeMap<String, Spanned<OneOrMany>>,
    #[serde(default)]
    ranges: BTreeMap<String, RawRange>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(t) => f.write_str(t),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// trt-test-db range bounds: `gte`, `lte`, `gt`, `lt`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRange {
    gte: Option<u32>,
    lte: Option<u32>,
    gt: Option<u32>,
    lt: Option<u32>,
}

impl RawRange {
    fn range(&self) -> CountRange {
        let min = match (self.gte, self.gt.map(|g| g.saturating_add(1))) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let max = match (self.lte, self.lt.map(|l| l.saturating_sub(1))) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        CountRange { min, max }
    }
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
                let mut blocks = Vec::new();
                while let Some(k) = m.next_key::<String>()? {
                    if k == "version" {
                        m.next_value::<IgnoredAny>()?;
                    } else {
                        let more: Vec<Block> = m.next_value()?;
                        blocks.extend(more);
                    }
                }
                Ok(TestDb { blocks })
            }
        }
        d.deserialize_map(V)
    }
}

type RawLines = Vec<(usize, String, Option<usize>)>;

fn yaml_entries(path: &Path, text: &str) -> Result<(Vec<Condition>, RawLines), ConfigError> {
    let db: TestDb = serde_saphyr::from_str(text).map_err(|e| ConfigError::ListYaml {
        yaml: crate::config::yaml_error(path, text, &e),
    })?;
    let mut conditions = Vec::new();
    let mut lines = Vec::new();
    for (i, b) in db.blocks.into_iter().enumerate() {
        let first_test = b.tests.first().map(|t| t.referenced.line() as usize);
        let (line, raw) = match b.condition {
            Some(c) => (c.referenced.line() as usize, c.value),
            None => (first_test.unwrap_or(0), RawCondition::default()),
        };
        conditions.push(condition(path, line, raw)?);
        lines.extend(
            b.tests
                .into_iter()
                .map(|t| (t.referenced.line() as usize, t.value, Some(i))),
        );
    }
    Ok((conditions, lines))
}

fn condition(path: &Path, line: usize, raw: RawCondition) -> Result<Condition, ConfigError> {
    let mut c = Condition {
        line,
        ..Default::default()
    };
    for (k, v) in raw.terms {
        let at = v.referenced.line() as usize;
        let v = v.value;
        if k == "stage" {
            let stage = v.to_string();
            if stage != "pre_merge" && stage != "post_merge" {
                return Err(ConfigError::ListStage {
                    path: path.to_path_buf(),
                    line: at,
                    stage,
                });
            }
            c.stage = Some(stage);
            c.stage_line = at;
        } else {
            c.other_terms.push((k, v.to_string()));
        }
    }
    for (k, v) in raw.wildcards {
        let at = v.referenced.line() as usize;
        let pats = match v.value {
            OneOrMany::One(p) => vec![p],
            OneOrMany::Many(ps) => ps,
        };
        if k == "gpu" {
            c.gpu = pats;
            c.gpu_line = at;
        } else {
            c.other_wildcards.push((k, pats));
        }
    }
    for (k, r) in raw.ranges {
        if k == "system_gpu_count" {
            c.system_gpu_count = Some(r.range());
        }
        // Other ranges (e.g. GPU memory) describe the CI machine; perf-run cannot check them.
    }
    Ok(c)
}

/// A glob as trt-test-db's wildcards use them (`*`, `?`), matched case-insensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A pytest file or folder target: a relative path with a `/` or ending in `.py`.
fn looks_like_pytest_path(id: &str) -> bool {
    (id.contains('/') || id.ends_with(".py"))
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
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
    // A test-db line may name any pytest target: a node id, or a file or folder with pytest
    // options after it (`unittest/_torch/moe/test_x.py -k "a"`). perf-run reads such a line
    // (it becomes a skipped case at selection); only words that are no test at all are refused.
    let node_id = id.contains("::");
    if !node_id && !looks_like_pytest_path(&id) {
        return Err(format!(
            "`{}` is not a pytest test (expected `<module>::<function>[<case>]` or a path like `unittest/x/test_y.py`)",
            crate::error::escape_for_message(&id)
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
        block: None,
    };
    while !rest.is_empty() {
        if !node_id && rest.starts_with('-') {
            // pytest options of a non-node-id line (`-k "expr"`, `-m x`): not perf-run's to
            // read; the line cannot be planned anyway.
            break;
        }
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
                let m: u64 = a
                    .parse()
                    .ok()
                    .filter(|m| *m > 0 && *m <= crate::config::settings::MAX_TIME_MINUTES)
                    .ok_or_else(|| {
                        format!(
                            "`TIMEOUT ({})` is not a positive number of minutes up to {} (365 days)",
                            crate::error::escape_for_message(&a),
                            crate::config::settings::MAX_TIME_MINUTES
                        )
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
        let m = m.trim();
        e.mode_override = Some(Mode::from_name(m).ok_or_else(|| {
            format!("`# mode:{m}` is not a mode (single-agg, multi-agg, disagg)")
        })?);
    }
    Ok(e)
}
