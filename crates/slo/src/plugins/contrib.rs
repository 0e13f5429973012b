//! sloth's contrib SLO plugins (`sloth.dev/contrib/*/v1`), native: same
//! ids, same JSON config keys (matched case-insensitively, unknown keys
//! ignored, as Go's `encoding/json` does), same rules out.
//! `validate_victoria_metrics/v1` runs sloth's validation with MetricsQL
//! (see [`crate::metricsql`]) and is built as a validate step in
//! [`super::build`].

use std::rc::Rc;

use serde_json::{Map, Value as J};

use super::{json_kind, Request};
use crate::duration::{parse_prom, Duration};
use crate::gofmt::format_g;
use crate::model::{merge, Label, Labels, PluginRef, Rule, SloRules};
use crate::rules::{id_labels, label_filter, sli_metric};
use crate::template;

/// Supported contrib plugin ids.
pub const IDS: &[&str] = &[
    "sloth.dev/contrib/info_labels/v1",
    "sloth.dev/contrib/rule_intervals/v1",
    "sloth.dev/contrib/error_budget_exhausted_alert/v1",
    "sloth.dev/contrib/remove_labels/v1",
    "sloth.dev/contrib/denominator_corrected_rules/v1",
    VALIDATE_VICTORIA_METRICS,
];

/// `validate_victoria_metrics/v1`: sloth's validation with MetricsQL instead of PromQL.
pub const VALIDATE_VICTORIA_METRICS: &str = "sloth.dev/contrib/validate_victoria_metrics/v1";

/// A configured contrib plugin.
#[derive(Debug, Clone)]
pub enum Contrib {
    /// `info_labels/v1`: add labels to one metadata rule (default `sloth_slo_info`).
    InfoLabels {
        /// Labels to add.
        labels: Labels,
        /// Record name of the rule to change.
        metric_name: String,
    },
    /// `rule_intervals/v1`: set group evaluation intervals.
    RuleIntervals {
        /// Default interval.
        default: Duration,
        /// SLI group interval (0: default).
        sli_error: Duration,
        /// Metadata group interval (0: default).
        metadata: Duration,
        /// Alert group interval (0: default).
        alert: Duration,
    },
    /// `error_budget_exhausted_alert/v1`: an alert when the period budget is spent.
    ErrorBudgetExhausted {
        /// Remaining-budget threshold.
        threshold: f64,
        /// `for:` duration.
        for_: Duration,
        /// Alert annotations.
        annotations: Labels,
        /// Alert name.
        alert_name: String,
        /// Extra selector labels.
        selector_labels: Labels,
        /// Alert labels.
        alert_labels: Labels,
    },
    /// `remove_labels/v1`: drop non-id labels from SLI and metadata rules.
    RemoveLabels {
        /// Labels kept besides the sloth id labels.
        preserve: Vec<String>,
        /// Records left untouched besides `sloth_slo_info`.
        skip_metrics: Vec<String>,
    },
    /// `denominator_corrected_rules/v1`: traffic-weighted SLI rules.
    DenominatorCorrected {
        /// `disableOptimized`.
        disable_optimized: bool,
    },
}

fn get<'a>(m: &'a Map<String, J>, name: &str) -> Option<&'a J> {
    let mut found = None;
    for (k, v) in m {
        if k.eq_ignore_ascii_case(name) {
            found = Some(v);
        }
    }
    found.filter(|v| !v.is_null())
}

fn bad(id: &str, field: &str, want: &str, v: &J) -> String {
    format!(
        "could create SLO plugin {id:?}: could not create plugin: invalid config: json: cannot unmarshal {} into Go struct field .{field} of type {want}",
        json_kind(v)
    )
}

fn string_map(id: &str, m: &Map<String, J>, field: &str) -> Result<Labels, String> {
    match get(m, field) {
        None => Ok(Labels::new()),
        Some(J::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                J::String(s) => Ok((Label::from(k.as_str()), Label::from(s.as_str()))),
                J::Null => Ok((Label::from(k.as_str()), Label::from(""))),
                other => Err(bad(id, field, "string", other)),
            })
            .collect(),
        Some(other) => Err(bad(id, field, "map[string]string", other)),
    }
}

fn string_list(id: &str, m: &Map<String, J>, field: &str) -> Result<Vec<String>, String> {
    match get(m, field) {
        None => Ok(Vec::new()),
        Some(J::Array(a)) => a
            .iter()
            .map(|v| match v {
                J::String(s) => Ok(s.clone()),
                other => Err(bad(id, field, "string", other)),
            })
            .collect(),
        Some(other) => Err(bad(id, field, "[]string", other)),
    }
}

fn duration(id: &str, m: &Map<String, J>, field: &str) -> Result<Duration, String> {
    match get(m, field) {
        None => Ok(Duration(0)),
        Some(J::String(s)) => parse_prom(s).map_err(|e| {
            format!("could create SLO plugin {id:?}: could not create plugin: invalid config: {e}")
        }),
        Some(other) => Err(bad(id, field, "model.Duration", other)),
    }
}

fn string(id: &str, m: &Map<String, J>, field: &str) -> Result<String, String> {
    match get(m, field) {
        None => Ok(String::new()),
        Some(J::String(s)) => Ok(s.clone()),
        Some(other) => Err(bad(id, field, "string", other)),
    }
}

fn boolean(id: &str, m: &Map<String, J>, field: &str) -> Result<bool, String> {
    match get(m, field) {
        None => Ok(false),
        Some(J::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(id, field, "bool", other)),
    }
}

fn config(p: &PluginRef) -> Result<Map<String, J>, String> {
    match &p.config {
        None | Some(J::Null) => Ok(Map::new()),
        Some(J::Object(m)) => Ok(m.clone()),
        Some(other) => Err(format!(
            "could create SLO plugin {:?}: could not create plugin: invalid config: json: cannot unmarshal {} into Go value of type Config",
            p.id,
            json_kind(other)
        )),
    }
}

/// Builds a contrib plugin from its declaration.
pub fn build(p: &PluginRef) -> Result<Contrib, String> {
    let id = p.id.as_str();
    let c = config(p)?;
    let fail = |m: &str| format!("could create SLO plugin {id:?}: could not create plugin: {m}");
    Ok(match id {
        "sloth.dev/contrib/info_labels/v1" => {
            let labels = string_map(id, &c, "labels")?;
            let mut metric_name = string(id, &c, "metricName")?;
            if metric_name.is_empty() {
                metric_name = "sloth_slo_info".into();
            }
            if labels.is_empty() {
                return Err(fail("at least one label is required"));
            }
            Contrib::InfoLabels {
                labels,
                metric_name,
            }
        }
        "sloth.dev/contrib/rule_intervals/v1" => {
            let iv = match get(&c, "interval") {
                None => Map::new(),
                Some(J::Object(m)) => m.clone(),
                Some(other) => return Err(bad(id, "interval", "ConfigInterval", other)),
            };
            let default = duration(id, &iv, "default")?;
            if default.0 == 0 {
                return Err(fail("at least default interval is required"));
            }
            Contrib::RuleIntervals {
                default,
                sli_error: duration(id, &iv, "sliError")?,
                metadata: duration(id, &iv, "metadata")?,
                alert: duration(id, &iv, "alert")?,
            }
        }
        "sloth.dev/contrib/error_budget_exhausted_alert/v1" => {
            let threshold = match get(&c, "threshold") {
                None => 0.0,
                Some(J::Number(n)) => n.as_f64().unwrap_or(0.0),
                Some(other) => return Err(bad(id, "threshold", "float64", other)),
            };
            let mut for_ = duration(id, &c, "for")?;
            if for_.0 == 0 {
                for_ = Duration(5 * 60 * 1_000_000_000);
            }
            let mut alert_name = string(id, &c, "alert_name")?;
            if alert_name.is_empty() {
                alert_name = "ErrorBudgetExhausted".into();
            }
            Contrib::ErrorBudgetExhausted {
                threshold,
                for_,
                annotations: string_map(id, &c, "annotations")?,
                alert_name,
                selector_labels: string_map(id, &c, "selector_labels")?,
                alert_labels: string_map(id, &c, "alert_labels")?,
            }
        }
        "sloth.dev/contrib/remove_labels/v1" => Contrib::RemoveLabels {
            preserve: string_list(id, &c, "preserveLabels")?,
            skip_metrics: string_list(id, &c, "skipMetrics")?,
        },
        "sloth.dev/contrib/denominator_corrected_rules/v1" => Contrib::DenominatorCorrected {
            disable_optimized: boolean(id, &c, "disableOptimized")?,
        },
        _ => return Err(format!("plugin {id:?} not found: resource not found")),
    })
}

fn keep_only(labels: &mut Labels, keep: &[String]) {
    labels.retain(|k, _| keep.iter().any(|p| **p == **k));
}

impl Contrib {
    /// Runs the plugin on the shared result.
    pub fn process(&self, req: &Request<'_>, res: &mut SloRules) -> Result<(), String> {
        match self {
            Contrib::InfoLabels {
                labels,
                metric_name,
            } => {
                if let Some(r) = res.meta.rules.iter_mut().find(|r| &r.record == metric_name) {
                    r.labels = Rc::new(merge(&[&r.labels, labels]));
                    r.shared_labels = 0; // a new map in sloth
                }
            }
            Contrib::RuleIntervals {
                default,
                sli_error,
                metadata,
                alert,
            } => {
                let pick = |d: &Duration| if d.0 != 0 { *d } else { *default };
                res.sli.interval = pick(sli_error);
                res.meta.interval = pick(metadata);
                res.alerts.interval = pick(alert);
            }
            Contrib::ErrorBudgetExhausted {
                threshold,
                for_,
                annotations,
                alert_name,
                selector_labels,
                alert_labels,
            } => {
                let slo = req.slo;
                let mut sel = id_labels(slo);
                sel.insert(
                    "sloth_id".into(),
                    format!("{}-{}", slo.service, slo.name).into(),
                );
                let sel = merge(&[&sel, &slo.labels, selector_labels]);
                res.alerts.rules.push(Rule {
                    alert: alert_name.clone(),
                    expr: format!(
                        "slo:period_error_budget_remaining:ratio{} <= {}",
                        label_filter(&sel),
                        format_g(*threshold)
                    ),
                    for_: for_.prom(),
                    labels: Rc::new(alert_labels.clone()),
                    annotations: annotations.clone(),
                    ..Rule::default()
                });
            }
            Contrib::RemoveLabels {
                preserve,
                skip_metrics,
            } => {
                let mut keep: Vec<String> = vec![
                    "sloth_window".into(),
                    "sloth_id".into(),
                    "sloth_service".into(),
                    "sloth_slo".into(),
                ];
                keep.extend(preserve.iter().cloned());
                let skip =
                    |r: &Rule| r.record == "sloth_slo_info" || skip_metrics.contains(&r.record);
                for r in res.sli.rules.iter_mut().filter(|r| !skip(r)) {
                    keep_only(Rc::make_mut(&mut r.labels), &keep);
                }
                keep.retain(|k| k != "sloth_window");
                // sloth edits maps in place: a skipped rule sharing its map with a
                // processed one loses the labels too.
                let touched: Vec<u8> = res
                    .meta
                    .rules
                    .iter()
                    .filter(|r| !skip(r) && r.shared_labels != 0)
                    .map(|r| r.shared_labels)
                    .collect();
                for r in res.meta.rules.iter_mut().filter(|r| {
                    !skip(r) || (r.shared_labels != 0 && touched.contains(&r.shared_labels))
                }) {
                    keep_only(Rc::make_mut(&mut r.labels), &keep);
                }
            }
            Contrib::DenominatorCorrected { disable_optimized } => {
                denominator_corrected(req, res, *disable_optimized)?;
            }
        }
        Ok(())
    }
}

fn denominator_corrected(
    req: &Request<'_>,
    res: &mut SloRules,
    disable_optimized: bool,
) -> Result<(), String> {
    let slo = req.slo;
    let Some(events) = slo
        .sli
        .events
        .as_ref()
        .filter(|e| !e.error_query.is_empty() && !e.total_query.is_empty())
    else {
        return Err("denominator corrected SLI requires SLI event type".into());
    };
    let ids = &req.ids.labels;
    let filter = &req.ids.filter;
    let mut windows = req.alerts.windows();
    windows.push(slo.period);
    let mut sli_rules = Vec::with_capacity(windows.len());
    for w in windows {
        let tpl = if w == slo.period && disable_optimized {
            format!("({})\n/\n({})\n", events.error_query, events.total_query)
        } else if w == slo.period {
            let metric = format!("{}{filter}", sli_metric(req.alerts.page_quick.short));
            format!("sum_over_time({metric}[{{{{.window}}}}])\n/ ignoring ({{{{.windowKey}}}})\ncount_over_time({metric}[{{{{.window}}}}])\n")
        } else {
            format!(
                "(\n{{{{.numeratorCorrectionMetric}}}}{{{{.window}}}}{{{{.filter}}}}\n* on()\n{}\n)\n/\n({})\n",
                events.error_query, events.total_query
            )
        };
        let win = w.prom();
        let expr = template::render(
            &tpl,
            &[
                ("numeratorCorrectionMetric", "slo:numerator_correction:ratio"),
                ("window", &win),
                ("filter", filter),
                ("windowKey", "sloth_window"),
            ],
            true,
        )
        .map_err(|e| format!("could not create {:?} SLO rule for window {}: could not render SLI expression template: {e}", slo.id, w.go()))?;
        let mut wl = Labels::new();
        wl.insert("sloth_window".into(), Label::from(win.as_str()));
        sli_rules.push(Rule {
            record: sli_metric(w),
            expr,
            labels: Rc::new(merge(&[ids, &wl, &slo.labels])),
            ..Rule::default()
        });
    }
    res.sli.rules = sli_rules;
    let meta_labels = Rc::new(merge(&[ids, &slo.labels]));
    for w in req.alerts.windows() {
        let ws = w.prom();
        let total = slo.period.prom();
        let num = template::render(&events.total_query, &[("window", &ws)], true)
            .map_err(|e| format!("could not create numerator rule: {e}"))?;
        let den = template::render(&events.total_query, &[("window", &total)], true)
            .map_err(|e| format!("could not create numerator rule: {e}"))?;
        res.meta.rules.push(Rule {
            record: format!("slo:numerator_correction:ratio{ws}"),
            expr: format!("({num})/({den})"),
            labels: meta_labels.clone(),
            shared_labels: 2,
            ..Rule::default()
        });
    }
    Ok(())
}
