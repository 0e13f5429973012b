//! MetricsQL validation: a port of the parser of VictoriaMetrics'
//! `metricsql` v0.86.0 (the version sloth v0.16.0 builds with; Apache-2.0),
//! used by `sloth.dev/contrib/validate_victoria_metrics/v1`. [`parse`] gives
//! `metricsql.Parse`'s verdict and, for syntax errors, its message: lexing,
//! parsing, `WITH` template expansion (with metricsql's built-in templates),
//! label regexps compiled anchored, and only known functions. Regexp errors
//! carry the Rust `regex` crate's wording instead of Go's.

mod ast;
mod expand;
mod funcs;
mod lexer;
mod numbers;
mod parser;

use std::rc::Rc;

use ast::{Expr, WithArgExpr};
use parser::Parser;

/// metricsql's built-in `WITH` templates, in scope of every query.
const DEFAULT_TEMPLATES: &[&str] = &[
    "ru(freev, maxv) = clamp_min(maxv - clamp_min(freev, 0), 0) / clamp_min(maxv, 0) * 100",
    "ttf(freev) = smooth_exponential(
        clamp_max(clamp_max(-freev, 0) / clamp_max(deriv_fast(freev), 0), 365*24*3600),
        clamp_max(step()/300, 1)
    )",
    "range_median(q) = range_quantile(0.5, q)",
    "alias(q, name) = label_set(q, \"__name__\", name)",
];

fn default_templates() -> Vec<Rc<WithArgExpr>> {
    DEFAULT_TEMPLATES
        .iter()
        .filter_map(|s| {
            let mut p = Parser {
                lex: lexer::Lexer::new(s),
            };
            p.lex.next().ok()?;
            p.parse_with_arg_expr().ok().map(Rc::new)
        })
        .collect()
}

/// Checks query `s` as `metricsql.Parse` does: `Ok` when VictoriaMetrics
/// accepts it, else metricsql's error message.
pub fn parse(s: &str) -> Result<(), String> {
    let mut p = Parser {
        lex: lexer::Lexer::new(s),
    };
    p.lex
        .next()
        .map_err(|e| format!("cannot find the first token: {e}"))?;
    let e = p.parse_expr().map_err(|e| {
        format!(
            "{e}; unparsed data: {}",
            crate::gostrconv::quote(&p.lex.context())
        )
    })?;
    if !p.lex.token.is_empty() {
        return Err(format!(
            "unparsed data left: {}",
            crate::gostrconv::quote(&p.lex.context())
        ));
    }
    let e = expand::expand(&default_templates(), &e)
        .map_err(|e| format!("cannot expand WITH expressions: {e}"))?;
    check_supported_functions(&remove_parens(e))
}

/// Replaces `(x)` by `x` and `(a, b)` by a call of the unnamed function (`union`).
fn remove_parens(e: Expr) -> Expr {
    match e {
        Expr::Rollup(mut re) => {
            re.expr = remove_parens(re.expr);
            re.at = re.at.map(remove_parens);
            Expr::Rollup(re)
        }
        Expr::Binary(mut be) => {
            be.left = remove_parens(be.left);
            be.right = remove_parens(be.right);
            Expr::Binary(be)
        }
        Expr::Aggr(mut ae) => {
            ae.args = ae.args.into_iter().map(remove_parens).collect();
            Expr::Aggr(ae)
        }
        Expr::Func(mut fe) => {
            fe.args = fe.args.into_iter().map(remove_parens).collect();
            Expr::Func(fe)
        }
        Expr::Parens(args) => {
            let mut args: Vec<Expr> = args.into_iter().map(remove_parens).collect();
            if args.len() == 1 {
                return args.remove(0);
            }
            Expr::Func(ast::FuncExpr {
                name: String::new(),
                args,
                keep_metric_names: false,
            })
        }
        other => other,
    }
}

/// The first call (children before parents) of a function metricsql does not know.
fn check_supported_functions(e: &Expr) -> Result<(), String> {
    match e {
        Expr::Binary(be) => {
            check_supported_functions(&be.left)?;
            check_supported_functions(&be.right)?;
        }
        Expr::Func(fe) => {
            for a in &fe.args {
                check_supported_functions(a)?;
            }
            if !funcs::is_supported_function(&fe.name) {
                return Err(format!(
                    "unsupported function {}",
                    crate::gostrconv::quote(&fe.name)
                ));
            }
        }
        Expr::Aggr(ae) => {
            for a in &ae.args {
                check_supported_functions(a)?;
            }
        }
        Expr::Rollup(re) => {
            check_supported_functions(&re.expr)?;
            if let Some(at) = &re.at {
                check_supported_functions(at)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_metricsql() {
        for q in [
            "sum(rate(x{a=\"b\"}[5m]))",
            "1 - histogram_share(0.2, sum by (vmrange) (rate(requests_duration_seconds_bucket{container_name=\"foo\"}[1m])))",
            "vector(1)[1m]",
            "rate(x[$__rate_interval])",
            "WITH (f(a) = a * 2, m = x{a=\"b\"}) f(m)",
            "ru(free, max)",
            "sum(x) by (a) limit 5",
            "x{a=\"b\" or c=\"d\"}",
            "rate(x[1i]) keep_metric_names",
            "x offset -1h30m @ end()",
            "{\"metric.name\", a=\"b\"}",
            "1KiB + 1.5e3 + 0x1f",
            "x if y default 0",
            "quantiles(\"phi\", 0.5, 0.9, x)",
        ] {
            assert_eq!(parse(q), Ok(()), "{q}");
        }
    }

    #[test]
    fn rejects_with_metricsql_messages() {
        let cases = [
            (
                "1 - histogram_share(0.2 sum(x))",
                "argList: unexpected token \"sum\"; want \",\", \")\"; unparsed data: \"sum(x))\"",
            ),
            ("foo(x)", "unsupported function \"foo\""),
            (
                "sum(rate(x[5m])",
                "argList: unexpected token \"\"; want \",\", \")\"; unparsed data: \"\"",
            ),
            ("x)", "unparsed data left: \")\""),
            (
                "f(1, 2) + WITH (f(a) = a) f(1, 2)",
                "cannot expand WITH expressions: invalid number of args for \"f\"; got 2; want 1",
            ),
            (
                "x{a=~\"(\"}",
                "cannot expand WITH expressions: invalid regexp in a=\"(\": unclosed group",
            ),
            (
                "1 + 0x",
                "positivenumberExpr: cannot parse \"0x\": strconv.ParseInt: parsing \"0x\": invalid syntax; unparsed data: \"0x\"",
            ),
        ];
        for (q, want) in cases {
            assert_eq!(parse(q).unwrap_err(), want, "{q}");
        }
    }
}
