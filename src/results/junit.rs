//! A tolerant, streaming JUnit XML reader.
//!
//! quick-xml reads the markup (tags, attributes, comments); every run of character data is
//! streamed by us straight from the buffer, line by line, into the metric scanner, so a
//! 500 MB `<system-out>` never sits in memory (only the metrics, failure markers and a few tail
//! lines are kept). Tolerant: `<testsuites>` or `<testsuite>` roots, nested suites, unknown
//! elements, several `<system-out>` per case, CDATA, bytes that are not UTF-8, and a file cut
//! off in the middle (a job killed while pytest wrote it) all work; only real syntax errors
//! (a mismatched closing tag, a broken attribute) are errors, and they name the line, column
//! and byte offset.
//!
//! Two ways to read the text of a `<system-out>`: scanned for metrics ([`read_junit`],
//! [`read_junit_each`]: the results stage), or captured as text ([`read_junit_text_each`]: the
//! uploader's `log` column, reference §9.2 step 5), capped so memory stays bounded.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::lines::{CappedText, LineSplitter};
use super::metrics::{BlockMode, MetricConfig, ScanOutput, Scanner};

/// Longest attribute value kept (failure messages can be long).
const MAX_ATTR: usize = 2000;
/// Tail lines kept from `<system-out>`, `<system-err>` and failure text.
const TAIL_LINES: usize = 8;

/// The verdict of one `<testcase>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JunitStatus {
    Passed,
    Failed,
    Error,
    Skipped,
    /// The file ended inside this test case (the job was killed while pytest wrote it).
    Incomplete,
}

impl JunitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JunitStatus::Passed => "passed",
            JunitStatus::Failed => "failed",
            JunitStatus::Error => "error",
            JunitStatus::Skipped => "skipped",
            JunitStatus::Incomplete => "incomplete",
        }
    }

    fn rank(self) -> u8 {
        match self {
            JunitStatus::Passed => 0,
            JunitStatus::Skipped => 1,
            JunitStatus::Incomplete => 2,
            JunitStatus::Failed => 3,
            JunitStatus::Error => 4,
        }
    }
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    pub name: String,
    pub classname: String,
    /// The innermost `<testsuite name>`.
    pub suite: String,
    /// The `<testsuite timestamp>` (as written), if any.
    pub suite_timestamp: Option<String>,
    pub time_s: Option<f64>,
    pub status: JunitStatus,
    /// `message` of the first `<failure>`/`<error>`/`<skipped>`.
    pub message: Option<String>,
    /// Last lines of the failure/error text.
    pub detail_tail: Vec<String>,
    /// The `<system-out>` scan (`None` when this case was not asked for).
    pub out: Option<ScanOutput>,
    /// An out-of-memory signature in `<system-err>` or the failure text.
    pub oom: Option<String>,
    /// Last lines of `<system-err>`.
    pub err_tail: Vec<String>,
    /// Byte offset of the `<testcase` tag.
    pub offset: u64,
    /// The text of the case's first `<system-out>` that was closed, when the file was read for
    /// it ([`read_junit_text_each`]) and the case was asked for: entities decoded, line ends
    /// as `\n`, capped (head and end kept). `None` otherwise, and for a `<system-out>` the
    /// file ends inside.
    pub system_out_text: Option<String>,
}

impl JunitCase {
    /// The bracket content of the name (`test_e2e[case]` → `case`), after any `prefix/`.
    pub fn bracket(&self) -> Option<&str> {
        bracket_of(&self.name)
    }

    /// The pytest node id, rebuilt from classname + name (`perf.test_perf_sanity` +
    /// `test_e2e[x]` → `perf/test_perf_sanity.py::test_e2e[x]`).
    pub fn node_id(&self) -> String {
        node_id(&self.classname, &self.name)
    }
}

/// `name[inner]` → `inner` (the outermost brackets).
pub fn bracket_of(name: &str) -> Option<&str> {
    let start = name.find('[')?;
    let end = name.rfind(']')?;
    (end > start).then(|| &name[start + 1..end])
}

/// The pytest node id from a JUnit classname and name (see `JunitCase::node_id`).
pub fn node_id(classname: &str, name: &str) -> String {
    if classname.is_empty() {
        return name.to_string();
    }
    let parts: Vec<&str> = classname.split('.').collect();
    // pytest: classname = dotted module path, then optional class names (CamelCase).
    let split = parts
        .iter()
        .position(|p| p.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .unwrap_or(parts.len());
    if split == 0 {
        return format!("{classname}::{name}");
    }
    let mut id = format!("{}.py", parts[..split].join("/"));
    for class in &parts[split..] {
        id.push_str("::");
        id.push_str(class);
    }
    id.push_str("::");
    id.push_str(name);
    id
}

/// Everything read from one JUnit file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JunitReport {
    pub path: PathBuf,
    pub cases: Vec<JunitCase>,
    /// Things a person should know (file cut off, no test cases, …).
    pub warnings: Vec<String>,
    pub bytes: u64,
}

/// A JUnit file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("could not read the JUnit file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the JUnit file {path} is not well-formed XML at line {line}, column {column} (byte {offset}): {message}"
    )]
    Malformed {
        path: PathBuf,
        line: u64,
        column: u64,
        offset: u64,
        message: String,
    },
    #[error("the JUnit file {path} is empty (0 bytes); pytest probably never wrote it")]
    Empty { path: PathBuf },
}

/// Read a JUnit file. `want(name, classname)` says which test cases get their `<system-out>`
/// scanned for metrics; the others only contribute their verdict.
pub fn read_junit(
    path: &Path,
    cfg: &MetricConfig,
    want: &dyn Fn(&str, &str) -> bool,
) -> Result<JunitReport, JunitError> {
    let mut cases = Vec::new();
    let mut report = read_junit_each(path, cfg, want, &mut |c| cases.push(c))?;
    report.cases = cases;
    Ok(report)
}

/// Like `read_junit`, but hands each `<testcase>` to `on_case` as soon as it is complete
/// instead of collecting them (the returned report's `cases` is empty), so memory does not
/// grow with the number of test cases.
pub fn read_junit_each(
    path: &Path,
    cfg: &MetricConfig,
    want: &dyn Fn(&str, &str) -> bool,
    on_case: &mut dyn FnMut(JunitCase),
) -> Result<JunitReport, JunitError> {
    let file = File::open(path).map_err(|source| JunitError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let locate = |offset: u64| locate_in_file(path, offset);
    read_junit_from(
        file,
        path,
        Mode::Scan(cfg),
        &mut |n, c| want(n, c),
        &locate,
        on_case,
    )
}

/// Read a JUnit file for the text of its `<system-out>`s instead of their metrics: each case
/// that `want(name, classname)` accepts (asked when its `<testcase>` starts, so the answer may
/// depend on the cases before it) comes to `on_case` with
/// [`JunitCase::system_out_text`] = its first closed `<system-out>`, at most `cap` bytes
/// ([`CappedText`]: the head and the end). Memory is bounded by `cap` and the markup, however
/// long the text. `<system-err>` and failure texts are not read (`oom`, `err_tail`,
/// `detail_tail` stay empty). When the file turns out malformed, the case being read is
/// still handed over (with what was closed before the error), then the error is returned.
pub fn read_junit_text_each(
    path: &Path,
    cap: usize,
    want: &mut dyn FnMut(&str, &str) -> bool,
    on_case: &mut dyn FnMut(JunitCase),
) -> Result<JunitReport, JunitError> {
    let file = File::open(path).map_err(|source| JunitError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let locate = |offset: u64| locate_in_file(path, offset);
    read_junit_from(file, path, Mode::Capture(cap), want, &locate, on_case)
}

/// Read JUnit XML held in memory (tests, small inputs).
pub fn read_junit_bytes(
    bytes: &[u8],
    label: &Path,
    cfg: &MetricConfig,
    want: &dyn Fn(&str, &str) -> bool,
) -> Result<JunitReport, JunitError> {
    let locate = |offset: u64| locate_in(bytes, offset);
    let mut cases = Vec::new();
    let mut report = read_junit_from(
        bytes,
        label,
        Mode::Scan(cfg),
        &mut |n, c| want(n, c),
        &locate,
        &mut |c| cases.push(c),
    )?;
    report.cases = cases;
    Ok(report)
}

/// Line and column (1-based) of a byte offset.
fn locate_in(bytes: &[u8], offset: u64) -> (u64, u64) {
    let end = (offset as usize).min(bytes.len());
    let before = &bytes[..end];
    let line = memchr::memchr_iter(b'\n', before).count() as u64 + 1;
    let col = match memchr::memrchr(b'\n', before) {
        Some(p) => end - p,
        None => end + 1,
    };
    (line, col as u64)
}

fn locate_in_file(path: &Path, offset: u64) -> (u64, u64) {
    let Ok(mut f) = File::open(path) else {
        return (0, 0);
    };
    let mut buf = vec![0u8; 1 << 16];
    let mut done: u64 = 0;
    let mut line = 1u64;
    let mut line_start: u64 = 0;
    while done < offset {
        let want = ((offset - done) as usize).min(buf.len());
        let n = match f.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        for p in memchr::memchr_iter(b'\n', &buf[..n]) {
            line += 1;
            line_start = done + p as u64 + 1;
        }
        done += n as u64;
    }
    (line, offset.saturating_sub(line_start) + 1)
}

// ---------------------------------------------------------------------------------------------

/// A `BufRead` that can look ahead a few bytes without consuming them (to recognise
/// `<![CDATA[` at a buffer boundary) and counts what was consumed.
struct PeekReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> PeekReader<R> {
    fn new(inner: R) -> Self {
        PeekReader {
            inner,
            buf: vec![0u8; 256 * 1024].into_boxed_slice(),
            pos: 0,
            end: 0,
            eof: false,
        }
    }

    fn read_more(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    if n == 0 {
                        self.eof = true;
                    }
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Up to `n` bytes ahead, without consuming them (fewer only at the end of input).
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        while self.end - self.pos < n && !self.eof {
            if self.read_more()? == 0 {
                break;
            }
        }
        let stop = self.end.min(self.pos + n);
        Ok(&self.buf[self.pos..stop])
    }
}

impl<R: Read> Read for PeekReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for PeekReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end && !self.eof {
            self.read_more()?;
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.end);
    }
}

/// A reader that replaces byte sequences that are not UTF-8 with U+FFFD on the fly, so a
/// stray Latin-1 byte in a test name does not make the whole file unreadable (quick-xml
/// 0.42 requires UTF-8 markup). Byte offsets in error messages count the replaced stream,
/// which differs from the file only after such bytes.
struct LossyUtf8<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes from `start` already known to be UTF-8.
    validated: usize,
    /// Replacement bytes not yet handed out (when the caller's buffer was tiny).
    pending: Vec<u8>,
}

impl<R: Read> LossyUtf8<R> {
    fn new(inner: R) -> Self {
        LossyUtf8 {
            inner,
            buf: vec![0u8; 64 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            validated: 0,
            pending: Vec::new(),
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: Read> Read for LossyUtf8<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(out.len());
                out[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                return Ok(n);
            }
            if self.start == self.end {
                if self.eof {
                    return Ok(0);
                }
                self.fill()?;
                continue;
            }
            if self.validated > 0 {
                let n = self.validated.min(out.len());
                out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                self.validated -= n;
                return Ok(n);
            }
            let data = &self.buf[self.start..self.end];
            match std::str::from_utf8(data) {
                Ok(_) => self.validated = data.len(),
                Err(e) if e.valid_up_to() > 0 => self.validated = e.valid_up_to(),
                Err(e) => match e.error_len() {
                    Some(bad) => {
                        self.start += bad;
                        self.pending.extend_from_slice(REPLACEMENT);
                    }
                    None if self.eof => {
                        // An incomplete character at the very end of the input.
                        self.start = self.end;
                        self.pending.extend_from_slice(REPLACEMENT);
                    }
                    None => self.fill()?,
                },
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// Where the current character data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Discard,
    Out,
    Err,
    Detail,
}

/// Character data of one element, split into lines, entities decoded, fed to a scanner.
struct TextSink<'c> {
    splitter: LineSplitter,
    scanner: Scanner<'c>,
    scratch: Vec<u8>,
}

impl<'c> TextSink<'c> {
    fn new(cfg: &'c MetricConfig, mode: BlockMode, tail: usize) -> Self {
        TextSink {
            splitter: LineSplitter::default(),
            scanner: cfg.scanner(mode).with_tail(tail),
            scratch: Vec::new(),
        }
    }

    /// Raw XML character data (entities not yet decoded).
    fn text(&mut self, raw: &[u8]) {
        let scanner = &mut self.scanner;
        let scratch = &mut self.scratch;
        self.splitter
            .push(raw, &mut |line: &[u8]| feed_decoded(scanner, scratch, line));
    }

    /// CDATA content: literal, so protect its `&` from the entity decoder.
    fn cdata(&mut self, raw: &[u8]) {
        if memchr::memchr(b'&', raw).is_none() {
            self.text(raw);
            return;
        }
        let mut escaped = Vec::with_capacity(raw.len() + 16);
        for &b in raw {
            if b == b'&' {
                escaped.extend_from_slice(b"&amp;");
            } else {
                escaped.push(b);
            }
        }
        self.text(&escaped);
    }

    fn finish(mut self) -> ScanOutput {
        let scanner = &mut self.scanner;
        let scratch = &mut self.scratch;
        self.splitter
            .finish(&mut |line: &[u8]| feed_decoded(scanner, scratch, line));
        self.scanner.finish()
    }
}

/// Where the reader pours the character data of an element: raw XML text (entities not yet
/// decoded) and CDATA content (literal), in pieces of any size, in document order.
trait RawText {
    fn text(&mut self, raw: &[u8]);
    fn cdata(&mut self, raw: &[u8]);
}

impl RawText for TextSink<'_> {
    fn text(&mut self, raw: &[u8]) {
        TextSink::text(self, raw)
    }
    fn cdata(&mut self, raw: &[u8]) {
        TextSink::cdata(self, raw)
    }
}

/// How a read handles the `<system-out>` of a wanted case.
#[derive(Clone, Copy)]
enum Mode<'c> {
    /// Scan it (and `<system-err>`, failure texts) for metrics and markers.
    Scan(&'c MetricConfig),
    /// Keep the text of the first closed one, capped at this many bytes.
    Capture(usize),
}

/// The `<system-out>` sink of a wanted case.
enum Out<'c> {
    Scan(Box<TextSink<'c>>),
    Capture(Capture),
}

impl RawText for Out<'_> {
    fn text(&mut self, raw: &[u8]) {
        match self {
            Out::Scan(s) => s.text(raw),
            Out::Capture(c) => c.text(raw),
        }
    }
    fn cdata(&mut self, raw: &[u8]) {
        match self {
            Out::Scan(s) => s.cdata(raw),
            Out::Capture(c) => c.cdata(raw),
        }
    }
}

/// Text of a `<system-out>` as text: line ends normalised (`\r\n` and a lone `\r` → `\n`, as
/// an XML parser does; `&#13;` stays a `\r`), entities decoded with [`decode_entities`], kept
/// in a [`CappedText`]. Pieces may split an entity, a `\r\n` or a UTF-8 sequence anywhere.
struct Capture {
    /// Raw bytes held back until the next piece completes them.
    pending: Vec<u8>,
    /// The last byte handed on was a `\r` (so a `\n` right after it is dropped).
    after_cr: bool,
    text: CappedText,
    scratch: Vec<u8>,
    /// The first closed `<system-out>`'s text; later ones are ignored.
    done: Option<String>,
    cap: usize,
}

/// The longest entity [`decode_entities`] resolves, `&` and `;` included.
const MAX_ENTITY: usize = 12;

impl Capture {
    fn new(cap: usize) -> Self {
        Capture {
            pending: Vec::new(),
            after_cr: false,
            text: CappedText::new(cap),
            scratch: Vec::new(),
            done: None,
            cap,
        }
    }

    fn text(&mut self, raw: &[u8]) {
        if self.done.is_some() {
            return;
        }
        self.pending.extend_from_slice(raw);
        let p = &self.pending;
        let mut cut = p.len();
        // An entity the next piece may complete.
        if let Some(amp) = memchr::memrchr(b'&', p)
            && memchr::memchr(b';', &p[amp..]).is_none()
            && p.len() - amp < MAX_ENTITY
        {
            cut = amp;
        }
        cut = utf8_boundary(&p[..cut]);
        self.drain(cut, true);
    }

    fn cdata(&mut self, raw: &[u8]) {
        if self.done.is_some() {
            return;
        }
        // Text before it is complete now (markup ended it).
        self.drain(self.pending.len(), true);
        self.pending.extend_from_slice(raw);
        let cut = utf8_boundary(&self.pending);
        self.drain(cut, false);
    }

    /// Hand on `pending[..cut]`, entities decoded when `entities`.
    fn drain(&mut self, cut: usize, entities: bool) {
        if cut == 0 {
            return;
        }
        let mut lines = Vec::with_capacity(cut);
        for &b in &self.pending[..cut] {
            match b {
                b'\r' => {
                    lines.push(b'\n');
                    self.after_cr = true;
                    continue;
                }
                b'\n' if self.after_cr => {}
                _ => lines.push(b),
            }
            self.after_cr = false;
        }
        self.pending.drain(..cut);
        let bytes = if entities && memchr::memchr(b'&', &lines).is_some() {
            self.scratch.clear();
            decode_entities(&lines, &mut self.scratch);
            &self.scratch
        } else {
            &lines
        };
        self.text.push(&String::from_utf8_lossy(bytes));
    }

    /// `</system-out>`: the first one's text is the case's.
    fn close(&mut self) {
        if self.done.is_some() {
            return;
        }
        self.drain(self.pending.len(), true);
        let text = std::mem::replace(&mut self.text, CappedText::new(self.cap));
        self.done = Some(text.finish());
        self.after_cr = false;
    }
}

/// The end of the longest prefix of `b` that does not stop inside a UTF-8 sequence (only the
/// last three bytes are looked at; the input is valid UTF-8 apart from where it was cut).
fn utf8_boundary(b: &[u8]) -> usize {
    let cut = b.len();
    for i in (cut.saturating_sub(3)..cut).rev() {
        let byte = b[i];
        if byte & 0xC0 != 0x80 {
            let need = match byte {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            };
            return if i + need > cut { i } else { cut };
        }
    }
    cut
}

fn feed_decoded(scanner: &mut Scanner<'_>, scratch: &mut Vec<u8>, line: &[u8]) {
    if memchr::memchr(b'&', line).is_none() {
        scanner.feed(line);
        return;
    }
    scratch.clear();
    decode_entities(line, scratch);
    if memchr::memchr2(b'\n', b'\r', scratch).is_none() {
        scanner.feed(scratch);
    } else {
        // `&#10;` decodes to a line break.
        for part in scratch.split(|&b| b == b'\n' || b == b'\r') {
            scanner.feed(part);
        }
    }
}

/// Decode XML entities (`&lt;` `&gt;` `&amp;` `&quot;` `&apos;` `&#N;` `&#xH;`); anything
/// else is kept as written.
pub fn decode_entities(raw: &[u8], out: &mut Vec<u8>) {
    let mut rest = raw;
    while let Some(p) = memchr::memchr(b'&', rest) {
        out.extend_from_slice(&rest[..p]);
        rest = &rest[p..];
        let end = rest.iter().take(12).position(|&b| b == b';');
        let Some(end) = end else {
            out.push(b'&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let decoded: Option<char> = match name {
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"amp" => Some('&'),
            b"quot" => Some('"'),
            b"apos" => Some('\''),
            [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(|c| char::from_u32(c).unwrap_or('\u{FFFD}')),
            [b'#', dec @ ..] => std::str::from_utf8(dec)
                .ok()
                .and_then(|d| d.parse::<u32>().ok())
                .map(|c| char::from_u32(c).unwrap_or('\u{FFFD}')),
            _ => None,
        };
        match decoded {
            Some(c) => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                rest = &rest[end + 1..];
            }
            None => {
                out.push(b'&');
                rest = &rest[1..];
            }
        }
    }
    out.extend_from_slice(rest);
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

fn read_junit_from<R: Read>(
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

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!(
        "../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
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
}
