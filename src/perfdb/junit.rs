//! The `log` fallback: the `<system-out>` of the JUnit testcase that matches a CSV row's
//! `test_name` (reference §9.2 step 5). Matching follows the legacy parser exactly: a
//! testcase's key is the first `[...]` of its name with `test_perf` removed; for a test name,
//! the first key (in document order) that equals the test's bracket parameter, is a substring
//! of the test name, or matches after relaxing `maxbs:512` / `maxnt:2048` / `gpus:N`≙`tp:N`
//! wins, and a key that appears twice keeps its last `<system-out>`.
//!
//! The file is streamed with quick-xml and only the `<system-out>` of winning testcases is
//! kept, each capped at [`super::text::LOG_CAP`] bytes, so memory stays bounded by the
//! largest single text node, not by the size of the file.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use quick_xml::Reader;
use quick_xml::events::Event;
use regex::Regex;

use super::text::CappedText;
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
    let mut st = State {
        wanted: wanted.iter().filter(|t| !t.is_empty()).cloned().collect(),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    for f in files {
        if st.unresolved_count() == 0 && st.winner_keys.is_empty() {
            break;
        }
        if let Err(w) = scan_file(f, &mut st, cap) {
            warnings.push(w);
        }
    }
    let mut by_test = HashMap::new();
    for (test, key) in &st.winner {
        if let Some(log) = st.logs.get(key) {
            by_test.insert(test.clone(), log.clone());
        }
    }
    JunitLogs { by_test, warnings }
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

fn scan_file(path: &Path, st: &mut State, cap: usize) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| {
        format!(
            "Cannot open the JUnit file {} ({e}); rows that need its logs get an empty log.",
            path.display()
        )
    })?;
    let mut reader = Reader::from_reader(BufReader::with_capacity(1 << 16, file));
    let mut buf = Vec::new();
    // Inside a <testcase>: its key and whether its log is wanted.
    let mut case: Option<(String, bool)> = None;
    let mut in_out = false;
    let mut got_out = false;
    let mut text = CappedText::new(cap);
    let mut started = false;
    loop {
        // Text is read here, in chunks, instead of by quick-xml (which would buffer a whole
        // text node): memory stays bounded however long a <system-out> is.
        if started {
            let sink = if in_out && matches!(case, Some((_, true))) {
                Some(&mut text)
            } else {
                None
            };
            if let Err(e) = stream_text(&mut reader, sink) {
                return Err(format!(
                    "Cannot read the JUnit file {} ({e}); logs after byte {} are not used.",
                    path.display(),
                    reader.buffer_position()
                ));
            }
        }
        started = true;
        let ev = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                return Err(format!(
                    "The JUnit file {} is malformed at byte {} ({e}); logs after that point are not used.",
                    path.display(),
                    reader.buffer_position()
                ));
            }
        };
        match ev {
            Event::Start(e) if e.local_name().as_ref() == "testcase" => {
                let name = e
                    .try_get_attribute("name")
                    .ok()
                    .flatten()
                    .and_then(|a| {
                        a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .ok()
                            .map(|v| v.into_owned())
                    })
                    .unwrap_or_default();
                let key = testcase_key(&name);
                let want = st.interesting(&key);
                case = Some((key, want));
                got_out = false;
            }
            Event::Start(e)
                if e.local_name().as_ref() == "system-out" && case.is_some() && !got_out =>
            {
                in_out = true;
                text = CappedText::new(cap);
            }
            Event::End(e) if e.local_name().as_ref() == "system-out" && in_out => {
                in_out = false;
                got_out = true;
                if let Some((key, true)) = &case {
                    let log = std::mem::replace(&mut text, CappedText::new(cap)).finish();
                    if !log.is_empty() {
                        st.commit(key.clone(), log);
                    }
                }
            }
            Event::End(e) if e.local_name().as_ref() == "testcase" => {
                case = None;
                in_out = false;
            }
            Event::Text(t) if in_out && matches!(case, Some((_, true))) => {
                text.push(&t.xml10_content());
            }
            Event::CData(t) if in_out && matches!(case, Some((_, true))) => {
                text.push(&t.xml10_content());
            }
            Event::GeneralRef(r) if in_out && matches!(case, Some((_, true))) => {
                match r.resolve_char_ref() {
                    Ok(Some(ch)) => text.push(ch.encode_utf8(&mut [0u8; 4])),
                    _ => {
                        let name = r.xml10_content();
                        match quick_xml::escape::resolve_xml_entity(&name) {
                            Some(s) => text.push(s),
                            None => text.push(&format!("&{name};")),
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

/// Consume character data up to the next `<`, decoding entities and line ends, into `sink`
/// (or nowhere). Reads the underlying buffered reader chunk by chunk.
fn stream_text<R: BufRead>(
    reader: &mut Reader<R>,
    mut sink: Option<&mut CappedText>,
) -> std::io::Result<()> {
    let mut stream = reader.stream();
    let mut dec = TextDecoder::default();
    loop {
        let buf = stream.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (n, stop) = match buf.iter().position(|&b| b == b'<') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        if let Some(s) = sink.as_deref_mut() {
            dec.feed(&buf[..n], s);
        }
        stream.consume(n);
        if stop {
            break;
        }
    }
    if let Some(s) = sink {
        dec.finish(s);
    }
    Ok(())
}

/// Decodes XML character data that arrives in arbitrary chunks: entities (`&amp;`,
/// `&#233;`, `&#xE9;`), `\r\n`/`\r` → `\n`, UTF-8 split across chunks.
#[derive(Default)]
struct TextDecoder {
    pending: Vec<u8>,
}

impl TextDecoder {
    fn feed(&mut self, bytes: &[u8], sink: &mut CappedText) {
        self.pending.extend_from_slice(bytes);
        self.drain(sink, false);
    }

    fn finish(&mut self, sink: &mut CappedText) {
        self.drain(sink, true);
    }

    fn drain(&mut self, sink: &mut CappedText, last: bool) {
        let p = &self.pending;
        let mut cut = p.len();
        if !last {
            // Hold back what the next chunk may complete: an entity, a `\r`, a UTF-8 sequence.
            if let Some(amp) = p.iter().rposition(|&b| b == b'&')
                && !p[amp..].contains(&b';')
                && p.len() - amp < 40
            {
                cut = amp;
            }
            if cut > 0 && p[cut - 1] == b'\r' {
                cut -= 1;
            }
            for i in (cut.saturating_sub(3)..cut).rev() {
                let b = p[i];
                if b & 0xC0 != 0x80 {
                    let need = match b {
                        0xF0.. => 4,
                        0xE0.. => 3,
                        0xC0.. => 2,
                        _ => 1,
                    };
                    if i + need > cut {
                        cut = i;
                    }
                    break;
                }
            }
        }
        if cut == 0 {
            return;
        }
        let chunk: Vec<u8> = self.pending.drain(..cut).collect();
        sink.push(&decode_text(&String::from_utf8_lossy(&chunk)));
    }
}

fn decode_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['&', '\r']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('\r') {
            out.push('\n');
            rest = after.strip_prefix('\n').unwrap_or(after);
            continue;
        }
        let resolved = tail.find(';').filter(|&e| e <= 40).and_then(|e| {
            let name = &tail[1..e];
            let ch = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
            {
                u32::from_str_radix(hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .map(String::from)
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>()
                    .ok()
                    .and_then(char::from_u32)
                    .map(String::from)
            } else {
                quick_xml::escape::resolve_xml_entity(name).map(String::from)
            };
            ch.map(|c| (c, e))
        });
        match resolved {
            Some((c, e)) => {
                out.push_str(&c);
                rest = &tail[e + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
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
    fn chunked_text_decoding() {
        let input = "a &amp; b\r\nc &#233;&#xE9; d &lt;x&gt; \u{1F600} &bogus; & e\rf";
        let expect = "a & b\nc éé d <x> \u{1F600} &bogus; & e\nf";
        for chunk in 1..8 {
            let mut dec = TextDecoder::default();
            let mut out = CappedText::new(1 << 20);
            for piece in input.as_bytes().chunks(chunk) {
                dec.feed(piece, &mut out);
            }
            dec.finish(&mut out);
            assert_eq!(out.finish(), expect, "chunk size {chunk}");
        }
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
