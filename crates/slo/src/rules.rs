//! Rule generation of sloth's three core plugins: SLI error-ratio recording
//! rules (`sli_rules/v1`, optimized period rule by default), metadata
//! recording rules (`metadata_rules/v1`) and multi-window multi-burn-rate
//! alerts (`alert_rules/v1`). Expressions are byte-identical to sloth's.

use std::rc::Rc;

use crate::duration::Duration;
use crate::gostrconv::{format_f, format_g, quote};
use crate::model::{merge, AlertMeta, Label, Labels, Rule, Slo};
use crate::template::Template;
use crate::windows::{MwmbAlert, MwmbGroup};

/// Who generated the rules: goes into `sloth_slo_info`.
#[derive(Debug, Clone)]
pub struct Info {
    /// `sloth_version`.
    pub version: Label,
    /// `sloth_mode`.
    pub mode: Label,
    /// `sloth_spec`.
    pub spec: Label,
}

/// `slo:sli_error:ratio_rate<window>`.
pub fn sli_metric(w: Duration) -> String {
    let mut m = String::with_capacity(32);
    push_sli_metric(&mut m, w);
    m
}

/// Appends [`sli_metric`] to `out`.
fn push_sli_metric(out: &mut String, w: Duration) {
    out.push_str("slo:sli_error:ratio_rate");
    w.push_prom(out);
}

/// `slo:sli_total:rate<window>`: the events SLI's total query over the
/// window (ward's recorded traffic).
pub fn total_metric(w: Duration) -> String {
    format!("slo:sli_total:rate{}", w.prom())
}

/// `slo:sli_error:rate<window>`: the events SLI's error query over the
/// window (recorded for the event-weighted period SLI).
pub fn error_metric(w: Duration) -> String {
    format!("slo:sli_error:rate{}", w.prom())
}

/// The `sloth_id`/`sloth_service`/`sloth_slo` labels of an SLO.
pub fn id_labels(slo: &Slo) -> Labels {
    let mut l = Labels::new();
    l.insert("sloth_id".into(), slo.id.as_str().into());
    l.insert("sloth_service".into(), slo.service.as_str().into());
    l.insert("sloth_slo".into(), slo.name.as_str().into());
    l
}

/// An SLO's [`id_labels`] and their [`label_filter`], built once per SLO
/// for every rule that names them.
#[derive(Debug, Clone)]
pub struct SloIds {
    /// `sloth_id`, `sloth_service`, `sloth_slo`.
    pub labels: Labels,
    /// `{sloth_id="...", sloth_service="...", sloth_slo="..."}`.
    pub filter: String,
}

impl SloIds {
    /// The ids of `slo`.
    pub fn new(slo: &Slo) -> SloIds {
        let labels = id_labels(slo);
        let filter = label_filter(&labels);
        SloIds { labels, filter }
    }
}

/// Prometheus `LabelSet.String()` of a label set: `{a="x", b="y"}`.
pub fn label_filter(labels: &Labels) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(k);
        s.push('=');
        s.push_str(&quote(v));
    }
    s.push('}');
    s
}

/// `merge(&[&first, later])` for a set built here (moved into the result).
fn merged(mut first: Labels, later: &Labels) -> Labels {
    for (k, v) in later {
        first.insert(Label::clone(k), Label::clone(v));
    }
    first
}

/// The SLI expression template of an SLO (rendered once per window).
fn sli_template(slo: &Slo) -> Result<String, String> {
    match (&slo.sli.events, &slo.sli.raw) {
        (Some(e), _) => Ok(format!("({})\n/\n({})\n", e.error_query, e.total_query)),
        (None, Some(r)) => Ok(format!("({r})")),
        (None, None) => Err("invalid SLI type".into()),
    }
}

/// The optimized SLO-period SLI expression: the mean of the short-window
/// ratios over the period.
fn optimized_sli_expr(slo: &Slo, ids: &SloIds, short: Duration) -> String {
    let metric = sli_metric(short);
    let filter = &ids.filter;
    let win = slo.period.prom();
    format!(
        "sum_over_time({metric}{filter}[{win}])\n/ ignoring (sloth_window)\ncount_over_time({metric}{filter}[{win}])\n"
    )
}

/// The event-weighted SLO-period SLI: the error events over the total
/// events of the period, each summed from their short-window recordings.
fn event_weighted_sli_expr(slo: &Slo, ids: &SloIds, short: Duration) -> String {
    let filter = &ids.filter;
    let win = slo.period.prom();
    format!(
        "sum_over_time({}{filter}[{win}])\n/ ignoring (sloth_window)\nsum_over_time({}{filter}[{win}])\n",
        error_metric(short),
        total_metric(short)
    )
}

/// ward's traffic recordings of an events SLI (`record_traffic`,
/// `event_weighted_period`): the total query per alert window, and for the
/// event-weighted period the error query over the shortest page window,
/// each with the labels of the SLI recording of its window.
fn traffic_rules(
    slo: &Slo,
    alerts: &MwmbGroup,
    sli: &[Rule],
    rule_err: impl Fn(Duration, &str) -> String,
) -> Result<Vec<Rule>, String> {
    let Some(events) = &slo.sli.events else {
        return Err(rule_err(
            slo.period,
            "recorded traffic needs an events or latency SLI",
        ));
    };
    let short = alerts.page_quick.short;
    let weighted = slo
        .event_weighted_period
        .then_some((short, &events.error_query));
    let windows = alerts.windows();
    let totals = windows
        .iter()
        .map(|&w| (w, total_metric(w), &events.total_query));
    let errors = weighted.map(|(w, q)| (w, error_metric(w), q));
    totals
        .chain(errors)
        .map(|(w, record, query)| {
            let labels = windows
                .iter()
                .position(|&x| x == w)
                .and_then(|i| sli.get(i))
                .map(|r| Rc::clone(&r.labels))
                .ok_or_else(|| rule_err(w, "no SLI recording for the window"))?;
            let expr = Template::parse(query)
                .render(&[("window", &w.prom())], true)
                .map_err(|e| {
                    rule_err(w, &format!("could not render SLI expression template: {e}"))
                })?;
            Ok(Rule::recording(record, expr, labels))
        })
        .collect()
}

/// SLI recording rules for every alert window plus the SLO period, then
/// ward's traffic recordings when the SLO asks for them.
pub fn sli_rules(
    slo: &Slo,
    ids: &SloIds,
    alerts: &MwmbGroup,
    disable_optimized: bool,
) -> Result<Vec<Rule>, String> {
    let mut windows = alerts.windows();
    windows.push(slo.period);
    let text = sli_template(slo);
    let tpl = text.as_deref().map(Template::parse);
    // merge(ids, {sloth_window}, slo labels): the SLO's labels win over the window's.
    let mut base = merge(&[&ids.labels, &slo.labels]);
    let window_label = !slo.labels.contains_key("sloth_window");
    let window_key = Label::from("sloth_window");
    let mut rules = Vec::with_capacity(windows.len());
    let last = windows.len().saturating_sub(1);
    let window_err = |w: Duration, e: &str| {
        format!(
            "could not create {:?} SLO rule for window {}: {e}",
            slo.id,
            w.go()
        )
    };
    for (i, w) in windows.into_iter().enumerate() {
        let rule_err = |e: &str| window_err(w, e);
        let win = w.prom();
        let expr = if !disable_optimized && w == slo.period {
            let short = alerts.page_quick.short;
            if w == short {
                return Err(rule_err(
                    "can't optimize using the same shortwindow as the window to optimize",
                ));
            }
            if slo.event_weighted_period {
                event_weighted_sli_expr(slo, ids, short)
            } else {
                optimized_sli_expr(slo, ids, short)
            }
        } else {
            let tpl = tpl.as_ref().map_err(|e| rule_err(e))?;
            tpl.render(&[("window", &win)], true)
                .map_err(|e| rule_err(&format!("could not render SLI expression template: {e}")))?
        };
        // The last window takes the base set itself.
        let mut labels = if i == last {
            std::mem::take(&mut base)
        } else {
            base.clone()
        };
        if window_label {
            labels.insert(window_key.clone(), Label::from(win.as_str()));
        }
        rules.push(Rule::recording(sli_metric(w), expr, Rc::new(labels)));
    }
    if slo.record_traffic || slo.event_weighted_period {
        let traffic = traffic_rules(slo, alerts, &rules, window_err)?;
        rules.extend(traffic);
    }
    Ok(rules)
}

/// The seven metadata recording rules.
pub fn metadata_rules(info: &Info, slo: &Slo, ids: &SloIds, alerts: &MwmbGroup) -> Vec<Rule> {
    let filter = &ids.filter;
    let labels = Rc::new(merge(&[&ids.labels, &slo.labels]));
    let ratio = format_g(slo.objective / 100.0);
    let burn = |metric: String| {
        format!(
            "{metric}{filter}\n/ on(sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{filter}\n"
        )
    };
    // sloth gives the first six rules one shared map (see `Rule::shared_labels`).
    let rec = |record: &str, expr: String, labels: &Rc<Labels>| Rule {
        shared_labels: 1,
        ..Rule::recording(record.to_string(), expr, Rc::clone(labels))
    };
    let mut info_labels = Labels::new();
    info_labels.insert("sloth_version".into(), Label::clone(&info.version));
    info_labels.insert("sloth_mode".into(), Label::clone(&info.mode));
    info_labels.insert("sloth_spec".into(), Label::clone(&info.spec));
    info_labels.insert("sloth_objective".into(), format_f(slo.objective).into());
    vec![
        rec("slo:objective:ratio", format!("vector({ratio})"), &labels),
        rec(
            "slo:error_budget:ratio",
            format!("vector(1-{ratio})"),
            &labels,
        ),
        rec(
            "slo:time_period:days",
            format!("vector({})", format_g(slo.period.hours() / 24.0)),
            &labels,
        ),
        rec(
            "slo:current_burn_rate:ratio",
            burn(sli_metric(alerts.page_quick.short)),
            &labels,
        ),
        rec(
            "slo:period_burn_rate:ratio",
            burn(sli_metric(slo.period)),
            &labels,
        ),
        rec(
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{filter}"),
            &labels,
        ),
        rec(
            "sloth_slo_info",
            "vector(1)".into(),
            &Rc::new(merged(Labels::clone(&labels), &info_labels)),
        ),
    ]
}

/// Appends `    max(<SLI metric of w><filter> > (<factor> * <budget>)) without (sloth_window)`
/// and a line break: one burn-rate condition of an alert.
fn push_condition(expr: &mut String, w: Duration, filter: &str, factor: &str, budget: &str) {
    expr.push_str("    max(");
    push_sli_metric(expr, w);
    for part in [
        filter,
        " > (",
        factor,
        " * ",
        budget,
        ")) without (sloth_window)\n",
    ] {
        expr.push_str(part);
    }
}

/// One alert: the quick and the slow window pair, each firing when both
/// its windows burn too fast.
fn alert_rule(
    f: &str,
    meta: &AlertMeta,
    quick: &MwmbAlert,
    slow: &MwmbAlert,
    severity: &str,
) -> Rule {
    let eb = format_g(quick.error_budget / 100.0);
    let mut expr = String::with_capacity(4 * (f.len() + 100) + 32);
    for (i, a) in [quick, slow].into_iter().enumerate() {
        expr.push_str(if i == 0 { "(\n" } else { "or\n(\n" });
        let factor = format_g(a.burn_rate_factor);
        push_condition(&mut expr, a.short, f, &factor, &eb);
        expr.push_str("    and\n");
        push_condition(&mut expr, a.long, f, &factor, &eb);
        expr.push_str(")\n");
    }
    let mut ann = Labels::new();
    ann.insert(
        "title".into(),
        format!("({severity}) {{{{$labels.sloth_service}}}} {{{{$labels.sloth_slo}}}} SLO error budget burn rate is too fast.").into(),
    );
    ann.insert(
        "summary".into(),
        "{{$labels.sloth_service}} {{$labels.sloth_slo}} SLO error budget burn rate is over expected.".into(),
    );
    let mut sev = Labels::new();
    sev.insert("sloth_severity".into(), severity.into());
    Rule {
        record: String::new(),
        alert: meta.name.clone(),
        expr,
        for_: match meta.for_ {
            Duration(0) => String::new(),
            d => d.prom(),
        },
        for_in_k8s: meta.for_.0 != 0,
        keep_firing_for: String::new(),
        labels: Rc::new(merged(sev, &meta.labels)),
        annotations: merged(ann, &meta.annotations),
        shared_labels: 0,
    }
}

/// Page then ticket alert rules (each only when enabled).
pub fn alert_rules(slo: &Slo, ids: &SloIds, alerts: &MwmbGroup) -> Vec<Rule> {
    let mut rules = Vec::new();
    let filter = &ids.filter;
    if !slo.page.disable {
        rules.push(alert_rule(
            filter,
            &slo.page,
            &alerts.page_quick,
            &alerts.page_slow,
            "page",
        ));
    }
    if !slo.ticket.disable {
        rules.push(alert_rule(
            filter,
            &slo.ticket,
            &alerts.ticket_quick,
            &alerts.ticket_slow,
            "ticket",
        ));
    }
    rules
}
