//! The `log` fallback: the `<system-out>` of the JUnit testcase that matches a CSV row's
//! `test_name` (reference §9.2 step 5). Matching follows the legacy parser exactly: a
//! testcase's key is the first `[...]` of its name with `test_perf` removed; for a test name,
//! the first key (in document order) that equals the test's bracket parameter, is a substring
//! of the test name, or matches after relaxing `maxbs:512` / `maxnt:2048` / `gpus:N`≙`tp:N`
//! wins, and a key that appears twice keeps its last `<system-out>`.
//!
//! The file is read by the results stage's JUnit reader
//! ([`crate::results::junit::read_junit_text_each`]), which streams it and hands over only the
//! `<system-out>` of the testcases asked for, each capped (the caller gives
//! [`super::text::LOG_CAP`]), so memory stays bounded however large the file or a log is.
//! This module only decides which testcase's log belongs to which test name.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use crate::results::junit::{JunitCase, JunitError, read_junit_text_each};
use crate::trtperf::rules::bracket_param;

/// The key the legacy parser files a testcase's log under.
pub fn testcase_key(name: &str) -> String {
    let n = name.replace("test_perf", "");
    match bracket_param(&n) {
        Some(b) => b.to_string(),
        None => n,
    }
}

/// Legacy `_relaxed_match`: ignore default `maxbs:512` / `maxnt:2048` in the test parameter
/// when the JUnit key does not mention them, and let `gpus:N` stand for `tp:N`.
pub fn relaxed_match(test_param: &str, junit_key: &str) -> bool {
    static MAXBS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-?maxbs:512").expect("re"));
    static MAXNT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-?maxnt:2048").expect("re"));
    static GPUS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"gpus:(\d+)").expect("re"));
    static TP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"tp:(\d+)").expect("re"));
    static TP_ALL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"-?tp:\d+").expect("re"));
    let mut param = test_param.to_string();
    let mut key = junit_key.to_string();
    if !junit_key.contains("maxbs:") {
        param = MAXBS.replace_all(&param, "").into_owned();
    }
    if !junit_key.contains("maxnt:") {
        param = MAXNT.replace_all(&param, "").into_owned();
    }
    if junit_key.contains("tp:")
        && !param.contains("tp:")
        && let (Some(g), Some(t)) = (GPUS.captures(&param), TP.captures(junit_key))
        && g[1] == t[1]
    {
        key = TP_ALL.replace_all(junit_key, "").into_owned();
    }
    param == key
}

/// Whether JUnit key `key` belongs to test `test_name` (legacy order of checks).
pub fn key_matches(test_name: &str, key: &str) -> bool {
    if key.is_empty() || test_name.is_empty() {
        return false;
    }
    let param = bracket_param(test_name).unwrap_or("");
    (!param.is_empty() && key == param)
        || test_name.contains(key)
        || (!param.is_empty() && relaxed_match(param, key))
}

/// What reading the JUnit files produced: logs by test name, and problems worth a warning.
#[derive(Debug, Default)]
pub struct JunitLogs {
    pub by_test: HashMap<String, String>,
    pub warnings: Vec<String>,
}

/// Find the log of every test name in `wanted` in `files` (read in the given order, as one
/// document). Unreadable or malformed files produce a warning, not an error: logs are a
/// convenience and must not block the upload of the measurements.
pub fn find_logs(files: &[PathBuf], wanted: &[String], cap: usize) -> JunitLogs {
    let st = RefCell::new(State {
        wanted: wanted.iter().filter(|t| !t.is_empty()).cloned().collect(),
        ..Default::default()
    });
    let mut warnings = Vec::new();
    for f in files {
        {
            let st = st.borrow();
            if st.unresolved_count() == 0 && st.winner_keys.is_empty() {
                break;
            }
        }
        let read = read_junit_text_each(
            f,
            cap,
            &mut |name, _| st.borrow().interesting(&testcase_key(name)),
            &mut |case: JunitCase| {
                if let Some(log) = case.system_out_text.filter(|l| !l.is_empty()) {
                    st.borrow_mut().commit(testcase_key(&case.name), log);
                }
            },
        );
        if let Err(e) = read
            && let Some(w) = warning(&e)
        {
            warnings.push(w);
        }
    }
    let st = st.into_inner();
    let mut by_test = HashMap::new();
    for (test, key) in &st.winner {
        if let Some(log) = st.logs.get(key) {
            by_test.insert(test.clone(), log.clone());
        }
    }
    JunitLogs { by_test, warnings }
}

/// What a JUnit file that cannot be read (fully) means for the logs. An empty file simply
/// has no logs.
fn warning(e: &JunitError) -> Option<String> {
    match e {
        JunitError::Io { path, source } => Some(format!(
            "Cannot read the JUnit file {} ({source}); rows that need its logs get an empty log.",
            path.display()
        )),
        JunitError::Malformed {
            path,
            line,
            column,
            offset,
            message,
        } => Some(format!(
            "The JUnit file {} is malformed at line {line}, column {column} (byte {offset}: {message}); logs after that point are not used.",
            path.display()
        )),
        JunitError::Empty { .. } => None,
    }
}

#[derive(Default)]
struct State {
    wanted: Vec<String>,
    /// Keys that have had a non-empty `<system-out>` (the legacy dict's keys, in order).
    seen: HashSet<String>,
    /// test name → winning key
    winner: HashMap<String, String>,
    winner_keys: HashSet<String>,
    /// key → last `<system-out>` (capped)
    logs: HashMap<String, String>,
}

impl State {
    fn unresolved_count(&self) -> usize {
        self.wanted.len() - self.winner.len()
    }
    /// Would a testcase with this key be (or become) a winner?
    fn interesting(&self, key: &str) -> bool {
        if self.winner_keys.contains(key) {
            return true;
        }
        !self.seen.contains(key)
            && self
                .wanted
                .iter()
                .any(|t| !self.winner.contains_key(t) && key_matches(t, key))
    }
    fn commit(&mut self, key: String, log: String) {
        if !self.seen.contains(&key) {
            self.seen.insert(key.clone());
            for t in &self.wanted {
                if !self.winner.contains_key(t) && key_matches(t, &key) {
                    self.winner.insert(t.clone(), key.clone());
                    self.winner_keys.insert(key.clone());
                }
            }
        }
        if self.winner_keys.contains(&key) {
            self.logs.insert(key, log);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_matching() {
        assert_eq!(
            testcase_key("test_e2e[disagg_upload-cfg]"),
            "disagg_upload-cfg"
        );
        assert_eq!(testcase_key("test_perf_metric[a-b]"), "a-b");
        let t = "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]";
        assert!(key_matches(t, "aggr_upload-cfg-srv"));
        assert!(!key_matches(t, "aggr_upload-other"));
        assert!(relaxed_match(
            "llama-maxbs:512-maxnt:2048-gpus:2",
            "llama-gpus:2-tp:2"
        ));
        assert!(!relaxed_match("llama-gpus:2", "llama-tp:4"));
        assert!(relaxed_match("llama-maxbs:512", "llama"));
        assert!(!relaxed_match("llama-maxbs:256", "llama"));
    }

    #[test]
    fn streams_logs_first_key_wins_last_text_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("results.xml");
        std::fs::write(
            &p,
            r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="perf.test_perf_sanity" name="test_e2e[aggr_upload-a]"><system-out>first &amp; &lt;a&gt; &#233;</system-out></testcase>
<testcase classname="x" name="test_e2e[unrelated]"><system-out>no</system-out></testcase>
<testcase classname="x" name="test_e2e[empty]"/>
<testcase classname="x" name="test_e2e[aggr_upload-a]"><failure message="m">f</failure><system-out><![CDATA[second <raw>]]></system-out><system-out>ignored</system-out></testcase>
<testcase classname="x" name="test_e2e[aggr_upload-b]"><system-out>bee</system-out></testcase>
</testsuite></testsuites>"#,
        )
        .unwrap();
        let wanted = vec![
            "perf/test_perf_sanity.py::test_e2e[aggr_upload-a]".to_string(),
            "perf/test_perf_sanity.py::test_e2e[aggr_upload-b]".to_string(),
            "perf/test_perf_sanity.py::test_e2e[aggr_upload-zzz]".to_string(),
        ];
        let logs = find_logs(&[p], &wanted, 1 << 20);
        assert!(logs.warnings.is_empty(), "{:?}", logs.warnings);
        assert_eq!(logs.by_test[&wanted[0]], "second <raw>");
        assert_eq!(logs.by_test[&wanted[1]], "bee");
        assert!(!logs.by_test.contains_key(&wanted[2]));
    }

    #[test]
    fn huge_system_out_is_capped_while_streaming() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.xml");
        let body = "x".repeat(3 << 20);
        std::fs::write(
            &p,
            format!("<testsuite><testcase name=\"t[k]\"><system-out>START{body}END</system-out></testcase><testcase name=\"t[o]\"><system-out>{body}</system-out></testcase></testsuite>"),
        )
        .unwrap();
        let logs = find_logs(&[p], &["t[k]".into()], 1 << 16);
        let log = &logs.by_test["t[k]"];
        assert!(log.starts_with("STARTxxx"));
        assert!(log.ends_with("xxxEND"));
        assert!(log.len() < (1 << 16) + 200);
    }

    #[test]
    fn entities_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.xml");
        std::fs::write(
            &p,
            "<testsuite><testcase name=\"t[k]\"><system-out>a &amp; b &#233;</system-out></testcase><testcase name=\"t[k2]\"><system-out>x</bad>",
        )
        .unwrap();
        let logs = find_logs(&[p], &["t[k]".into(), "t[k2]".into()], 1024);
        assert_eq!(logs.by_test["t[k]"], "a & b é");
        assert_eq!(logs.warnings.len(), 1, "{:?}", logs.warnings);
        assert!(logs.warnings[0].contains("malformed"));
    }
}
