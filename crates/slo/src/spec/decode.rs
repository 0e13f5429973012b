//! Typed access to a YAML [`Value`] under the three decoding regimes sloth
//! uses: sigs.k8s.io/yaml (prometheus/v1: case-insensitive keys, scalars
//! coerced to strings where a string is expected), the Kubernetes decoder
//! (case-sensitive, no coercion) and gopkg.in/yaml.v2 (OpenSLO, alert
//! windows: exact keys, any scalar's raw text into a string). Unknown keys
//! are ignored in all three, as in sloth. Errors are `path: message`.

use std::borrow::Cow;
use std::fmt::Display;

use crate::duration::{parse_prom, Duration};
use crate::gostrconv::format_g32;
use crate::model::Labels;
use crate::yaml::resolve::Resolved;
use crate::yaml::tree::{Scalar, Value};

/// Which Go decoder's rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// sigs.k8s.io/yaml + encoding/json (prometheus/v1 specs).
    Sigs,
    /// Kubernetes universal deserializer (case-sensitive JSON).
    K8s,
    /// gopkg.in/yaml.v2 into a typed struct.
    YamlV2,
}

/// A decoding failure: the field path and what was wrong.
pub type DecodeError = String;

fn err(path: impl Display, msg: impl Display) -> DecodeError {
    format!("field {path}: {msg}")
}

/// The path of field `name` of the object at `parent`, formatted only when
/// an error names it (see [`Obj::sub`]).
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    parent: &'a str,
    name: &'a str,
}

impl Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.parent.is_empty() {
            f.write_str(self.name)
        } else {
            write!(f, "{}.{}", self.parent, self.name)
        }
    }
}

/// The path of entry `key` of the map at `map`, formatted only when an
/// error names it.
#[derive(Debug, Clone, Copy)]
struct Entry<'a> {
    map: Field<'a>,
    key: &'a str,
}

impl Display for Entry<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.map, self.key)
    }
}

/// A mapping key as the mode's decoder sees it (borrowed when it is text).
fn key_string<'a>(
    k: &'a Scalar<'_>,
    mode: Mode,
    path: impl Display,
) -> Result<Cow<'a, str>, DecodeError> {
    if mode == Mode::YamlV2 {
        return Ok(Cow::Borrowed(&k.raw));
    }
    Ok(Cow::Owned(match &k.res {
        Resolved::Str | Resolved::Timestamp | Resolved::Merge => return Ok(Cow::Borrowed(&k.raw)),
        Resolved::Int(i) => i.to_string(),
        Resolved::Uint(u) => u.to_string(),
        Resolved::Float(f) => match format_g32(*f).as_str() {
            "+Inf" => ".inf".to_string(),
            "-Inf" => "-.inf".to_string(),
            "NaN" => ".nan".to_string(),
            s => s.to_string(),
        },
        Resolved::Bool(b) => b.to_string(),
        Resolved::Null => return Err(err(path, "unsupported map key of type <nil>")),
    }))
}

/// A mapping viewed as a struct: field lookup by the mode's key rules.
pub struct Obj<'v> {
    mode: Mode,
    path: String,
    entries: Vec<(Cow<'v, str>, &'v Value<'v>)>,
}

impl<'v> Obj<'v> {
    /// Views `v`, found at `path`, as an object (`null` is an empty object).
    pub fn new(
        v: &'v Value<'v>,
        mode: Mode,
        path: impl Into<String>,
    ) -> Result<Obj<'v>, DecodeError> {
        let path = path.into();
        let mut entries = Vec::new();
        match v {
            Value::Map(m) => {
                entries.reserve_exact(m.len());
                for (k, val) in m {
                    entries.push((key_string(k, mode, &path)?, val));
                }
            }
            v if v.is_null() => {}
            other => {
                return Err(err(
                    display_path(&path),
                    format!("cannot unmarshal {} into an object", other.kind()),
                ))
            }
        }
        if mode == Mode::Sigs {
            // encoding/json sees keys in sorted order; the last matching key wins.
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        Ok(Obj {
            mode,
            path,
            entries,
        })
    }

    /// The path of a field of this object.
    pub fn sub(&self, name: &str) -> String {
        self.field(name).to_string()
    }

    fn field<'a>(&'a self, name: &'a str) -> Field<'a> {
        Field {
            parent: &self.path,
            name,
        }
    }

    /// The field's value, if present.
    pub fn get(&self, name: &str) -> Option<&'v Value<'v>> {
        let mut found = None;
        for (k, v) in &self.entries {
            let hit = match self.mode {
                Mode::Sigs => k.eq_ignore_ascii_case(name),
                Mode::K8s | Mode::YamlV2 => k == name,
            };
            if hit {
                found = Some(*v);
            }
        }
        found
    }

    /// The field's value unless absent or null.
    pub fn get_present(&self, name: &str) -> Option<&'v Value<'v>> {
        self.get(name).filter(|v| !v.is_null())
    }

    /// A nested object (absent or null: empty object).
    pub fn obj(&self, name: &str) -> Result<Obj<'v>, DecodeError> {
        match self.get(name) {
            Some(v) => Obj::new(v, self.mode, self.sub(name)),
            None => Ok(Obj {
                mode: self.mode,
                path: self.sub(name),
                entries: Vec::new(),
            }),
        }
    }

    /// A string field ("" when absent).
    pub fn string(&self, name: &str) -> Result<String, DecodeError> {
        match self.get(name) {
            None => Ok(String::new()),
            Some(v) => to_string(v, self.mode, self.field(name)),
        }
    }

    /// A float field (0 when absent).
    pub fn float(&self, name: &str) -> Result<f64, DecodeError> {
        match self.get(name) {
            None => Ok(0.0),
            Some(v) => to_float(v, self.mode, self.field(name)),
        }
    }

    /// A Prometheus duration field (`30d`; zero when absent or null).
    pub fn duration(&self, name: &str) -> Result<Duration, DecodeError> {
        match self.get_present(name) {
            None => Ok(Duration(0)),
            Some(Value::Scalar(s)) => {
                parse_prom(&s.raw).map_err(|e| format!("field {}: {e}", self.sub(name)))
            }
            Some(other) => Err(format!(
                "field {}: cannot unmarshal {} into a duration",
                self.sub(name),
                other.kind()
            )),
        }
    }

    /// An optional float field (`None` when absent or null).
    pub fn opt_float(&self, name: &str) -> Result<Option<f64>, DecodeError> {
        match self.get_present(name) {
            None => Ok(None),
            Some(v) => to_float(v, self.mode, self.field(name)).map(Some),
        }
    }

    /// An integer field (0 when absent).
    pub fn int(&self, name: &str) -> Result<i64, DecodeError> {
        match self.get(name) {
            None => Ok(0),
            Some(v) => to_int(v, self.mode, self.field(name)),
        }
    }

    /// A bool field (false when absent).
    pub fn bool(&self, name: &str) -> Result<bool, DecodeError> {
        match self.get(name) {
            None => Ok(false),
            Some(v) => to_bool(v, self.field(name)),
        }
    }

    /// A `map[string]string` field (`None` when absent or null).
    pub fn string_map(&self, name: &str) -> Result<Option<Labels>, DecodeError> {
        let path = self.field(name);
        match self.get_present(name) {
            None => Ok(None),
            Some(Value::Map(m)) => {
                let mut out = Labels::new();
                let mut keyed = Vec::with_capacity(m.len());
                for (k, v) in m {
                    keyed.push((key_string(k, self.mode, path)?.into_owned(), v));
                }
                if self.mode == Mode::Sigs || self.mode == Mode::K8s {
                    keyed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                }
                for (k, v) in keyed {
                    let s = to_string(v, self.mode, Entry { map: path, key: &k })?;
                    out.insert(k.into(), s.into());
                }
                Ok(Some(out))
            }
            Some(other) => Err(err(
                path,
                format!("cannot unmarshal {} into map[string]string", other.kind()),
            )),
        }
    }

    /// A sequence field (empty when absent or null).
    pub fn seq(&self, name: &str) -> Result<Vec<&'v Value<'v>>, DecodeError> {
        match self.get_present(name) {
            None => Ok(Vec::new()),
            Some(Value::Seq(items)) => Ok(items.iter().collect()),
            Some(other) => Err(err(
                self.field(name),
                format!("cannot unmarshal {} into a list", other.kind()),
            )),
        }
    }

    /// The decoding mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

fn display_path(p: &str) -> &str {
    if p.is_empty() {
        "(document)"
    } else {
        p
    }
}

/// Decodes a scalar into a Go `string` under `mode`.
pub fn to_string(v: &Value, mode: Mode, path: impl Display) -> Result<String, DecodeError> {
    let Value::Scalar(s) = v else {
        return Err(err(
            path,
            format!("cannot unmarshal {} into string", v.kind()),
        ));
    };
    if s.res == Resolved::Null {
        return Ok(String::new());
    }
    match mode {
        Mode::YamlV2 => Ok(s.raw.to_string()),
        Mode::Sigs => Ok(match &s.res {
            Resolved::Int(i) => i.to_string(),
            Resolved::Uint(u) => u.to_string(),
            Resolved::Float(f) => format_g32(*f),
            Resolved::Bool(b) => b.to_string(),
            _ => s.raw.to_string(),
        }),
        Mode::K8s => match &s.res {
            Resolved::Str | Resolved::Timestamp | Resolved::Merge => Ok(s.raw.to_string()),
            _ => Err(err(
                path,
                format!("cannot unmarshal {} into Go value of type string", v.kind()),
            )),
        },
    }
}

fn to_float(v: &Value, mode: Mode, path: impl Display) -> Result<f64, DecodeError> {
    let bad = || err(&path, format!("cannot unmarshal {} into float64", v.kind()));
    let Value::Scalar(s) = v else {
        return Err(bad());
    };
    let f = match s.res {
        Resolved::Null => 0.0,
        Resolved::Int(i) => i as f64,
        Resolved::Uint(u) => u as f64,
        Resolved::Float(f) => f,
        _ => return Err(bad()),
    };
    if mode != Mode::YamlV2 && !f.is_finite() {
        return Err(err(path, format!("json: unsupported value: {}", s.raw)));
    }
    Ok(f)
}

fn to_int(v: &Value, mode: Mode, path: impl Display) -> Result<i64, DecodeError> {
    let bad = || err(&path, format!("cannot unmarshal {} into int", v.kind()));
    let Value::Scalar(s) = v else {
        return Err(bad());
    };
    match s.res {
        Resolved::Null => Ok(0),
        Resolved::Int(i) => Ok(i),
        Resolved::Float(f) if f.is_finite() && f.abs() < 9.2e18 => {
            if mode == Mode::YamlV2 {
                Ok(f.trunc() as i64)
            } else if f.fract() == 0.0 {
                Ok(f as i64)
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

fn to_bool(v: &Value, path: impl Display) -> Result<bool, DecodeError> {
    match v {
        Value::Scalar(Scalar {
            res: Resolved::Bool(b),
            ..
        }) => Ok(*b),
        v if v.is_null() => Ok(false),
        other => Err(err(
            path,
            format!("cannot unmarshal {} into bool", other.kind()),
        )),
    }
}

/// Converts a node to JSON as sigs.k8s.io/yaml would for a `json.RawMessage` field.
pub fn to_json(v: &Value, path: &str) -> Result<serde_json::Value, DecodeError> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Scalar(s) => match &s.res {
            Resolved::Null => J::Null,
            Resolved::Bool(b) => J::Bool(*b),
            Resolved::Int(i) => J::from(*i),
            Resolved::Uint(u) => J::from(*u),
            Resolved::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => J::Number(n),
                None => return Err(err(path, format!("json: unsupported value: {}", s.raw))),
            },
            _ => J::String(s.raw.to_string()),
        },
        Value::Seq(items) => J::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, it)| to_json(it, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            let mut o = serde_json::Map::new();
            for (k, val) in m {
                let ks = key_string(k, Mode::Sigs, path)?.into_owned();
                let jv = to_json(val, &format!("{path}.{ks}"))?;
                o.insert(ks, jv);
            }
            J::Object(o)
        }
    })
}
