//! A reader for the block-only subset of YAML that most spec documents are
//! written in: block mappings with plain keys, block sequences (indented or
//! not), one-line plain, single- and double-quoted scalars without escapes.
//! It builds the same [`Value`] tree as yaml-rust2's events do through
//! [`super::tree`], in one pass over the lines instead of a char-by-char
//! scanner, and gives up (`None`) on anything outside the subset: comments,
//! tabs, non-ASCII or control bytes, flow collections, anchors, tags, block
//! scalars, multi-line scalars, empty values, document markers, and every
//! input that is not well formed. The caller then parses the document with
//! yaml-rust2, which also gives the error messages.

use std::borrow::Cow;

use yaml_rust2::scanner::TScalarStyle;

use super::tree::{scalar_from, upsert, Scalar, Value};

/// Deeper documents are left to yaml-rust2 (and its depth check).
const MAX_DEPTH: usize = 64;

/// yaml-rust2's simple keys may be longer; longer ones are left to it.
const MAX_KEY: usize = 128;

/// One non-blank line: its indentation and the text after it.
#[derive(Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

/// Reads `doc` when it is in the subset (see the module docs); `None` otherwise.
pub fn parse(doc: &str) -> Option<Value<'_>> {
    let bytes = doc.as_bytes();
    // ASCII without control bytes but the line feed, no ` #` comment.
    let clean = bytes.iter().fold(true, |ok, &b| {
        ok & ((0x20..=0x7E).contains(&b) | (b == b'\n'))
    });
    if !clean || doc.contains(" #") {
        return None;
    }
    let mut lines = Vec::with_capacity(bytes.len() / 24);
    for raw in doc.split('\n') {
        let text = raw.trim_start_matches(' ');
        if text.is_empty() {
            continue;
        }
        if raw.ends_with(' ')
            || text.starts_with('#')
            || raw.starts_with("---")
            || raw.starts_with("...")
        {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - text.len(),
            text,
        });
    }
    let mut r = Reader { lines, pos: 0 };
    let root = r.node(0, 0)?;
    (r.pos == r.lines.len()).then_some(root)
}

/// Splits `key: rest` or `key:` (rest empty) for a plain key of word
/// characters; `None` when the line is not such an entry.
fn entry(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    if !b.first()?.is_ascii_alphanumeric() && b[0] != b'_' {
        return None;
    }
    let end = b
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/')))?;
    if b[end] != b':' || end > MAX_KEY {
        return None;
    }
    let rest = &text[end + 1..];
    if rest.is_empty() {
        return Some((&text[..end], rest));
    }
    rest.strip_prefix(' ')
        .map(|r| (&text[..end], r.trim_start_matches(' ')))
}

/// A one-line scalar: quoted without escapes, or plain and unambiguous.
fn scalar(text: &str) -> Option<Scalar<'_>> {
    let b = text.as_bytes();
    let quoted = |q: u8, style| {
        if b.len() < 2 || b[b.len() - 1] != q {
            return None;
        }
        let inner = &text[1..text.len() - 1];
        (!inner.bytes().any(|c| c == q || c == b'\\'))
            .then(|| scalar_from(Cow::Borrowed(inner), style, None))
    };
    match b.first()? {
        b'"' => quoted(b'"', TScalarStyle::DoubleQuoted),
        b'\'' => quoted(b'\'', TScalarStyle::SingleQuoted),
        c if c.is_ascii_alphanumeric() || matches!(c, b'(' | b'_' | b'/' | b'.' | b'$') => {
            // `: ` or a final `:` would make it a mapping (an error here).
            if text.contains(": ") || text.ends_with(':') {
                return None;
            }
            Some(scalar_from(Cow::Borrowed(text), TScalarStyle::Plain, None))
        }
        _ => None,
    }
}

impl<'a> Reader<'a> {
    fn line(&self) -> Option<Line<'a>> {
        self.lines.get(self.pos).copied()
    }

    /// The indentation of the next line (0 past the end).
    fn next_indent(&self) -> usize {
        self.line().map_or(0, |l| l.indent)
    }

    /// The block node starting at the current line, indented by `indent`.
    fn node(&mut self, indent: usize, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let l = self.line()?;
        if l.indent != indent {
            return None;
        }
        if l.text == "-" || l.text.starts_with("- ") {
            self.seq(indent, false, depth)
        } else {
            self.map(indent, depth)
        }
    }

    /// A block sequence whose dashes are at `indent` (`indentless`: the
    /// value of a mapping key at the same indentation).
    fn seq(&mut self, indent: usize, indentless: bool, depth: usize) -> Option<Value<'a>> {
        let mut items = Vec::new();
        while let Some(l) = self.line() {
            if l.indent < indent {
                break;
            }
            let Some(rest) = l.text.strip_prefix("- ") else {
                if indentless && l.indent == indent {
                    break;
                }
                return None;
            };
            let text = rest.trim_start_matches(' ');
            if text.starts_with('-') {
                return None;
            }
            let col = l.indent + l.text.len() - text.len();
            if entry(text).is_some() {
                // A compact mapping: its first key is on the dash line.
                self.lines[self.pos] = Line { indent: col, text };
                items.push(self.map(col, depth + 1)?);
            } else {
                items.push(Value::Scalar(scalar(text)?));
                self.pos += 1;
            }
            if self.next_indent() > indent {
                return None;
            }
        }
        Some(Value::Seq(items))
    }

    /// A block mapping whose keys are at `indent`.
    fn map(&mut self, indent: usize, depth: usize) -> Option<Value<'a>> {
        let mut entries: Vec<(Scalar, Value)> = Vec::new();
        while let Some(l) = self.line() {
            if l.indent < indent {
                break;
            }
            if l.indent > indent {
                return None;
            }
            let (key, rest) = entry(l.text)?;
            let key = scalar_from(Cow::Borrowed(key), TScalarStyle::Plain, None);
            self.pos += 1;
            let value = if rest.is_empty() {
                match self.line() {
                    Some(n) if n.indent > indent => self.node(n.indent, depth + 1)?,
                    Some(n) if n.indent == indent && n.text.starts_with("- ") => {
                        self.seq(indent, true, depth + 1)?
                    }
                    // An empty value: yaml-rust2 has its own idea of it.
                    _ => return None,
                }
            } else {
                let v = Value::Scalar(scalar(rest)?);
                if self.next_indent() > indent {
                    // A plain scalar continued on the next line.
                    return None;
                }
                v
            };
            upsert(&mut entries, key, value);
        }
        Some(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document either reads as yaml-rust2 reads it or is left to it.
    #[test]
    fn agrees_with_yaml_rust2_or_gives_up() {
        let read = [
            "a: b\nc: 1\n",
            "version: \"prometheus/v1\"\nservice: 'svc'\nlabels:\n  owner: team-1\n  tier: \"1\"\nslos:\n  - name: \"x\"\n    objective: 99.9\n    sli:\n      events:\n        error_query: sum(rate(x{a=\"b\",c=~\"(5..|429)\"}[{{.window}}]))\n  - name: y\n",
            "slos:\n- name: a\n  x: 1\n- b\nnext: yes\n",
            "a:\n    - 1\n    -   k: v\n        j: w\n    - c\nb: null\n",
            "a: b\na: c\n",
            "- a\n- b\n",
            "x: a:b\ny: http://h/p?q=1\nz: 0x1F\nw: 1:20\nv: 2001-12-14\n",
            "k: x[a]\nl: a, b\nm: ''\nn: \"\"\n",
            "a:\n  b:\n    c: d\n\n\n  e: f\n",
        ];
        for doc in read {
            let fast = parse(doc);
            assert!(fast.is_some(), "{doc:?} should be read");
            assert_eq!(fast, super::super::tree::parse_events(doc).ok(), "{doc:?}");
        }
        let left = [
            "a: b # c\n",
            "a: b\n  c\n",
            "a:\nb: c\n",
            "a: [1, 2]\n",
            "a: {b: c}\n",
            "a: &x b\nc: *x\n",
            "a: !!str 1\n",
            "a: |\n  x\n",
            "a: \"x\\ny\"\n",
            "a: 'it''s'\n",
            "a: \"x\n  y\"\n",
            "a:\tb\n",
            "a: b \n",
            "a: é\n",
            "a: b: c\n",
            "a: b:\n",
            "a:\n  - x\n  y: z\n",
            "a:\n    b: 1\n  c: 2\n",
            "a:\n- x\n  - y\n",
            "\"a\": b\n",
            "? a\n: b\n",
            "<<: {a: 1}\n",
            "a: b\n---\nc: d\n",
            "a: -1\n",
            "a:\r\n  b: c\r\n",
            "plain\n",
        ];
        for doc in left {
            assert_eq!(parse(doc), None, "{doc:?} should be left to yaml-rust2");
        }
    }
}
