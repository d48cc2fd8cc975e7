//! Bounded text for the `log` column: a row must fit in one MySQL packet, so a long log keeps
//! its head and its end. Used by the JUnit reader (`junit`) and the plan (`plan`).

/// Largest `log` kept per row. MySQL's default `max_allowed_packet` is 16 MiB (64 MiB on
/// MySQL 8) and a multi-row INSERT must fit in one packet; a longer log keeps its first
/// eighth and its end (where the benchmark result and errors are), with a marker between.
pub const LOG_CAP: usize = 4 << 20;

/// A string builder that keeps at most `cap` bytes: everything when the text fits, else the
/// first eighth, a marker, and the end.
#[derive(Debug)]
pub struct CappedText {
    cap: usize,
    head: String,
    tail: String,
    total: usize,
}

impl CappedText {
    pub fn new(cap: usize) -> Self {
        CappedText {
            cap,
            head: String::new(),
            tail: String::new(),
            total: 0,
        }
    }
    fn head_cap(&self) -> usize {
        self.cap / 8
    }
    fn tail_cap(&self) -> usize {
        self.cap - self.head_cap()
    }
    pub fn push(&mut self, s: &str) {
        self.total += s.len();
        let mut rest = s;
        if self.head.len() < self.head_cap() {
            let room = self.head_cap() - self.head.len();
            let cut = floor_char_boundary(rest, room.min(rest.len()));
            self.head.push_str(&rest[..cut]);
            rest = &rest[cut..];
        }
        self.tail.push_str(rest);
        if self.tail.len() > 2 * self.tail_cap().max(1) {
            let drop = ceil_char_boundary(&self.tail, self.tail.len() - self.tail_cap());
            self.tail.drain(..drop);
        }
    }
    pub fn finish(self) -> String {
        if self.total <= self.cap {
            return self.head + &self.tail;
        }
        let start = ceil_char_boundary(&self.tail, self.tail.len().saturating_sub(self.tail_cap()));
        let kept_tail = &self.tail[start..];
        let omitted = self.total - self.head.len() - kept_tail.len();
        format!(
            "{}\n[... perf-run left out {omitted} bytes of this log to keep the row within the database's packet size ...]\n{}",
            self.head, kept_tail
        )
    }
}

/// Cap one string with [`CappedText`].
pub fn cap_text(s: String, cap: usize) -> String {
    if s.len() <= cap {
        return s;
    }
    let mut c = CappedText::new(cap);
    c.push(&s);
    c.finish()
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}
