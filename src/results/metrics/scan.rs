use super::*;

use regex::bytes::Regex;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;

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
    pub(super) closed: bool,
    pub(super) any_data: bool,
    pub(super) any_context: bool,
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
    pub(super) cfg: &'c MetricConfig,
    pub(super) mode: BlockMode,
    pub(super) line_no: u64,
    pub(super) cur: Block,
    pub(super) blocks: Vec<Block>,
    pub(super) merged_blocks: u64,
    pub(super) oom: Option<(String, u64)>,
    pub(super) tail: Tail,
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
pub(super) fn is_rule(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    t.len() >= 20 && t.iter().all(|&b| b == b'=')
}

/// Python `float()` of what `-?[\d\.]+` captured; `None` for `1.2.3`, `.`, or a non-finite result.
pub(super) fn parse_number(text: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(text).ok()?;
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

pub(super) fn capture_u64(re: &Regex, line: &[u8]) -> Option<u64> {
    let t = re.captures(line)?.get(1)?;
    std::str::from_utf8(t.as_bytes()).ok()?.trim().parse().ok()
}

/// Bytes as text for a message: lossy UTF-8, control characters dropped, at most 60 characters.
pub(super) fn shown(bytes: &[u8]) -> String {
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
pub(super) struct Tail {
    pub(super) n: usize,
    pub(super) lines: std::collections::VecDeque<Vec<u8>>,
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
