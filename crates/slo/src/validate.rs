//! sloth's SLO validation (`pkg/common/validation`, run by the default
//! plugin `sloth.dev/core/validate/v1`): the same checks in the same order,
//! first failure wins. Each failure carries the spec field it is about and
//! sloth's message text. PromQL is checked with the `promql-parser` crate
//! after rendering the query template with `window=1m`; regex matcher
//! literals are checked once each through a [`RegexCache`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

use crate::model::{AlertMeta, Slo};
use crate::template;

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

/// Most distinct regex literals a [`RegexCache`] remembers (later ones are checked each time).
const REGEX_CACHE_MAX: usize = 4096;

/// Remembers, for each regex matcher literal (as written, quotes included),
/// whether promql-parser accepts it and whether it matches the empty
/// string, so each distinct regex is compiled once instead of once per query
/// (promql-parser compiles every `=~`/`!~` value while parsing).
#[derive(Debug, Default)]
pub struct RegexCache {
    known: Mutex<HashMap<String, Option<bool>>>,
}

// === impl RegexCache ===

impl RegexCache {
    /// `Some(matches_empty)` for a valid regex literal, `None` for an invalid one.
    fn check(&self, literal: &str) -> Option<bool> {
        if let Some(known) = self.known.lock().ok()?.get(literal) {
            return *known;
        }
        let verdict = regex_literal_matches_empty(literal);
        if let Ok(mut known) = self.known.lock() {
            if known.len() < REGEX_CACHE_MAX {
                known.insert(literal.to_string(), verdict);
            }
        }
        verdict
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

/// The query with every regex matcher inside braces (`a=~"re"`, `a!~"re"`)
/// replaced by an equality matcher that parses the same way and compiles no
/// regex: `a=""` where the regex matches the empty string, `a="x"` where it
/// does not (`!=` for `!~`), since promql-parser's only other use of the
/// value is the "at least one non-empty matcher" check. `None` when a
/// literal is not a valid regex or not lexable: the caller then parses the
/// original.
fn without_regexes<'q>(q: &'q str, cache: &RegexCache) -> Option<Cow<'q, str>> {
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
            b'=' | b'!' if in_braces && b.get(i + 1) == Some(&b'~') => {
                let mut j = i + 2;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && is_quote(b[j]) {
                    let end = string_end(b, j)?;
                    let matches_empty = cache.check(&q[j..end])?;
                    out.push_str(&q[copied..i]);
                    out.push_str(if b[i] == b'=' { "=" } else { "!=" });
                    out.push_str(if matches_empty { "\"\"" } else { "\"x\"" });
                    copied = end;
                    i = end;
                } else {
                    i += 2;
                }
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
/// exact verdict; known-good regex literals are not compiled again).
pub fn query_expression(q: &str, regexes: &RegexCache) -> Result<(), String> {
    if q.is_empty() {
        return Err("query is required".into());
    }
    let rendered = template::render(q, &[("window", "1m")], false)?;
    if let Some(fast) = without_regexes(&rendered, regexes) {
        if promql_parser::parser::parse(&fast).is_ok() {
            return Ok(());
        }
    }
    promql_parser::parser::parse(&rendered)
        .map(|_| ())
        .map_err(|e| format!("parse error: {}", e.trim()))
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

/// Validates one SLO exactly in sloth's order.
pub fn validate_slo(slo: &Slo, regexes: &RegexCache) -> Result<(), Invalid> {
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
            query_expression(&e.error_query, regexes).map_err(|m| {
                sli_err(
                    "sli.events.error_query",
                    format!("sli error query expression: {m}"),
                )
            })?;
            query_expression(&e.total_query, regexes).map_err(|m| {
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
            query_expression(r, regexes).map_err(|m| {
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
        assert_eq!(validate_slo(&slo(), &RegexCache::default()), Ok(()));
        let mut s = slo();
        s.objective = 101.0;
        assert_eq!(
            validate_slo(&s, &RegexCache::default()).unwrap_err().msg,
            "objective must >0 and <=100"
        );
        let mut s = slo();
        s.id = "-slo1".into();
        s.service = String::new();
        assert!(validate_slo(&s, &RegexCache::default())
            .unwrap_err()
            .msg
            .starts_with("invalid SLO ID"));
        let mut s = slo();
        s.sli.events = Some(Events {
            error_query: "sum(rate(x[{{.window}}])".into(),
            total_query: "sum(rate(x[{{.window}}]))".into(),
        });
        assert!(validate_slo(&s, &RegexCache::default())
            .unwrap_err()
            .msg
            .contains("sli error query expression"));
        let mut s = slo();
        s.page = AlertMeta::default();
        assert_eq!(
            validate_slo(&s, &RegexCache::default()).unwrap_err().msg,
            "invalid alert: page alert: alert name is required"
        );
    }

    #[test]
    fn cached_regex_check_agrees_with_the_parser() {
        let cache = RegexCache::default();
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
        ];
        for q in queries {
            let full = promql_parser::parser::parse(q)
                .map(|_| ())
                .map_err(|e| format!("parse error: {}", e.trim()));
            for _ in 0..2 {
                assert_eq!(query_expression(q, &cache), full, "{q}");
            }
        }
        assert!(cache.known.lock().unwrap().contains_key("\"(5..|429)\""));
    }
}
