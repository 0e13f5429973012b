//! sloth's SLO validation (`pkg/common/validation`, run by the default
//! plugin `sloth.dev/core/validate/v1`, and by
//! `sloth.dev/contrib/validate_victoria_metrics/v1` with the MetricsQL
//! dialect): the same checks in the same order, first failure wins. Each
//! failure carries the spec field it is about and sloth's message text.
//! Queries are checked after rendering their template with `window=1m`:
//! PromQL with the `promql-parser` crate (regex matcher literals and query
//! shapes checked once each through a [`QueryCache`]), MetricsQL with
//! [`crate::metricsql`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use crate::model::{AlertMeta, Slo};
use crate::template;

/// The query language an SLO's queries are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Prometheus' PromQL (`sloth.dev/core/validate/v1`).
    PromQl,
    /// VictoriaMetrics' MetricsQL (`sloth.dev/contrib/validate_victoria_metrics/v1`).
    MetricsQl,
}

/// A failed check: the spec field and sloth's message.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Spec field path, e.g. `objective` or `sli.events.error_query`.
    pub field: String,
    /// sloth's message, e.g. `objective must >0 and <=100`.
    pub msg: String,
}

fn invalid(field: &str, msg: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        msg: msg.into(),
    }
}

fn name_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$").expect("static regex"))
}

fn window_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    R.get_or_init(|| Regex::new(r"\{\{ *\.window *\}\}").expect("static regex"))
}

fn valid_name(n: &str) -> Result<(), String> {
    if n.is_empty() {
        return Err("required".into());
    }
    if !name_re().is_match(n) {
        return Err(
            "name must start and end with an alphanumeric and can only contain alphanumeric, '.', '_', and '-'"
                .into(),
        );
    }
    Ok(())
}

fn label_key(k: &str) -> Result<(), String> {
    if k == "__name__" {
        return Err("the label key \"__name__\" is not allowed".into());
    }
    if k.is_empty() {
        return Err(format!("the label key {k:?} is not valid"));
    }
    Ok(())
}

fn label_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the label value is required".into());
    }
    Ok(())
}

fn query_template(q: &str) -> Result<(), String> {
    if q.is_empty() {
        return Err("query template is required: required".into());
    }
    if !window_re().is_match(q) {
        return Err("template must contain the {{ .window }} variable".into());
    }
    Ok(())
}

/// Most entries each map of a [`QueryCache`] holds (later ones are checked each time).
const QUERY_CACHE_MAX: usize = 4096;

/// Remembers promql-parser's verdicts so that each distinct shape of query
/// is parsed once: for each regex matcher literal (as written, quotes
/// included) whether it is valid and matches the empty string (each regex is
/// compiled once instead of once per query: promql-parser compiles every
/// `=~`/`!~` value while parsing), and which canonical queries (see
/// [`canonical`]) parsed fine.
#[derive(Debug, Default)]
pub struct QueryCache {
    regexes: Mutex<HashMap<String, Option<bool>>>,
    accepted: Mutex<HashSet<String>>,
}

// === impl QueryCache ===

impl QueryCache {
    /// `Some(matches_empty)` for a valid regex literal, `None` for an invalid one.
    fn regex(&self, literal: &str) -> Option<bool> {
        if let Some(known) = self.regexes.lock().ok()?.get(literal) {
            return *known;
        }
        let verdict = regex_literal_matches_empty(literal);
        if let Ok(mut known) = self.regexes.lock() {
            if known.len() < QUERY_CACHE_MAX {
                known.insert(literal.to_string(), verdict);
            }
        }
        verdict
    }

    /// True when promql-parser accepts the canonical query `q` (parsed once per distinct `q`).
    fn accepts(&self, q: &str) -> bool {
        if self.accepted.lock().is_ok_and(|a| a.contains(q)) {
            return true;
        }
        if promql_parser::parser::parse(q).is_err() {
            return false;
        }
        if let Ok(mut accepted) = self.accepted.lock() {
            if accepted.len() < QUERY_CACHE_MAX {
                accepted.insert(q.to_string());
            }
        }
        true
    }
}

/// Parses `x{a=~<literal>}` with promql-parser (its unquoting and regex
/// rules): `Some(matches_empty)` when valid.
fn regex_literal_matches_empty(literal: &str) -> Option<bool> {
    match promql_parser::parser::parse(&format!("x{{a=~{literal}}}")).ok()? {
        promql_parser::parser::Expr::VectorSelector(vs) if vs.matchers.matchers.len() == 1 => {
            Some(vs.matchers.matchers[0].is_match(""))
        }
        _ => None,
    }
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'`')
}

/// End (exclusive) of the string literal starting at `start`, as promql-parser's lexer scans it.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// True for a string literal (quotes included) that promql-parser unquotes
/// to its inner text as is: printable ASCII without backslashes (and so
/// without escapes, newlines or the closing quote).
fn verbatim_literal(literal: &str) -> bool {
    literal.as_bytes()[1..literal.len() - 1]
        .iter()
        .all(|&b| (0x20..=0x7E).contains(&b) && b != b'\\')
}

/// Whether the value of matcher `op` `literal` matches the empty string,
/// when that is all a [`canonical`] query needs to know of it: `None` keeps
/// the literal as written (an invalid regex, or a value with escapes or
/// non-ASCII text).
fn matches_empty(op: &str, literal: &str, cache: &QueryCache) -> Option<bool> {
    if op.ends_with('~') {
        cache.regex(literal)
    } else if verbatim_literal(literal) {
        Some(literal.len() == 2)
    } else {
        None
    }
}

/// Length of the label matcher operator at `i` (`=`, `!=`, `=~`, `!~`);
/// 0 for anything else, 2 for `==` (no operator, skipped as a whole).
fn matcher_op(b: &[u8], i: usize) -> usize {
    match (b[i], b.get(i + 1)) {
        (b'=' | b'!', Some(b'~')) | (b'!' | b'=', Some(b'=')) => 2,
        (b'=', _) => 1,
        _ => 0,
    }
}

/// The query with every label matcher value inside braces replaced by a
/// stand-in that parses the same way: `a=""` where the matcher's value (or
/// regex) matches the empty string, `a="x"` where it does not (`!=` for
/// `!=` and `!~`). promql-parser uses a matcher's value only for the "at
/// least one non-empty matcher" check (and in error messages), so the
/// canonical query parses if and only if the original does, and queries
/// differing only in label values share one canonical form. Regexes are
/// checked (once each) through the cache; see [`matches_empty`] for the
/// values kept as written. `None` when a literal is not lexable: the caller
/// then parses the original.
fn canonical<'q>(q: &'q str, cache: &QueryCache) -> Option<Cow<'q, str>> {
    let b = q.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut in_braces = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c if is_quote(c) => i = string_end(b, i)?,
            b'{' => {
                in_braces = true;
                i += 1;
            }
            b'}' => {
                in_braces = false;
                i += 1;
            }
            b'#' => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n)
            }
            b'=' | b'!' if in_braces && matcher_op(b, i) > 0 => {
                let op = &q[i..i + matcher_op(b, i)];
                let mut j = i + op.len();
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if op == "==" || j >= b.len() || !is_quote(b[j]) {
                    i = j;
                    continue;
                }
                let end = string_end(b, j)?;
                if let Some(empty) = matches_empty(op, &q[j..end], cache) {
                    out.push_str(&q[copied..i]);
                    out.push_str(if op.starts_with('!') { "!=" } else { "=" });
                    out.push_str(if empty { "\"\"" } else { "\"x\"" });
                    copied = end;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return Some(Cow::Borrowed(q));
    }
    out.push_str(&q[copied..]);
    Some(Cow::Owned(out))
}

/// Renders a query with `window=1m` and parses it as PromQL (promql-parser's
/// exact verdict; a query whose [`canonical`] form was accepted before is
/// not parsed again).
pub fn query_expression(q: &str, cache: &QueryCache) -> Result<(), String> {
    if q.is_empty() {
        return Err("query is required".into());
    }
    let rendered = template::render(q, &[("window", "1m")], false)?;
    if canonical(&rendered, cache).is_some_and(|c| cache.accepts(&c)) {
        return Ok(());
    }
    promql_parser::parser::parse(&rendered)
        .map(|_| ())
        .map_err(|e| format!("parse error: {}", e.trim()))
}

/// Renders a query with `window=1m` and parses it as MetricsQL (metricsql's verdict and message).
pub fn metricsql_expression(q: &str) -> Result<(), String> {
    if q.is_empty() {
        return Err("query is required".into());
    }
    let rendered = template::render(q, &[("window", "1m")], false)?;
    crate::metricsql::parse(&rendered)
}

fn expression(dialect: Dialect, q: &str, cache: &QueryCache) -> Result<(), String> {
    match dialect {
        Dialect::PromQl => query_expression(q, cache),
        Dialect::MetricsQl => metricsql_expression(q),
    }
}

fn alert(a: &AlertMeta, sev: &str) -> Result<(), Invalid> {
    if a.disable {
        return Ok(());
    }
    let f = |x: &str| format!("alerting.{sev}_alert.{x}");
    let wrap = |m: String| format!("invalid alert: {sev} alert: {m}");
    if a.name.is_empty() {
        return Err(invalid(
            "alerting.name",
            wrap("alert name is required".into()),
        ));
    }
    for (k, v) in &a.labels {
        label_key(k).map_err(|e| {
            invalid(
                &f("labels"),
                wrap(format!("invalid alert label key {k:?}: {e}")),
            )
        })?;
        label_value(v).map_err(|e| {
            invalid(
                &f("labels"),
                wrap(format!("invalid alert label value {v:?}: {e}")),
            )
        })?;
    }
    for (k, v) in &a.annotations {
        if k.is_empty() {
            return Err(invalid(
                &f("annotations"),
                wrap(format!(
                    "invalid alert annotation key {k:?}: the annotation key {k:?} is not valid"
                )),
            ));
        }
        if v.is_empty() {
            return Err(invalid(
                &f("annotations"),
                wrap(format!(
                    "invalid alert annotation value {v:?}: the annotation value is required"
                )),
            ));
        }
    }
    Ok(())
}

/// Validates one SLO exactly in sloth's order, its queries as PromQL.
pub fn validate_slo(slo: &Slo, queries: &QueryCache) -> Result<(), Invalid> {
    validate_slo_in(slo, Dialect::PromQl, queries)
}

/// Validates one SLO exactly in sloth's order, its queries in `dialect`.
pub fn validate_slo_in(slo: &Slo, dialect: Dialect, queries: &QueryCache) -> Result<(), Invalid> {
    valid_name(&slo.id).map_err(|e| invalid("name", format!("invalid SLO ID: {e}")))?;
    valid_name(&slo.name).map_err(|e| invalid("name", format!("invalid SLO name: {e}")))?;
    valid_name(&slo.service)
        .map_err(|e| invalid("service", format!("invalid SLO service: {e}")))?;
    if slo.period.0 == 0 {
        return Err(invalid("period", "time window is required"));
    }
    if slo.objective <= 0.0 || slo.objective > 100.0 {
        return Err(invalid("objective", "objective must >0 and <=100"));
    }
    for (k, v) in &slo.labels {
        label_key(k).map_err(|e| invalid("labels", format!("invalid SLO label key {k:?}: {e}")))?;
        label_value(v)
            .map_err(|e| invalid("labels", format!("invalid SLO label value {v:?}: {e}")))?;
    }
    let sli_err = |field: &str, m: String| invalid(field, format!("invalid SLI: {m}"));
    match (&slo.sli.events, &slo.sli.raw) {
        (None, None) => return Err(sli_err("sli", "at least one SLI type is required".into())),
        (Some(_), Some(_)) => return Err(sli_err("sli", "only one SLI type is allowed".into())),
        (Some(e), None) => {
            if e.error_query == e.total_query {
                return Err(sli_err(
                    "sli.events",
                    "both error and total queries can't be the same".into(),
                ));
            }
            query_template(&e.error_query).map_err(|m| {
                sli_err(
                    "sli.events.error_query",
                    format!("sli error query template: {m}"),
                )
            })?;
            query_template(&e.total_query).map_err(|m| {
                sli_err(
                    "sli.events.total_query",
                    format!("sli total query template: {m}"),
                )
            })?;
            expression(dialect, &e.error_query, queries).map_err(|m| {
                sli_err(
                    "sli.events.error_query",
                    format!("sli error query expression: {m}"),
                )
            })?;
            expression(dialect, &e.total_query, queries).map_err(|m| {
                sli_err(
                    "sli.events.total_query",
                    format!("sli total query expression: {m}"),
                )
            })?;
        }
        (None, Some(r)) => {
            query_template(r).map_err(|m| {
                sli_err(
                    "sli.raw.error_ratio_query",
                    format!("sli raw query template: {m}"),
                )
            })?;
            expression(dialect, r, queries).map_err(|m| {
                sli_err(
                    "sli.raw.error_ratio_query",
                    format!("sli raw query expression: {m}"),
                )
            })?;
        }
    }
    alert(&slo.page, "page")?;
    alert(&slo.ticket, "ticket")?;
    if slo.plugins.override_plugins && slo.plugins.plugins.is_empty() {
        return Err(invalid(
            "plugins",
            "invalid plugins: override plugins is set but no plugins are defined",
        ));
    }
    if slo.plugins.plugins.iter().any(|p| p.id.is_empty()) {
        return Err(invalid(
            "plugins.chain.id",
            "invalid plugins: plugin ID is required",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::Duration;
    use crate::model::Events;

    fn slo() -> Slo {
        Slo {
            id: "svc-slo1".into(),
            name: "slo1".into(),
            service: "svc".into(),
            period: Duration(1),
            objective: 99.9,
            sli: crate::model::Sli {
                events: Some(Events {
                    error_query: "sum(rate(x{code=\"5xx\"}[{{.window}}]))".into(),
                    total_query: "sum(rate(x[{{.window}}]))".into(),
                }),
                raw: None,
                latency: None,
            },
            page: AlertMeta {
                disable: true,
                ..Default::default()
            },
            ticket: AlertMeta {
                disable: true,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn checks_in_order() {
        assert_eq!(validate_slo(&slo(), &QueryCache::default()), Ok(()));
        let mut s = slo();
        s.objective = 101.0;
        assert_eq!(
            validate_slo(&s, &QueryCache::default()).unwrap_err().msg,
            "objective must >0 and <=100"
        );
        let mut s = slo();
        s.id = "-slo1".into();
        s.service = String::new();
        assert!(validate_slo(&s, &QueryCache::default())
            .unwrap_err()
            .msg
            .starts_with("invalid SLO ID"));
        let mut s = slo();
        s.sli.events = Some(Events {
            error_query: "sum(rate(x[{{.window}}])".into(),
            total_query: "sum(rate(x[{{.window}}]))".into(),
        });
        assert!(validate_slo(&s, &QueryCache::default())
            .unwrap_err()
            .msg
            .contains("sli error query expression"));
        let mut s = slo();
        s.page = AlertMeta::default();
        assert_eq!(
            validate_slo(&s, &QueryCache::default()).unwrap_err().msg,
            "invalid alert: page alert: alert name is required"
        );
    }

    #[test]
    fn cached_verdicts_agree_with_the_parser() {
        let cache = QueryCache::default();
        let queries = [
            r#"sum(rate(x{code=~"(5..|429)"}[1m]))"#,
            r#"sum(rate(x{code=~"(5..|429)", job!~'a|b'}[1m]))"#,
            r#"x{code=~"("}"#,
            r#"x{code=~"\q"}"#,
            r#"{code=~".*"}"#,
            r#"{code=~".+"}"#,
            r#"{code!~"x"}"#,
            r#"{code!~".*"}"#,
            r#"{code =~ `5..`}"#,
            r#"x{a="=~\"(\""}"#,
            "x{a=\"b\"} # =~ \"(\"\n",
            r#"x{a=~"unterminated}"#,
            r#"x=~"a""#,
            r#"up !~ "x""#,
            r#"up != "x""#,
            r#"{a=~".*" or b!~"x"}"#,
            r#"{a=~".*" or b=~"x"}"#,
            r#"foo{__name__=~"bar"}"#,
            r#"x{a=~"a{2}b{bbb}"}"#,
            r#"{a="b"}"#,
            r#"{a=""}"#,
            r#"{a!=""}"#,
            r#"{a!="b"}"#,
            r#"{a = 'b', c!=`d`}"#,
            r#"foo{__name__="bar"}"#,
            r#"{__name__="bar"}"#,
            r#"{a="\q"}"#,
            r#"{a="\n"}"#,
            "{a=\"b\nc\"}",
            r#"{a="é"}"#,
            r#"{"a"="b"}"#,
            r#"x{a=="b"}"#,
            r#"x{a=b}"#,
            r#"x{a="b",}"#,
            r#"sum(rate(x{job="a",handler="/api/1",code=~"(5..|429)"}[1m]))"#,
            r#"sum(rate(x{job="b",handler="/api/2",code=~"(5..|429)"}[1m]))"#,
            r#"sum(rate(x{job="",handler="",code=~"(5..|429)"}[1m]))"#,
            r#"label_replace(x{a="b"}, "dst", "$1", "src", "(.*)")"#,
        ];
        for q in queries {
            let full = promql_parser::parser::parse(q)
                .map(|_| ())
                .map_err(|e| format!("parse error: {}", e.trim()));
            for _ in 0..2 {
                assert_eq!(query_expression(q, &cache), full, "{q}");
            }
        }
        assert!(cache.regexes.lock().unwrap().contains_key("\"(5..|429)\""));
        // Queries differing only in label values were parsed once.
        assert!(cache
            .accepted
            .lock()
            .unwrap()
            .contains(r#"sum(rate(x{job="x",handler="x",code="x"}[1m]))"#));
        assert!(cache.accepted.lock().unwrap().contains(r#"{a="x"}"#));
        assert!(!cache.accepted.lock().unwrap().contains(r#"{a=""}"#));
    }
}
