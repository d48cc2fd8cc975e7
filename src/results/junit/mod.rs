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

//!
//! Files: this one holds the types and the entry points; `reader.rs` the event loop over the
//! markup; `text.rs` where character data goes (metric scanner or captured text) and the
//! entity decoder; `input.rs` the byte-level readers under quick-xml (look-ahead, lossy UTF-8).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::metrics::{MetricConfig, ScanOutput};

mod input;
mod reader;
#[cfg(test)]
mod tests;
mod text;

use reader::read_junit_from;
use text::Mode;
pub use text::decode_entities;

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
