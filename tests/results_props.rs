//! Property tests: the scanner and the JUnit / long-CSV readers never panic on any input,
//! inserted metric lines are always found whatever their padding, and line splitting does not
//! depend on how the input is chunked. The uploader's JUnit log lookup (`perfdb::junit`, over
//! the same reader) never panics either, and gives back any text exactly.

use std::path::Path;

use perf_run::perfdb::junit::find_logs;
use perf_run::results::junit::read_junit_bytes;
use perf_run::results::lines::LineSplitter;
use perf_run::results::metrics::{BlockMode, MetricConfig, scan_bytes};
use perf_run::trtperf::long_csv::LongCsvReader;
use proptest::prelude::*;

const DOCS: &str =
    include_str!("fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt");

/// Compiled once: building the prefilter set in a debug build is not free.
fn cfg() -> &'static MetricConfig {
    static CFG: std::sync::OnceLock<MetricConfig> = std::sync::OnceLock::new();
    CFG.get_or_init(|| MetricConfig::builtin().expect("built-in metrics.yaml"))
}

/// The printed labels of the 16 required metrics (reference §8.2), in config order.
const LABELS: [&str; 16] = [
    "Request throughput (req/s):",
    "Output token throughput (tok/s):",
    "Total Token throughput (tok/s):",
    "User throughput (tok/s):",
    "Mean TTFT (ms):",
    "Median TTFT (ms):",
    "P99 TTFT (ms):",
    "Mean ITL (ms):",
    "Median ITL (ms):",
    "P99 ITL (ms):",
    "Mean TPOT (ms):",
    "Median TPOT (ms):",
    "P99 TPOT (ms):",
    "Mean E2EL (ms):",
    "Median E2EL (ms):",
    "P99 E2EL (ms):",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn scanner_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let c = cfg();
        let _ = scan_bytes(&bytes, c, BlockMode::Merge);
        let _ = scan_bytes(&bytes, c, BlockMode::Split);
    }

    #[test]
    fn scanner_never_panics_on_metric_like_garbage(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("Mean TTFT (ms):".to_string()),
                Just("Failed requests:".to_string()),
                Just("!FAILED REQUESTS!".to_string()),
                Just("============ Serving Benchmark Result ============".to_string()),
                Just("=".repeat(50)),
                Just("num_prompts=".to_string()),
                Just(" model='".to_string()),
                "[ 0-9.\\-e\n\r\t]{0,12}",
                "\\PC{0,8}",
            ],
            0..40,
        )
    ) {
        let c = cfg();
        let text = parts.concat();
        let _ = scan_bytes(text.as_bytes(), c, BlockMode::Merge);
        let _ = scan_bytes(text.as_bytes(), c, BlockMode::Split);
    }

    #[test]
    fn inserted_metric_lines_are_found_with_any_padding(
        noise in proptest::collection::vec("[a-z0-9 ,.:=_\\-]{0,80}", 0..60),
        values in proptest::collection::vec(0u64..100_000_000, 16),
        pads in proptest::collection::vec((1usize..40, 0usize..12, any::<bool>()), 16),
        positions in proptest::collection::vec(any::<prop::sample::Index>(), 16),
        crlf in any::<bool>(),
    ) {
        let mut lines: Vec<String> = noise.clone();
        for i in 0..16 {
            let (gap, trail, tab) = pads[i];
            let sep = if tab { "\t".repeat(gap.min(4)) } else { " ".repeat(gap) };
            let value = values[i] as f64 / 100.0;
            let line = format!("{}{sep}{value:.2}{}", LABELS[i], " ".repeat(trail));
            let at = positions[i].index(lines.len() + 1);
            lines.insert(at, line);
        }
        let nl = if crlf { "\r\n" } else { "\n" };
        let text = lines.join(nl);
        let c = cfg();
        let out = scan_bytes(text.as_bytes(), c, BlockMode::Merge);
        prop_assert_eq!(out.blocks.len(), 1);
        let b = &out.blocks[0];
        for i in 0..16 {
            let got = b.values[i].map(|f| f.value);
            let want = format!("{:.2}", values[i] as f64 / 100.0).parse::<f64>().ok();
            prop_assert_eq!(got, want, "metric {}", LABELS[i]);
        }
    }

    #[test]
    fn line_splitting_does_not_depend_on_chunking(
        bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..512),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let collect = |chunks: &[&[u8]]| {
            let mut s = LineSplitter::new(64);
            let mut out: Vec<Vec<u8>> = Vec::new();
            for c in chunks {
                s.push(c, &mut |l: &[u8]| out.push(l.to_vec()));
            }
            s.finish(&mut |l: &[u8]| out.push(l.to_vec()));
            out
        };
        let whole = collect(&[&bytes]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&bytes[last..p]);
            last = p;
        }
        chunks.push(&bytes[last..]);
        prop_assert_eq!(collect(&chunks), whole);
    }

    #[test]
    fn junit_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = read_junit_bytes(&bytes, Path::new("fuzz.xml"), cfg(), &|_, _| true);
    }

    #[test]
    fn junit_reader_never_panics_on_damaged_reports(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let xml = format!(
            "<?xml version=\"1.0\"?><testsuites><testsuite name=\"p\"><testcase classname=\"a.b\" name=\"t[x]\" time=\"1\"><failure message=\"m &amp; n\">tb</failure><system-out><![CDATA[{DOCS}]]>{}</system-out><system-err>e</system-err></testcase></testsuite></testsuites>",
            DOCS.replace('<', "&lt;")
        );
        let mut bytes = xml.into_bytes();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = read_junit_bytes(&bytes[..end], Path::new("fuzz.xml"), cfg(), &|_, _| true);
    }

    #[test]
    fn long_csv_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(reader) = LongCsvReader::new(&bytes[..], Path::new("fuzz.csv")) {
            for row in reader {
                let _ = row;
            }
        }
    }

    #[test]
    fn long_csv_reader_never_panics_behind_a_valid_header(
        body in proptest::collection::vec(any::<u8>(), 0..4096)
    ) {
        let mut bytes = b"network_name,perf_metric,metric_type,state\n".to_vec();
        bytes.extend_from_slice(&body);
        let reader = LongCsvReader::new(&bytes[..], Path::new("fuzz.csv"));
        prop_assert!(reader.is_ok());
        if let Ok(reader) = reader {
            for row in reader {
                let _ = row;
            }
        }
    }

    #[test]
    fn perfdb_log_lookup_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let file = junit_file(&bytes);
        let wanted = ["perf/test_perf_sanity.py::test_e2e[x]".to_string(), "t[k]".to_string()];
        let logs = find_logs(&[file.path().to_path_buf()], &wanted, 512);
        for log in logs.by_test.values() {
            // Capped: head + marker + end.
            prop_assert!(log.len() <= 512 + 200, "{}", log.len());
        }
    }

    #[test]
    fn perfdb_log_lookup_never_panics_on_damaged_reports(
        cut in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let xml = format!(
            "<testsuites><testsuite><testcase name=\"test_e2e[x]\"><system-out><![CDATA[{DOCS}]]>{}</system-out></testcase><testcase name=\"t[k]\"><system-out>k &amp; &#233;</system-out></testcase></testsuite></testsuites>",
            DOCS.replace('<', "&lt;")
        );
        let mut bytes = xml.into_bytes();
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let end = cut.index(bytes.len() + 1);
        let file = junit_file(&bytes[..end]);
        let wanted = ["perf/test_perf_sanity.py::test_e2e[x]".to_string(), "t[k]".to_string()];
        let _ = find_logs(&[file.path().to_path_buf()], &wanted, 1 << 20);
    }

    /// Any text, escaped as pytest writes it, comes back as the `log` exactly (line ends as
    /// `\n`, as an XML parser reads them).
    #[test]
    fn perfdb_log_lookup_gives_back_the_text(text in "[ -~\r\n\t&<>'\"é€😀]{0,300}") {
        let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let xml = format!(
            "<testsuite><testcase name=\"test_e2e[case-a]\"><system-out>{escaped}</system-out></testcase></testsuite>"
        );
        let file = junit_file(xml.as_bytes());
        let wanted = ["perf/test_perf_sanity.py::test_e2e[case-a]".to_string()];
        let logs = find_logs(&[file.path().to_path_buf()], &wanted, 1 << 20);
        let want = text.replace("\r\n", "\n").replace('\r', "\n");
        prop_assert_eq!(logs.by_test.get(&wanted[0]).cloned(), Some(want).filter(|w| !w.is_empty()));
    }
}

fn junit_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(bytes).expect("write");
    f
}
