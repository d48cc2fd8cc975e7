//! `perf-run-junit.xml`: a JUnit report for Jenkins. One `<testsuite name="perf-run">`, one
//! `<testcase classname="perf-run.<mode>" name="<test_id>">` per case; failed and invalid cases
//! carry `<failure type="<failure class>" message="<one sentence>">` with all reasons in the
//! body, skipped and not-run cases `<skipped message=…>`, and `<system-out>` lists each client's
//! numbers. Everything is XML-escaped and characters XML 1.0 forbids are dropped.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::results::metrics::fmt_num;
use crate::results::model::{CaseResult, CaseStatus, RunInfo};

pub fn write(w: &mut dyn Write, run: &RunInfo, cases: &[CaseResult]) -> io::Result<()> {
    let mut body = JunitBody::new(Vec::new());
    for case in cases {
        body.case(case)?;
    }
    let (buf, counts) = body.into_parts();
    write_report(w, run, &counts, &mut &buf[..])
}

/// Totals for the `<testsuite>` element.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub tests: usize,
    pub failures: usize,
    pub skipped: usize,
    pub time_s: f64,
}

/// Streaming writer of the `<testcase>` elements; the `<testsuite>` element, whose attributes
/// need the totals, is written around them at the end by `write_report`.
pub struct JunitBody<W: Write> {
    w: W,
    counts: Counts,
    buf: String,
}

impl<W: Write> JunitBody<W> {
    pub fn new(w: W) -> Self {
        JunitBody {
            w,
            counts: Counts::default(),
            buf: String::new(),
        }
    }

    pub fn case(&mut self, case: &CaseResult) -> io::Result<()> {
        let c = &mut self.counts;
        c.tests += 1;
        if case.is_failure() {
            c.failures += 1;
        }
        if matches!(case.status, CaseStatus::Skipped | CaseStatus::NotRun) {
            c.skipped += 1;
        }
        c.time_s += case.duration_s.filter(|t| t.is_finite()).unwrap_or(0.0);
        let s = &mut self.buf;
        s.clear();
        let _ = write!(
            s,
            "  <testcase classname=\"perf-run.{}\" name=\"{}\"",
            esc(&case.mode),
            esc(&case.test_id)
        );
        if let Some(t) = case.duration_s {
            let _ = write!(s, " time=\"{}\"", secs(t));
        }
        s.push_str(">\n");
        match case.status {
            CaseStatus::Failed | CaseStatus::Invalid => {
                let class = case
                    .failure_class
                    .map(|c| c.as_str())
                    .unwrap_or("test_failed");
                let _ = writeln!(
                    s,
                    "    <failure type=\"{class}\" message=\"{}\">{}</failure>",
                    esc(&headline(case)),
                    esc(&details(case))
                );
            }
            CaseStatus::Skipped | CaseStatus::NotRun => {
                let _ = writeln!(s, "    <skipped message=\"{}\"/>", esc(&headline(case)));
            }
            CaseStatus::Passed => {}
        }
        let out = system_out(case);
        if !out.is_empty() {
            let _ = writeln!(s, "    <system-out>{}</system-out>", esc(&out));
        }
        s.push_str("  </testcase>\n");
        self.w.write_all(s.as_bytes())
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn into_parts(self) -> (W, Counts) {
        (self.w, self.counts)
    }
}

/// The whole report: `<testsuite>` with totals and properties, the body, the closing tag.
pub fn write_report(
    w: &mut dyn Write,
    run: &RunInfo,
    counts: &Counts,
    body: &mut dyn io::Read,
) -> io::Result<()> {
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuite name=\"perf-run\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\">",
        counts.tests,
        counts.failures,
        counts.skipped,
        secs(counts.time_s),
        run.started.format("%Y-%m-%dT%H:%M:%S")
    );
    s.push_str("  <properties>\n");
    let mut props: Vec<(&str, String)> = vec![("run_id", run.run_id.clone())];
    for (k, v) in [
        ("cluster", &run.cluster),
        ("hostname", &run.hostname),
        ("build_url", &run.build_url),
        ("trtllm_commit", &run.trtllm_commit),
    ] {
        if let Some(v) = v {
            props.push((k, v.clone()));
        }
    }
    props.push(("gpu", run.sysinfo.gpu.clone()));
    props.push(("driver", run.sysinfo.driver.clone()));
    for (k, v) in props {
        let _ = writeln!(
            s,
            "    <property name=\"{}\" value=\"{}\"/>",
            esc(k),
            esc(&v)
        );
    }
    s.push_str("  </properties>\n");
    w.write_all(s.as_bytes())?;
    io::copy(body, w)?;
    w.write_all(b"</testsuite>\n")?;
    Ok(())
}

/// One sentence: the first reason, and how many more there are.
fn headline(case: &CaseResult) -> String {
    match case.reasons.as_slice() {
        [] => case.status.as_str().to_string(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

fn details(case: &CaseResult) -> String {
    let mut d = String::new();
    if let Some(c) = case.failure_class {
        let _ = writeln!(d, "failure class: {c}");
    }
    for r in &case.reasons {
        let _ = writeln!(d, "- {r}");
    }
    if let Some(j) = &case.job {
        let _ = writeln!(
            d,
            "Slurm job {} state {} exit code {}",
            if j.job_id.is_empty() { "?" } else { &j.job_id },
            if j.state == crate::slurm::BaseState::Unknown {
                "?"
            } else {
                j.state.as_str()
            },
            j.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "?".into())
        );
    }
    d
}

fn system_out(case: &CaseResult) -> String {
    let mut s = String::new();
    for c in &case.clients {
        let _ = write!(s, "{}: {}", c.label(), c.validity.as_str());
        for m in &c.metrics {
            let _ = write!(s, "; {} {} {}", m.info.name, fmt_num(m.value), m.info.unit);
        }
        s.push('\n');
        for r in &c.reasons {
            let _ = writeln!(s, "  invalid: {r}");
        }
    }
    for w in &case.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

fn secs(t: f64) -> String {
    if t.is_finite() {
        format!("{t:.3}")
    } else {
        "0.000".into()
    }
}

/// XML-escape text or an attribute value and drop characters XML 1.0 does not allow.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// XML 1.0 `Char`: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
fn xml_char(c: char) -> bool {
    matches!(c as u32, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_illegal_characters() {
        assert_eq!(
            esc("a<b>&\"c'\u{0}\u{1b}[31m\u{FFFE}ok\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;[31mok\n"
        );
    }
}
