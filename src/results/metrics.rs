//! The metric configuration (`configs/metrics.yaml`) and the streaming metric scanner.
//!
//! The scanner implements reference §8.1: every line is searched with the metric patterns in
//! configuration order; the first metric that is not yet found and matches takes the value, then
//! the next line is read. Values keep the trailing padding of §8.2 out of the way because the
//! patterns are searched, not anchored. Lines are bytes (a log may hold anything): the patterns
//! run on bytes and only captured values are decoded.
//!
//! A cheap prefilter (one `RegexSet` over every pattern and literal) rejects the vast majority of
//! log lines before any capture runs, which is what makes a 1 GB log a matter of seconds.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::bytes::{Regex, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::lines::{self, LineStats};
use super::model::MetricInfo;

/// The built-in configuration, embedded at build time.
pub const BUILTIN_YAML: &str = include_str!("../../configs/metrics.yaml");
pub const BUILTIN_NAME: &str = "built-in configs/metrics.yaml";

/// The most result blocks kept per scan in split mode; later blocks merge into the last one.
pub const MAX_BLOCKS: usize = 4096;
/// The most contradictions remembered per block (the rest are only counted).
const MAX_CONTRADICTIONS: usize = 16;

// ---------------------------------------------------------------------------------------------
// Configuration file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    version: u32,
    metrics: Vec<RawMetric>,
    checks: RawChecks,
    #[serde(default)]
    context: RawContext,
    #[serde(default)]
    oom_signatures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    name: String,
    pattern: Spanned<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    column: Option<String>,
    metric_type: String,
    #[serde(default)]
    disagg_metric_type: Option<String>,
    #[serde(default = "yes")]
    allow_zero: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    failed_requests: Spanned<String>,
    #[serde(default)]
    successful_requests: Option<Spanned<String>>,
    #[serde(default)]
    total_requests: Option<Spanned<String>>,
    #[serde(default)]
    generated_tokens: Option<Spanned<String>>,
    #[serde(default)]
    failure_markers: Vec<String>,
    block_header: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    #[serde(default)]
    num_prompts: Option<Spanned<String>>,
    #[serde(default)]
    concurrency: Option<Spanned<String>>,
    #[serde(default)]
    isl: Option<Spanned<String>>,
    #[serde(default)]
    osl: Option<Spanned<String>>,
    #[serde(default)]
    model: Option<Spanned<String>>,
}

/// A metric configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the metrics file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the metrics file {source_name} is not valid: {message}")]
    Yaml {
        source_name: String,
        message: String,
    },
    #[error("the metrics file {source_name}, line {line} column {column}: {message}")]
    Field {
        source_name: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("the metrics file {source_name} is not valid: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// One metric: what it is called, how it is found and how it is reported.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub info: Arc<MetricInfo>,
    pub pattern: String,
    pub label: Option<String>,
    pub allow_zero: bool,
    regex: Regex,
    slot: usize,
    label_slot: Option<usize>,
}

/// Which pattern of the prefilter set matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Metric,
    Label,
    Check(Check),
    Context(Ctx),
    Marker(usize),
    Header,
    Oom(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Failed,
    Successful,
    Total,
    Generated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    NumPrompts,
    Concurrency,
    Isl,
    Osl,
    Model,
}

/// The compiled metric configuration.
#[derive(Debug, Clone)]
pub struct MetricConfig {
    /// Where it came from (a path or "built-in configs/metrics.yaml").
    pub source: String,
    metrics: Vec<MetricDef>,
    checks: Vec<(Check, Regex, usize)>,
    context: Vec<(Ctx, Regex, usize)>,
    markers: Vec<String>,
    oom: Vec<String>,
    header_slot: usize,
    set: RegexSet,
    slots: Vec<Slot>,
}

impl MetricConfig {
    /// The configuration embedded in the binary.
    pub fn builtin() -> Result<MetricConfig, ConfigError> {
        MetricConfig::from_yaml_str(BUILTIN_YAML, BUILTIN_NAME)
    }

    /// Load a metrics file (`--metrics FILE`).
    pub fn from_file(path: &Path) -> Result<MetricConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        MetricConfig::from_yaml_str(&text, &path.display().to_string())
    }

    /// Parse and compile a configuration; `source_name` names it in error messages.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<MetricConfig, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml {
            source_name: source_name.to_string(),
            message: first_line_of_yaml_error(&e.to_string()),
        })?;
        compile(raw, source_name)
    }

    pub fn metrics(&self) -> &[MetricDef] {
        &self.metrics
    }

    /// The metrics every client result must have (§8.1: the 16 required ones).
    pub fn required(&self) -> impl Iterator<Item = &MetricDef> {
        self.metrics.iter().filter(|m| m.info.required)
    }

    /// The literal log signatures that mean "out of memory".
    pub fn oom_signatures(&self) -> &[String] {
        &self.oom
    }

    /// A scanner for one stream (a client log or one test case's `<system-out>`).
    pub fn scanner(&self, mode: BlockMode) -> Scanner<'_> {
        Scanner::new(self, mode)
    }
}

fn compile(raw: RawConfig, source_name: &str) -> Result<MetricConfig, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        source_name: source_name.to_string(),
        message,
    };
    if raw.version != 1 {
        return Err(invalid(format!(
            "it says `version: {}`, but this perf-run understands only version 1",
            raw.version
        )));
    }
    if raw.metrics.is_empty() {
        return Err(invalid("it lists no metrics".into()));
    }
    let mut patterns: Vec<String> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut metrics = Vec::with_capacity(raw.metrics.len());
    let mut seen = std::collections::HashSet::new();
    for m in raw.metrics {
        if m.name.trim().is_empty() {
            return Err(invalid("a metric has an empty `name`".into()));
        }
        if !seen.insert(m.name.clone()) {
            return Err(invalid(format!(
                "the metric `{}` is listed twice; names must be unique",
                m.name
            )));
        }
        let what = format!("the pattern of metric `{}`", m.name);
        let regex = compile_one(&m.pattern, &what, source_name)?;
        let slot = patterns.len();
        patterns.push(m.pattern.value.clone());
        slots.push(Slot::Metric);
        let label_slot = match &m.label {
            Some(l) if !l.is_empty() => {
                patterns.push(regex::escape(l));
                slots.push(Slot::Label);
                Some(patterns.len() - 1)
            }
            _ => None,
        };
        let column = m.column.clone().unwrap_or_else(|| {
            if m.unit.is_empty() {
                m.name.clone()
            } else {
                format!("{}__{}", m.name, unit_suffix(&m.unit))
            }
        });
        metrics.push(MetricDef {
            info: Arc::new(MetricInfo {
                name: m.name,
                unit: m.unit,
                column,
                metric_type: m.metric_type,
                disagg_metric_type: m.disagg_metric_type,
                required: m.required,
            }),
            pattern: m.pattern.value,
            label: m.label,
            allow_zero: m.allow_zero,
            regex,
            slot,
            label_slot,
        });
    }

    let mut checks = Vec::new();
    let c = raw.checks;
    let check_list = [
        (
            Check::Failed,
            Some(c.failed_requests),
            "checks.failed_requests",
        ),
        (
            Check::Successful,
            c.successful_requests,
            "checks.successful_requests",
        ),
        (Check::Total, c.total_requests, "checks.total_requests"),
        (
            Check::Generated,
            c.generated_tokens,
            "checks.generated_tokens",
        ),
    ];
    for (kind, pat, what) in check_list {
        if let Some(p) = pat {
            let re = compile_one(&p, what, source_name)?;
            checks.push((kind, re, patterns.len()));
            patterns.push(p.value);
            slots.push(Slot::Check(kind));
        }
    }
    let mut context = Vec::new();
    let x = raw.context;
    let ctx_list = [
        (Ctx::NumPrompts, x.num_prompts, "context.num_prompts"),
        (Ctx::Concurrency, x.concurrency, "context.concurrency"),
        (Ctx::Isl, x.isl, "context.isl"),
        (Ctx::Osl, x.osl, "context.osl"),
        (Ctx::Model, x.model, "context.model"),
    ];
    for (kind, pat, what) in ctx_list {
        if let Some(p) = pat {
            let re = compile_one(&p, what, source_name)?;
            context.push((kind, re, patterns.len()));
            patterns.push(p.value);
            slots.push(Slot::Context(kind));
        }
    }
    let markers: Vec<String> = c
        .failure_markers
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    for (i, m) in markers.iter().enumerate() {
        patterns.push(regex::escape(m));
        slots.push(Slot::Marker(i));
    }
    if c.block_header.trim().is_empty() {
        return Err(invalid("`checks.block_header` is empty".into()));
    }
    let header_slot = patterns.len();
    patterns.push(regex::escape(&c.block_header));
    slots.push(Slot::Header);
    let oom: Vec<String> = raw
        .oom_signatures
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    for (i, m) in oom.iter().enumerate() {
        patterns.push(regex::escape(m));
        slots.push(Slot::Oom(i));
    }
    let set = RegexSetBuilder::new(&patterns)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| invalid(format!("its patterns together are too complex: {e}")))?;
    Ok(MetricConfig {
        source: source_name.to_string(),
        metrics,
        checks,
        context,
        markers,
        oom,
        header_slot,
        set,
        slots,
    })
}

fn compile_one(p: &Spanned<String>, what: &str, source_name: &str) -> Result<Regex, ConfigError> {
    let field = |message: String| ConfigError::Field {
        source_name: source_name.to_string(),
        line: p.referenced.line(),
        column: p.referenced.column(),
        message,
    };
    let re = Regex::new(&p.value).map_err(|e| {
        field(format!(
            "{what} is not a valid regular expression: {}",
            one_line(&e.to_string())
        ))
    })?;
    // captures_len counts the implicit whole-match group.
    if re.captures_len() != 2 {
        return Err(field(format!(
            "{what} must have exactly one capture group (the value), it has {}",
            re.captures_len() - 1
        )));
    }
    Ok(re)
}

/// serde-saphyr prints `error: line 4 column 5: …` plus a source snippet; keep the sentence.
fn first_line_of_yaml_error(s: &str) -> String {
    let first = s.lines().next().unwrap_or(s).trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `req/s` → `req_per_s`, `ms` → `ms`, `tokens/iter` → `tokens_per_iter`.
fn unit_suffix(unit: &str) -> String {
    unit.replace('/', "_per_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scanner

/// How result blocks are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// One client per stream (a client log): everything merges into one result, first value
    /// of each metric wins over the whole stream (exactly §8.1).
    Merge,
    /// Several clients in order (a test case's `<system-out>`): a new `Serving Benchmark Result`
    /// header, or data after a block's closing `=====` line, starts the next block.
    Split,
}

/// A value as found, with the line it came from (1-based).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub value: f64,
    pub line: u64,
}

/// The numbers of one result block (one client run).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    /// Per metric, in configuration order.
    pub values: Vec<Option<Found>>,
    /// Per metric: a printed value that is not a number (e.g. `nan`), with its line.
    pub bad_values: Vec<Option<(String, u64)>>,
    /// "line 40 says 13.10 but line 14 said 12.83" — duplicates that disagree.
    pub contradictions: Vec<String>,
    pub more_contradictions: u64,
    /// Duplicate metric lines that agreed with the first value.
    pub duplicates: u64,
    pub failed_requests: Option<u64>,
    pub successful_requests: Option<u64>,
    pub total_requests: Option<u64>,
    pub generated_tokens: Option<u64>,
    /// Failure markers seen (`!FAILED REQUESTS!`, `!CHECK LOG FOR ERRORS!`).
    pub markers: Vec<String>,
    pub num_prompts: Option<u64>,
    pub concurrency: Option<u64>,
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub model: Option<String>,
    /// How many `Serving Benchmark Result` headers this block saw (merge mode: may be > 1).
    pub headers: u64,
    /// The line the block started on.
    pub first_line: u64,
    closed: bool,
    any_data: bool,
    any_context: bool,
}

impl Block {
    fn new(n_metrics: usize, first_line: u64) -> Self {
        Block {
            values: vec![None; n_metrics],
            bad_values: vec![None; n_metrics],
            first_line,
            ..Block::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.headers == 0 && !self.any_data && !self.any_context
    }

    /// Whether any metric was found.
    pub fn has_metrics(&self) -> bool {
        self.values.iter().any(|v| v.is_some())
    }
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanOutput {
    pub blocks: Vec<Block>,
    /// Blocks beyond `MAX_BLOCKS` that were merged into the last kept one.
    pub merged_blocks: u64,
    pub lines: u64,
    /// The first out-of-memory signature and the line it was on.
    pub oom: Option<(String, u64)>,
    /// The last lines of the stream (lossy UTF-8, each cut to a sane length), if asked for.
    pub tail: Vec<String>,
}

/// Streaming scanner; feed it lines (without terminators), then `finish`.
pub struct Scanner<'c> {
    cfg: &'c MetricConfig,
    mode: BlockMode,
    line_no: u64,
    cur: Block,
    blocks: Vec<Block>,
    merged_blocks: u64,
    oom: Option<(String, u64)>,
    tail: Tail,
}

impl fmt::Debug for Scanner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("mode", &self.mode)
            .field("line_no", &self.line_no)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl<'c> Scanner<'c> {
    pub fn new(cfg: &'c MetricConfig, mode: BlockMode) -> Self {
        Scanner {
            cfg,
            mode,
            line_no: 0,
            cur: Block::new(cfg.metrics.len(), 1),
            blocks: Vec::new(),
            merged_blocks: 0,
            oom: None,
            tail: Tail::new(0),
        }
    }

    /// Keep the last `n` lines for messages (0: none).
    pub fn with_tail(mut self, n: usize) -> Self {
        self.tail = Tail::new(n);
        self
    }

    /// Lines fed so far.
    pub fn lines(&self) -> u64 {
        self.line_no
    }

    /// Scan one line (no terminator; any bytes).
    pub fn feed(&mut self, line: &[u8]) {
        self.line_no += 1;
        self.tail.push(line);
        let Some(&first) = line.first() else {
            return;
        };
        if first == b'=' && is_rule(line) {
            if self.cur.headers > 0 && self.cur.any_data {
                self.cur.closed = true;
            }
            return;
        }
        if !self.cfg.set.is_match(line) {
            return;
        }
        let hits = self.cfg.set.matches(line);
        if hits.matched(self.cfg.header_slot) {
            self.start_block();
        }
        let mut data = false;
        let mut context = false;
        for i in hits.iter() {
            match self.cfg.slots[i] {
                Slot::Metric | Slot::Label | Slot::Check(_) | Slot::Marker(_) => data = true,
                Slot::Context(_) => context = true,
                Slot::Oom(k) => {
                    if self.oom.is_none() {
                        self.oom = Some((self.cfg.oom[k].clone(), self.line_no));
                    }
                }
                Slot::Header => {}
            }
        }
        if (data || context) && self.cur.closed {
            self.next_block(false);
        }
        if context {
            self.apply_context(line, &hits);
        }
        if data {
            self.cur.any_data = true;
            self.apply_metrics(line, &hits);
            self.apply_checks(line, &hits);
            for i in hits.iter() {
                if let Slot::Marker(k) = self.cfg.slots[i] {
                    let m = &self.cfg.markers[k];
                    if !self.cur.markers.iter().any(|x| x == m) {
                        self.cur.markers.push(m.clone());
                    }
                }
            }
        }
    }

    /// A `Serving Benchmark Result` header line.
    fn start_block(&mut self) {
        match self.mode {
            BlockMode::Merge => {
                self.cur.headers += 1;
                self.cur.closed = false;
            }
            BlockMode::Split => {
                if self.cur.headers > 0 || self.cur.any_data {
                    self.next_block(true);
                } else {
                    // Lines before the header (the printed arguments) belong to this block.
                    self.cur.headers += 1;
                }
            }
        }
    }

    fn next_block(&mut self, with_header: bool) {
        match self.mode {
            BlockMode::Merge => {
                self.cur.closed = false;
                if with_header {
                    self.cur.headers += 1;
                }
            }
            BlockMode::Split => {
                if self.blocks.len() + 1 >= MAX_BLOCKS {
                    // Far more blocks than any real run prints: keep memory bounded.
                    self.merged_blocks += 1;
                    self.cur.closed = false;
                    if with_header {
                        self.cur.headers += 1;
                    }
                    return;
                }
                let mut fresh = Block::new(self.cfg.metrics.len(), self.line_no);
                if with_header {
                    fresh.headers = 1;
                }
                let done = std::mem::replace(&mut self.cur, fresh);
                if !done.is_empty() {
                    self.blocks.push(done);
                }
            }
        }
    }

    fn apply_metrics(&mut self, line: &[u8], hits: &regex::bytes::SetMatches) {
        let line_no = self.line_no;
        let mut duplicate: Option<usize> = None;
        for (i, m) in self.cfg.metrics.iter().enumerate() {
            if !hits.matched(m.slot) {
                continue;
            }
            if self.cur.values[i].is_some() {
                duplicate.get_or_insert(i);
                continue;
            }
            let Some(text) = m.regex.captures(line).and_then(|c| c.get(1)) else {
                continue;
            };
            match parse_number(text.as_bytes()) {
                Some(value) => {
                    self.cur.values[i] = Some(Found {
                        value,
                        line: line_no,
                    });
                }
                None => {
                    if self.cur.bad_values[i].is_none() {
                        self.cur.bad_values[i] = Some((shown(text.as_bytes()), line_no));
                    }
                }
            }
            // §8.1: the first metric that matches takes the line.
            return;
        }
        if let Some(i) = duplicate {
            let m = &self.cfg.metrics[i];
            let again = m
                .regex
                .captures(line)
                .and_then(|c| c.get(1))
                .and_then(|t| parse_number(t.as_bytes()));
            if let (Some(v), Some(first)) = (again, self.cur.values[i]) {
                if v == first.value {
                    self.cur.duplicates += 1;
                } else if self.cur.contradictions.len() < MAX_CONTRADICTIONS {
                    self.cur.contradictions.push(format!(
                        "{} is printed twice with different values: line {} says {} but line {} \
                         said {}; the first value is kept",
                        m.info.name,
                        line_no,
                        fmt_num(v),
                        first.line,
                        fmt_num(first.value)
                    ));
                } else {
                    self.cur.more_contradictions += 1;
                }
            }
            return;
        }
        // A metric's label without a readable value, e.g. `Mean TTFT (ms):  nan`.
        for (i, m) in self.cfg.metrics.iter().enumerate() {
            let Some(ls) = m.label_slot else { continue };
            if !hits.matched(ls) || self.cur.values[i].is_some() || hits.matched(m.slot) {
                continue;
            }
            if self.cur.bad_values[i].is_none() {
                let label = m.label.as_deref().unwrap_or_default().as_bytes();
                let after = memchr::memmem::find(line, label)
                    .map(|p| &line[p + label.len()..])
                    .unwrap_or_default();
                let token = after
                    .split(|b| b.is_ascii_whitespace())
                    .find(|t| !t.is_empty())
                    .unwrap_or_default();
                self.cur.bad_values[i] = Some((shown(token), line_no));
            }
            return;
        }
    }

    fn apply_checks(&mut self, line: &[u8], hits: &regex::bytes::SetMatches) {
        for (kind, re, slot) in &self.cfg.checks {
            if !hits.matched(*slot) {
                continue;
            }
            let field = match kind {
                Check::Failed => &mut self.cur.failed_requests,
                Check::Successful => &mut self.cur.successful_requests,
                Check::Total => &mut self.cur.total_requests,
                Check::Generated => &mut self.cur.generated_tokens,
            };
            if field.is_none() {
                *field = capture_u64(re, line);
            }
        }
    }

    fn apply_context(&mut self, line: &[u8], hits: &regex::bytes::SetMatches) {
        for (kind, re, slot) in &self.cfg.context {
            if !hits.matched(*slot) {
                continue;
            }
            self.cur.any_context = true;
            match kind {
                Ctx::Model => {
                    if self.cur.model.is_none() {
                        self.cur.model = re
                            .captures(line)
                            .and_then(|c| c.get(1))
                            .map(|m| shown(m.as_bytes()));
                    }
                }
                _ => {
                    let field = match kind {
                        Ctx::NumPrompts => &mut self.cur.num_prompts,
                        Ctx::Concurrency => &mut self.cur.concurrency,
                        Ctx::Isl => &mut self.cur.isl,
                        Ctx::Osl => &mut self.cur.osl,
                        Ctx::Model => continue,
                    };
                    if field.is_none() {
                        *field = capture_u64(re, line);
                    }
                }
            }
        }
    }

    /// End of the stream.
    pub fn finish(mut self) -> ScanOutput {
        let last = std::mem::take(&mut self.cur);
        if !last.is_empty() {
            self.blocks.push(last);
        }
        ScanOutput {
            blocks: self.blocks,
            merged_blocks: self.merged_blocks,
            lines: self.line_no,
            oom: self.oom,
            tail: self.tail.into_lines(),
        }
    }
}

/// A line of only `=` (at least 20 of them): the closing rule of a result block (§8.2).
fn is_rule(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    t.len() >= 20 && t.iter().all(|&b| b == b'=')
}

/// Python `float()` of what `-?[\d\.]+` captured; `None` for `1.2.3`, `.`, or a non-finite result.
fn parse_number(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

fn capture_u64(re: &Regex, line: &[u8]) -> Option<u64> {
    let t = re.captures(line)?.get(1)?;
    std::str::from_utf8(t.as_bytes()).ok()?.trim().parse().ok()
}

/// Bytes as text for a message: lossy UTF-8, control characters dropped, at most 60 characters.
fn shown(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(60).collect();
    if s.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// A number the way a person reads it: no trailing `.0` noise, no exponent for normal values.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        let s = format!("{v}");
        if s.contains('e') {
            format!("{v:.6}")
        } else {
            s
        }
    }
}

/// The last `n` lines, each cut to 300 bytes.
#[derive(Debug)]
struct Tail {
    n: usize,
    lines: std::collections::VecDeque<Vec<u8>>,
}

impl Tail {
    const WIDTH: usize = 300;

    fn new(n: usize) -> Self {
        Tail {
            n,
            lines: std::collections::VecDeque::with_capacity(n),
        }
    }

    fn push(&mut self, line: &[u8]) {
        if self.n == 0 || line.trim_ascii().is_empty() {
            return;
        }
        let mut slot = if self.lines.len() == self.n {
            self.lines.pop_front().unwrap_or_default()
        } else {
            Vec::with_capacity(64)
        };
        slot.clear();
        slot.extend_from_slice(&line[..line.len().min(Self::WIDTH)]);
        self.lines.push_back(slot);
    }

    fn into_lines(self) -> Vec<String> {
        self.lines
            .into_iter()
            .map(|l| {
                String::from_utf8_lossy(&l)
                    .chars()
                    .filter(|c| !c.is_control() || *c == '\t')
                    .collect()
            })
            .collect()
    }
}

/// Scan a whole file with bounded memory.
pub fn scan_file(
    path: &Path,
    cfg: &MetricConfig,
    mode: BlockMode,
    tail: usize,
) -> io::Result<(ScanOutput, LineStats)> {
    let file = File::open(path)?;
    let mut scanner = cfg.scanner(mode).with_tail(tail);
    let stats = lines::for_each_line(file, &mut |l: &[u8]| scanner.feed(l))?;
    Ok((scanner.finish(), stats))
}

/// Scan bytes held in memory (tests, small inputs).
pub fn scan_bytes(bytes: &[u8], cfg: &MetricConfig, mode: BlockMode) -> ScanOutput {
    let mut scanner = cfg.scanner(mode);
    let mut splitter = lines::LineSplitter::default();
    let mut feed = |l: &[u8]| scanner.feed(l);
    splitter.push(bytes, &mut feed);
    splitter.finish(&mut feed);
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = include_str!(
        "../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
    );

    fn cfg() -> MetricConfig {
        MetricConfig::builtin().expect("the built-in metrics.yaml compiles")
    }

    fn value(block: &Block, cfg: &MetricConfig, name: &str) -> Option<f64> {
        let i = cfg.metrics().iter().position(|m| m.info.name == name)?;
        block.values[i].map(|f| f.value)
    }

    #[test]
    fn builtin_config_has_the_16_required_metrics_in_reference_order() {
        let c = cfg();
        let names: Vec<_> = c.required().map(|m| m.info.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "seq_throughput",
                "token_throughput",
                "total_token_throughput",
                "user_throughput",
                "mean_ttft",
                "median_ttft",
                "p99_ttft",
                "mean_itl",
                "median_itl",
                "p99_itl",
                "mean_tpot",
                "median_tpot",
                "p99_tpot",
                "mean_e2el",
                "median_e2el",
                "p99_e2el"
            ]
        );
        let optional: Vec<_> = c
            .metrics()
            .iter()
            .filter(|m| !m.info.required)
            .map(|m| m.info.name.as_str())
            .collect();
        assert_eq!(
            optional,
            ["al", "mean_gen_worker_per_iter_device_step_time"]
        );
    }

    #[test]
    fn builtin_patterns_are_exactly_the_reference_regexes() {
        // Reference §8.1, Python syntax; `\/` is a valid escape in both engines.
        let c = cfg();
        let get = |n: &str| {
            c.metrics()
                .iter()
                .find(|m| m.info.name == n)
                .map(|m| m.pattern.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            get("seq_throughput"),
            r"Request throughput \(req\/s\):\s+(-?[\d\.]+)"
        );
        assert_eq!(
            get("token_throughput"),
            r"Output token throughput \(tok\/s\):\s+(-?[\d\.]+)"
        );
        assert_eq!(
            get("total_token_throughput"),
            r"Total Token throughput \(tok\/s\):\s+(-?[\d\.]+)"
        );
        assert_eq!(
            get("user_throughput"),
            r"User throughput \(tok\/s\):\s+(-?[\d\.]+)"
        );
        assert_eq!(get("p99_e2el"), r"P99 E2EL \(ms\):\s+(-?[\d\.]+)");
        assert_eq!(
            get("al"),
            r"Mean Avg Decoded Tokens per Iter:\s+(-?[\d\.]+)"
        );
        assert_eq!(
            get("mean_gen_worker_per_iter_device_step_time"),
            r"Average Per Iter Device Step Time \(ms\):\s+(-?[\d\.]+)"
        );
    }

    #[test]
    fn docs_example_yields_all_16_required_metrics() {
        let c = cfg();
        let out = scan_bytes(DOCS.as_bytes(), &c, BlockMode::Merge);
        assert_eq!(out.blocks.len(), 1);
        let b = &out.blocks[0];
        for m in c.required() {
            assert!(
                value(b, &c, &m.info.name).is_some(),
                "{} missing",
                m.info.name
            );
        }
        assert_eq!(value(b, &c, "seq_throughput"), Some(0.61));
        assert_eq!(value(b, &c, "token_throughput"), Some(622.56));
        assert_eq!(value(b, &c, "total_token_throughput"), Some(1245.12));
        assert_eq!(value(b, &c, "p99_itl"), Some(1.77));
        assert_eq!(value(b, &c, "mean_e2el"), Some(1643.44));
        assert_eq!(b.failed_requests, None);
        assert_eq!(b.successful_requests, Some(1));
        assert_eq!(b.generated_tokens, Some(1024));
        assert!(b.markers.is_empty());
    }

    #[test]
    fn trailing_padding_and_crlf_are_tolerated() {
        let c = cfg();
        let text =
            "Request throughput (req/s):              3.25      \r\nMean TTFT (ms):   12.5   \r\n";
        let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
        assert_eq!(value(&out.blocks[0], &c, "seq_throughput"), Some(3.25));
        assert_eq!(value(&out.blocks[0], &c, "mean_ttft"), Some(12.5));
    }

    #[test]
    fn first_value_wins_and_contradiction_is_reported() {
        let c = cfg();
        let text = "Mean TTFT (ms): 12.83\nMean TTFT (ms): 12.83\nMean TTFT (ms): 99.0\n";
        let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
        let b = &out.blocks[0];
        assert_eq!(value(b, &c, "mean_ttft"), Some(12.83));
        assert_eq!(b.duplicates, 1);
        assert_eq!(b.contradictions.len(), 1);
        assert!(
            b.contradictions[0].contains("line 3 says 99"),
            "{:?}",
            b.contradictions
        );
        assert!(b.contradictions[0].contains("line 1 said 12.83"));
    }

    #[test]
    fn nan_value_is_recorded_as_bad_not_found() {
        let c = cfg();
        let out = scan_bytes(
            b"Mean TTFT (ms):                          nan       \n",
            &c,
            BlockMode::Merge,
        );
        let b = &out.blocks[0];
        assert_eq!(value(b, &c, "mean_ttft"), None);
        let i = c
            .metrics()
            .iter()
            .position(|m| m.info.name == "mean_ttft")
            .unwrap_or(0);
        assert_eq!(b.bad_values[i], Some(("nan".to_string(), 1)));
    }

    #[test]
    fn unparsable_number_is_bad_value() {
        let c = cfg();
        let out = scan_bytes(b"Mean TTFT (ms): 1.2.3\n", &c, BlockMode::Merge);
        let i = c
            .metrics()
            .iter()
            .position(|m| m.info.name == "mean_ttft")
            .unwrap_or(0);
        assert_eq!(out.blocks[0].bad_values[i], Some(("1.2.3".to_string(), 1)));
    }

    #[test]
    fn negative_values_are_read_as_printed() {
        let c = cfg();
        let out = scan_bytes(b"Mean TTFT (ms): -3.5\n", &c, BlockMode::Merge);
        assert_eq!(value(&out.blocks[0], &c, "mean_ttft"), Some(-3.5));
    }

    #[test]
    fn failure_checks_are_captured() {
        let c = cfg();
        let text = "Namespace(model='m', num_prompts=80, max_concurrency=8)\n\
                    ============ Serving Benchmark Result ============\n\
                    Total requests:                          80        \n\
                    Successful requests:                     77        \n\
                    Failed requests:                         3         \n\
                    Total generated tokens:                  0         \n\
                    =======================!FAILED REQUESTS!=======================\n\
                    Total failed requests: 3\n\
                    =====================!CHECK LOG FOR ERRORS!====================\n";
        let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
        let b = &out.blocks[0];
        assert_eq!(b.total_requests, Some(80));
        assert_eq!(b.successful_requests, Some(77));
        assert_eq!(b.failed_requests, Some(3));
        assert_eq!(b.generated_tokens, Some(0));
        assert_eq!(b.num_prompts, Some(80));
        assert_eq!(b.concurrency, Some(8));
        assert_eq!(b.model.as_deref(), Some("m"));
        assert_eq!(b.markers, ["!FAILED REQUESTS!", "!CHECK LOG FOR ERRORS!"]);
    }

    #[test]
    fn split_mode_separates_clients_in_order() {
        let c = cfg();
        let mut text = String::new();
        text.push_str("Namespace(num_prompts=10, max_concurrency=1)\n");
        text.push_str(DOCS);
        text.push_str("some server noise\nNamespace(num_prompts=20, max_concurrency=2)\n");
        text.push_str(&DOCS.replace("0.61", "0.99"));
        let out = scan_bytes(text.as_bytes(), &c, BlockMode::Split);
        assert_eq!(out.blocks.len(), 2, "{out:#?}");
        assert_eq!(value(&out.blocks[0], &c, "seq_throughput"), Some(0.61));
        assert_eq!(value(&out.blocks[1], &c, "seq_throughput"), Some(0.99));
        assert_eq!(out.blocks[0].concurrency, Some(1));
        assert_eq!(out.blocks[1].concurrency, Some(2));
        assert!(out.blocks[0].contradictions.is_empty());
    }

    #[test]
    fn merge_mode_keeps_first_block_and_reports_contradiction() {
        let c = cfg();
        let text = format!("{DOCS}{}", DOCS.replace("0.61", "0.99"));
        let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
        assert_eq!(out.blocks.len(), 1);
        assert_eq!(out.blocks[0].headers, 2);
        assert_eq!(value(&out.blocks[0], &c, "seq_throughput"), Some(0.61));
        assert_eq!(out.blocks[0].contradictions.len(), 1);
    }

    #[test]
    fn oom_signature_is_found_with_its_line() {
        let c = cfg();
        let out = scan_bytes(
            b"ok\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate\n",
            &c,
            BlockMode::Merge,
        );
        assert_eq!(out.oom, Some(("CUDA out of memory".to_string(), 2)));
    }

    #[test]
    fn non_utf8_bytes_do_not_disturb_metrics() {
        let c = cfg();
        let mut bytes = b"\xff\xfe garbage \xc3\x28\n".to_vec();
        bytes.extend_from_slice(b"Mean TTFT (ms): 7.5 \xff\n");
        let out = scan_bytes(&bytes, &c, BlockMode::Merge);
        assert_eq!(value(&out.blocks[0], &c, "mean_ttft"), Some(7.5));
    }

    #[test]
    fn empty_input_has_no_blocks() {
        let out = scan_bytes(b"", &cfg(), BlockMode::Merge);
        assert!(out.blocks.is_empty());
        assert_eq!(out.lines, 0);
    }

    #[test]
    fn tail_keeps_last_lines() {
        let c = cfg();
        let mut s = c.scanner(BlockMode::Merge).with_tail(2);
        for l in ["a", "b", "", "c"] {
            s.feed(l.as_bytes());
        }
        assert_eq!(s.finish().tail, ["b", "c"]);
    }

    #[test]
    fn bad_config_names_line_and_field() {
        let yaml = "version: 1\nmetrics:\n  - name: x\n    patern: 'a(b)'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
        let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("m.yaml"), "{err}");
        assert!(err.contains("patern"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn invalid_regex_names_the_metric_and_its_line() {
        let yaml = "version: 1\nmetrics:\n  - name: broken\n    pattern: 'a(b'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
        let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("metric `broken`"), "{err}");
        assert!(err.contains("line 4"), "{err}");
    }

    #[test]
    fn pattern_without_capture_group_is_rejected() {
        let yaml = "version: 1\nmetrics:\n  - name: nogroup\n    pattern: 'abc'\n    metric_type: X\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
        let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly one capture group"), "{err}");
    }

    #[test]
    fn duplicate_metric_names_are_rejected() {
        let yaml = "version: 1\nmetrics:\n  - name: a\n    pattern: 'a(b)'\n    metric_type: X\n  - name: a\n    pattern: 'c(d)'\n    metric_type: Y\nchecks:\n  failed_requests: 'F(\\d+)'\n  block_header: H\n";
        let err = MetricConfig::from_yaml_str(yaml, "m.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn a_team_can_add_a_metric_without_recompiling() {
        let mut yaml = BUILTIN_YAML.to_string();
        yaml = yaml.replace(
            "# Benchmark error checks",
            "  - name: request_goodput\n    pattern: 'Request goodput \\(req\\/s\\):\\s+(-?[\\d\\.]+)'\n    unit: req/s\n    metric_type: REQUEST_GOODPUT\n\n# Benchmark error checks",
        );
        let c = MetricConfig::from_yaml_str(&yaml, "custom.yaml").expect("custom config");
        let out = scan_bytes(b"Request goodput (req/s):   4.5   \n", &c, BlockMode::Merge);
        assert_eq!(value(&out.blocks[0], &c, "request_goodput"), Some(4.5));
        let m = c
            .metrics()
            .iter()
            .find(|m| m.info.name == "request_goodput");
        assert_eq!(
            m.map(|m| m.info.column.as_str()),
            Some("request_goodput__req_per_s")
        );
    }
}
