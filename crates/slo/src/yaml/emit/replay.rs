//! The replay cache: a key and value written once are recorded with the
//! layout before and after them, and copied the next time the same bytes
//! would be written at the same layout (consecutive rules repeat most of
//! their labels). String maps, which use it, are written here too.

use std::io::{self, Write};

use super::{Emitter, Frame};
use crate::yaml::order::{natural_cmp, natural_less};

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

impl<W: Write> Emitter<W> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
