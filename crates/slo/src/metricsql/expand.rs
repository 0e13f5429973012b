//! `WITH` template expansion (`metricsql`'s `expandWithExpr`): string
//! concatenation, label filters resolved to values (regexps checked),
//! metric names and durations resolved through templates, templates called
//! like functions.

use std::rc::Rc;

use super::ast::{
    BinaryOpExpr, DurationExpr, Expr, LabelFilter, LabelFilterExpr, MetricExpr, StringExpr,
    WithArgExpr,
};
use super::lexer::is_string_prefix;
use super::parser::duration_from_number;
use crate::gostrconv::quote;

type Result<T> = std::result::Result<T, String>;
type Was = [Rc<WithArgExpr>];

/// The value of a string literal token (Go `strconv.Unquote`; `'...'` as metricsql rewrites it).
pub(super) fn string_value(token: &str) -> Result<String> {
    if !is_string_prefix(token) {
        return Err(format!(
            "StringExpr must contain only string literals; got {}",
            quote(token)
        ));
    }
    let rewritten;
    let t = if let Some(inner) = token.strip_prefix('\'') {
        let Some(inner) = inner.strip_suffix('\'') else {
            return Err(format!(
                "string literal contains unexpected trailing char; got {}",
                quote(token)
            ));
        };
        rewritten = format!("\"{}\"", inner.replace("\\'", "'").replace('"', "\\\""));
        rewritten.as_str()
    } else {
        token
    };
    go_unquote(t).ok_or_else(|| format!("cannot parse string literal {}: invalid syntax", quote(t)))
}

/// Go's `strconv.Unquote` for `"..."` and backtick literals.
fn go_unquote(s: &str) -> Option<String> {
    if let Some(raw) = s.strip_prefix('`') {
        let raw = raw.strip_suffix('`')?;
        if raw.contains('`') {
            return None;
        }
        return Some(raw.replace('\r', ""));
    }
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\n') {
        return None;
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => return None,
            '\\' => {
                let e = chars.next()?;
                match e {
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\u{b}'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut v = 0u32;
                        for _ in 0..n {
                            v = v << 4 | chars.next()?.to_digit(16)?;
                        }
                        if e == 'x' {
                            // A byte; only ASCII keeps the result valid UTF-8 here.
                            out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{fffd}'));
                        } else {
                            out.push(char::from_u32(v)?);
                        }
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v << 3 | chars.next()?.to_digit(8)?;
                        }
                        if v > 255 {
                            return None;
                        }
                        out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{fffd}'));
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

fn find<'a>(was: &'a Was, name: &str) -> Option<&'a Rc<WithArgExpr>> {
    was.iter().rev().find(|wa| wa.name == name)
}

fn expand_all(was: &Was, args: &[Expr]) -> Result<Vec<Expr>> {
    args.iter().map(|a| expand(was, a)).collect()
}

/// Expands every `WITH` template in `e` given the templates in scope.
pub(super) fn expand(was: &Was, e: &Expr) -> Result<Expr> {
    match e {
        Expr::Binary(b) => expand_binary(was, b),
        Expr::Func(fe) => {
            let args = expand_all(was, &fe.args)?;
            if let Some(wa) = find(was, &fe.name) {
                return expand_template(was, wa, Some(args));
            }
            let mut fe = fe.clone();
            fe.args = args;
            Ok(Expr::Func(fe))
        }
        Expr::Aggr(ae) => {
            let args = expand_all(was, &ae.args)?;
            if let Some(wa) = find(was, &ae.name) {
                return expand_template(was, wa, Some(args));
            }
            let mut ae = ae.clone();
            ae.modifier.args = expand_modifier_args(was, &ae.modifier.args)?;
            ae.args = args;
            Ok(Expr::Aggr(ae))
        }
        Expr::Parens(args) => Ok(Expr::Parens(expand_all(was, args)?)),
        Expr::Str(se) => expand_string(was, se).map(Expr::Str),
        Expr::Rollup(re) => {
            let mut re = re.clone();
            re.expr = expand(was, &re.expr)?;
            re.window = expand_duration(was, re.window.take())
                .map_err(|e| format!("cannot parse window for {}: {e}", re.expr))?;
            re.step = expand_duration(was, re.step.take())
                .map_err(|e| format!("cannot parse step in {}: {e}", re.expr))?;
            re.offset = expand_duration(was, re.offset.take())
                .map_err(|e| format!("cannot parse offset in {}: {e}", re.expr))?;
            if let Some(at) = &re.at {
                re.at = Some(expand(was, at)?);
            }
            Ok(Expr::Rollup(re))
        }
        Expr::With(we) => {
            let mut inner: Vec<Rc<WithArgExpr>> = was.to_vec();
            inner.extend(we.was.iter().cloned());
            expand(&inner, &we.expr)
        }
        Expr::Metric(me) => expand_metric(was, me),
        Expr::Number(..) | Expr::Duration(_) => Ok(e.clone()),
    }
}

fn expand_binary(was: &Was, t: &BinaryOpExpr) -> Result<Expr> {
    let left = expand(was, &t.left)?;
    let right = expand(was, &t.right)?;
    let group_args = expand_modifier_args(was, &t.group.args)?;
    let join_args = expand_modifier_args(was, &t.join.args)?;
    let mut prefix = None;
    if let Some(p) = &t.join_prefix {
        match expand(was, &Expr::Str(p.clone()))? {
            Expr::Str(se) => prefix = Some(se),
            other => {
                return Err(format!(
                    "unexpected prefix for {}; want quoted string; got {other}",
                    t.join
                ))
            }
        }
    }
    if t.op == "+" {
        if let (Expr::Str(l), Expr::Str(r)) = (&left, &right) {
            return Ok(Expr::Str(StringExpr {
                s: format!("{}{}", l.s, r.s),
                tokens: Vec::new(),
            }));
        }
    }
    let mut be = t.clone();
    be.left = left;
    be.right = right;
    be.group.args = group_args;
    be.join.args = join_args;
    be.join_prefix = prefix;
    Ok(Expr::Parens(vec![Expr::Binary(Box::new(be))]))
}

fn expand_string(was: &Was, se: &StringExpr) -> Result<StringExpr> {
    if !se.s.is_empty() {
        return Ok(se.clone());
    }
    let mut s = String::new();
    for token in &se.tokens {
        if is_string_prefix(token) {
            s.push_str(&string_value(token)?);
            continue;
        }
        let wa = find(was, token)
            .ok_or_else(|| format!("missing {} value inside StringExpr", quote(token)))?;
        match expand_template(was, wa, None)? {
            Expr::Str(src) => s.push_str(&src.s),
            other => {
                return Err(format!(
                    "{} must be string expression; got {}",
                    quote(token),
                    quote(&other.to_string())
                ))
            }
        }
    }
    Ok(StringExpr {
        s,
        tokens: Vec::new(),
    })
}

fn expand_duration(was: &Was, d: Option<DurationExpr>) -> Result<Option<DurationExpr>> {
    let Some(d) = d else {
        return Ok(None);
    };
    if !d.needs_parsing {
        return Ok(Some(d));
    }
    let wa =
        find(was, &d.s).ok_or_else(|| format!("cannot find WITH template for {}", quote(&d.s)))?;
    match expand_template(was, wa, Some(Vec::new()))? {
        Expr::Duration(t) => Ok(Some(t)),
        Expr::Number(_, s) => duration_from_number(&s).map(Some),
        other => Err(format!(
            "unexpected value for WITH template {}; got {other}; want duration",
            quote(&d.s)
        )),
    }
}

fn expand_modifier_args(was: &Was, args: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(args.len());
    let cannot = |e: &Expr, arg: &str| {
        format!(
            "cannot use {} instead of {} in [{}]",
            quote(&e.to_string()),
            quote(arg),
            args.join(" ")
        )
    };
    for arg in args {
        let Some(wa) = find(was, arg).filter(|wa| wa.args.is_empty()) else {
            out.push(arg.clone());
            continue;
        };
        match &wa.expr {
            Expr::Metric(me) => {
                let me = resolved(me);
                if !me.is_only_metric_name() {
                    return Err(cannot(&wa.expr, arg));
                }
                out.push(me.metric_name().to_string());
            }
            Expr::Parens(pe) => {
                for p in pe {
                    match p {
                        Expr::Metric(me) if resolved(me).is_only_metric_name() => {
                            out.push(resolved(me).metric_name().to_string());
                        }
                        _ => return Err(cannot(&wa.expr, arg)),
                    }
                }
            }
            other => return Err(cannot(other, arg)),
        }
    }
    let mut seen = Vec::with_capacity(out.len());
    out.retain(|a| {
        if seen.contains(a) {
            false
        } else {
            seen.push(a.clone());
            true
        }
    });
    Ok(out)
}

/// A parsed selector seen the way metricsql's `getMetricName` sees it before
/// expansion: only its expanded filters count, and a parsed one has none.
fn resolved(me: &MetricExpr) -> MetricExpr {
    MetricExpr {
        filters: me.filters.clone(),
        raw: Vec::new(),
    }
}

/// Calls template `wa` with `args` (`None`: referenced by name, not called).
fn expand_template(was: &Was, wa: &Rc<WithArgExpr>, args: Option<Vec<Expr>>) -> Result<Expr> {
    let n = args.as_ref().map_or(0, Vec::len);
    if wa.args.len() != n {
        let Some(_) = args else {
            return Ok(Expr::Metric(MetricExpr::named(&wa.name)));
        };
        return Err(format!(
            "invalid number of args for {}; got {n}; want {}",
            quote(&wa.name),
            wa.args.len()
        ));
    }
    let mut inner: Vec<Rc<WithArgExpr>> = was
        .iter()
        .take_while(|w| !Rc::ptr_eq(w, wa))
        .cloned()
        .collect();
    for (name, arg) in wa.args.iter().zip(args.unwrap_or_default()) {
        inner.push(Rc::new(WithArgExpr {
            name: name.clone(),
            args: Vec::new(),
            expr: arg,
        }));
    }
    expand(&inner, &wa.expr)
}

fn check_and_prepend_metric_name(
    lfs: &mut Vec<LabelFilter>,
    current: &mut String,
    name: &str,
) -> Result<()> {
    if !current.is_empty() && current != name {
        return Err(format!(
            "parse error: metric name must not be set twice: {} or {}",
            quote(current),
            quote(name)
        ));
    }
    lfs.insert(0, name_filter(name));
    *current = name.to_string();
    Ok(())
}

fn name_filter(name: &str) -> LabelFilter {
    LabelFilter {
        label: "__name__".into(),
        value: name.into(),
        is_negative: false,
        is_regexp: false,
    }
}

fn dedup_filters(lfs: Vec<LabelFilter>) -> Vec<LabelFilter> {
    let mut out: Vec<LabelFilter> = Vec::with_capacity(lfs.len());
    for lf in lfs {
        if !out.contains(&lf) {
            out.push(lf);
        }
    }
    out
}

/// The last line of a `regex` error, without its `error: ` label.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// A label filter with its value expanded; regexps must compile (anchored).
fn to_label_filter(was: &Was, lfe: &LabelFilterExpr, value: &StringExpr) -> Result<LabelFilter> {
    let value = expand_string(was, value)?.s;
    if lfe.is_regexp {
        regex::Regex::new(&format!("^(?:{value})$")).map_err(|e| {
            format!(
                "invalid regexp in {}={}: {}",
                lfe.label,
                quote(&value),
                regex_reason(&e)
            )
        })?;
    }
    Ok(LabelFilter {
        label: lfe.label.clone(),
        value,
        is_negative: lfe.is_negative,
        is_regexp: lfe.is_regexp,
    })
}

fn expand_metric(was: &Was, t: &MetricExpr) -> Result<Expr> {
    let t = if t.raw.is_empty() {
        t.clone()
    } else {
        expand_raw_filters(was, t)?
    };
    let metric_name = t.metric_name().to_string();
    if metric_name.is_empty() {
        return Ok(Expr::Metric(t));
    }
    let Some(wa) = find(was, &metric_name) else {
        return Ok(Expr::Metric(t));
    };
    let e_new = expand_template(was, wa, None)?;
    let (wme, rollup) = match &e_new {
        Expr::Rollup(re) => match &re.expr {
            Expr::Metric(m) => (Some(m.clone()), Some(re.clone())),
            _ => (None, Some(re.clone())),
        },
        Expr::Metric(m) => (Some(m.clone()), None),
        _ => (None, None),
    };
    let Some(wme) = wme else {
        if t.is_only_metric_name() {
            return Ok(e_new);
        }
        return Err(format!(
            "cannot expand {} to non-metric expression {}",
            quote(&Expr::Metric(t).to_string()),
            quote(&e_new.to_string())
        ));
    };
    let src = &wme.filters;
    let mut merged = Vec::new();
    if src.len() != 1 {
        if t.is_only_metric_name() {
            return Ok(e_new);
        }
        if t.filters.len() != 1 {
            return Err(format!(
                "{} mustn't contain 'or' filters; got {}",
                quote(&metric_name),
                Expr::Metric(wme.clone())
            ));
        }
        for lfs in src {
            let mut l = lfs.clone();
            l.extend(t.filters[0][1..].iter().cloned());
            merged.push(dedup_filters(l));
        }
    } else {
        for lfs in &t.filters {
            let mut l = src[0].clone();
            l.extend(lfs[1..].iter().cloned());
            merged.push(dedup_filters(l));
        }
    }
    let me = MetricExpr {
        filters: merged,
        raw: Vec::new(),
    };
    match rollup {
        None => Ok(Expr::Metric(me)),
        Some(mut re) => {
            re.expr = Expr::Metric(me);
            Ok(Expr::Rollup(re))
        }
    }
}

/// Resolves a selector's parsed filters: values, WITH references, metric names.
fn expand_raw_filters(was: &Was, t: &MetricExpr) -> Result<MetricExpr> {
    let mut me = MetricExpr::default();
    let mut common = String::new();
    let mut have_common = true;
    for lfes in &t.raw {
        let mut local = String::new();
        let mut lfs: Vec<LabelFilter> = Vec::new();
        for lfe in lfes {
            let Some(value) = &lfe.value else {
                let Some(wa) = find(was, &lfe.label) else {
                    if lfe.is_possible_metric_name {
                        check_and_prepend_metric_name(&mut lfs, &mut local, &lfe.label)?;
                        continue;
                    }
                    return Err(format!(
                        "cannot find WITH template for {} inside {}",
                        quote(&lfe.label),
                        quote(&Expr::Metric(t.clone()).to_string())
                    ));
                };
                let e_new = expand_template(was, wa, Some(Vec::new()))?;
                let wme = match &e_new {
                    Expr::Metric(m) if m.metric_name().is_empty() => m,
                    _ => {
                        return Err(format!(
                            "WITH template {} inside {} must be {{...}}; got {}",
                            quote(&lfe.label),
                            quote(&Expr::Metric(t.clone()).to_string()),
                            quote(&e_new.to_string())
                        ))
                    }
                };
                if wme.filters.len() > 1 {
                    return Err(format!(
                        "WITH template {} at {} must be {{...}} without 'or'; got {}",
                        quote(&lfe.label),
                        quote(&Expr::Metric(t.clone()).to_string()),
                        e_new
                    ));
                }
                if let Some(first) = wme.filters.first() {
                    lfs.extend(first.iter().cloned());
                }
                continue;
            };
            let lf = to_label_filter(was, lfe, value)?;
            if lf.is_metric_name_filter() {
                check_and_prepend_metric_name(&mut lfs, &mut local, &lf.value)?;
            } else {
                lfs.push(lf);
            }
        }
        if have_common && !local.is_empty() {
            if common.is_empty() {
                common = local;
            } else if common != local {
                have_common = false;
            }
        }
        me.filters.push(dedup_filters(lfs));
    }
    if have_common && !common.is_empty() {
        for lfs in &mut me.filters {
            if !lfs.iter().any(|lf| lf.label == "__name__") {
                lfs.insert(0, name_filter(&common));
            }
        }
    }
    Ok(me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_like_go() {
        assert_eq!(string_value(r#""a\"b\n""#).unwrap(), "a\"b\n");
        assert_eq!(string_value(r"'it\'s'").unwrap(), "it's");
        assert_eq!(string_value("'say \"hi\"'").unwrap(), "say \"hi\"");
        assert_eq!(string_value("`raw\\n`").unwrap(), "raw\\n");
        assert_eq!(string_value(r#""\u00e9\x41\101""#).unwrap(), "éAA");
        assert_eq!(
            string_value(r#""\q""#).unwrap_err(),
            r#"cannot parse string literal "\"\\q\"": invalid syntax"#
        );
        assert!(string_value(r#""\'""#).is_err());
    }
}
