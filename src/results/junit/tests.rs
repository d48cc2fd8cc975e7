//! Tests of the JUnit reader.

use std::io::{self, Read};
use std::path::Path;

use super::input::LossyUtf8;
use super::text::Capture;
use super::*;

const DOCS: &str = include_str!(
    "../../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
);

fn cfg() -> MetricConfig {
    MetricConfig::builtin().expect("built-in config")
}

fn all(_: &str, _: &str) -> bool {
    true
}

fn read(xml: &str) -> Result<JunitReport, JunitError> {
    read_junit_bytes(xml.as_bytes(), Path::new("results.xml"), &cfg(), &all)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn pytest_xml(out: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="0" failures="1" skipped="1" tests="3" time="12.5" timestamp="2025-10-31T00:53:53.000000" hostname="node1">
<testcase classname="perf.test_perf_sanity" name="test_e2e[aggr_upload-cfg-srv]" time="703.296"><system-out>{}</system-out></testcase>
<testcase classname="perf.test_perf_sanity" name="test_e2e[disagg_upload-e2e-x]" time="1.5"><failure message="AssertionError: Failed requests &gt; 0">Traceback...
torch.OutOfMemoryError: CUDA out of memory</failure><system-out>nothing</system-out><system-err>warn &amp; more</system-err></testcase>
<testcase classname="perf.test_perf_sanity" name="test_e2e[skipme]" time="0"><skipped type="pytest.skip" message="not on this GPU"/></testcase>
</testsuite></testsuites>"#,
        escape(out)
    )
}

#[test]
fn reads_pytest_junit_with_metrics_status_and_time() {
    let r = read(&pytest_xml(&format!("<noise> & {DOCS}"))).expect("readable");
    assert_eq!(r.cases.len(), 3);
    let c0 = &r.cases[0];
    assert_eq!(c0.status, JunitStatus::Passed);
    assert_eq!(c0.time_s, Some(703.296));
    assert_eq!(c0.bracket(), Some("aggr_upload-cfg-srv"));
    assert_eq!(
        c0.node_id(),
        "perf/test_perf_sanity.py::test_e2e[aggr_upload-cfg-srv]"
    );
    assert_eq!(c0.suite, "pytest");
    let out = c0.out.as_ref().expect("scanned");
    assert_eq!(out.blocks.len(), 1);
    assert_eq!(
        out.blocks[0].values.iter().filter(|v| v.is_some()).count(),
        16
    );
    let c1 = &r.cases[1];
    assert_eq!(c1.status, JunitStatus::Failed);
    assert_eq!(
        c1.message.as_deref(),
        Some("AssertionError: Failed requests > 0")
    );
    assert_eq!(c1.oom.as_deref(), Some("CUDA out of memory"));
    assert_eq!(c1.err_tail, ["warn & more"]);
    let c2 = &r.cases[2];
    assert_eq!(c2.status, JunitStatus::Skipped);
    assert_eq!(c2.message.as_deref(), Some("not on this GPU"));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}

#[test]
fn cdata_system_out_is_scanned() {
    let xml = format!(
        "<testsuite><testcase name=\"t[x]\"><system-out><![CDATA[{DOCS}]]></system-out></testcase></testsuite>"
    );
    let r = read(&xml).expect("readable");
    let out = r.cases[0].out.as_ref().expect("scanned");
    assert_eq!(
        out.blocks[0].values.iter().filter(|v| v.is_some()).count(),
        16
    );
}

#[test]
fn unwanted_cases_are_not_scanned() {
    let xml = pytest_xml(DOCS);
    let r = read_junit_bytes(xml.as_bytes(), Path::new("r.xml"), &cfg(), &|n, _| {
        n.contains("skipme")
    })
    .expect("readable");
    assert!(r.cases[0].out.is_none());
    assert_eq!(r.cases[0].status, JunitStatus::Passed);
    assert!(r.cases[2].out.is_some());
}

#[test]
fn truncated_file_keeps_what_it_has() {
    let xml = pytest_xml(DOCS);
    let cut = &xml[..xml.find("Mean ITL").expect("present")];
    let r = read(cut).expect("truncation is tolerated");
    assert_eq!(r.cases.len(), 1);
    assert_eq!(r.cases[0].status, JunitStatus::Incomplete);
    assert!(r.warnings[0].contains("cut off"), "{:?}", r.warnings);
    let out = r.cases[0].out.as_ref().expect("scanned");
    assert_eq!(
        out.blocks[0].values.iter().filter(|v| v.is_some()).count(),
        10
    );
}

#[test]
fn truncated_inside_a_tag_is_tolerated() {
    let xml = "<testsuite><testcase name=\"a\"/><testcase name=\"b\" ti";
    let r = read(xml).expect("truncation is tolerated");
    assert_eq!(r.cases.len(), 1);
    assert!(r.warnings[0].contains("cut off"));
}

#[test]
fn malformed_xml_names_line_column_and_offset() {
    let xml = "<testsuite>\n  <testcase name=\"a\">\n  </testcas>\n</testsuite>\n";
    let err = read(xml).unwrap_err().to_string();
    assert!(
        err.contains("results.xml is not well-formed XML at line 3, column 3 (byte 36)"),
        "{err}"
    );
    assert!(err.contains("testcas"), "{err}");
}

#[test]
fn empty_file_is_a_clear_error() {
    let err = read("").unwrap_err().to_string();
    assert!(err.contains("is empty (0 bytes)"), "{err}");
}

#[test]
fn text_only_file_is_an_error() {
    let err = read("just some text\n").unwrap_err().to_string();
    assert!(err.contains("no XML element"), "{err}");
}

#[test]
fn non_utf8_bytes_are_tolerated() {
    let mut xml = b"<testsuite><testcase name=\"t\xff[x]\"><system-out>\xff\xfe\n".to_vec();
    xml.extend_from_slice(DOCS.as_bytes());
    xml.extend_from_slice(b"</system-out></testcase></testsuite>");
    let r = read_junit_bytes(&xml, Path::new("r.xml"), &cfg(), &all).expect("readable");
    assert_eq!(r.cases[0].name, "t\u{FFFD}[x]");
    let out = r.cases[0].out.as_ref().expect("scanned");
    assert_eq!(
        out.blocks[0].values.iter().filter(|v| v.is_some()).count(),
        16
    );
}

#[test]
fn entities_decode_including_char_refs() {
    let mut out = Vec::new();
    decode_entities(b"a &lt;b&gt; &amp;amp; &#65;&#x42; &bogus; & end", &mut out);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "a <b> &amp; AB &bogus; & end"
    );
}

fn lossy_with_reads_of(input: &[u8], read_size: usize, inner_chunk: usize) -> Vec<u8> {
    /// A reader handing out at most `chunk` bytes per call.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(out.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut r = LossyUtf8::new(Trickle(input, inner_chunk));
    let mut got = Vec::new();
    let mut buf = vec![0u8; read_size];
    loop {
        let n = r.read(&mut buf).expect("in-memory read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn lossy_utf8_matches_std_for_any_chunking() {
    let input = "ok é € 😀 \u{1F600}"
        .as_bytes()
        .iter()
        .copied()
        .chain([0xff, b'a', 0xe2, 0x82, b'b', 0xf0, 0x9f])
        .collect::<Vec<u8>>();
    let want = String::from_utf8_lossy(&input).into_owned().into_bytes();
    for read_size in [1, 2, 3, 4, 7, 64] {
        for inner in [1, 2, 3, 5, 1000] {
            assert_eq!(
                lossy_with_reads_of(&input, read_size, inner),
                want,
                "read {read_size} inner {inner}"
            );
        }
    }
}

/// The captured text is decoded the same however the reader's pieces fall (entities,
/// `\r\n`, UTF-8 split anywhere); CDATA stays literal.
#[test]
fn captured_text_decodes_across_any_split() {
    let input = "a &amp; b\r\nc &#233;&#xE9; d &lt;x&gt; \u{1F600} &bogus; & e\rf";
    let expect = "a & b\nc éé d <x> \u{1F600} &bogus; & e\nf[&amp;]\n";
    for chunk in 1..8 {
        let mut c = Capture::new(1 << 20);
        for piece in input.as_bytes().chunks(chunk) {
            c.text(piece);
        }
        for piece in b"[&amp;]\r\n".chunks(chunk) {
            c.cdata(piece);
        }
        c.close();
        c.text(b"ignored: only the first system-out counts");
        c.close();
        assert_eq!(c.done.as_deref(), Some(expect), "chunk size {chunk}");
    }
}

#[test]
fn text_reader_captures_the_first_closed_system_out_of_wanted_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("r.xml");
    std::fs::write(
        &p,
        "<testsuite><testcase name=\"t[a]\"><system-out>one &amp; <![CDATA[<two>]]></system-out><system-out>no</system-out></testcase>\
         <testcase name=\"t[b]\"><system-out>not asked</system-out></testcase>\
         <testcase name=\"t[c]\"><failure message=\"m\">f</failure><system-out>cut off",
    )
    .expect("write");
    let mut asked = Vec::new();
    let mut got = Vec::new();
    let r = read_junit_text_each(
        &p,
        1024,
        &mut |n, _| {
            asked.push(n.to_string());
            n != "t[b]"
        },
        &mut |c| got.push((c.name, c.status, c.system_out_text, c.out.is_none())),
    )
    .expect("readable");
    assert_eq!(asked, ["t[a]", "t[b]", "t[c]"]);
    assert_eq!(
        got,
        [
            (
                "t[a]".into(),
                JunitStatus::Passed,
                Some("one & <two>".into()),
                true
            ),
            ("t[b]".into(), JunitStatus::Passed, None, true),
            ("t[c]".into(), JunitStatus::Failed, None, true),
        ]
    );
    assert!(r.warnings[0].contains("cut off"), "{:?}", r.warnings);
}

#[test]
fn node_ids_are_rebuilt() {
    assert_eq!(
        node_id("perf.test_perf_sanity", "test_e2e[x]"),
        "perf/test_perf_sanity.py::test_e2e[x]"
    );
    assert_eq!(
        node_id("a.test_m.TestC", "test_x"),
        "a/test_m.py::TestC::test_x"
    );
    assert_eq!(node_id("", "n"), "n");
}

#[test]
fn cdata_end_split_across_buffers_is_found() {
    // Force the `]]>` across the 256 KiB PeekReader buffer boundary.
    let filler = "x".repeat(256 * 1024 - 60);
    for shift in 0..6 {
        let xml = format!(
            "<testsuite><testcase name=\"t\"><system-out><![CDATA[{}{filler}\nMean TTFT (ms): 1.5\n]]]></system-out></testcase></testsuite>",
            "y".repeat(shift)
        );
        let r = read(&xml).expect("readable");
        let out = r.cases[0].out.as_ref().expect("scanned");
        let found = out.blocks[0].values.iter().flatten().count();
        assert_eq!(found, 1, "shift {shift}");
    }
}
