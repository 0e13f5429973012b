//! A YAML writer that lays out text exactly like gopkg.in/yaml.v2 v2.4.0
//! (a Go port of libyaml's emitter): block mappings and indentless block
//! sequences with indent 2, yaml.v2's choice of scalar style, 80-column
//! folding of plain and quoted scalars, literal blocks with chomping hints,
//! `[]`/`{}` for empty collections, simple and complex (`? `) keys.
//!
//! It is driven by calls (`map_start`, `key`, `str`, ...) instead of a
//! tree, so rule files are streamed: nothing but the current line's state is
//! held. Key order is the caller's job (see [`natural_less`]).

use std::io::{self, Write};

use super::resolve::needs_double_quotes;

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

#[derive(Debug, Default, PartialEq)]
struct Analysis {
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
    /// One run of printable ASCII without spaces that starts with a letter
    /// or digit and does not end with `:`: written as is in plain style (a
    /// `:` or flow indicator inside it matters in flow context only).
    word: bool,
    /// ASCII text with a line feed and no other break or control byte:
    /// written line by line as is in a literal block.
    lines: bool,
}

/// The state that decides the next bytes, between two calls (the indent
/// stack aside: a whole key and value leave it as they found it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    column: usize,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    indent: i32,
    mapping_context: bool,
    simple_key_context: bool,
    root_context: bool,
    frame: Option<Frame>,
}

/// The bytes one piece of output came to, with the layout before and after
/// it: see [`Emitter::replay`].
#[derive(Debug, Default)]
pub struct Recording {
    layouts: Option<(Layout, Layout)>,
    bytes: Vec<u8>,
}

/// The entries of the last map written through [`Emitter::string_map_memo`],
/// each with the bytes it came to, so that the next map copies the entries
/// it has in the same place (the label maps of consecutive rules differ in
/// a few entries).
#[derive(Debug, Default)]
pub struct MapMemo<'a> {
    /// The keys were in natural order.
    in_order: bool,
    /// Key, value and recording of each entry, in written order.
    entries: Vec<(&'a str, &'a str, Recording)>,
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

    /// Writes a whole key and its value with `write`, recording the bytes in
    /// `rec`; or, when `same` (the caller vouches that `write` writes what it
    /// wrote the last time `rec` recorded) and the layout is where it was
    /// then, copies the recorded bytes instead. Recordings nest.
    pub fn replay(
        &mut self,
        rec: &mut Recording,
        same: bool,
        write: impl FnOnce(&mut Self) -> io::Result<()>,
    ) -> io::Result<()> {
        let before = self.key_layout();
        match rec.layouts {
            Some((was, after)) if same && was == before => {
                // What the key's write did to the indent stack (see `key`).
                if let Some(Frame::Map { first: true, .. }) = before.frame {
                    self.indents.push(before.indent);
                }
                self.buf.extend_from_slice(&rec.bytes);
                self.set_layout(after);
            }
            _ => {
                let start = self.buf.len();
                let outer = std::mem::replace(&mut self.recording, true);
                let written = write(self);
                self.recording = outer;
                written?;
                rec.layouts = Some((before, self.layout()));
                rec.bytes.clear();
                rec.bytes.extend_from_slice(&self.buf[start..]);
            }
        }
        self.maybe_flush()
    }

    /// The layout as far as a mapping key written next depends on it: a key
    /// starts with `write_indent`, which breaks the line when the last thing
    /// written did not end in an indentation (`indention` off), so then the
    /// column does not matter.
    fn key_layout(&self) -> Layout {
        let mut l = self.layout();
        if !l.indention {
            l.column = 0;
        }
        l
    }

    fn layout(&self) -> Layout {
        Layout {
            column: self.column,
            whitespace: self.whitespace,
            indention: self.indention,
            open_ended: self.open_ended,
            indent: self.indent,
            mapping_context: self.mapping_context,
            simple_key_context: self.simple_key_context,
            root_context: self.root_context,
            frame: self.frames.last().copied(),
        }
    }

    fn set_layout(&mut self, l: Layout) {
        self.column = l.column;
        self.whitespace = l.whitespace;
        self.indention = l.indention;
        self.open_ended = l.open_ended;
        self.indent = l.indent;
        self.mapping_context = l.mapping_context;
        self.simple_key_context = l.simple_key_context;
        self.root_context = l.root_context;
        if let (Some(top), Some(f)) = (self.frames.last_mut(), l.frame) {
            *top = f;
        }
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

    /// Writes a string map with keys in yaml.v2's natural order (`{}` when empty).
    pub fn string_map<'a, I>(&mut self, entries: I) -> io::Result<()>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
        I::IntoIter: Clone,
    {
        self.map_with(entries, None)
    }

    /// [`Emitter::string_map`], copying the entries that the map last
    /// written through `memo` had in the same place (see [`MapMemo`]).
    pub fn string_map_memo<'a, I>(&mut self, entries: I, memo: &mut MapMemo<'a>) -> io::Result<()>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
        I::IntoIter: Clone,
    {
        self.map_with(entries, Some(memo))
    }

    fn map_with<'a, I>(&mut self, entries: I, mut memo: Option<&mut MapMemo<'a>>) -> io::Result<()>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
        I::IntoIter: Clone,
    {
        let entries = entries.into_iter();
        let mut keys = entries.clone().map(|(k, _)| k);
        let Some(mut prev) = keys.next() else {
            self.empty_map();
            return Ok(());
        };
        // The order of the keys the memo had, when they are the same keys.
        let known = memo.as_deref().and_then(|m| {
            let n = entries.clone().count();
            let same = n == m.entries.len()
                && entries
                    .clone()
                    .zip(&m.entries)
                    .all(|((k, _), (was, _, _))| k == *was);
            same.then_some(m.in_order)
        });
        // Label maps come in byte order, which is usually natural order too:
        // then they are written as they come, without collecting and sorting.
        let in_order = known
            .unwrap_or_else(|| keys.all(|k| !natural_less(k, std::mem::replace(&mut prev, k))));
        if let (Some(m), None) = (memo.as_deref_mut(), known) {
            m.in_order = in_order;
            m.entries
                .resize_with(entries.clone().count(), Default::default);
        }
        let mut slots = memo.map(|m| m.entries.iter_mut());
        let mut entry = |e: &mut Self, k, v| match slots.as_mut().and_then(Iterator::next) {
            Some(slot) => e.memo_entry(slot, k, v),
            None => e.map_entry(k, v),
        };
        self.map_start();
        if in_order {
            for (k, v) in entries {
                entry(self, k, v)?;
            }
        } else {
            let mut sorted: Vec<(&str, &str)> = entries.collect();
            sorted.sort_by(|a, b| natural_cmp(a.0, b.0));
            for (k, v) in sorted {
                entry(self, k, v)?;
            }
        }
        self.map_end();
        self.maybe_flush()
    }

    /// One entry of [`Emitter::string_map_memo`]: copied when `slot` holds
    /// the same key and value, else written and recorded in `slot`.
    fn memo_entry<'a>(
        &mut self,
        slot: &mut (&'a str, &'a str, Recording),
        k: &'a str,
        v: &'a str,
    ) -> io::Result<()> {
        let same = slot.0 == k && slot.1 == v;
        slot.0 = k;
        slot.1 = v;
        self.replay(&mut slot.2, same, |e| e.map_entry(k, v))
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

fn width(b: u8) -> usize {
    if b & 0x80 == 0 {
        1
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        3
    } else if b & 0xF8 == 0xF0 {
        4
    } else {
        0
    }
}

/// True for a byte that can start a line break (`\r`, `\n`, or the lead
/// byte of NEL, LS, PS): runs of text stop there for [`is_break`] to decide.
fn may_break(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | 0xC2 | 0xE2)
}

fn at(v: &[u8], i: usize) -> u8 {
    v.get(i).copied().unwrap_or(0)
}

fn is_break(v: &[u8], i: usize) -> bool {
    let b = at(v, i);
    b == b'\r'
        || b == b'\n'
        || (b == 0xC2 && at(v, i + 1) == 0x85)
        || (b == 0xE2 && at(v, i + 1) == 0x80 && (at(v, i + 2) == 0xA8 || at(v, i + 2) == 0xA9))
}

fn is_blank(v: &[u8], i: usize) -> bool {
    let b = at(v, i);
    b == b' ' || b == b'\t'
}

fn is_blankz(v: &[u8], i: usize) -> bool {
    is_blank(v, i) || is_break(v, i) || at(v, i) == 0
}

fn is_printable(v: &[u8], i: usize) -> bool {
    let b = at(v, i);
    let b1 = at(v, i + 1);
    let b2 = at(v, i + 2);
    b == 0x0A
        || (0x20..=0x7E).contains(&b)
        || (b == 0xC2 && b1 >= 0xA0)
        || (b > 0xC2 && b < 0xED)
        || (b == 0xED && b1 < 0xA0)
        || b == 0xEE
        || (b == 0xEF && !(b1 == 0xBB && b2 == 0xBF) && !(b1 == 0xBF && (b2 == 0xBE || b2 == 0xBF)))
}

/// How [`analyze`] treats a byte past the first character.
#[derive(Clone, Copy, PartialEq)]
enum Text {
    /// Printable ASCII, no space and no indicator: only resets the "previous" flags.
    Plain,
    /// A flow indicator (`, ? [ ] { }`): as [`Text::Plain`], and rules out flow plain style.
    Flow,
    /// Anything else (space, break, `:`, `#`, control or non-ASCII): looked at in context.
    Other,
}

/// [`Text`] of every byte, as a table: the analysis scans every output byte.
const TEXT: [Text; 256] = {
    let mut t = [Text::Other; 256];
    let mut b = 0x21;
    while b <= 0x7E {
        t[b] = match b as u8 {
            b',' | b'?' | b'[' | b']' | b'{' | b'}' => Text::Flow,
            b':' | b'#' => Text::Other,
            _ => Text::Plain,
        };
        b += 1;
    }
    t
};

/// libyaml's `yaml_emitter_analyze_scalar` (unicode output enabled, as
/// yaml.v2 sets it), with shortcuts for words and ASCII lines.
fn analyze(v: &[u8]) -> Analysis {
    if is_word(v) {
        return Analysis {
            multiline: false,
            flow_plain_allowed: !v[1..]
                .iter()
                .any(|&b| b == b':' || TEXT[usize::from(b)] == Text::Flow),
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
            word: true,
            lines: false,
        };
    }
    if v.is_ascii() && v.contains(&b'\n') {
        return analyze_ascii_lines(v);
    }
    analyze_scan(v)
}

/// True for a word (see `Analysis::word`) that yaml.v2 writes as is: one
/// that does not read back as another type (a number, a bool, null...).
fn plain_word(v: &str) -> bool {
    is_word(v.as_bytes()) && !needs_double_quotes(v)
}

/// True for a word (see `Analysis::word`).
fn is_word(v: &[u8]) -> bool {
    v.first().is_some_and(u8::is_ascii_alphanumeric)
        && v.last() != Some(&b':')
        && v[1..].iter().all(|b| (0x21..=0x7E).contains(b))
}

/// What [`analyze_scan`] finds for ASCII text with a line feed, in two
/// branch-free passes (the compiler vectorises them; expressions are most
/// of the bytes written): such text is never plain, and only non-printable
/// bytes and spaces next to a break or at the end rule out single quotes or
/// a literal block.
fn analyze_ascii_lines(v: &[u8]) -> Analysis {
    let special = v.iter().fold(false, |acc, &b| {
        acc | ((b != b'\n') & !(0x20..=0x7E).contains(&b))
    });
    let (space_break, break_space) =
        v.iter()
            .zip(v.get(1..).unwrap_or_default())
            .fold((false, false), |(sb, bs), (&a, &b)| {
                (
                    sb | ((a == b' ') & (b == b'\n')),
                    bs | ((a == b'\n') & (b == b' ')),
                )
            });
    let trailing_space = v.last() == Some(&b' ');
    Analysis {
        multiline: true,
        flow_plain_allowed: false,
        block_plain_allowed: false,
        single_quoted_allowed: !(special || space_break || break_space),
        block_allowed: !(special || space_break || trailing_space),
        word: false,
        lines: !special,
    }
}

/// The full scan of libyaml's analysis, byte by byte.
fn analyze_scan(v: &[u8]) -> Analysis {
    if v.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
            word: false,
            lines: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if v.len() >= 3 && (v.starts_with(b"---") || v.starts_with(b"...")) {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_ws = true;
    let mut i = 0;
    while i < v.len() {
        if i > 0 && TEXT[usize::from(v[i])] != Text::Other {
            // A run of printable ASCII past the first character without
            // spaces, breaks or context-dependent indicators.
            while let Some(&b) = v.get(i) {
                match TEXT[usize::from(b)] {
                    Text::Plain => {}
                    Text::Flow => flow_indicators = true,
                    Text::Other => break,
                }
                i += 1;
            }
            previous_space = false;
            previous_break = false;
            preceded_by_ws = false;
            continue;
        }
        let w = width(v[i]).max(1);
        let followed_by_ws = i + w >= v.len() || v[i + w] == b' ' || v[i + w] == b'\t';
        if i == 0 {
            match v[i] {
                b'#' | b',' | b'[' | b']' | b'{' | b'}' | b'&' | b'*' | b'!' | b'|' | b'>'
                | b'\'' | b'"' | b'%' | b'@' | b'`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                b'?' | b':' => {
                    flow_indicators = true;
                    if followed_by_ws {
                        block_indicators = true;
                    }
                }
                b'-' if followed_by_ws => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match v[i] {
                b',' | b'?' | b'[' | b']' | b'{' | b'}' => flow_indicators = true,
                b':' => {
                    flow_indicators = true;
                    if followed_by_ws {
                        block_indicators = true;
                    }
                }
                b'#' if preceded_by_ws => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        let c = v[i];
        let printable = if c < 0x80 {
            c == b'\n' || (0x20..=0x7E).contains(&c)
        } else {
            is_printable(v, i)
        };
        if !printable {
            special = true;
        }
        if v[i] == b' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + w == v.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if (c < 0x80 && (c == b'\n' || c == b'\r')) || (c >= 0x80 && is_break(v, i)) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + w == v.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_ws = if c < 0x80 {
            matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0)
        } else {
            is_blankz(v, i)
        };
        i += w;
    }
    let mut a = Analysis {
        multiline: line_breaks,
        flow_plain_allowed: true,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
        word: false,
        lines: false,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks {
        a.flow_plain_allowed = false;
        a.block_plain_allowed = false;
    }
    if flow_indicators {
        a.flow_plain_allowed = false;
    }
    if block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// yaml.v2's `keyList.Less` for string keys: digit runs compare numerically,
/// letters by code point, a non-letter sorts before a letter.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if natural_less(a, b) {
        Ordering::Less
    } else if natural_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// yaml.v2's `keyList.Less` on two strings.
pub fn natural_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        natural_less_units(a.as_bytes(), b.as_bytes(), |c| char::from(*c))
    } else {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        natural_less_units(&ar, &br, |c| *c)
    }
}

fn natural_less_units<T: PartialEq + Copy>(ar: &[T], br: &[T], ch: impl Fn(&T) -> char) -> bool {
    let is_digit = |c: char| c.is_ascii_digit();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (ac, bc) = (ch(&ar[i]), ch(&br[i]));
        let al = ac.is_alphabetic();
        let bl = bc.is_alphabetic();
        if al && bl {
            return ac < bc;
        }
        if al || bl {
            return bl;
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ac == '0' || bc == '0' {
            let mut j = i;
            while j > 0 && is_digit(ch(&ar[j - 1])) {
                j -= 1;
                if ch(&ar[j]) != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && is_digit(ch(&ar[ai])) {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ch(&ar[ai]) as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && is_digit(ch(&br[bi])) {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(ch(&br[bi]) as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ac < bc;
    }
    ar.len() < br.len()
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

    #[test]
    fn shortcuts_agree_with_the_scan() {
        let lines = [
            "a\n",
            "\na",
            "a \nb",
            "a\n b",
            "a\nb ",
            "a\tb\nc",
            "a\rb\nc",
            "  x\n\n  y\n",
            "sum(rate(x{a=\"b\"}[5m]))\n/\n(y)\n",
            "- a: b\n# c\n",
            "\n",
            " \n",
        ];
        for v in lines {
            let a = analyze_ascii_lines(v.as_bytes());
            let controls = v.bytes().any(|b| b != b'\n' && !(0x20..=0x7E).contains(&b));
            assert_eq!(a.lines, !controls, "{v:?}");
            assert_eq!(
                Analysis { lines: false, ..a },
                analyze_scan(v.as_bytes()),
                "{v:?}"
            );
        }
        for v in [
            "a",
            "svc0001-slo00",
            "a\"b",
            "x'y",
            "9.5",
            "sloth_id",
            "a/b*c",
            "a:b",
            "slo:sli_error:ratio_rate5m",
            "a#b",
            "a,b[c]{d}?",
        ] {
            assert!(is_word(v.as_bytes()), "{v:?}");
            let word = Analysis {
                word: true,
                ..analyze_scan(v.as_bytes())
            };
            assert_eq!(analyze(v.as_bytes()), word, "{v:?}");
        }
        for v in ["-a", "a b", "a:", "a\tb", "é", ""] {
            assert!(!is_word(v.as_bytes()), "{v:?}");
        }
    }

    #[test]
    fn memo_copies_the_same_bytes() {
        let maps: [&[(&str, &str)]; 10] = [
            &[("a", "1"), ("b", "x"), ("c", "long value with spaces")],
            &[("a", "1"), ("b", "y"), ("c", "long value with spaces")],
            &[("a", "2"), ("b", "y"), ("c", "long value with spaces")],
            &[("a", "2"), ("b", "y")],
            &[("a", "2"), ("a1", "z"), ("b", "y")],
            &[("a1", "z"), ("b", "y"), ("c", "")],
            &[("b", "y"), ("c", "")],
            &[("a10", "x"), ("a9", "y:z")],
            &[("a10", "x"), ("a9", "y:z")],
            &[],
        ];
        // Each map as the value of a first and of a later key, in turn.
        let doc = |memo: Option<&mut MapMemo<'static>>| {
            let mut e = Emitter::new(Vec::new());
            let mut memo = memo;
            e.seq_start();
            for (i, m) in maps.iter().chain(maps.iter().rev()).enumerate() {
                e.map_start();
                if i % 2 == 1 {
                    e.kv("x", "y\nz\n").unwrap();
                }
                e.key("labels").unwrap();
                match memo.as_deref_mut() {
                    Some(memo) => e.string_map_memo(m.iter().copied(), memo).unwrap(),
                    None => e.string_map(m.iter().copied()).unwrap(),
                }
                e.map_end();
            }
            e.seq_end();
            String::from_utf8(e.finish().unwrap()).unwrap()
        };
        let plain = doc(None);
        assert!(
            plain.contains("  labels:\n    a: \"1\"\n    b: x\n"),
            "{plain}"
        );
        assert!(plain.contains("    a9: y:z\n    a10: x\n"), "{plain}");
        assert_eq!(doc(Some(&mut MapMemo::default())), plain);
    }

    #[test]
    fn natural_order() {
        assert!(natural_less("a9", "a10"));
        assert!(natural_less("sloth_id", "sloth_service"));
        assert!(natural_less("a_b", "ab"));
        assert!(natural_less("alert01k1", "alert02k1"));
    }
}
