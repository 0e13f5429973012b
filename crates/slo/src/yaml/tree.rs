//! Reads one YAML document into a [`Value`] tree that keeps what yaml.v2
//! knows about each scalar: its raw text and what it resolves to (quoted
//! scalars are always strings). Anchors, aliases and `<<` merge keys are
//! expanded here; typing rules of each spec format live in `spec`.

use std::borrow::Cow;
use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::resolve::{resolve, Resolved};

/// One scalar: raw text plus its yaml.v2 resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar<'a> {
    /// The text as written (after YAML unescaping/folding): borrowed from
    /// the document where it is written as is.
    pub raw: Cow<'a, str>,
    /// What the text means (`Resolved::Str` for quoted and block scalars).
    pub res: Resolved,
}

/// A parsed YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A scalar.
    Scalar(Scalar<'a>),
    /// A sequence.
    Seq(Vec<Value<'a>>),
    /// A mapping, in document order (merge keys already expanded).
    Map(Vec<(Scalar<'a>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The null value (an absent document or `~`).
    pub fn null() -> Value<'a> {
        Value::Scalar(Scalar {
            raw: Cow::Borrowed(""),
            res: Resolved::Null,
        })
    }

    /// True for a null scalar.
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            Value::Scalar(Scalar {
                res: Resolved::Null,
                ..
            })
        )
    }

    /// A short name of the node's type for error messages (yaml.v2 style tags).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Seq(_) => "!!seq",
            Value::Map(_) => "!!map",
            Value::Scalar(s) => match s.res {
                Resolved::Null => "!!null",
                Resolved::Bool(_) => "!!bool",
                Resolved::Int(_) | Resolved::Uint(_) => "!!int",
                Resolved::Float(_) => "!!float",
                Resolved::Timestamp => "!!timestamp",
                Resolved::Merge | Resolved::Str => "!!str",
            },
        }
    }
}

/// The scalar yaml-rust2's event `(raw, style, tag)` stands for.
pub(crate) fn scalar_from<'a>(
    raw: Cow<'a, str>,
    style: TScalarStyle,
    tag: Option<&Tag>,
) -> Scalar<'a> {
    let res = match tag {
        Some(t) if t.handle == "!!" || t.handle.starts_with("tag:yaml.org,2002") => {
            match t.suffix.as_str() {
                "str" => Resolved::Str,
                "null" => Resolved::Null,
                _ => match resolve(&raw) {
                    Resolved::Timestamp => Resolved::Str,
                    r => r,
                },
            }
        }
        Some(_) => Resolved::Str,
        None => match style {
            TScalarStyle::Plain => resolve(&raw),
            _ => Resolved::Str,
        },
    };
    Scalar { raw, res }
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: HashMap<usize, Value<'static>>,
}

fn fmt_err(m: &Marker, msg: &str) -> String {
    format!("yaml: line {}: {msg}", m.line())
}

impl Builder<'_> {
    fn next(&mut self) -> Result<(Event, Marker), String> {
        self.parser.next_token().map_err(|e| format!("yaml: {e}"))
    }

    fn node(&mut self, ev: Event, mark: Marker, depth: usize) -> Result<Value<'static>, String> {
        if depth > 256 {
            return Err(fmt_err(&mark, "document is nested too deeply"));
        }
        match ev {
            Event::Scalar(raw, style, anchor, tag) => {
                let v = Value::Scalar(scalar_from(Cow::Owned(raw), style, tag.as_ref()));
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| fmt_err(&mark, "unknown anchor")),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1)?);
                }
                let v = Value::Seq(items);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Scalar, Value<'static>)> = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let is_merge_key = matches!(&ev, Event::Scalar(raw, TScalarStyle::Plain, _, None) if raw == "<<");
                    let key = match self.node(ev, m, depth + 1)? {
                        Value::Scalar(s) => s,
                        _ => return Err(fmt_err(&m, "mapping keys must be scalars")),
                    };
                    let (vev, vm) = self.next()?;
                    let value = self.node(vev, vm, depth + 1)?;
                    if is_merge_key {
                        let maps = match value {
                            Value::Map(m) => vec![m],
                            Value::Seq(items) => {
                                let mut ms = Vec::new();
                                for it in items.into_iter().rev() {
                                    match it {
                                        Value::Map(m) => ms.push(m),
                                        _ => {
                                            return Err(fmt_err(
                                                &vm,
                                                "map merge requires map or sequence of maps as the value",
                                            ))
                                        }
                                    }
                                }
                                ms
                            }
                            _ => {
                                return Err(fmt_err(
                                    &vm,
                                    "map merge requires map or sequence of maps as the value",
                                ))
                            }
                        };
                        for m in maps {
                            for (k, v) in m {
                                upsert(&mut entries, k, v);
                            }
                        }
                        continue;
                    }
                    upsert(&mut entries, key, value);
                }
                let v = Value::Map(entries);
                if anchor > 0 {
                    self.anchors.insert(anchor, v.clone());
                }
                Ok(v)
            }
            other => Err(fmt_err(&mark, &format!("unexpected event {other:?}"))),
        }
    }
}

/// Adds a mapping entry; a repeated key keeps its place and takes the new value.
pub(crate) fn upsert<'a>(entries: &mut Vec<(Scalar<'a>, Value<'a>)>, k: Scalar<'a>, v: Value<'a>) {
    // yaml.v2 (non-strict) keeps the last value of a repeated key.
    if let Some(e) = entries
        .iter_mut()
        .find(|(ek, _)| ek.raw == k.raw && ek.res == k.res)
    {
        e.1 = v;
    } else {
        entries.push((k, v));
    }
}

/// Parses exactly one YAML document (an empty input is a null document):
/// with [`super::block`] when the document is in its subset (most specs),
/// else with yaml-rust2.
pub fn parse(text: &str) -> Result<Value<'_>, String> {
    match super::block::parse(text) {
        Some(v) => Ok(v),
        None => parse_events(text),
    }
}

/// [`parse`] through yaml-rust2's events, for any document.
pub(crate) fn parse_events(text: &str) -> Result<Value<'static>, String> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
    };
    let mut doc: Option<Value<'static>> = None;
    loop {
        let (ev, m) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                let (ev, m) = b.next()?;
                if ev == Event::DocumentEnd {
                    continue;
                }
                if doc.is_some() {
                    return Err(fmt_err(&m, "multiple documents in one spec"));
                }
                doc = Some(b.node(ev, m, 0)?);
            }
            other => {
                if doc.is_some() {
                    return Err(fmt_err(&m, "multiple documents in one spec"));
                }
                doc = Some(b.node(other, m, 0)?);
            }
        }
    }
    Ok(doc.unwrap_or_else(Value::null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_scalar_resolution() {
        let v = parse("a: yes\nb: \"yes\"\nc: 2\n").unwrap();
        let Value::Map(m) = v else { panic!() };
        assert_eq!(
            m[0].1,
            Value::Scalar(Scalar {
                raw: "yes".into(),
                res: Resolved::Bool(true)
            })
        );
        assert_eq!(
            m[1].1,
            Value::Scalar(Scalar {
                raw: "yes".into(),
                res: Resolved::Str
            })
        );
        assert_eq!(
            m[2].1,
            Value::Scalar(Scalar {
                raw: "2".into(),
                res: Resolved::Int(2)
            })
        );
    }

    #[test]
    fn merges_and_aliases() {
        let v = parse("base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n").unwrap();
        let Value::Map(m) = v else { panic!() };
        let Value::Map(inner) = &m[1].1 else { panic!() };
        assert_eq!(inner.len(), 2);
    }

    #[test]
    fn bad_yaml_is_an_error() {
        assert!(parse("a: [1,\n").is_err());
        assert!(parse("a: b\n---\nc: d\n").is_err());
    }
}
