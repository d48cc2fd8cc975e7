//! The byte-level readers under quick-xml: a look-ahead buffer and lossy UTF-8.

use std::io::{self, BufRead, Read};

/// A `BufRead` that can look ahead a few bytes without consuming them (to recognise
/// `<![CDATA[` at a buffer boundary) and counts what was consumed.
pub(super) struct PeekReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> PeekReader<R> {
    pub(super) fn new(inner: R) -> Self {
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
    pub(super) fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
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
pub(super) struct LossyUtf8<R> {
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
    pub(super) fn new(inner: R) -> Self {
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
