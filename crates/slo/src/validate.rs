//! sloth's SLO validation (`pkg/common/validation`, run by the default
//! plugin `sloth.dev/core/validate/v1`): the same checks in the same order,
//! first failure wins. Each failure carries the spec field it is about and
//! sloth's message text. PromQL is checked with the `promql-parser` crate
//! after rendering the query template with `window=1m`.

use std::sync::OnceLock;

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

/// Renders a query with `window=1m` and parses it as PromQL.
pub fn query_expression(q: &str) -> Result<(), String> {
    if q.is_empty() {
        return Err("query is required".into());
    }
    let rendered = template::render(q, &[("window", "1m")], false)?;
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
pub fn validate_slo(slo: &Slo) -> Result<(), Invalid> {
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
            query_expression(&e.error_query).map_err(|m| {
                sli_err(
                    "sli.events.error_query",
                    format!("sli error query expression: {m}"),
                )
            })?;
            query_expression(&e.total_query).map_err(|m| {
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
            query_expression(r).map_err(|m| {
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
        assert_eq!(validate_slo(&slo()), Ok(()));
        let mut s = slo();
        s.objective = 101.0;
        assert_eq!(
            validate_slo(&s).unwrap_err().msg,
            "objective must >0 and <=100"
        );
        let mut s = slo();
        s.id = "-slo1".into();
        s.service = String::new();
        assert!(validate_slo(&s)
            .unwrap_err()
            .msg
            .starts_with("invalid SLO ID"));
        let mut s = slo();
        s.sli.events = Some(Events {
            error_query: "sum(rate(x[{{.window}}])".into(),
            total_query: "sum(rate(x[{{.window}}]))".into(),
        });
        assert!(validate_slo(&s)
            .unwrap_err()
            .msg
            .contains("sli error query expression"));
        let mut s = slo();
        s.page = AlertMeta::default();
        assert_eq!(
            validate_slo(&s).unwrap_err().msg,
            "invalid alert: page alert: alert name is required"
        );
    }
}
