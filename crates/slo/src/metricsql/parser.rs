//! The MetricsQL recursive-descent parser (`metricsql`'s `parser.go`), with
//! its error texts. Every `parse_*` starts at the current token and leaves
//! the lexer on the token after what it parsed.

use std::rc::Rc;

use super::ast::{
    AggrFuncExpr, BinaryOpExpr, DurationExpr, Expr, FuncExpr, LabelFilterExpr, MetricExpr,
    ModifierExpr, RollupExpr, StringExpr, WithArgExpr, WithExpr,
};
use super::funcs::{is_aggr_func, is_aggr_func_modifier};
use super::lexer::{
    binary_op_priority, duration_value, is_binary_op, is_binary_op_cmp, is_binary_op_logical_set,
    is_bool_modifier, is_group_modifier, is_ident_prefix, is_inf_or_nan, is_join_modifier,
    is_keep_metric_names, is_offset, is_positive_duration, is_positive_number_prefix,
    is_prefix_modifier, is_special_integer_prefix, is_string_prefix, unescape_ident, Lexer,
    MULTIPLIERS,
};
use super::numbers::{parse_float, parse_int_base0};
use crate::gostrconv::quote;

type Result<T> = std::result::Result<T, String>;

/// A parser over one query.
pub(super) struct Parser {
    /// The lexer, on the current token.
    pub lex: Lexer,
}

fn is_with(s: &str) -> bool {
    s.eq_ignore_ascii_case("with")
}

fn is_quoted_string(s: &str) -> bool {
    is_string_prefix(s) && is_string_prefix(&s[s.len() - 1..])
}

/// Strips the quotes of a token `is_quoted_string` accepted.
fn unquoted(s: &str) -> String {
    s[1..s.len() - 1].to_string()
}

/// A positive number token's value (`parsePositiveNumber`), or Go's strconv error.
fn parse_positive_number(s: &str) -> Result<f64> {
    if is_special_integer_prefix(s) {
        return parse_int_base0(s)
            .map(|n| n as f64)
            .map_err(|e| e.go("ParseInt", s));
    }
    let lower = s.to_lowercase();
    let (num, m) = MULTIPLIERS
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map_or((lower.as_str(), 1.0), |(suffix, m)| {
            (&lower[..lower.len() - suffix.len()], *m)
        });
    parse_float(num)
        .map(|v| v * m)
        .map_err(|e| e.go("ParseFloat", num))
}

fn new_duration_expr(s: &str) -> Result<DurationExpr> {
    duration_value(s, 0).map_err(|e| format!("cannot parse duration {}: {e}", quote(s)))?;
    Ok(DurationExpr {
        s: s.to_string(),
        needs_parsing: false,
    })
}

/// A duration from a number of seconds written in a WITH template.
pub(super) fn duration_from_number(s: &str) -> Result<DurationExpr> {
    new_duration_expr(s)
}

fn balance_binary_op(mut be: BinaryOpExpr) -> Expr {
    let rotate = match &be.left {
        Expr::Binary(left) => {
            let lp = binary_op_priority(&left.op);
            let rp = binary_op_priority(&be.op);
            !(rp < lp || (rp == lp && be.op != "^"))
        }
        _ => false,
    };
    if !rotate {
        return Expr::Binary(Box::new(be));
    }
    let placeholder = || Expr::Number(0.0, String::new());
    let Expr::Binary(mut left) = std::mem::replace(&mut be.left, placeholder()) else {
        unreachable!("checked above");
    };
    be.left = std::mem::replace(&mut left.right, placeholder());
    left.right = balance_binary_op(be);
    Expr::Binary(left)
}

impl Parser {
    /// `WITH (name = expr, ...) expr`.
    fn parse_with_expr(&mut self) -> Result<Expr> {
        if !is_with(&self.lex.token) {
            return Err(format!(
                "withExpr: unexpected token {}; want `WITH`",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        if self.lex.token != "(" {
            return Err(format!(
                "withExpr: unexpected token {}; want \"(\"",
                quote(&self.lex.token)
            ));
        }
        let mut was = Vec::new();
        loop {
            self.lex.next()?;
            if self.lex.token == ")" {
                break;
            }
            was.push(Rc::new(self.parse_with_arg_expr()?));
            match self.lex.token.as_str() {
                "," => continue,
                ")" => break,
                t => {
                    return Err(format!(
                        "withExpr: unexpected token {}; want \",\", \")\"",
                        quote(t)
                    ))
                }
            }
        }
        check_duplicate_with_arg_names(&was)?;
        self.lex.next()?;
        let expr = self.parse_expr()?;
        Ok(Expr::With(Box::new(WithExpr { was, expr })))
    }

    /// `name(args) = expr` of a `WITH`.
    pub(super) fn parse_with_arg_expr(&mut self) -> Result<WithArgExpr> {
        if !is_ident_prefix(&self.lex.token) {
            return Err(format!(
                "withArgExpr: unexpected token {}; want \"ident\"",
                quote(&self.lex.token)
            ));
        }
        let name = unescape_ident(&self.lex.token);
        self.lex.next()?;
        let mut args = Vec::new();
        if self.lex.token == "(" {
            args = self
                .parse_ident_list(false)
                .map_err(|e| format!("withArgExpr: cannot parse args for {}: {e}", quote(&name)))?;
            for (i, a) in args.iter().enumerate() {
                if args[..i].contains(a) {
                    return Err(format!(
                        "withArgExpr: duplicate func arg found in {}: {}",
                        quote(&name),
                        quote(a)
                    ));
                }
            }
        }
        if self.lex.token != "=" {
            return Err(format!(
                "withArgExpr: unexpected token {}; want \"=\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        let expr = self
            .parse_expr()
            .map_err(|e| format!("withArgExpr: cannot parse {}: {e}", quote(&name)))?;
        Ok(WithArgExpr { name, args, expr })
    }

    /// An expression with binary operators.
    pub(super) fn parse_expr(&mut self) -> Result<Expr> {
        let mut e = self.parse_single_expr()?;
        loop {
            if !is_binary_op(&self.lex.token) {
                return Ok(e);
            }
            let op = self.lex.token.to_lowercase();
            self.lex.next()?;
            let mut be = BinaryOpExpr {
                op,
                bool_modifier: false,
                group: ModifierExpr::default(),
                join: ModifierExpr::default(),
                join_prefix: None,
                keep_metric_names: false,
                left: e,
                right: Expr::Number(0.0, String::new()),
            };
            if is_bool_modifier(&self.lex.token) {
                if !is_binary_op_cmp(&be.op) {
                    return Err(format!(
                        "bool modifier cannot be applied to {}",
                        quote(&be.op)
                    ));
                }
                be.bool_modifier = true;
                self.lex.next()?;
            }
            if is_group_modifier(&self.lex.token) {
                self.parse_modifier_expr(&mut be.group, false)?;
                if is_join_modifier(&self.lex.token) {
                    if is_binary_op_logical_set(&be.op) {
                        return Err(format!(
                            "modifier {} cannot be applied to {}",
                            quote(&self.lex.token),
                            quote(&be.op)
                        ));
                    }
                    self.parse_modifier_expr(&mut be.join, true)?;
                    if is_prefix_modifier(&self.lex.token) {
                        self.lex
                            .next()
                            .map_err(|e| format!("cannot read prefix for {}: {e}", be.join))?;
                        let se = self
                            .parse_string_expr()
                            .map_err(|e| format!("cannot parse prefix for {}: {e}", be.join))?;
                        be.join_prefix = Some(se);
                    }
                }
            }
            be.right = self.parse_single_expr()?;
            if is_keep_metric_names(&self.lex.token) {
                be.keep_metric_names = true;
                self.lex.next()?;
            }
            e = balance_binary_op(be);
        }
    }

    /// An expression without binary operators, with its rollup suffix.
    fn parse_single_expr(&mut self) -> Result<Expr> {
        if is_with(&self.lex.token) {
            let r = self.lex.next();
            let next_is_paren = self.lex.token == "(";
            self.lex.prev();
            if r.is_ok() && next_is_paren {
                return self.parse_with_expr();
            }
        }
        let e = self.parse_single_expr_without_rollup_suffix()?;
        let t = self.lex.token.as_str();
        if t != "[" && t != "@" && !is_offset(t) {
            return Ok(e);
        }
        self.parse_rollup_expr(e)
    }

    fn parse_single_expr_without_rollup_suffix(&mut self) -> Result<Expr> {
        let t = self.lex.token.clone();
        if is_positive_duration(&t) {
            return self.parse_positive_duration().map(Expr::Duration);
        }
        if is_string_prefix(&t) {
            return self.parse_string_expr().map(Expr::Str);
        }
        if is_positive_number_prefix(&t) || is_inf_or_nan(&t) {
            return self.parse_positive_number_expr();
        }
        if is_ident_prefix(&t) {
            return self.parse_ident_expr();
        }
        match t.as_str() {
            "(" => self.parse_parens_expr(),
            "{" => self.parse_metric_expr().map(Expr::Metric),
            "-" => {
                self.lex.next()?;
                let e = self.parse_single_expr()?;
                Ok(Expr::Binary(Box::new(BinaryOpExpr {
                    op: "-".into(),
                    bool_modifier: false,
                    group: ModifierExpr::default(),
                    join: ModifierExpr::default(),
                    join_prefix: None,
                    keep_metric_names: false,
                    left: Expr::Number(0.0, String::new()),
                    right: e,
                })))
            }
            "+" => {
                self.lex.next()?;
                self.parse_single_expr()
            }
            _ => Err(format!(
                "singleExpr: unexpected token {}; want \"(\", \"{{\", \"-\", \"+\"",
                quote(&t)
            )),
        }
    }

    fn parse_positive_number_expr(&mut self) -> Result<Expr> {
        let s = self.lex.token.clone();
        if !is_positive_number_prefix(&s) && !is_inf_or_nan(&s) {
            return Err(format!(
                "positiveNumberExpr: unexpected token {}; want \"number\"",
                quote(&s)
            ));
        }
        let n = parse_positive_number(&s)
            .map_err(|e| format!("positivenumberExpr: cannot parse {}: {e}", quote(&s)))?;
        self.lex.next()?;
        Ok(Expr::Number(n, s))
    }

    /// `"a" + "b"`, or string literals and WITH names joined by `+`.
    fn parse_string_expr(&mut self) -> Result<StringExpr> {
        let mut se = StringExpr::default();
        loop {
            let t = &self.lex.token;
            if is_string_prefix(t) || is_ident_prefix(t) {
                se.tokens.push(t.clone());
            } else {
                return Err(format!(
                    "StringExpr: unexpected token {}; want \"string\"",
                    quote(t)
                ));
            }
            self.lex.next()?;
            if self.lex.token != "+" {
                return Ok(se);
            }
            self.lex.next()?;
            if is_string_prefix(&self.lex.token) {
                continue;
            }
            if !is_ident_prefix(&self.lex.token) {
                self.lex.prev();
                return Ok(se);
            }
            self.lex.next()?;
            if self.lex.token == "(" || self.lex.token == "{" {
                self.lex.prev();
                self.lex.prev();
                return Ok(se);
            }
            self.lex.prev();
        }
    }

    fn parse_parens_expr(&mut self) -> Result<Expr> {
        if self.lex.token != "(" {
            return Err(format!(
                "parensExpr: unexpected token {}; want \"(\"",
                quote(&self.lex.token)
            ));
        }
        let mut exprs = Vec::new();
        loop {
            self.lex.next()?;
            if self.lex.token == ")" {
                break;
            }
            exprs.push(self.parse_expr()?);
            match self.lex.token.as_str() {
                "," => continue,
                ")" => break,
                t => {
                    return Err(format!(
                        "parensExpr: unexpected token {}; want \",\" or \")\"",
                        quote(t)
                    ))
                }
            }
        }
        self.lex.next()?;
        if let [Expr::Binary(be)] = exprs.as_mut_slice() {
            if is_keep_metric_names(&self.lex.token) {
                self.lex.next()?;
                be.keep_metric_names = true;
            }
        }
        Ok(Expr::Parens(exprs))
    }

    fn parse_aggr_func_expr(&mut self) -> Result<Expr> {
        if !is_aggr_func(&self.lex.token) {
            return Err(format!(
                "AggrFuncExpr: unexpected token {}; want aggregate func",
                quote(&self.lex.token)
            ));
        }
        let mut ae = AggrFuncExpr {
            name: unescape_ident(&self.lex.token).to_lowercase(),
            args: Vec::new(),
            modifier: ModifierExpr::default(),
            limit: 0,
        };
        self.lex.next()?;
        if is_ident_prefix(&self.lex.token) {
            if !is_aggr_func_modifier(&self.lex.token) {
                return Err(format!(
                    "AggrFuncExpr: unexpected token {}; want aggregate func modifier",
                    quote(&self.lex.token)
                ));
            }
            self.parse_modifier_expr(&mut ae.modifier, false)?;
        } else if self.lex.token != "(" {
            return Err(format!(
                "AggrFuncExpr: unexpected token {}; want \"(\"",
                quote(&self.lex.token)
            ));
        }
        ae.args = self.parse_arg_list_expr()?;
        if ae.modifier.op.is_empty() && is_aggr_func_modifier(&self.lex.token) {
            self.parse_modifier_expr(&mut ae.modifier, false)?;
        }
        if self.lex.token.eq_ignore_ascii_case("limit") {
            self.lex.next()?;
            let t = self.lex.token.clone();
            ae.limit = go_atoi(&t).map_err(|e| format!("cannot parse limit {}: {e}", quote(&t)))?;
            self.lex.next()?;
        }
        Ok(Expr::Aggr(ae))
    }

    fn parse_func_expr(&mut self) -> Result<Expr> {
        if !is_ident_prefix(&self.lex.token) {
            return Err(format!(
                "FuncExpr: unexpected token {}; want \"ident\"",
                quote(&self.lex.token)
            ));
        }
        let name = unescape_ident(&self.lex.token);
        self.lex.next()?;
        if self.lex.token != "(" {
            return Err(format!(
                "FuncExpr; unexpected token {}; want \"(\"",
                quote(&self.lex.token)
            ));
        }
        let args = self.parse_arg_list_expr()?;
        let mut keep_metric_names = false;
        if is_keep_metric_names(&self.lex.token) {
            keep_metric_names = true;
            self.lex.next()?;
        }
        Ok(Expr::Func(FuncExpr {
            name,
            args,
            keep_metric_names,
        }))
    }

    fn parse_modifier_expr(&mut self, me: &mut ModifierExpr, allow_star: bool) -> Result<()> {
        if !is_ident_prefix(&self.lex.token) {
            return Err(format!(
                "ModifierExpr: unexpected token {}; want \"ident\"",
                quote(&self.lex.token)
            ));
        }
        me.op = self.lex.token.to_lowercase();
        self.lex.next()?;
        if is_join_modifier(&me.op) && self.lex.token != "(" {
            return Ok(());
        }
        me.args = self
            .parse_ident_list(allow_star)
            .map_err(|e| format!("ModifierExpr: {e}"))?;
        Ok(())
    }

    fn parse_ident_list(&mut self, allow_star: bool) -> Result<Vec<String>> {
        if self.lex.token != "(" {
            return Err(format!(
                "identList: unexpected token {}; want \"(\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        if allow_star && self.lex.token == "*" {
            self.lex.next()?;
            if self.lex.token != ")" {
                return Err(format!(
                    "identList: unexpected token {} after \"*\"; want \")\"",
                    quote(&self.lex.token)
                ));
            }
            self.lex.next()?;
            return Ok(vec!["*".into()]);
        }
        let mut idents = Vec::new();
        loop {
            if self.lex.token == ")" {
                self.lex.next()?;
                return Ok(idents);
            }
            if is_quoted_string(&self.lex.token) {
                self.lex.token = unquoted(&self.lex.token);
            }
            if !is_ident_prefix(&self.lex.token) {
                return Err(format!(
                    "identList: unexpected token {}; want \"ident\"",
                    quote(&self.lex.token)
                ));
            }
            idents.push(unescape_ident(&self.lex.token));
            self.lex.next()?;
            match self.lex.token.as_str() {
                "," => self.lex.next()?,
                ")" => {}
                t => {
                    return Err(format!(
                        "identList: unexpected token {}; want \",\", \")\"",
                        quote(t)
                    ))
                }
            }
        }
    }

    fn parse_arg_list_expr(&mut self) -> Result<Vec<Expr>> {
        if self.lex.token != "(" {
            return Err(format!(
                "argList: unexpected token {}; want \"(\"",
                quote(&self.lex.token)
            ));
        }
        let mut args = Vec::new();
        loop {
            self.lex.next()?;
            if self.lex.token == ")" {
                break;
            }
            args.push(self.parse_expr()?);
            match self.lex.token.as_str() {
                "," => continue,
                ")" => break,
                t => {
                    return Err(format!(
                        "argList: unexpected token {}; want \",\", \")\"",
                        quote(t)
                    ))
                }
            }
        }
        self.lex.next()?;
        Ok(args)
    }

    fn parse_label_filterss(
        &mut self,
        mf: Option<LabelFilterExpr>,
    ) -> Result<Vec<Vec<LabelFilterExpr>>> {
        if self.lex.token != "{" {
            return Err(format!(
                "labelFilters: unexpected token {}; want \"{{\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        if self.lex.token == "}" {
            self.lex.next()?;
            return Ok(mf.map(|m| vec![vec![m]]).unwrap_or_default());
        }
        let mut lfess = Vec::new();
        loop {
            lfess.push(self.parse_label_filters(mf.clone())?);
            if self.lex.token == "}" {
                self.lex.next()?;
                return Ok(lfess);
            }
            if self.lex.token.eq_ignore_ascii_case("or") {
                self.lex.next()?;
            }
        }
    }

    fn parse_label_filters(&mut self, mf: Option<LabelFilterExpr>) -> Result<Vec<LabelFilterExpr>> {
        let mut lfes: Vec<LabelFilterExpr> = mf.into_iter().collect();
        loop {
            lfes.push(self.parse_label_filter_expr()?);
            let t = self.lex.token.to_lowercase();
            match t.as_str() {
                "," => {
                    self.lex.next()?;
                    if self.lex.token == "}" {
                        return Ok(lfes);
                    }
                }
                "or" | "}" => return Ok(lfes),
                _ => {
                    return Err(format!(
                        "labelFilters: unexpected token {}; want \",\", \"or\", \"}}\"",
                        quote(&self.lex.token)
                    ))
                }
            }
        }
    }

    fn parse_label_filter_expr(&mut self) -> Result<LabelFilterExpr> {
        let mut is_possible_metric_name = false;
        if is_quoted_string(&self.lex.token) {
            self.lex.token = unquoted(&self.lex.token);
            is_possible_metric_name = true;
        } else if !is_ident_prefix(&self.lex.token) {
            return Err(format!(
                "labelFilterExpr: unexpected token {}; want \"ident\"",
                quote(&self.lex.token)
            ));
        }
        let mut lfe = LabelFilterExpr {
            label: unescape_ident(&self.lex.token),
            value: None,
            is_regexp: false,
            is_negative: false,
            is_possible_metric_name: false,
        };
        self.lex.next()?;
        match self.lex.token.to_lowercase().as_str() {
            "=" => {}
            "!=" => lfe.is_negative = true,
            "=~" => lfe.is_regexp = true,
            "!~" => {
                lfe.is_negative = true;
                lfe.is_regexp = true;
            }
            "," | "}" | "or" => {
                lfe.is_possible_metric_name = is_possible_metric_name;
                return Ok(lfe);
            }
            _ => {
                return Err(format!(
                    "labelFilterExpr: unexpected token {}; want \"=\", \"!=\", \"=~\", \"!~\", \",\", \"or\", \"}}\"",
                    quote(&self.lex.token)
                ))
            }
        }
        self.lex.next()?;
        lfe.value = Some(self.parse_string_expr()?);
        Ok(lfe)
    }

    fn parse_window_and_step(
        &mut self,
    ) -> Result<(Option<DurationExpr>, Option<DurationExpr>, bool)> {
        if self.lex.token != "[" {
            return Err(format!(
                "windowAndStep: unexpected token {}; want \"[\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        let mut window = None;
        if !self.lex.token.starts_with(':') {
            if self.lex.token == "$__interval" {
                self.lex.next()?;
            } else {
                window = Some(self.parse_positive_duration()?);
            }
        }
        let mut step = None;
        let mut inherit_step = false;
        if self.lex.token.starts_with(':') {
            self.lex.token = self.lex.token[1..].to_string();
            if self.lex.token.is_empty() {
                self.lex.next()?;
                if self.lex.token == "]" {
                    inherit_step = true;
                }
            }
            if self.lex.token != "]" {
                step = Some(self.parse_positive_duration()?);
            }
        }
        if self.lex.token != "]" {
            return Err(format!(
                "windowAndStep: unexpected token {}; want \"]\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        Ok((window, step, inherit_step))
    }

    fn parse_at_expr(&mut self) -> Result<Expr> {
        if self.lex.token != "@" {
            return Err(format!(
                "unexpected token {}; want \"@\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        self.parse_single_expr_without_rollup_suffix()
            .map_err(|e| format!("cannot parse `@` expresion: {e}"))
    }

    fn parse_offset(&mut self) -> Result<DurationExpr> {
        if !is_offset(&self.lex.token) {
            return Err(format!(
                "offset: unexpected token {}; want \"offset\"",
                quote(&self.lex.token)
            ));
        }
        self.lex.next()?;
        let negative = self.lex.token == "-";
        if negative {
            self.lex.next()?;
        }
        let mut de = self.parse_positive_duration()?;
        if negative {
            de.s = format!("-{}", de.s);
        }
        Ok(de)
    }

    fn parse_positive_duration(&mut self) -> Result<DurationExpr> {
        let mut s = self.lex.token.clone();
        if is_ident_prefix(&s) {
            if let Some(n) = s.find(':') {
                let (head, rest) = (s[..n].to_string(), s[n..].to_string());
                self.lex.push_back(&head, &rest);
                s = head;
            }
            self.lex.next()?;
            return Ok(DurationExpr {
                s,
                needs_parsing: true,
            });
        }
        if is_positive_duration(&s) {
            self.lex.next()?;
        } else {
            if !is_positive_number_prefix(&s) {
                return Err(format!(
                    "duration: unexpected token {}; want valid duration",
                    quote(&s)
                ));
            }
            self.parse_positive_number_expr()
                .map_err(|e| format!("duration: parse error: {e}"))?;
        }
        if s == "$__interval" {
            s = "1i".into();
        }
        new_duration_expr(&s)
    }

    /// An expression starting with an identifier: a function, an aggregation or a selector.
    fn parse_ident_expr(&mut self) -> Result<Expr> {
        self.lex.next()?;
        let t = self.lex.token.clone();
        if t.is_empty() || is_offset(&t) {
            self.lex.prev();
            return self.parse_metric_expr().map(Expr::Metric);
        }
        if is_ident_prefix(&t) {
            self.lex.prev();
            if is_aggr_func(&self.lex.token) {
                return self.parse_aggr_func_expr();
            }
            return self.parse_metric_expr().map(Expr::Metric);
        }
        if is_binary_op(&t) {
            self.lex.prev();
            return self.parse_metric_expr().map(Expr::Metric);
        }
        match t.as_str() {
            "(" => {
                self.lex.prev();
                if is_aggr_func(&self.lex.token) {
                    return self.parse_aggr_func_expr();
                }
                self.parse_func_expr()
            }
            "{" | "[" | ")" | "," | "@" => {
                self.lex.prev();
                self.parse_metric_expr().map(Expr::Metric)
            }
            _ => Err(format!(
                "identExpr: unexpected token {}; want \"(\", \"{{\", \"[\", \")\", \",\" or \"@\"",
                quote(&t)
            )),
        }
    }

    fn parse_metric_expr(&mut self) -> Result<MetricExpr> {
        let mut me = MetricExpr::default();
        let mut mf = None;
        if is_ident_prefix(&self.lex.token) {
            let name = LabelFilterExpr {
                label: "__name__".into(),
                value: Some(StringExpr {
                    s: String::new(),
                    tokens: vec![quote(&unescape_ident(&self.lex.token))],
                }),
                is_regexp: false,
                is_negative: false,
                is_possible_metric_name: false,
            };
            self.lex.next()?;
            if self.lex.token != "{" {
                me.raw.push(vec![name]);
                return Ok(me);
            }
            mf = Some(name);
        }
        me.raw.extend(self.parse_label_filterss(mf)?);
        Ok(me)
    }

    fn parse_rollup_expr(&mut self, arg: Expr) -> Result<Expr> {
        let mut re = RollupExpr {
            expr: arg,
            window: None,
            offset: None,
            step: None,
            inherit_step: false,
            at: None,
        };
        if self.lex.token == "[" {
            let (window, step, inherit_step) = self.parse_window_and_step()?;
            re.window = window;
            re.step = step;
            re.inherit_step = inherit_step;
            if !is_offset(&self.lex.token) && self.lex.token != "@" {
                return Ok(Expr::Rollup(Box::new(re)));
            }
        }
        if self.lex.token == "@" {
            re.at = Some(self.parse_at_expr()?);
        }
        if is_offset(&self.lex.token) {
            re.offset = Some(self.parse_offset()?);
        }
        if self.lex.token == "@" {
            if re.at.is_some() {
                return Err("duplicate `@` token".into());
            }
            re.at = Some(self.parse_at_expr()?);
        }
        Ok(Expr::Rollup(Box::new(re)))
    }
}

/// Fails when two templates of one `WITH` share a name.
pub(super) fn check_duplicate_with_arg_names(was: &[Rc<WithArgExpr>]) -> Result<()> {
    for (i, wa) in was.iter().enumerate() {
        if let Some(old) = was[..i].iter().rev().find(|o| o.name == wa.name) {
            return Err(format!(
                "duplicate `with` arg name for: {wa}; previous one: {old}"
            ));
        }
    }
    Ok(())
}

/// Go's `strconv.Atoi` (decimal, optional sign), with its error text.
fn go_atoi(s: &str) -> Result<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            quote(s)
        ));
    }
    s.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {}: value out of range", quote(s)))
}
