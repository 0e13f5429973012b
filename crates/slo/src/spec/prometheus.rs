//! The `prometheus/v1` spec (decoded like sigs.k8s.io/yaml does) and the
//! spec-to-model mapping it shares with the Kubernetes form: SLO ids,
//! label merging, alert metadata, plugin chains and SLI plugins.

use super::decode::{to_json, Mode, Obj};
use crate::duration::Duration;
use crate::model::{
    merge, AlertMeta, Events, K8sMeta, Labels, Latency, PluginRef, Sli, Slo, SloGroup, SloPlugins,
    SpecKind,
};
use crate::plugins::sli as sli_plugins;
use crate::yaml::tree::{self, Value};

/// Field names of one spec dialect (snake_case for prometheus/v1, camelCase for Kubernetes).
pub(crate) struct Names {
    pub slo_plugins: &'static str,
    pub error_ratio_query: &'static str,
    pub error_query: &'static str,
    pub total_query: &'static str,
    pub page_alert: &'static str,
    pub ticket_alert: &'static str,
    /// ward's extensions (sloth ignores them).
    pub record_traffic: &'static str,
    pub event_weighted_period: &'static str,
}

/// prometheus/v1 names.
pub(crate) const PROM_NAMES: Names = Names {
    slo_plugins: "slo_plugins",
    error_ratio_query: "error_ratio_query",
    error_query: "error_query",
    total_query: "total_query",
    page_alert: "page_alert",
    ticket_alert: "ticket_alert",
    record_traffic: "record_traffic",
    event_weighted_period: "event_weighted_period",
};

struct RawPlugins {
    override_previous: bool,
    chain: Vec<PluginRef>,
}

fn plugins(o: &Obj<'_>) -> Result<RawPlugins, String> {
    let mut chain = Vec::new();
    for (i, item) in o.seq("chain")?.into_iter().enumerate() {
        let path = format!("{}[{i}]", o.sub("chain"));
        let p = Obj::new(item, o.mode(), path)?;
        let config = match p.get("config") {
            None => None,
            Some(v) => Some(to_json(v, &p.sub("config"))?),
        };
        chain.push(PluginRef {
            id: p.string("id")?,
            priority: p.int("priority")?,
            config,
        });
    }
    Ok(RawPlugins {
        override_previous: o.bool("overridePrevious")?,
        chain,
    })
}

/// ward's `latency` SLI (`histogram`, `threshold`, optional `selector`)
/// as the events SLI it stands for: errors are the requests slower than
/// the threshold, `_count` minus the `_bucket` whose `le` is the
/// threshold as written; `invalid` names a field of the SLO.
fn latency_sli(
    l: &Obj<'_>,
    invalid: impl Fn(&str, String) -> String,
) -> Result<(Events, Latency), String> {
    let histogram = l.string("histogram")?;
    let name_ok = histogram.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if histogram.is_empty() || !name_ok {
        return Err(invalid(
            "sli.latency.histogram",
            format!("want a histogram metric name (without _bucket), got {histogram:?}"),
        ));
    }
    let threshold = match l.get_present("threshold") {
        Some(Value::Scalar(s)) => s.raw.to_string(),
        _ => String::new(),
    };
    if !threshold
        .parse::<f64>()
        .is_ok_and(|t| t > 0.0 && t.is_finite())
    {
        return Err(invalid(
            "sli.latency.threshold",
            format!("want a positive number (a bucket bound, as its le label), got {threshold:?}"),
        ));
    }
    let selector = l.string("selector")?;
    let sep = if selector.trim().is_empty() { "" } else { "," };
    let series = format!("{histogram}_count{{{selector}}}");
    match promql_parser::parser::parse(&series) {
        Ok(promql_parser::parser::Expr::VectorSelector(_)) => {}
        parsed => {
            let why = parsed
                .err()
                .unwrap_or_else(|| "not one series selector".into());
            return Err(invalid(
                "sli.latency.selector",
                format!(
                    "want label matchers such as job=\"api\", got {selector:?}: {}",
                    why.replace('\n', " ")
                ),
            ));
        }
    }
    let count = format!("sum(rate({series}[{{{{.window}}}}]))");
    let fast = format!(
        "sum(rate({histogram}_bucket{{{selector}{sep}le=\"{threshold}\"}}[{{{{.window}}}}]))"
    );
    let events = Events {
        error_query: format!("{count} - {fast}"),
        total_query: count,
    };
    Ok((
        events,
        Latency {
            histogram,
            threshold,
            selector,
        },
    ))
}

fn alert(o: &Obj<'_>, common: &(String, Labels, Labels)) -> Result<AlertMeta, String> {
    if o.bool("disable")? {
        return Ok(AlertMeta {
            disable: true,
            ..AlertMeta::default()
        });
    }
    let labels = o.string_map("labels")?.unwrap_or_default();
    let annotations = o.string_map("annotations")?.unwrap_or_default();
    Ok(AlertMeta {
        disable: false,
        name: common.0.clone(),
        labels: merge(&[&common.1, &labels]),
        annotations: merge(&[&common.2, &annotations]),
        // ward's extension (sloth ignores the key): `for:` on the alert rule.
        for_: o.duration("for")?,
    })
}

/// Maps a decoded prometheus/v1 or Kubernetes `spec` object to the model.
pub(crate) fn map_spec(
    spec: &Obj<'_>,
    names: &Names,
    kind: SpecKind,
    k8s: Option<K8sMeta>,
    period: Duration,
) -> Result<SloGroup, String> {
    let service = spec.string("service")?;
    let group_labels = spec.string_map("labels")?.unwrap_or_default();
    let group_plugins = match spec.get_present(names.slo_plugins) {
        Some(_) => Some(plugins(&spec.obj(names.slo_plugins)?)?),
        None => None,
    };
    let slo_values = spec.seq("slos")?;
    if slo_values.is_empty() {
        return Err("at least one SLO is required".to_string());
    }
    let mut slos = Vec::with_capacity(slo_values.len());
    for (i, v) in slo_values.into_iter().enumerate() {
        let s = Obj::new(v, spec.mode(), format!("{}[{i}]", spec.sub("slos")))?;
        let name = s.string("name")?;
        let objective = s.float("objective")?;
        let labels = s.string_map("labels")?.unwrap_or_default();

        let mut chain: Vec<PluginRef> = group_plugins
            .as_ref()
            .map(|g| g.chain.clone())
            .unwrap_or_default();
        let mut override_plugins = group_plugins.as_ref().is_some_and(|g| g.override_previous);
        if s.get_present("plugins").is_some() {
            let p = plugins(&s.obj("plugins")?)?;
            if p.override_previous {
                chain.clear();
                override_plugins = true;
            }
            chain.extend(p.chain);
        }

        let sli_o = s.obj("sli")?;
        let mut sli = Sli::default();
        if sli_o.get_present("events").is_some() {
            let e = sli_o.obj("events")?;
            sli.events = Some(Events {
                error_query: e.string(names.error_query)?,
                total_query: e.string(names.total_query)?,
            });
        }
        if sli_o.get_present("raw").is_some() {
            let r = sli_o.obj("raw")?;
            sli.raw = Some(r.string(names.error_ratio_query)?);
        }
        let invalid = |field: &str, m: String| {
            format!("invalid slo \"{service}-{name}\" (field {field}): {m}")
        };
        if sli_o.get_present("latency").is_some() {
            if sli.events.is_some() || sli.raw.is_some() {
                return Err(invalid(
                    "sli.latency",
                    "only one SLI type is allowed".into(),
                ));
            }
            let (events, latency) = latency_sli(&sli_o.obj("latency")?, invalid)?;
            sli.events = Some(events);
            sli.latency = Some(latency);
        }
        if sli_o.get_present("plugin").is_some() {
            let p = sli_o.obj("plugin")?;
            let id = p.string("id")?;
            let options = p.string_map("options")?.unwrap_or_default();
            let meta = sli_plugins::Meta {
                service: service.clone(),
                slo: name.clone(),
                objective: crate::gostrconv::format_f6(objective),
            };
            let query = sli_plugins::run(&id, &meta, &group_labels, &options)
                .map_err(|e| format!("invalid slo \"{service}-{name}\" (field sli.plugin): {e}"))?;
            sli.raw = Some(query);
        }

        let a = s.obj("alerting")?;
        let common = (
            a.string("name")?,
            a.string_map("labels")?.unwrap_or_default(),
            a.string_map("annotations")?.unwrap_or_default(),
        );
        let page = alert(&a.obj(names.page_alert)?, &common)?;
        let ticket = alert(&a.obj(names.ticket_alert)?, &common)?;
        // ward's extensions (sloth ignores the keys): per SLO, or for every
        // SLO of the spec.
        let flag =
            |field: &str| -> Result<bool, String> { Ok(s.bool(field)? || spec.bool(field)?) };
        let record_traffic = flag(names.record_traffic)?;
        let event_weighted_period = flag(names.event_weighted_period)?;
        if sli.events.is_none() {
            for (on, field) in [
                (record_traffic, names.record_traffic),
                (event_weighted_period, names.event_weighted_period),
            ] {
                if on {
                    return Err(invalid(
                        field,
                        "needs an events or latency SLI (a raw error ratio has no event counts)"
                            .into(),
                    ));
                }
            }
        }

        slos.push(Slo {
            id: format!("{service}-{name}"),
            name,
            service: service.clone(),
            description: s.string("description")?,
            // ward's extension (sloth ignores the key): a period per SLO.
            period: match s.duration("period")? {
                Duration(0) => period,
                own => own,
            },
            objective,
            labels: merge(&[&group_labels, &labels]),
            sli,
            page,
            ticket,
            plugins: SloPlugins {
                override_plugins,
                plugins: chain,
            },
            record_traffic,
            event_weighted_period,
        });
    }
    Ok(SloGroup { kind, k8s, slos })
}

/// Parses a document into a YAML tree, with sloth's "spec is required" check.
pub(crate) fn parse_doc(doc: &str) -> Result<Value<'_>, String> {
    if doc.is_empty() {
        return Err("spec is required".to_string());
    }
    tree::parse(doc).map_err(|e| format!("could not unmarshall YAML spec correctly: {e}"))
}

/// Loads a prometheus/v1 document (ignored keys: see [`super::load`]).
pub fn load(doc: &str, period: Duration, ignored: &mut Vec<String>) -> Result<SloGroup, String> {
    let v = parse_doc(doc)?;
    super::unknown::prometheus(&v, ignored);
    let root = Obj::new(&v, Mode::Sigs, "")?;
    if root.string("version")? != "prometheus/v1" {
        return Err("invalid spec version, should be \"prometheus/v1\"".to_string());
    }
    map_spec(&root, &PROM_NAMES, SpecKind::PrometheusV1, None, period)
        .map_err(|e| format!("could not map to model: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_keys_apply_per_slo_or_to_every_slo_of_the_spec() {
        let doc = "version: prometheus/v1\nservice: s\nrecord_traffic: true\nslos:\n  - name: a\n    event_weighted_period: true\n    sli: {events: {error_query: e, total_query: t}}\n  - name: b\n    sli: {latency: {histogram: h, threshold: 1.0}}\n";
        let mut ignored = Vec::new();
        let g = load(doc, Duration(1), &mut ignored).unwrap();
        let got: Vec<(bool, bool)> = g
            .slos
            .iter()
            .map(|s| (s.record_traffic, s.event_weighted_period))
            .collect();
        assert_eq!(got, [(true, true), (true, false)]);
        assert_eq!(ignored, Vec::<String>::new());
        // No selector: the threshold as written, no stray comma.
        assert_eq!(
            g.slos[1].sli.events,
            Some(Events {
                error_query: "sum(rate(h_count{}[{{.window}}])) - sum(rate(h_bucket{le=\"1.0\"}[{{.window}}]))".into(),
                total_query: "sum(rate(h_count{}[{{.window}}]))".into(),
            })
        );
    }
}
