//! Where the character data of an element goes: the metric scanner (results stage) or a
//! captured, capped text (the uploader's `log`), and the XML entity decoder both use.

use super::super::lines::{CappedText, LineSplitter};
use super::super::metrics::{BlockMode, MetricConfig, ScanOutput, Scanner};

/// Character data of one element, split into lines, entities decoded, fed to a scanner.
pub(super) struct TextSink<'c> {
    splitter: LineSplitter,
    scanner: Scanner<'c>,
    scratch: Vec<u8>,
}

impl<'c> TextSink<'c> {
    pub(super) fn new(cfg: &'c MetricConfig, mode: BlockMode, tail: usize) -> Self {
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

    pub(super) fn finish(mut self) -> ScanOutput {
        let scanner = &mut self.scanner;
        let scratch = &mut self.scratch;
        self.splitter
            .finish(&mut |line: &[u8]| feed_decoded(scanner, scratch, line));
        self.scanner.finish()
    }
}

/// Where the reader pours the character data of an element: raw XML text (entities not yet
/// decoded) and CDATA content (literal), in pieces of any size, in document order.
pub(super) trait RawText {
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
pub(super) enum Mode<'c> {
    /// Scan it (and `<system-err>`, failure texts) for metrics and markers.
    Scan(&'c MetricConfig),
    /// Keep the text of the first closed one, capped at this many bytes.
    Capture(usize),
}

/// The `<system-out>` sink of a wanted case.
pub(super) enum Out<'c> {
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
pub(super) struct Capture {
    /// Raw bytes held back until the next piece completes them.
    pending: Vec<u8>,
    /// The last byte handed on was a `\r` (so a `\n` right after it is dropped).
    after_cr: bool,
    text: CappedText,
    scratch: Vec<u8>,
    /// The first closed `<system-out>`'s text; later ones are ignored.
    pub(super) done: Option<String>,
    cap: usize,
}

/// The longest entity [`decode_entities`] resolves, `&` and `;` included.
const MAX_ENTITY: usize = 12;

impl Capture {
    pub(super) fn new(cap: usize) -> Self {
        Capture {
            pending: Vec::new(),
            after_cr: false,
            text: CappedText::new(cap),
            scratch: Vec::new(),
            done: None,
            cap,
        }
    }

    pub(super) fn text(&mut self, raw: &[u8]) {
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

    pub(super) fn cdata(&mut self, raw: &[u8]) {
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
    pub(super) fn close(&mut self) {
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
        let end = rest.iter().take(MAX_ENTITY).position(|&b| b == b';');
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
