//! Raw counters that an `events` SLI's queries read, for the SLIs simple
//! enough to invert: each query reads one series selector, through
//! `rate`, `increase` or `irate` over its `{{.window}}` range, under an
//! aggregation that drops every label (`sum(...)`, no `by`: the alert tests
//! expect the SLO's labels only); arithmetic and `or vector(0)` around it
//! are the user's and are left to Prometheus. The label values come from the selectors' matchers:
//! an `=` value, an example string of a `=~` regex, or a plain candidate
//! (`""`, `x`, `200`, ...) that the matchers accept. With one metric for
//! errors and total (`x{code=~"5.."}` / `x`), there is an error counter the
//! error query and the total query both select, and a counter of the other
//! requests only the total query selects; with two metrics, an error
//! counter and a total counter. An SLI this cannot invert (two selectors,
//! a subquery, a gauge function, no label value both queries accept) is
//! refused with the reason. ward's `latency` SLI is inverted from what it
//! was made of: the threshold's bucket and the histogram's count.

use promql_parser::label::{MatchOp, Matcher, METRIC_NAME};
use promql_parser::parser::{self, Expr, LabelModifier};
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::model::{Events, Labels, Latency};
use crate::rules::label_filter;
use crate::template::Template;

/// What a counter of [`RawSeries`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// The failed requests.
    Errors,
    /// The other requests (or the fast ones of a latency SLI).
    Good,
    /// Every request.
    Total,
}

/// The counters to feed an events SLI: two series selectors
/// (`x{code="500"}`) and what each counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSeries {
    /// Errors and the other requests (one metric: the error query and the
    /// total query both select the errors, only the total query the other
    /// requests); errors and the total (two metrics); or, for a latency
    /// SLI, the threshold's bucket (good) and the count (total).
    pub counters: [(String, Counts); 2],
}

/// Functions of a counter over a range that a steady counter satisfies.
const COUNTER_FUNCTIONS: [&str; 3] = ["rate", "increase", "irate"];

/// Values tried for a label when its matchers give none of their own.
const CANDIDATES: [&str; 8] = ["", "x", "0", "200", "500", "ok", "error", "a0"];

/// The one series selector of `query` (rendered with a 5m window), as its
/// matchers with the metric name as a `__name__` matcher.
fn selector(what: &str, query: &str) -> Result<Vec<Matcher>, String> {
    let text = Template::parse(query)
        .render(&[("window", "5m")], true)
        .map_err(|e| format!("the {what} query does not render: {e}"))?;
    let expr = parser::parse(&text).map_err(|e| format!("the {what} query does not parse: {e}"))?;
    let mut found = Vec::new();
    collect(&expr, false, false, &mut found).map_err(|e| format!("the {what} query {e}"))?;
    let [vs] = found.as_slice() else {
        return Err(format!(
            "the {what} query reads {} series selectors, not one",
            found.len()
        ));
    };
    if !vs.matchers.or_matchers.is_empty() {
        return Err(format!("the {what} query's selector has `or` matchers"));
    }
    let mut matchers = vs.matchers.matchers.clone();
    if let Some(name) = &vs.name {
        matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME, name));
    }
    Ok(matchers)
}

/// Collects the vector selectors of `e`; `counted`: `e` is the range
/// argument of a counter function; `summed`: `e` is under an aggregation
/// that drops every label (so the query's result has none, as the alert
/// tests expect).
fn collect<'e>(
    e: &'e Expr,
    counted: bool,
    summed: bool,
    out: &mut Vec<&'e promql_parser::parser::VectorSelector>,
) -> Result<(), String> {
    match e {
        Expr::MatrixSelector(m) if counted && summed => {
            out.push(&m.vs);
            Ok(())
        }
        Expr::MatrixSelector(_) if counted => {
            Err("keeps labels of the series (not under sum(...) without by)".into())
        }
        Expr::MatrixSelector(_) | Expr::VectorSelector(_) => {
            Err("reads a series other than through rate, increase or irate over a range".into())
        }
        Expr::Call(c) => {
            let counter = COUNTER_FUNCTIONS.contains(&c.func.name);
            c.args
                .args
                .iter()
                .try_for_each(|a| collect(a, counter, summed, out))
        }
        Expr::Aggregate(a) => {
            let drops_all = match &a.modifier {
                None => true,
                Some(LabelModifier::Include(l)) => l.labels.is_empty(),
                Some(LabelModifier::Exclude(_)) => false,
            };
            collect(&a.expr, false, summed || drops_all, out)
        }
        Expr::Binary(b) => {
            collect(&b.lhs, false, summed, out)?;
            collect(&b.rhs, false, summed, out)
        }
        Expr::Paren(p) => collect(&p.expr, false, summed, out),
        Expr::Unary(u) => collect(&u.expr, false, summed, out),
        Expr::Subquery(_) => Err("has a subquery".into()),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Extension(_) => Err("has an extension expression".into()),
    }
}

/// A string the regex `re` (PromQL: anchored) matches, if a simple one
/// exists: the first branch of each alternation, each repetition at its
/// minimum, a letter or digit of each class.
fn example(re: &str) -> Option<String> {
    fn walk(h: &Hir, out: &mut String) -> Option<()> {
        match h.kind() {
            HirKind::Empty | HirKind::Look(_) => {}
            HirKind::Literal(l) => out.push_str(std::str::from_utf8(&l.0).ok()?),
            HirKind::Class(Class::Unicode(c)) => {
                let ranges = c.ranges();
                let pick = ranges
                    .iter()
                    .flat_map(|r| ['0', 'a', 'A'].map(|p| (r, p)))
                    .find(|(r, p)| r.start() <= *p && *p <= r.end())
                    .map(|(_, p)| p)
                    .or_else(|| ranges.first().map(|r| r.start()))?;
                out.push(pick);
            }
            HirKind::Class(Class::Bytes(c)) => out.push(char::from(c.ranges().first()?.start())),
            HirKind::Repetition(r) => {
                for _ in 0..r.min {
                    walk(&r.sub, out)?;
                }
            }
            HirKind::Capture(c) => walk(&c.sub, out)?,
            HirKind::Concat(parts) => parts.iter().try_for_each(|p| walk(p, out))?,
            HirKind::Alternation(branches) => walk(branches.first()?, out)?,
        }
        Some(())
    }
    let hir = regex_syntax::Parser::new().parse(re).ok()?;
    let mut out = String::new();
    walk(&hir, &mut out)?;
    Some(out)
}

/// The values to try for a label constrained by `matchers`: theirs first.
fn candidates(matchers: &[&Matcher]) -> Vec<String> {
    matchers
        .iter()
        .filter_map(|m| match &m.op {
            MatchOp::Equal => Some(m.value.clone()),
            MatchOp::Re(_) => example(&m.value),
            MatchOp::NotEqual | MatchOp::NotRe(_) => None,
        })
        .chain(CANDIDATES.iter().map(|c| c.to_string()))
        .collect()
}

/// The matchers on `label`.
fn on<'m>(matchers: &'m [Matcher], label: &str) -> Vec<&'m Matcher> {
    matchers.iter().filter(|m| m.name == label).collect()
}

/// Label values every matcher of `all` accepts (empty: label absent).
fn satisfy(all: &[&[Matcher]]) -> Option<Labels> {
    let mut names: Vec<&str> = all
        .iter()
        .flat_map(|ms| ms.iter().map(|m| m.name.as_str()))
        .collect();
    names.sort();
    names.dedup();
    let mut labels = Labels::new();
    for name in names {
        let matchers: Vec<&Matcher> = all.iter().flat_map(|ms| on(ms, name)).collect();
        let value = candidates(&matchers)
            .into_iter()
            .find(|v| matchers.iter().all(|m| m.is_match(v)))?;
        if !value.is_empty() {
            labels.insert(name.into(), value.into());
        }
    }
    Some(labels)
}

/// `labels` as a series selector: `name{a="x"}`.
fn series(mut labels: Labels) -> String {
    let name = labels.remove(METRIC_NAME).unwrap_or_default();
    format!("{name}{}", label_filter(&labels))
}

/// The counters that make `events`' queries evaluate, or why there are none.
pub fn synthesize(events: &Events) -> Result<RawSeries, String> {
    let error = selector("error", &events.error_query)?;
    let total = selector("total", &events.total_query)?;
    let name = |ms: &[Matcher]| {
        on(ms, METRIC_NAME)
            .iter()
            .find(|m| m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    };
    if name(&error).is_none() || name(&error) != name(&total) {
        let errors = satisfy(&[&error]).ok_or("no label values the error selector accepts")?;
        let total = satisfy(&[&total]).ok_or("no label values the total selector accepts")?;
        return Ok(RawSeries {
            counters: [
                (series(errors), Counts::Errors),
                (series(total), Counts::Total),
            ],
        });
    }
    let errors = satisfy(&[&error, &total])
        .ok_or("no label values both the error and the total selector accept")?;
    // The other requests: the errors' labels, but one label the error
    // selector refuses and the total selector accepts.
    let rest = error
        .iter()
        .filter(|m| m.name != METRIC_NAME)
        .find_map(|m| {
            let on_total = on(&total, &m.name);
            let mut rest = errors.clone();
            // What `m` itself refuses (`!="NOERROR"`: NOERROR) comes first.
            let refused = match &m.op {
                MatchOp::NotEqual => Some(m.value.clone()),
                MatchOp::NotRe(_) => example(&m.value),
                MatchOp::Equal | MatchOp::Re(_) => None,
            };
            let v = refused
                .into_iter()
                .chain(candidates(&on_total))
                .find(|v| !m.is_match(v) && on_total.iter().all(|t| t.is_match(v)))?;
            if v.is_empty() {
                rest.remove(m.name.as_str());
            } else {
                rest.insert(m.name.as_str().into(), v.into());
            }
            Some(rest)
        })
        .ok_or("no label value the total selector accepts and the error selector refuses")?;
    Ok(RawSeries {
        counters: [
            (series(errors), Counts::Errors),
            (series(rest), Counts::Good),
        ],
    })
}

/// The counters of a latency SLI (its events in `events`): the bucket of
/// the threshold and the count, with label values the selector accepts.
pub fn synthesize_latency(latency: &Latency, events: &Events) -> Result<RawSeries, String> {
    let total = selector("total", &events.total_query)?;
    let mut labels = satisfy(&[&total]).ok_or("no label values the selector accepts")?;
    let count = series(labels.clone());
    labels.insert(
        METRIC_NAME.into(),
        format!("{}_bucket", latency.histogram).into(),
    );
    labels.insert("le".into(), latency.threshold.as_str().into());
    Ok(RawSeries {
        counters: [(series(labels), Counts::Good), (count, Counts::Total)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two counters and what the second counts (the first: errors).
    fn names(s: &RawSeries) -> (&str, &str, Counts) {
        assert_eq!(s.counters[0].1, Counts::Errors);
        (&s.counters[0].0, &s.counters[1].0, s.counters[1].1)
    }

    #[test]
    fn a_latency_sli_gives_its_bucket_and_count() {
        let latency = Latency {
            histogram: "h".into(),
            threshold: "0.3".into(),
            selector: r#"job="api", path=~"/pay|/buy""#.into(),
        };
        let count = r#"sum(rate(h_count{job="api", path=~"/pay|/buy"}[{{.window}}]))"#;
        let s = synthesize_latency(&latency, &events("unused", count)).unwrap();
        assert_eq!(
            s.counters,
            [
                (
                    r#"h_bucket{job="api", le="0.3", path="/pay"}"#.into(),
                    Counts::Good
                ),
                (r#"h_count{job="api", path="/pay"}"#.into(), Counts::Total),
            ]
        );
    }

    fn events(error: &str, total: &str) -> Events {
        Events {
            error_query: error.into(),
            total_query: total.into(),
        }
    }

    #[test]
    fn one_metric_gives_errors_and_the_other_requests() {
        let s = synthesize(&events(
            r#"sum(rate(http_requests_total{job="api",code=~"(5..|429)"}[{{.window}}]))"#,
            r#"sum(rate(http_requests_total{job="api"}[{{.window}}]))"#,
        ))
        .unwrap();
        assert_eq!(
            s,
            RawSeries {
                counters: [
                    (
                        r#"http_requests_total{code="500", job="api"}"#.into(),
                        Counts::Errors
                    ),
                    (r#"http_requests_total{job="api"}"#.into(), Counts::Good),
                ]
            }
        );
        let s = synthesize(&events(
            r#"sum(increase(x{code!~"2..|3.."}[{{.window}}])) or vector(0)"#,
            r#"sum(increase(x{code!=""}[{{ .window }}]))"#,
        ))
        .unwrap();
        assert_eq!(
            names(&s),
            (r#"x{code="x"}"#, r#"x{code="200"}"#, Counts::Good)
        );
        let s = synthesize(&events(
            r#"sum(rate(lookups_total{rcode!="NOERROR"}[{{.window}}]))"#,
            "sum(rate(lookups_total[{{.window}}]))",
        ))
        .unwrap();
        assert_eq!(
            names(&s),
            (
                "lookups_total{}",
                r#"lookups_total{rcode="NOERROR"}"#,
                Counts::Good
            )
        );
    }

    #[test]
    fn two_metrics_give_errors_and_the_total() {
        let s = synthesize(&events(
            "sum(rate(errors_total[{{.window}}]))",
            r#"sum(rate(requests_total{path!="/health"}[{{.window}}]))"#,
        ))
        .unwrap();
        assert_eq!(
            names(&s),
            ("errors_total{}", "requests_total{}", Counts::Total)
        );
    }

    #[test]
    fn what_cannot_be_inverted_says_why() {
        for (error, total, why) in [
            (
                "sum(rate(a[{{.window}}])) - sum(rate(b[{{.window}}]))",
                "sum(rate(b[{{.window}}]))",
                "the error query reads 2 series selectors, not one",
            ),
            (
                "avg_over_time(up[{{.window}}])",
                "vector(1)",
                "the error query reads a series other than through rate, increase or irate over a range",
            ),
            (
                "sum(rate(x[5m]))[{{.window}}:]",
                "x",
                "the error query has a subquery",
            ),
            (
                "sum by (job) (rate(x[{{.window}}]))",
                "x",
                "the error query keeps labels of the series (not under sum(...) without by)",
            ),
            (
                r#"sum(rate(x{code="500"}[{{.window}}]))"#,
                r#"sum(rate(x{code="200"}[{{.window}}]))"#,
                "no label values both the error and the total selector accept",
            ),
        ] {
            assert_eq!(synthesize(&events(error, total)), Err(why.to_string()), "{error}");
        }
    }

    #[test]
    fn regex_examples_match() {
        for re in [
            "5..",
            "(5..|429)",
            "[45][0-9]{2}",
            "GET|POST",
            ".*err.*",
            "a+b?",
        ] {
            let ex = example(re).unwrap();
            let anchored = regex::Regex::new(&format!("^(?:{re})$")).unwrap();
            assert!(anchored.is_match(&ex), "{re}: {ex:?}");
        }
    }
}
