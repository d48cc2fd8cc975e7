//! The event loop over the markup: quick-xml reads tags and attributes, character data is
//! streamed to the sinks of `text.rs` by `stream_text`.

use std::io::{self, BufRead, Read};
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::super::metrics::{BlockMode, ScanOutput};
use super::input::{LossyUtf8, PeekReader};
use super::text::{Capture, Mode, Out, RawText, TextSink, decode_entities};
use super::{JunitCase, JunitError, JunitReport, JunitStatus};

/// Longest attribute value kept (failure messages can be long).
const MAX_ATTR: usize = 2000;
/// Tail lines kept from `<system-out>`, `<system-err>` and failure text.
const TAIL_LINES: usize = 8;

/// Where the current character data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Discard,
    Out,
    Err,
    Detail,
}

/// Decode an attribute value: lossy UTF-8, entities, at most `MAX_ATTR` characters.
fn attr_text(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len().min(MAX_ATTR * 2));
    decode_entities(&raw[..raw.len().min(MAX_ATTR * 4)], &mut out);
    let s = String::from_utf8_lossy(&out);
    if s.chars().count() > MAX_ATTR {
        let mut t: String = s.chars().take(MAX_ATTR).collect();
        t.push('…');
        t
    } else {
        s.into_owned()
    }
}

fn attrs(e: &BytesStart<'_>) -> Vec<(Vec<u8>, String)> {
    e.attributes()
        .with_checks(false)
        .filter_map(|a| a.ok())
        .map(|a| {
            (
                a.key.as_ref().as_bytes().to_vec(),
                attr_text(a.value.as_bytes()),
            )
        })
        .collect()
}

fn attr<'a>(list: &'a [(Vec<u8>, String)], key: &[u8]) -> Option<&'a str> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The element kinds we care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Suite,
    Case,
    SystemOut,
    SystemErr,
    Failure,
    Error,
    Skipped,
    Other,
}

fn kind_of(name: &[u8]) -> Kind {
    // Ignore a namespace prefix, if any.
    let local = match memchr::memrchr(b':', name) {
        Some(p) => &name[p + 1..],
        None => name,
    };
    match local {
        b"testsuite" | b"testsuites" => Kind::Suite,
        b"testcase" => Kind::Case,
        b"system-out" => Kind::SystemOut,
        b"system-err" => Kind::SystemErr,
        b"failure" => Kind::Failure,
        b"error" => Kind::Error,
        b"skipped" => Kind::Skipped,
        _ => Kind::Other,
    }
}

struct CaseBuilder<'c> {
    case: JunitCase,
    wanted: bool,
    out: Option<Out<'c>>,
    err: Option<TextSink<'c>>,
    detail: Option<TextSink<'c>>,
}

impl<'c> CaseBuilder<'c> {
    fn finish(mut self, truncated: bool) -> JunitCase {
        match self.out.take() {
            Some(Out::Scan(out)) => self.case.out = Some(out.finish()),
            Some(Out::Capture(c)) => self.case.system_out_text = c.done,
            None if self.wanted => self.case.out = Some(ScanOutput::default()),
            None => {}
        }
        if let Some(err) = self.err.take() {
            let scan = err.finish();
            if self.case.oom.is_none() {
                self.case.oom = scan.oom.map(|(s, _)| s);
            }
            self.case.err_tail = scan.tail;
        }
        if let Some(detail) = self.detail.take() {
            let scan = detail.finish();
            if self.case.oom.is_none() {
                self.case.oom = scan.oom.map(|(s, _)| s);
            }
            self.case.detail_tail = scan.tail;
        }
        if truncated && self.case.status == JunitStatus::Passed {
            self.case.status = JunitStatus::Incomplete;
        }
        self.case
    }

    fn set_status(&mut self, status: JunitStatus, message: Option<String>) {
        if status.rank() > self.case.status.rank() {
            self.case.status = status;
        }
        if self.case.message.is_none() {
            self.case.message = message.filter(|m| !m.trim().is_empty());
        }
    }
}

pub(super) fn read_junit_from<R: Read>(
    input: R,
    path: &Path,
    mode: Mode<'_>,
    want: &mut dyn FnMut(&str, &str) -> bool,
    locate: &dyn Fn(u64) -> (u64, u64),
    on_case: &mut dyn FnMut(JunitCase),
) -> Result<JunitReport, JunitError> {
    let mut count = 0u64;
    let mut emit = |c: JunitCase| {
        count += 1;
        on_case(c);
    };
    let mut reader = Reader::from_reader(PeekReader::new(LossyUtf8::new(input)));
    {
        let c = reader.config_mut();
        c.trim_text(false);
        c.check_end_names = true;
        c.expand_empty_elements = false;
        c.check_comments = false;
    }
    let io_err = |source: io::Error| JunitError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut report = JunitReport {
        path: path.to_path_buf(),
        ..JunitReport::default()
    };
    let mut stack: Vec<Kind> = Vec::new();
    let mut suites: Vec<(String, Option<String>)> = Vec::new();
    let mut case: Option<CaseBuilder<'_>> = None;
    let mut buf = Vec::new();
    let mut saw_element = false;

    loop {
        // 1. Character data at the current position: stream it ourselves.
        let target = match (stack.last(), &case) {
            (Some(Kind::SystemOut), Some(c)) if c.wanted => Target::Out,
            (Some(Kind::SystemErr), Some(_)) => Target::Err,
            (Some(Kind::Failure | Kind::Error | Kind::Skipped), Some(_)) => Target::Detail,
            _ => Target::Discard,
        };
        let sink: Option<&mut dyn RawText> = match (target, case.as_mut()) {
            (Target::Out, Some(c)) => c.out.as_mut().map(|o| o as &mut dyn RawText),
            (Target::Err, Some(c)) => c.err.as_mut().map(|o| o as &mut dyn RawText),
            (Target::Detail, Some(c)) => c.detail.as_mut().map(|o| o as &mut dyn RawText),
            _ => None,
        };
        stream_text(&mut reader, sink).map_err(io_err)?;

        // 2. The next piece of markup.
        buf.clear();
        let event = match reader.read_event_into(&mut buf) {
            Ok(ev) => ev,
            Err(e) => {
                let offset = reader.error_position();
                let at_end = reader
                    .get_mut()
                    .peek(1)
                    .map(|b| b.is_empty())
                    .unwrap_or(true);
                if at_end && matches!(e, quick_xml::Error::Syntax(_)) {
                    // Cut off in the middle of a tag: a truncated file, not a broken one.
                    report.warnings.push(truncation_warning(
                        path,
                        &stack,
                        reader.buffer_position(),
                    ));
                    if let Some(c) = case.take() {
                        emit(c.finish(true));
                    }
                    break;
                }
                if let (Mode::Capture(_), Some(c)) = (mode, case.take()) {
                    // What was closed before the error is still good text.
                    emit(c.finish(true));
                }
                let (line, column) = locate(offset);
                return Err(JunitError::Malformed {
                    path: path.to_path_buf(),
                    line,
                    column,
                    offset,
                    message: e.to_string(),
                });
            }
        };
        match event {
            Event::Start(e) => {
                saw_element = true;
                let kind = kind_of(e.name().as_ref().as_bytes());
                open(
                    &e,
                    kind,
                    &mut case,
                    &mut suites,
                    mode,
                    want,
                    &reader,
                    &mut emit,
                );
                stack.push(kind);
            }
            Event::Empty(e) => {
                saw_element = true;
                let kind = kind_of(e.name().as_ref().as_bytes());
                open(
                    &e,
                    kind,
                    &mut case,
                    &mut suites,
                    mode,
                    want,
                    &reader,
                    &mut emit,
                );
                // `<system-out/>` holds no text: it does not count as the case's first one
                // (as the legacy uploader's reader saw it).
                if kind != Kind::SystemOut {
                    close(kind, &mut case, &mut suites, &mut emit);
                }
            }
            Event::End(_) => {
                if let Some(kind) = stack.pop() {
                    close(kind, &mut case, &mut suites, &mut emit);
                }
            }
            Event::CData(t) => {
                // Normally streamed by `stream_text`; kept for completeness.
                if let (Some(c), Some(Kind::SystemOut)) = (case.as_mut(), stack.last())
                    && let Some(out) = c.out.as_mut()
                {
                    RawText::cdata(out, t.as_bytes());
                }
            }
            Event::Eof => {
                report.bytes = reader.buffer_position();
                if !stack.is_empty() {
                    report.warnings.push(truncation_warning(
                        path,
                        &stack,
                        reader.buffer_position(),
                    ));
                    if let Some(c) = case.take() {
                        emit(c.finish(true));
                    }
                }
                break;
            }
            _ => {}
        }
    }
    report.bytes = report.bytes.max(reader.buffer_position());
    if report.bytes == 0 {
        return Err(JunitError::Empty {
            path: path.to_path_buf(),
        });
    }
    if !saw_element {
        return Err(JunitError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            offset: 0,
            message: "there is no XML element in it".into(),
        });
    }
    if count == 0 {
        report.warnings.push(format!(
            "the JUnit file {} contains no <testcase> elements",
            path.display()
        ));
    }
    Ok(report)
}

fn truncation_warning(path: &Path, stack: &[Kind], offset: u64) -> String {
    let inside = match stack.iter().rev().find(|k| **k != Kind::Other) {
        Some(Kind::Case) | Some(Kind::SystemOut) | Some(Kind::SystemErr) => " inside a <testcase>",
        Some(_) => " inside a <testsuite>",
        None => "",
    };
    format!(
        "the JUnit file {} ends at byte {offset}{inside} without closing its elements; it was \
         cut off (job killed while pytest wrote it?), so only what it holds so far is used",
        path.display()
    )
}

#[allow(clippy::too_many_arguments)]
fn open<'c, R>(
    e: &BytesStart<'_>,
    kind: Kind,
    case: &mut Option<CaseBuilder<'c>>,
    suites: &mut Vec<(String, Option<String>)>,
    mode: Mode<'c>,
    want: &mut dyn FnMut(&str, &str) -> bool,
    reader: &Reader<R>,
    emit: &mut dyn FnMut(JunitCase),
) {
    match kind {
        Kind::Suite => {
            let a = attrs(e);
            suites.push((
                attr(&a, b"name").unwrap_or_default().to_string(),
                attr(&a, b"timestamp").map(str::to_string),
            ));
        }
        Kind::Case => {
            if let Some(prev) = case.take() {
                // A <testcase> inside a <testcase>: tolerate, close the outer one.
                emit(prev.finish(false));
            }
            let a = attrs(e);
            let name = attr(&a, b"name").unwrap_or_default().to_string();
            let classname = attr(&a, b"classname").unwrap_or_default().to_string();
            let wanted = want(&name, &classname);
            let (suite, suite_timestamp) = suites.last().cloned().unwrap_or_default();
            let offset = reader.buffer_position();
            *case = Some(CaseBuilder {
                case: JunitCase {
                    time_s: attr(&a, b"time")
                        .and_then(|t| t.trim().parse::<f64>().ok())
                        .filter(|t| t.is_finite()),
                    name,
                    classname,
                    suite,
                    suite_timestamp,
                    status: JunitStatus::Passed,
                    message: None,
                    detail_tail: Vec::new(),
                    out: None,
                    oom: None,
                    err_tail: Vec::new(),
                    offset,
                    system_out_text: None,
                },
                wanted,
                out: wanted.then(|| match mode {
                    Mode::Scan(cfg) => Out::Scan(Box::new(TextSink::new(cfg, BlockMode::Split, 0))),
                    Mode::Capture(cap) => Out::Capture(Capture::new(cap)),
                }),
                err: None,
                detail: None,
            });
        }
        Kind::SystemErr => {
            if let (Some(c), Mode::Scan(cfg)) = (case.as_mut(), mode)
                && c.err.is_none()
            {
                c.err = Some(TextSink::new(cfg, BlockMode::Merge, TAIL_LINES));
            }
        }
        Kind::Failure | Kind::Error | Kind::Skipped => {
            if let Some(c) = case.as_mut() {
                let a = attrs(e);
                let status = match kind {
                    Kind::Failure => JunitStatus::Failed,
                    Kind::Error => JunitStatus::Error,
                    _ => JunitStatus::Skipped,
                };
                c.set_status(status, attr(&a, b"message").map(str::to_string));
                if let Mode::Scan(cfg) = mode
                    && c.detail.is_none()
                {
                    c.detail = Some(TextSink::new(cfg, BlockMode::Merge, TAIL_LINES));
                }
            }
        }
        Kind::SystemOut | Kind::Other => {}
    }
}

fn close(
    kind: Kind,
    case: &mut Option<CaseBuilder<'_>>,
    suites: &mut Vec<(String, Option<String>)>,
    emit: &mut dyn FnMut(JunitCase),
) {
    match kind {
        Kind::Suite => {
            suites.pop();
        }
        Kind::Case => {
            if let Some(c) = case.take() {
                emit(c.finish(false));
            }
        }
        Kind::SystemOut => {
            if let Some(Out::Capture(c)) = case.as_mut().and_then(|c| c.out.as_mut()) {
                c.close();
            }
        }
        _ => {}
    }
}

/// Stream character data from the current position up to the next markup (or the end),
/// including CDATA sections, into `sink` (or nowhere).
fn stream_text<R: Read>(
    reader: &mut Reader<PeekReader<R>>,
    mut sink: Option<&mut dyn RawText>,
) -> io::Result<()> {
    loop {
        // Plain text up to '<'.
        loop {
            let mut stream = reader.stream();
            let chunk = stream.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            match memchr::memchr(b'<', chunk) {
                Some(p) => {
                    if let Some(s) = sink.as_deref_mut() {
                        s.text(&chunk[..p]);
                    }
                    stream.consume(p);
                    break;
                }
                None => {
                    let n = chunk.len();
                    if let Some(s) = sink.as_deref_mut() {
                        s.text(chunk);
                    }
                    stream.consume(n);
                }
            }
        }
        // At '<': a CDATA section is text too; anything else is markup for quick-xml.
        if reader.get_mut().peek(9)? != b"<![CDATA[" {
            return Ok(());
        }
        reader.stream().consume(9);
        let mut pending_brackets = 0usize; // `]` or `]]` at the end of the previous chunk
        loop {
            let mut stream = reader.stream();
            let chunk = stream.fill_buf()?;
            if chunk.is_empty() {
                return Ok(()); // cut off inside CDATA; quick-xml reports the end
            }
            // Resolve a `]]>` split across chunks.
            if pending_brackets > 0 {
                let need: &[u8] = if pending_brackets == 2 { b">" } else { b"]>" };
                if chunk.starts_with(need) {
                    stream.consume(need.len());
                    break;
                }
                if let Some(s) = sink.as_deref_mut() {
                    s.cdata(&b"]]"[..pending_brackets]);
                }
            }
            match memchr::memmem::find(chunk, b"]]>") {
                Some(p) => {
                    if let Some(s) = sink.as_deref_mut() {
                        s.cdata(&chunk[..p]);
                    }
                    stream.consume(p + 3);
                    break;
                }
                None => {
                    let n = chunk.len();
                    let keep = if chunk.ends_with(b"]]") {
                        2
                    } else if chunk.ends_with(b"]") {
                        1
                    } else {
                        0
                    };
                    if let Some(s) = sink.as_deref_mut() {
                        s.cdata(&chunk[..n - keep]);
                    }
                    pending_brackets = keep;
                    stream.consume(n);
                }
            }
        }
    }
}
