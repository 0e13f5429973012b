//! The MetricsQL syntax tree (`metricsql`'s `Expr` types) and its printed
//! form (`AppendString`), which metricsql's error messages quote.

use std::fmt::{self, Display, Formatter, Write};
use std::rc::Rc;

use super::lexer::{
    binary_op_priority, escaped_ident, has_escaped_chars, is_reserved_binary_op_ident,
};
use crate::gostrconv::{format_g, quote};

/// A string literal, or before WITH expansion the tokens of `"a" + b + 'c'`.
#[derive(Debug, Clone, Default)]
pub(super) struct StringExpr {
    /// The value once expanded.
    pub s: String,
    /// The unexpanded tokens (string literals and WITH names).
    pub tokens: Vec<String>,
}

/// A duration as written (`5m`, `-1h`), or a WITH name still to resolve.
#[derive(Debug, Clone)]
pub(super) struct DurationExpr {
    /// The text.
    pub s: String,
    /// True while `s` is a WITH name.
    pub needs_parsing: bool,
}

/// `label op value` before WITH expansion; `value` is `None` for a bare WITH name.
#[derive(Debug, Clone)]
pub(super) struct LabelFilterExpr {
    /// Label name or WITH name.
    pub label: String,
    /// The value, absent for a WITH reference.
    pub value: Option<StringExpr>,
    /// `=~` or `!~`.
    pub is_regexp: bool,
    /// `!=` or `!~`.
    pub is_negative: bool,
    /// A quoted name alone in braces (`{"metric"}`).
    pub is_possible_metric_name: bool,
}

/// An expanded label filter.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LabelFilter {
    /// Label name.
    pub label: String,
    /// Value or regexp.
    pub value: String,
    /// `!=` or `!~`.
    pub is_negative: bool,
    /// `=~` or `!~`.
    pub is_regexp: bool,
}

impl LabelFilter {
    /// `__name__="..."`.
    pub(super) fn is_metric_name_filter(&self) -> bool {
        self.label == "__name__" && !self.is_negative && !self.is_regexp
    }
}

/// A series selector: `or`-separated groups of filters (expanded), or raw filters before expansion.
#[derive(Debug, Clone, Default)]
pub(super) struct MetricExpr {
    /// Expanded filters.
    pub filters: Vec<Vec<LabelFilter>>,
    /// Filters as parsed, before WITH expansion.
    pub raw: Vec<Vec<LabelFilterExpr>>,
}

impl MetricExpr {
    /// A selector of one metric name.
    pub(super) fn named(name: &str) -> MetricExpr {
        MetricExpr {
            filters: vec![vec![LabelFilter {
                label: "__name__".into(),
                value: name.into(),
                is_negative: false,
                is_regexp: false,
            }]],
            raw: Vec::new(),
        }
    }

    /// The metric name every `or` group agrees on, or empty.
    pub(super) fn metric_name(&self) -> &str {
        let Some(first) = self.filters.first() else {
            return "";
        };
        match first.first() {
            Some(lf) if lf.is_metric_name_filter() => {
                let name = lf.value.as_str();
                let agree = self.filters[1..].iter().all(|lfs| {
                    lfs.first()
                        .is_some_and(|l| l.is_metric_name_filter() && l.value == name)
                });
                if agree {
                    name
                } else {
                    ""
                }
            }
            _ => "",
        }
    }

    /// Only a metric name, no other filter.
    pub(super) fn is_only_metric_name(&self) -> bool {
        !self.metric_name().is_empty() && self.filters.iter().all(|lfs| lfs.len() <= 1)
    }
}

/// `by (...)`, `on (...)`, `group_left (...)`.
#[derive(Debug, Clone, Default)]
pub(super) struct ModifierExpr {
    /// The keyword, lower case; empty when absent.
    pub op: String,
    /// The label names.
    pub args: Vec<String>,
}

/// `left op right` with its modifiers.
#[derive(Debug, Clone)]
pub(super) struct BinaryOpExpr {
    /// Operator, lower case.
    pub op: String,
    /// `bool`.
    pub bool_modifier: bool,
    /// `on`/`ignoring`.
    pub group: ModifierExpr,
    /// `group_left`/`group_right`.
    pub join: ModifierExpr,
    /// `prefix "..."` after the join modifier.
    pub join_prefix: Option<StringExpr>,
    /// `keep_metric_names`.
    pub keep_metric_names: bool,
    /// Left operand.
    pub left: Expr,
    /// Right operand.
    pub right: Expr,
}

/// `name(args)`.
#[derive(Debug, Clone)]
pub(super) struct FuncExpr {
    /// Function name as written.
    pub name: String,
    /// Arguments.
    pub args: Vec<Expr>,
    /// `keep_metric_names`.
    pub keep_metric_names: bool,
}

/// `aggr(args) by (...) limit N`.
#[derive(Debug, Clone)]
pub(super) struct AggrFuncExpr {
    /// Function name, lower case.
    pub name: String,
    /// Arguments.
    pub args: Vec<Expr>,
    /// `by`/`without`.
    pub modifier: ModifierExpr,
    /// `limit N`.
    pub limit: i64,
}

/// `expr[window:step] @ at offset d`.
#[derive(Debug, Clone)]
pub(super) struct RollupExpr {
    /// The expression rolled up.
    pub expr: Expr,
    /// Lookbehind window.
    pub window: Option<DurationExpr>,
    /// Offset.
    pub offset: Option<DurationExpr>,
    /// Subquery step.
    pub step: Option<DurationExpr>,
    /// `[w:]`.
    pub inherit_step: bool,
    /// `@` time.
    pub at: Option<Expr>,
}

/// One `name(args) = expr` of a `WITH`.
#[derive(Debug)]
pub(super) struct WithArgExpr {
    /// Template name.
    pub name: String,
    /// Parameter names.
    pub args: Vec<String>,
    /// Body.
    pub expr: Expr,
}

/// `WITH (templates) expr`.
#[derive(Debug, Clone)]
pub(super) struct WithExpr {
    /// The templates.
    pub was: Vec<Rc<WithArgExpr>>,
    /// The expression they apply to.
    pub expr: Expr,
}

/// Any MetricsQL expression.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    /// A number, with its text when parsed.
    Number(f64, String),
    /// A string.
    Str(StringExpr),
    /// A bare duration.
    Duration(DurationExpr),
    /// A series selector.
    Metric(MetricExpr),
    /// A rollup or subquery.
    Rollup(Box<RollupExpr>),
    /// A binary operation.
    Binary(Box<BinaryOpExpr>),
    /// A function call.
    Func(FuncExpr),
    /// An aggregation.
    Aggr(AggrFuncExpr),
    /// `(a, b, ...)`.
    Parens(Vec<Expr>),
    /// `WITH (...) expr`.
    With(Box<WithExpr>),
}

// === printing (metricsql's AppendString) ===

impl Display for StringExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.tokens.is_empty() {
            f.write_str(&quote(&self.s))
        } else {
            f.write_str(&self.tokens.join("+"))
        }
    }
}

impl Display for DurationExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.s)
    }
}

fn filter_op(negative: bool, regexp: bool) -> &'static str {
    match (negative, regexp) {
        (true, true) => "!~",
        (true, false) => "!=",
        (false, true) => "=~",
        (false, false) => "=",
    }
}

impl Display for LabelFilterExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if has_escaped_chars(&self.label) {
            f.write_str(&quote(&self.label))?;
        } else {
            f.write_str(&escaped_ident(&self.label))?;
        }
        if let Some(v) = &self.value {
            write!(f, "{}{v}", filter_op(self.is_negative, self.is_regexp))?;
        }
        Ok(())
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            escaped_ident(&self.label),
            filter_op(self.is_negative, self.is_regexp),
            quote(&self.value)
        )
    }
}

/// The metric name of raw filters, as `getMetricNameFromLabelFilterss` finds it.
fn raw_metric_name(lfss: &[Vec<LabelFilterExpr>]) -> String {
    fn first_name(lfs: &[LabelFilterExpr]) -> String {
        let Some(lf) = lfs.first() else {
            return String::new();
        };
        match &lf.value {
            Some(v)
                if lf.label == "__name__"
                    && v.tokens.len() == 1
                    && !lf.is_regexp
                    && !lf.is_negative =>
            {
                super::expand::string_value(&v.tokens[0]).unwrap_or_default()
            }
            _ if lf.is_possible_metric_name => lf.label.clone(),
            _ => String::new(),
        }
    }
    let Some(first) = lfss.first() else {
        return String::new();
    };
    let name = first_name(first);
    if name.is_empty() || lfss[1..].iter().any(|lfs| first_name(lfs) != name) {
        return String::new();
    }
    name
}

/// Writes `or`-separated filter groups, skipping the metric name (`offset` 1) when it was printed.
fn write_groups<T: Display>(
    f: &mut Formatter<'_>,
    groups: &[Vec<T>],
    offset: usize,
) -> fmt::Result {
    for (i, lfs) in groups.iter().enumerate() {
        let lfs = lfs.get(offset..).unwrap_or_default();
        if lfs.is_empty() {
            continue;
        }
        let parts: Vec<String> = lfs.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))?;
        if i + 1 < groups.len() && groups[i + 1].len() > offset {
            f.write_str(" or ")?;
        }
    }
    Ok(())
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if !self.raw.is_empty() {
            let name = raw_metric_name(&self.raw);
            let escaped = has_escaped_chars(&name);
            let offset = usize::from(!name.is_empty());
            if !name.is_empty() {
                if escaped {
                    write!(f, "{{{}", quote(&name))?;
                } else {
                    f.write_str(&escaped_ident(&name))?;
                }
                if self.raw.iter().all(|lfs| lfs.len() <= 1) {
                    return if escaped { f.write_char('}') } else { Ok(()) };
                }
            }
            f.write_str(if escaped { ", " } else { "{" })?;
            write_groups(f, &self.raw, offset)?;
            return f.write_char('}');
        }
        if self.filters.is_empty() {
            return f.write_str("{}");
        }
        let name = self.metric_name();
        let offset = usize::from(!name.is_empty());
        f.write_str(&escaped_ident(name))?;
        if self.is_only_metric_name() {
            return Ok(());
        }
        f.write_char('{')?;
        write_groups(f, &self.filters, offset)?;
        f.write_char('}')
    }
}

impl Display for ModifierExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                if a == "*" {
                    a.clone()
                } else {
                    escaped_ident(a)
                }
            })
            .collect();
        write!(f, "{}({})", self.op, args.join(","))
    }
}

fn write_args(f: &mut Formatter<'_>, args: &[Expr]) -> fmt::Result {
    let parts: Vec<String> = args.iter().map(ToString::to_string).collect();
    write!(f, "({})", parts.join(", "))
}

fn is_leaf_simple(e: &Expr) -> bool {
    match e {
        Expr::Number(..) => true,
        Expr::Metric(m) => !is_reserved_binary_op_ident(m.metric_name()),
        Expr::Binary(b) => {
            b.group.op.is_empty()
                && !b.keep_metric_names
                && b.join.op.is_empty()
                && is_leaf_simple(&b.left)
                && is_leaf_simple(&b.right)
        }
        _ => false,
    }
}

fn needs_arg_parens(arg: &Expr, parent_op: &str) -> bool {
    match arg {
        Expr::Binary(b) => {
            binary_op_priority(&b.op) != binary_op_priority(parent_op) || !is_leaf_simple(arg)
        }
        Expr::Rollup(r) => {
            matches!(&r.expr, Expr::Binary(b) if b.keep_metric_names)
                || r.offset.is_some()
                || r.at.is_some()
        }
        _ => false,
    }
}

impl BinaryOpExpr {
    fn needs_right_parens(&self) -> bool {
        if needs_arg_parens(&self.right, &self.op) {
            return true;
        }
        match &self.right {
            Expr::Metric(m) => is_reserved_binary_op_ident(m.metric_name()),
            Expr::Func(fe) => {
                is_reserved_binary_op_ident(&fe.name)
                    || fe.keep_metric_names
                    || self.keep_metric_names
            }
            _ => false,
        }
    }

    fn fmt_plain(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if needs_arg_parens(&self.left, &self.op) {
            write!(f, "({})", self.left)?;
        } else {
            write!(f, "{}", self.left)?;
        }
        write!(f, " {}", self.op)?;
        if self.bool_modifier {
            f.write_str("bool")?;
        }
        if !self.group.op.is_empty() {
            write!(f, " {}", self.group)?;
        }
        if !self.join.op.is_empty() {
            write!(f, " {}", self.join)?;
            if let Some(p) = &self.join_prefix {
                write!(f, " prefix {p}")?;
            }
        }
        if self.needs_right_parens() {
            write!(f, " ({})", self.right)
        } else {
            write!(f, " {}", self.right)
        }
    }
}

impl Display for RollupExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let parens = match &self.expr {
            Expr::Rollup(_) | Expr::Binary(_) => true,
            Expr::Aggr(a) => !a.modifier.op.is_empty(),
            _ => false,
        };
        if parens {
            write!(f, "({})", self.expr)?;
        } else {
            write!(f, "{}", self.expr)?;
        }
        if self.window.is_some() || self.inherit_step || self.step.is_some() {
            f.write_char('[')?;
            if let Some(w) = &self.window {
                write!(f, "{w}")?;
            }
            if let Some(s) = &self.step {
                write!(f, ":{s}")?;
            } else if self.inherit_step {
                f.write_char(':')?;
            }
            f.write_char(']')?;
        }
        if let Some(o) = &self.offset {
            write!(f, " offset {o}")?;
        }
        if let Some(at) = &self.at {
            if matches!(at, Expr::Binary(_)) {
                write!(f, " @ ({at})")?;
            } else {
                write!(f, " @ {at}")?;
            }
        }
        Ok(())
    }
}

impl Display for WithArgExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&escaped_ident(&self.name))?;
        if !self.args.is_empty() {
            let args: Vec<String> = self.args.iter().map(|a| escaped_ident(a)).collect();
            write!(f, "({})", args.join(","))?;
        }
        write!(f, " = {}", self.expr)
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n, s) => {
                if s.is_empty() {
                    f.write_str(&format_g(*n))
                } else {
                    f.write_str(s)
                }
            }
            Expr::Str(s) => write!(f, "{s}"),
            Expr::Duration(d) => write!(f, "{d}"),
            Expr::Metric(m) => write!(f, "{m}"),
            Expr::Rollup(r) => write!(f, "{r}"),
            Expr::Binary(b) => {
                if b.keep_metric_names {
                    f.write_char('(')?;
                    b.fmt_plain(f)?;
                    f.write_str(") keep_metric_names")
                } else {
                    b.fmt_plain(f)
                }
            }
            Expr::Func(fe) => {
                f.write_str(&escaped_ident(&fe.name))?;
                write_args(f, &fe.args)?;
                if fe.keep_metric_names {
                    f.write_str(" keep_metric_names")?;
                }
                Ok(())
            }
            Expr::Aggr(a) => {
                f.write_str(&escaped_ident(&a.name))?;
                write_args(f, &a.args)?;
                if !a.modifier.op.is_empty() {
                    write!(f, " {}", a.modifier)?;
                }
                if a.limit > 0 {
                    write!(f, " limit {}", a.limit)?;
                }
                Ok(())
            }
            Expr::Parens(args) => write_args(f, args),
            Expr::With(w) => {
                let was: Vec<String> = w.was.iter().map(|wa| wa.to_string()).collect();
                write!(f, "WITH ({}) {}", was.join(", "), w.expr)
            }
        }
    }
}
