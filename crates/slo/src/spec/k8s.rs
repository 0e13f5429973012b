//! The Kubernetes `sloth.slok.dev/v1` `PrometheusServiceLevel` form:
//! case-sensitive camelCase keys, no scalar coercion, object metadata kept
//! for the generated `PrometheusRule`.

use super::decode::{Mode, Obj};
use super::prometheus::{map_spec, parse_doc, Names};
use crate::duration::Duration;
use crate::model::{K8sMeta, SloGroup, SpecKind};

const K8S_NAMES: Names = Names {
    slo_plugins: "sloPlugins",
    error_ratio_query: "errorRatioQuery",
    error_query: "errorQuery",
    total_query: "totalQuery",
    page_alert: "pageAlert",
    ticket_alert: "ticketAlert",
    record_traffic: "recordTraffic",
    event_weighted_period: "eventWeightedPeriod",
};

/// Loads a `PrometheusServiceLevel` document (ignored keys: see [`super::load`]).
pub fn load(doc: &str, period: Duration, ignored: &mut Vec<String>) -> Result<SloGroup, String> {
    let v = parse_doc(doc)?;
    super::unknown::k8s(&v, ignored);
    let root = Obj::new(&v, Mode::K8s, "")
        .map_err(|e| format!("could not decode kubernetes object {e}"))?;
    let decode = |e: String| format!("could not decode kubernetes object {e}");
    let md = root.obj("metadata").map_err(decode)?;
    let meta = K8sMeta {
        name: md.string("name").map_err(decode)?,
        namespace: md.string("namespace").map_err(decode)?,
        labels: md.string_map("labels").map_err(decode)?,
        annotations: md.string_map("annotations").map_err(decode)?,
    };
    let spec = root.obj("spec").map_err(decode)?;
    if spec.seq("slos").map_err(decode)?.is_empty() {
        return Err("at least one SLO is required".to_string());
    }
    map_spec(&spec, &K8S_NAMES, SpecKind::K8sV1, Some(meta), period)
        .map_err(|e| format!("could not map to model: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_keys_are_camel_case() {
        let doc = "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nmetadata: {name: x}\nspec:\n  service: s\n  eventWeightedPeriod: true\n  slos:\n    - name: a\n      recordTraffic: true\n      sli: {latency: {histogram: h, threshold: 0.5, selector: 'job=\"j\"'}}\n";
        let mut ignored = Vec::new();
        let g = load(doc, Duration(1), &mut ignored).unwrap();
        let s = &g.slos[0];
        assert_eq!((s.record_traffic, s.event_weighted_period), (true, true));
        assert_eq!(ignored, Vec::<String>::new());
    }
}
