//! OpenSLO `openslo/v1alpha` `SLO` documents (decoded like yaml.v2): one
//! sloth SLO per objective, the good/total ratio turned into a raw SLI.

use super::decode::{Mode, Obj};
use super::prometheus::parse_doc;
use crate::duration::Duration;
use crate::model::{AlertMeta, Labels, Sli, Slo, SloGroup, SloPlugins, SpecKind};

const DAY_NS: i64 = 24 * 3600 * 1_000_000_000;

/// Loads an OpenSLO v1alpha SLO document.
pub fn load(doc: &str, default_period: Duration) -> Result<SloGroup, String> {
    let v = parse_doc(doc)?;
    let root = Obj::new(&v, Mode::YamlV2, "")
        .map_err(|e| format!("could not unmarshall YAML spec correctly: {e}"))?;
    let yerr = |e: String| format!("could not unmarshall YAML spec correctly: {e}");
    if root.string("apiVersion").map_err(yerr)? != "openslo/v1alpha" {
        return Err("invalid spec version, should be \"openslo/v1alpha\"".to_string());
    }
    let md = root.obj("metadata").map_err(yerr)?;
    let meta_name = md.string("name").map_err(yerr)?;
    let spec = root.obj("spec").map_err(yerr)?;
    let service = spec.string("service").map_err(yerr)?;
    let description = spec.string("description").map_err(yerr)?;
    let objectives = spec.seq("objectives").map_err(yerr)?;
    let windows = spec.seq("timeWindows").map_err(yerr)?;
    // Decode every objective first (yaml.v2 reports type errors before sloth's checks).
    let mut decoded = Vec::new();
    for (i, o) in objectives.iter().enumerate() {
        let ob = Obj::new(o, Mode::YamlV2, format!("spec.objectives[{i}]")).map_err(yerr)?;
        let target = ob.opt_float("target").map_err(yerr)?;
        let ratio = match ob.get_present("ratioMetrics") {
            None => None,
            Some(_) => {
                let rm = ob.obj("ratioMetrics").map_err(yerr)?;
                let g = rm.obj("good").map_err(yerr)?;
                let t = rm.obj("total").map_err(yerr)?;
                let src = |o: &Obj<'_>| -> Result<(String, String, String), String> {
                    Ok((
                        o.string("source")?,
                        o.string("queryType")?,
                        o.string("query")?,
                    ))
                };
                Some((src(&g).map_err(yerr)?, src(&t).map_err(yerr)?))
            }
        };
        decoded.push((i, target, ratio));
    }
    let mut count = 0;
    for (i, w) in windows.iter().enumerate() {
        let wo = Obj::new(w, Mode::YamlV2, format!("spec.timeWindows[{i}]")).map_err(yerr)?;
        if i == 0 {
            count = wo.int("count").map_err(yerr)?;
        }
        wo.string("unit").map_err(yerr)?;
    }
    if decoded.is_empty() {
        return Err("at least one SLO is required".to_string());
    }
    if windows.len() > 1 {
        return Err("invalid SLO time windows: only 1 time window is supported".to_string());
    }
    if let Some(w) = windows.first() {
        let wo = Obj::new(w, Mode::YamlV2, "spec.timeWindows[0]").map_err(yerr)?;
        if wo.string("unit").map_err(yerr)?.to_lowercase() != "day" {
            return Err(
                "invalid SLO time windows: only days based time windows are supported".to_string(),
            );
        }
    }
    let period = if windows.is_empty() {
        default_period
    } else {
        Duration(count.wrapping_mul(DAY_NS))
    };

    let mut slos = Vec::new();
    for (idx, target, ratio) in decoded {
        let map_err = |e: &str| {
            format!("could not map to model: could not map SLOs correctly: could not map SLI: {e}")
        };
        let Some((good, total)) = ratio else {
            return Err(map_err("missing ratioMetrics"));
        };
        if good.0 != "prometheus" && good.0 != "sloth" {
            return Err(map_err(
                "prometheus or sloth query ratio 'good' source is required",
            ));
        }
        // sloth checks `good.source` again here (upstream bug kept for compatibility).
        if total.0 != "prometheus" && good.0 != "sloth" {
            return Err(map_err(
                "prometheus or sloth query ratio 'total' source is required",
            ));
        }
        if good.1 != "promql" {
            return Err(map_err(&format!(
                "unsupported 'good' indicator query type: {}",
                good.1
            )));
        }
        if total.1 != "promql" {
            return Err(map_err(&format!(
                "unsupported 'total' indicator query type: {}",
                total.1
            )));
        }
        let Some(target) = target else {
            return Err(format!(
                "could not map to model: field spec.objectives[{idx}].target is required"
            ));
        };
        let raw = format!(
            "\n  1 - (\n    (\n      {}\n    )\n    /\n    (\n      {}\n    )\n  )\n",
            good.2, total.2
        );
        slos.push(Slo {
            id: format!("{service}-{meta_name}-{idx}"),
            name: format!("{meta_name}-{idx}"),
            service: service.clone(),
            description: description.clone(),
            period,
            objective: target * 100.0,
            labels: Labels::new(),
            sli: Sli {
                events: None,
                raw: Some(raw),
                latency: None,
            },
            page: AlertMeta {
                disable: true,
                ..AlertMeta::default()
            },
            ticket: AlertMeta {
                disable: true,
                ..AlertMeta::default()
            },
            plugins: SloPlugins::default(),
            record_traffic: false,
            event_weighted_period: false,
        });
    }
    Ok(SloGroup {
        kind: SpecKind::OpenSloV1Alpha,
        k8s: None,
        slos,
    })
}
