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
