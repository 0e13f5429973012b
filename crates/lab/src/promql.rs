//! The part of PromQL that SLO queries over counters use, evaluated on the
//! lab's own [`History`]: selectors with any matchers, `rate` and `increase`
//! over a range, `sum` (no grouping), numbers, parentheses, unary minus and
//! `+ - * /` (vector to vector matched on all labels, as Prometheus matches
//! one-to-one). Anything else is refused by name, so a panel says "not
//! computable in the lab" rather than showing a wrong figure. Unlike
//! Prometheus, `rate` and `increase` do not extrapolate to the range's ends:
//! an SLO's ratio of two of them is the same either way. A rate is divided
//! by the time the samples cover when that is shorter than its range.

use std::collections::BTreeMap;

use promql_parser::parser::{self, Expr};

use crate::series::{History, SeriesId};

/// Labels of one result series.
type Labels = BTreeMap<String, String>;

/// A value: a number, or series with their labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

impl Value {
    /// The one number this value stands for: a scalar, or a vector of one
    /// series; `None` for an empty vector (no data) or several series.
    pub(crate) fn single(&self) -> Option<f64> {
        match self {
            Value::Scalar(v) => Some(*v),
            Value::Vector(v) if v.len() == 1 => Some(v[0].1),
            Value::Vector(_) => None,
        }
    }
}

/// Which samples a range selector reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Range {
    /// The range the query names (`[5m]`).
    AsWritten,
    /// The whole run, whatever the query names.
    Run,
}

/// Parses and evaluates `query` over `history`.
pub(crate) fn eval(query: &str, history: &History, range: Range) -> Result<Value, String> {
    let expr = parser::parse(query)?;
    Eval { history, range }.expr(&expr)
}

struct Eval<'h> {
    history: &'h History,
    range: Range,
}

impl Eval<'_> {
    fn expr(&self, e: &Expr) -> Result<Value, String> {
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Unary(u) => Ok(map(self.expr(&u.expr)?, |v| -v)),
            Expr::Aggregate(a) if a.op.to_string() == "sum" && a.modifier.is_none() => {
                let Value::Vector(v) = self.expr(&a.expr)? else {
                    return Err(format!("{e}: sum of a scalar"));
                };
                Ok(Value::Vector(if v.is_empty() {
                    Vec::new()
                } else {
                    vec![(Labels::new(), v.iter().map(|(_, x)| x).sum())]
                }))
            }
            Expr::Call(c) if matches!(c.func.name, "rate" | "increase") => {
                let [arg] = c.args.args.as_slice() else {
                    return Err(format!("{e}: one argument expected"));
                };
                let Expr::MatrixSelector(m) = arg.as_ref() else {
                    return Err(format!("{e}: a range selector expected"));
                };
                if m.vs.offset.is_some() || m.vs.at.is_some() {
                    return Err(format!("{e}: offset and @ are not evaluated in the lab"));
                }
                let window = match self.range {
                    Range::AsWritten if !self.history.covers(m.range) => {
                        return Err(format!("{e}: the lab keeps less than {:?}", m.range))
                    }
                    Range::AsWritten => Some(m.range),
                    Range::Run => None,
                };
                // Over the time the samples cover: a window longer than the run so far
                // would make every rate look lower than it is.
                let span = self.history.span();
                let seconds = window.map_or(span, |w| w.min(span)).as_secs_f64();
                let per = if c.func.name == "rate" { seconds } else { 1.0 };
                let selected = self
                    .history
                    .increases(window, |id| selects(&m.vs, id))
                    .into_iter()
                    .map(|(id, inc)| {
                        let mut labels = id.labels.clone();
                        labels.remove("__name__");
                        (labels, if per > 0.0 { inc / per } else { 0.0 })
                    })
                    .collect();
                Ok(Value::Vector(selected))
            }
            Expr::Binary(b) if b.modifier.is_none() => {
                let op = match b.op.to_string().as_str() {
                    "+" => |a: f64, b: f64| a + b,
                    "-" => |a: f64, b: f64| a - b,
                    "*" => |a: f64, b: f64| a * b,
                    "/" => |a: f64, b: f64| a / b,
                    other => {
                        return Err(format!("{e}: operator {other} is not evaluated in the lab"))
                    }
                };
                Ok(binary(self.expr(&b.lhs)?, self.expr(&b.rhs)?, op))
            }
            _ => Err(format!(
                "{e}: not evaluated in the lab (it knows sum, rate, increase, numbers and + - * /)"
            )),
        }
    }
}

fn selects(vs: &parser::VectorSelector, id: &SeriesId) -> bool {
    vs.name.as_deref().is_none_or(|n| n == id.name)
        && vs.matchers.matchers.iter().all(|m| {
            let value = match m.name.as_str() {
                "__name__" => id.name.as_str(),
                name => id.labels.get(name).map_or("", String::as_str),
            };
            m.is_match(value)
        })
}

fn map(v: Value, f: impl Fn(f64) -> f64) -> Value {
    match v {
        Value::Scalar(x) => Value::Scalar(f(x)),
        Value::Vector(v) => Value::Vector(v.into_iter().map(|(l, x)| (l, f(x))).collect()),
    }
}

fn binary(lhs: Value, rhs: Value, op: fn(f64, f64) -> f64) -> Value {
    match (lhs, rhs) {
        (Value::Scalar(a), Value::Scalar(b)) => Value::Scalar(op(a, b)),
        (Value::Vector(v), Value::Scalar(b)) => map(Value::Vector(v), |a| op(a, b)),
        (Value::Scalar(a), Value::Vector(v)) => map(Value::Vector(v), |b| op(a, b)),
        (Value::Vector(l), Value::Vector(r)) => {
            let r: BTreeMap<_, _> = r.into_iter().collect();
            Value::Vector(
                l.into_iter()
                    .filter_map(|(labels, a)| r.get(&labels).map(|b| (labels, op(a, *b))))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::parse_exposition;
    use std::time::Duration;
    use tokio::time::Instant;

    fn history() -> History {
        let t0 = Instant::now();
        let mut h = History::new(Duration::from_secs(300));
        for (s, ok, bad) in [(0, 0, 0), (30, 90, 10), (60, 180, 20)] {
            let text = format!(
                "req_total{{code=\"200\",type=\"api\"}} {ok}\nreq_total{{code=\"500\",type=\"api\"}} {bad}\nreq_total{{code=\"500\",type=\"path_x\"}} 7\n"
            );
            h.push(t0 + Duration::from_secs(s), parse_exposition(&text, "n1"));
        }
        h
    }

    #[test]
    fn evaluates_an_events_sli_ratio() {
        let h = history();
        // Rounded: rates divide by the window before the ratio divides them again.
        let ratio = |q: &str, r| {
            eval(q, &h, r)
                .unwrap()
                .single()
                .map(|v| (v * 1e9).round() / 1e9)
        };
        let q = r#"sum(rate(req_total{type=~"api.*",code!="200"}[1m])) / sum(rate(req_total{type=~"api.*"}[1m]))"#;
        assert_eq!(ratio(q, Range::AsWritten), Some(0.1));
        assert_eq!(ratio(q, Range::Run), Some(0.1));
        // 20 errors in 60 s.
        assert_eq!(
            ratio(
                r#"sum(increase(req_total{code="500",type="api"}[1m]))"#,
                Range::AsWritten
            ),
            Some(20.0)
        );
        assert_eq!(
            ratio(
                r#"sum(rate(req_total{code="500",type="api"}[30s])) * 60"#,
                Range::AsWritten
            ),
            Some(20.0)
        );
        assert_eq!(ratio("-(1 - 0.25)", Range::AsWritten), Some(-0.75));
        // A selector that matches nothing: no data, not zero.
        assert_eq!(
            ratio(r#"sum(rate(req_total{type="none"}[1m]))"#, Range::AsWritten),
            None
        );
    }

    #[test]
    fn refuses_what_it_does_not_evaluate_by_name() {
        let h = history();
        let err = |q: &str| eval(q, &h, Range::AsWritten).unwrap_err();
        assert_eq!(
            err("sum by (type) (rate(req_total[1m]))"),
            "sum by (type) (rate(req_total[1m])): not evaluated in the lab (it knows sum, rate, increase, numbers and + - * /)"
        );
        assert_eq!(
            err("sum(rate(req_total[1h]))"),
            "rate(req_total[1h]): the lab keeps less than 3600s"
        );
        assert_eq!(err("sum(rate("), "unclosed left parenthesis");
    }
}
