//! A YAML writer that lays out text exactly like gopkg.in/yaml.v2 v2.4.0
//! (a Go port of libyaml's emitter): block mappings and indentless block
//! sequences with indent 2, yaml.v2's choice of scalar style, 80-column
//! folding of plain and quoted scalars, literal blocks with chomping hints,
//! `[]`/`{}` for empty collections, simple and complex (`? `) keys.
//!
//! It is driven by calls (`map_start`, `key`, `str`, ...) instead of a
//! tree, so rule files are streamed: nothing but the current line's state is
//! held. Key order is the caller's job (see [`super::order`]), except in
//! [`Emitter::string_map`]. What a scalar's bytes allow is decided in
//! [`super::scalar`]; [`replay`] copies the bytes of repeated entries.

mod replay;

use std::io::{self, Write};

use super::resolve::needs_double_quotes;
use super::scalar::{analyze, is_break, is_printable, may_break, plain_word, width, Analysis};
pub use replay::{MapMemo, Recording};

const BEST_INDENT: i32 = 2;
const BEST_WIDTH: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Frame {
    /// A block mapping; `pending` is `Some(simple)` after a key, until its value.
    Map { first: bool, pending: Option<bool> },
    /// A block sequence.
    Seq { first: bool },
}

/// Streams one YAML document in yaml.v2's layout into a writer.
pub struct Emitter<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// While recording, the buffer holds the recorded bytes and is not flushed.
    recording: bool,
    column: usize,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    indent: i32,
    indents: Vec<i32>,
    frames: Vec<Frame>,
    mapping_context: bool,
    simple_key_context: bool,
    root_context: bool,
}

// === impl Emitter ===

impl<W: Write> Emitter<W> {
    /// Starts a document (no `---`: yaml.v2's implicit document start).
    pub fn new(out: W) -> Self {
        Emitter {
            out,
            buf: Vec::with_capacity(64 * 1024),
            recording: false,
            column: 0,
            whitespace: true,
            indention: true,
            open_ended: false,
            indent: -1,
            indents: Vec::new(),
            frames: Vec::new(),
            mapping_context: false,
            simple_key_context: false,
            root_context: false,
        }
    }

    /// Writes raw text (used for the header comment before the document).
    pub fn raw(&mut self, s: &str) -> io::Result<()> {
        self.buf.extend_from_slice(s.as_bytes());
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= 60 * 1024 && !self.recording {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }
    /// Ends the document and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_indent();
        if self.open_ended {
            self.write_indicator(b"...", true, false, false);
            self.write_indent();
        }
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(self.out)
    }

    // --- low level (libyaml put/write) ---

    fn put(&mut self, b: u8) {
        self.buf.push(b);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.buf.push(b'\n');
        self.column = 0;
    }

    /// Copies a run of whole characters (no break among them) in one go.
    fn put_run(&mut self, run: &[u8]) {
        if run.is_ascii() {
            self.put_ascii(run);
        } else {
            self.buf.extend_from_slice(run);
            self.column += run.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        }
    }

    /// [`Emitter::put_run`] of a run known to be ASCII: one column per byte.
    fn put_ascii(&mut self, run: &[u8]) {
        self.buf.extend_from_slice(run);
        self.column += run.len();
    }

    /// Writes the character at `*i` and the rest of its run: every following
    /// byte until one that `stop` flags (the flagged bytes are ASCII or UTF-8
    /// lead bytes, so a run ends on a character boundary).
    fn write_run(&mut self, v: &[u8], i: &mut usize, stop: fn(u8) -> bool) {
        self.write_char(v, i);
        let end = v[*i..]
            .iter()
            .position(|&b| stop(b))
            .map_or(v.len(), |n| *i + n);
        self.put_run(&v[*i..end]);
        *i = end;
    }

    fn write_char(&mut self, v: &[u8], i: &mut usize) {
        let w = width(v[*i]).max(1).min(v.len() - *i);
        self.buf.extend_from_slice(&v[*i..*i + w]);
        self.column += 1;
        *i += w;
    }

    fn write_break(&mut self, v: &[u8], i: &mut usize) {
        if v[*i] == b'\n' {
            self.put_break();
            *i += 1;
        } else {
            self.write_char(v, i);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.column < indent {
            let pad = indent - self.column;
            self.buf.resize(self.buf.len() + pad, b' ');
            self.column = indent;
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, ind: &[u8], need_ws: bool, is_ws: bool, is_indention: bool) {
        if need_ws && !self.whitespace {
            self.put(b' ');
        }
        for &b in ind {
            self.put(b);
        }
        self.whitespace = is_ws;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        if let Some(i) = self.indents.pop() {
            self.indent = i;
        }
    }

    // --- node contexts ---

    /// Prepares the position for a node (sequence item dash, mapping value colon).
    fn before_node(&mut self) {
        match self.frames.last_mut() {
            None => {
                self.root_context = true;
                self.mapping_context = false;
                self.simple_key_context = false;
            }
            Some(Frame::Seq { first }) => {
                if *first {
                    *first = false;
                    let indentless = self.mapping_context && !self.indention;
                    self.increase_indent(false, indentless);
                }
                self.write_indent();
                self.write_indicator(b"-", true, false, true);
                self.root_context = false;
                self.mapping_context = false;
                self.simple_key_context = false;
            }
            Some(Frame::Map { pending, .. }) => {
                let simple = pending.take().unwrap_or(true);
                if simple {
                    self.write_indicator(b":", false, false, false);
                } else {
                    self.write_indent();
                    self.write_indicator(b":", true, false, true);
                }
                self.root_context = false;
                self.mapping_context = true;
                self.simple_key_context = false;
            }
        }
    }

    /// Writes a mapping key; the next call writes its value.
    pub fn key(&mut self, k: &str) -> io::Result<()> {
        if let Some(Frame::Map { first, .. }) = self.frames.last_mut() {
            if *first {
                *first = false;
                self.increase_indent(false, false);
            }
        }
        self.write_indent();
        self.root_context = false;
        self.mapping_context = true;
        let simple = if k.len() <= 128 && plain_word(k) {
            // What `scalar_node` writes for it, without the analysis.
            self.simple_key_context = true;
            self.write_word(k.as_bytes());
            true
        } else {
            let a = analyze(k.as_bytes());
            let simple = !a.multiline && k.len() <= 128;
            if simple {
                self.simple_key_context = true;
            } else {
                self.write_indicator(b"?", true, false, true);
                self.simple_key_context = false;
            }
            self.scalar_node(k, &a);
            simple
        };
        if let Some(Frame::Map { pending, .. }) = self.frames.last_mut() {
            *pending = Some(simple);
        }
        self.maybe_flush()
    }

    /// Writes a string scalar as yaml.v2 would marshal a Go string.
    pub fn str(&mut self, v: &str) -> io::Result<()> {
        self.before_node();
        if plain_word(v) {
            self.write_word(v.as_bytes());
        } else {
            self.scalar_node(v, &analyze(v.as_bytes()));
        }
        self.maybe_flush()
    }

    /// Convenience: `key: value` for a string value.
    pub fn kv(&mut self, k: &str, v: &str) -> io::Result<()> {
        self.key(k)?;
        self.str(v)
    }

    /// Opens a block mapping (write keys, then [`Emitter::map_end`]).
    pub fn map_start(&mut self) {
        self.before_node();
        self.frames.push(Frame::Map {
            first: true,
            pending: None,
        });
    }

    /// Closes the innermost block mapping.
    pub fn map_end(&mut self) {
        if let Some(Frame::Map { first, .. }) = self.frames.pop() {
            if !first {
                self.pop_indent();
            }
        }
    }

    /// Opens a block sequence (write items, then [`Emitter::seq_end`]).
    pub fn seq_start(&mut self) {
        self.before_node();
        self.frames.push(Frame::Seq { first: true });
    }

    /// Closes the innermost block sequence.
    pub fn seq_end(&mut self) {
        if let Some(Frame::Seq { first }) = self.frames.pop() {
            if !first {
                self.pop_indent();
            }
        }
    }

    /// Writes an empty sequence (`[]`).
    pub fn empty_seq(&mut self) {
        self.before_node();
        self.write_indicator(b"[", true, true, false);
        self.write_indicator(b"]", false, false, false);
    }

    /// Writes an empty mapping (`{}`).
    pub fn empty_map(&mut self) {
        self.before_node();
        self.write_indicator(b"{", true, true, false);
        self.write_indicator(b"}", false, false, false);
    }
    /// One `key: value` of [`Emitter::string_map`]: through
    /// [`Emitter::word_entry`] when both are plain words (label maps are
    /// mostly such), else through [`Emitter::kv`].
    fn map_entry(&mut self, k: &str, v: &str) -> io::Result<()> {
        if k.len() <= 128 && plain_word(k) && plain_word(v) {
            self.word_entry(k.as_bytes(), v.as_bytes());
            Ok(())
        } else {
            self.kv(k, v)
        }
    }

    /// What [`Emitter::kv`] writes in a block mapping for a key and a value
    /// that are both plain words (see [`plain_word`]), and the state it
    /// leaves, without the per-scalar analysis, style choice and indent
    /// bookkeeping: the key on its own line, `: `, the value.
    fn word_entry(&mut self, k: &[u8], v: &[u8]) {
        if let Some(Frame::Map { first, pending }) = self.frames.last_mut() {
            *pending = None;
            if *first {
                *first = false;
                self.increase_indent(false, false);
            }
        }
        self.write_indent();
        self.put_run(k);
        self.buf.extend_from_slice(b": ");
        self.column += 2;
        self.put_run(v);
        self.whitespace = false;
        self.indention = false;
        self.open_ended = false;
        self.root_context = false;
        self.mapping_context = true;
        self.simple_key_context = false;
    }

    fn scalar_node(&mut self, v: &str, a: &Analysis) {
        let bytes = v.as_bytes();
        let mut style = if a.lines || (!a.word && v.contains('\n')) {
            Style::Literal
        } else if !needs_double_quotes(v) {
            Style::Plain
        } else {
            Style::Double
        };
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain
            && (!a.block_plain_allowed || (bytes.is_empty() && self.simple_key_context))
        {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || self.simple_key_context) {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain if a.word => self.write_word(bytes),
            Style::Plain => self.write_plain(bytes, allow_breaks),
            Style::Single => self.write_single(bytes, allow_breaks),
            Style::Double => self.write_double(bytes, allow_breaks),
            Style::Literal => self.write_literal(v, a.lines),
        }
        self.pop_indent();
    }

    /// [`Emitter::write_plain`] for a word (see `Analysis::word`): nothing
    /// to fold at, no break to write.
    fn write_word(&mut self, v: &[u8]) {
        if !self.whitespace {
            self.put(b' ');
        }
        self.put_run(v);
        self.whitespace = false;
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_plain(&mut self, v: &[u8], allow_breaks: bool) {
        if !self.whitespace {
            self.put(b' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < v.len() {
            if v[i] == b' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && !(i + 1 < v.len() && v[i + 1] == b' ')
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write_char(v, &mut i);
                }
                spaces = true;
            } else if is_break(v, i) {
                if !breaks && v[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(v, &mut i);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write_run(v, &mut i, |b| b == b' ' || may_break(b));
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    fn write_single(&mut self, v: &[u8], allow_breaks: bool) {
        self.write_indicator(b"'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < v.len() {
            if v[i] == b' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < v.len() - 1
                    && v[i + 1] != b' '
                {
                    self.write_indent();
                    i += 1;
                } else {
                    self.write_char(v, &mut i);
                }
                spaces = true;
            } else if is_break(v, i) {
                if !breaks && v[i] == b'\n' {
                    self.put_break();
                }
                self.write_break(v, &mut i);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if v[i] == b'\'' {
                    self.put(b'\'');
                }
                self.write_run(v, &mut i, |b| b == b' ' || b == b'\'' || may_break(b));
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator(b"'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, v: &[u8], allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator(b"\"", true, false, false);
        // yaml.v2 checks `is_bom` at the start of the value, not at each
        // character: after a leading BOM every character is escaped.
        let bom = v.len() >= 3 && v[0] == 0xEF && v[1] == 0xBB && v[2] == 0xBF;
        let mut i = 0;
        while i < v.len() {
            if !is_printable(v, i) || bom || is_break(v, i) || v[i] == b'"' || v[i] == b'\\' {
                let w = width(v[i]).max(1).min(v.len() - i);
                let mut c: u32 = match w {
                    1 => u32::from(v[i] & 0x7F),
                    2 => u32::from(v[i] & 0x1F),
                    3 => u32::from(v[i] & 0x0F),
                    _ => u32::from(v[i] & 0x07),
                };
                for k in 1..w {
                    c = (c << 6) + u32::from(v[i + k] & 0x3F);
                }
                i += w;
                self.put(b'\\');
                let esc = match c {
                    0x00 => Some(b'0'),
                    0x07 => Some(b'a'),
                    0x08 => Some(b'b'),
                    0x09 => Some(b't'),
                    0x0A => Some(b'n'),
                    0x0B => Some(b'v'),
                    0x0C => Some(b'f'),
                    0x0D => Some(b'r'),
                    0x1B => Some(b'e'),
                    0x22 => Some(b'"'),
                    0x5C => Some(b'\\'),
                    0x85 => Some(b'N'),
                    0xA0 => Some(b'_'),
                    0x2028 => Some(b'L'),
                    0x2029 => Some(b'P'),
                    _ => None,
                };
                match esc {
                    Some(e) => self.put(e),
                    None => {
                        let (p, n) = if c <= 0xFF {
                            (b'x', 2)
                        } else if c <= 0xFFFF {
                            (b'u', 4)
                        } else {
                            (b'U', 8)
                        };
                        self.put(p);
                        for k in (0..n).rev() {
                            let d = ((c >> (k * 4)) & 0xF) as u8;
                            self.put(if d < 10 { b'0' + d } else { b'A' + d - 10 });
                        }
                    }
                }
                spaces = false;
            } else if v[i] == b' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i < v.len() - 1 {
                    self.write_indent();
                    if v[i + 1] == b' ' {
                        self.put(b'\\');
                    }
                    i += 1;
                } else {
                    self.write_char(v, &mut i);
                }
                spaces = true;
            } else {
                self.write_run(v, &mut i, |b| {
                    !(0x21..=0x7E).contains(&b) || b == b'"' || b == b'\\'
                });
                spaces = false;
            }
        }
        self.write_indicator(b"\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// Writes a literal block (`lines`: see `Analysis::lines`).
    fn write_literal(&mut self, text: &str, lines: bool) {
        let v = text.as_bytes();
        // With no other break possible, lines end at a `\n` found by memchr.
        let newline_only = lines || (text.is_ascii() && !text.contains('\r'));
        self.write_indicator(b"|", true, false, false);
        // Block scalar hints.
        if v.first() == Some(&b' ') || is_break(v, 0) {
            self.write_indicator(&[b'0' + BEST_INDENT as u8], false, false, false);
        }
        self.open_ended = false;
        let mut chomp = None;
        if v.is_empty() {
            chomp = Some(b'-');
        } else {
            let mut i = v.len() - 1;
            while i > 0 && v[i] & 0xC0 == 0x80 {
                i -= 1;
            }
            if !is_break(v, i) {
                chomp = Some(b'-');
            } else if i == 0 {
                chomp = Some(b'+');
                self.open_ended = true;
            } else {
                i -= 1;
                while i > 0 && v[i] & 0xC0 == 0x80 {
                    i -= 1;
                }
                if is_break(v, i) {
                    chomp = Some(b'+');
                    self.open_ended = true;
                }
            }
        }
        if let Some(c) = chomp {
            // libyaml's write_indicator clears open_ended again here.
            self.write_indicator(&[c], false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        let mut i = 0;
        while i < v.len() {
            if is_break(v, i) {
                self.write_break(v, &mut i);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if newline_only {
                    let end = text[i..].find('\n').map_or(v.len(), |n| i + n);
                    self.put_ascii(&v[i..end]);
                    i = end;
                } else {
                    self.write_run(v, &mut i, may_break);
                }
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> String {
        let mut e = Emitter::new(Vec::new());
        e.map_start();
        e.kv(k, v).unwrap();
        e.map_end();
        String::from_utf8(e.finish().unwrap()).unwrap()
    }

    #[test]
    fn scalar_styles() {
        assert_eq!(one("a", "b"), "a: b\n");
        assert_eq!(one("a", "99.9"), "a: \"99.9\"\n");
        assert_eq!(one("a", "yes"), "a: \"yes\"\n");
        assert_eq!(one("a", "#x"), "a: '#x'\n");
        assert_eq!(one("a", "x\n"), "a: |\n  x\n");
        assert_eq!(one("a", "x"), "a: x\n");
        assert_eq!(one("a", "x:y,z"), "a: x:y,z\n");
        assert_eq!(one("a", "x:"), "a: 'x:'\n");
        assert_eq!(one("a:b", "c"), "a:b: c\n");
        assert_eq!(one("a", "x\ny"), "a: |-\n  x\n  y\n");
        assert_eq!(one("a", ""), "a: \"\"\n");
        assert_eq!(one("a", "tab\there"), "a: \"tab\\there\"\n");
        assert_eq!(one("a", "x \ny"), "a: \"x \\ny\"\n");
        // As sloth writes them (checked against sloth v0.16.0).
        assert_eq!(
            one("a", "\u{FEFF}ab c"),
            "a: \"\\uFEFF\\x61\\x62\\x20\\x63\"\n"
        );
        assert_eq!(one("a", "a\u{85}b"), "a: \"a\\Nb\"\n");
        let long = format!("{} {}", "x".repeat(80), "y".repeat(20));
        assert_eq!(
            one("a", &long),
            format!("a: {}\n  {}\n", "x".repeat(80), "y".repeat(20))
        );
    }
}
