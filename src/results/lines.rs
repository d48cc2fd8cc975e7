//! Line-by-line reading of arbitrarily large byte streams with bounded memory.
//!
//! Lines end at `\n`, `\r\n` or a lone `\r` (like Python's universal newlines, which the legacy
//! scripts read logs with; tqdm progress bars redraw with `\r`). A line longer than the cap is
//! cut at the cap and the rest is dropped, so one 1 GB line costs at most the cap in memory.
//! Bytes are passed through as they are: callers decode (lossy UTF-8) only what they keep.

use std::io::{self, Read};

/// The longest line kept. Benchmark result lines are < 100 bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// Size of each read from a file.
pub const CHUNK: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStats {
    pub bytes: u64,
    pub lines: u64,
    /// Lines longer than the cap (their tail was dropped).
    pub overlong_lines: u64,
}

/// Splits chunks of bytes into lines.
#[derive(Debug)]
pub struct LineSplitter {
    pending: Vec<u8>,
    /// Whether `pending` holds a started line (it may be empty: a line of zero bytes so far).
    started: bool,
    overlong: bool,
    last_was_cr: bool,
    max: usize,
    pub stats: LineStats,
}

impl Default for LineSplitter {
    fn default() -> Self {
        LineSplitter::new(MAX_LINE)
    }
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        LineSplitter {
            pending: Vec::new(),
            started: false,
            overlong: false,
            last_was_cr: false,
            max: max.max(1),
            stats: LineStats::default(),
        }
    }

    /// Feed the next chunk; `f` is called once per complete line, without its terminator.
    pub fn push(&mut self, chunk: &[u8], f: &mut impl FnMut(&[u8])) {
        if chunk.is_empty() {
            return;
        }
        self.stats.bytes += chunk.len() as u64;
        let mut rest = chunk;
        if self.last_was_cr && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        self.last_was_cr = false;
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            let seg = &rest[..i];
            let term = rest[i];
            if !self.started {
                if seg.len() > self.max {
                    self.stats.overlong_lines += 1;
                    f(&seg[..self.max]);
                } else {
                    f(seg);
                }
            } else {
                self.append(seg);
                if self.overlong {
                    self.stats.overlong_lines += 1;
                }
                f(&self.pending);
                self.pending.clear();
                self.started = false;
                self.overlong = false;
            }
            self.stats.lines += 1;
            rest = &rest[i + 1..];
            if term == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.last_was_cr = true,
                    _ => {}
                }
            }
        }
        if !rest.is_empty() {
            self.started = true;
            self.append(rest);
        }
    }

    fn append(&mut self, seg: &[u8]) {
        let room = self.max.saturating_sub(self.pending.len());
        if seg.len() > room {
            self.pending.extend_from_slice(&seg[..room]);
            self.overlong = true;
        } else {
            self.pending.extend_from_slice(seg);
        }
    }

    /// Whether a line has started and not ended yet.
    pub fn has_partial(&self) -> bool {
        self.started
    }

    /// Emit the last line if the input did not end with a line terminator.
    pub fn finish(&mut self, f: &mut impl FnMut(&[u8])) {
        if self.started {
            if self.overlong {
                self.stats.overlong_lines += 1;
            }
            f(&self.pending);
            self.stats.lines += 1;
            self.pending.clear();
            self.started = false;
            self.overlong = false;
        }
        self.last_was_cr = false;
    }
}

/// Read `r` to the end and call `f` for each line.
pub fn for_each_line<R: Read>(mut r: R, f: &mut impl FnMut(&[u8])) -> io::Result<LineStats> {
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        splitter.push(&buf[..n], f);
    }
    splitter.finish(f);
    Ok(splitter.stats)
}

// ---------------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

    fn split_chunks(chunks: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, LineStats) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |l: &[u8]| out.push(l.to_vec()));
        }
        s.finish(&mut |l: &[u8]| out.push(l.to_vec()));
        (out, s.stats)
    }

    #[test]
    fn splits_on_all_terminators() {
        let (lines, st) = split_chunks(&[b"a\nb\r\nc\rd"], 100);
        assert_eq!(
            lines,
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]
        );
        assert_eq!(st.lines, 4);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_terminator() {
        let (lines, _) = split_chunks(&[b"a\r", b"\nb\n"], 100);
        assert_eq!(lines, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn lines_across_chunks_are_joined() {
        let (lines, _) = split_chunks(&[b"hel", b"lo\nwor", b"ld"], 100);
        assert_eq!(lines, vec![b"hello".to_vec(), b"world".to_vec()]);
    }

    #[test]
    fn crlf_split_by_an_empty_chunk_is_one_terminator() {
        let (lines, _) = split_chunks(&[b"a\r", b"", b"\nb"], 100);
        assert_eq!(lines, vec![b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn empty_lines_are_kept_and_empty_input_has_none() {
        let (lines, _) = split_chunks(&[b"\n\n"], 100);
        assert_eq!(lines.len(), 2);
        let (lines, st) = split_chunks(&[], 100);
        assert!(lines.is_empty());
        assert_eq!(st.lines, 0);
    }

    #[test]
    fn overlong_lines_are_capped() {
        let (lines, st) = split_chunks(&[b"abcdefgh\nxy", b"zzzzzz\nok"], 4);
        assert_eq!(
            lines,
            vec![b"abcd".to_vec(), b"xyzz".to_vec(), b"ok".to_vec()]
        );
        assert_eq!(st.overlong_lines, 2);
    }
}
