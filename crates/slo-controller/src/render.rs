//! The PrometheusRule a PrometheusServiceLevel asks for: the same rules
//! `ward slo generate` writes for the object (sloth's Kubernetes form: the
//! object's name, namespace, labels and annotations, plus
//! `app.kubernetes.io/component: SLO` and `app.kubernetes.io/managed-by:
//! sloth`), owned by the object as its controller.

use kube::api::DynamicObject;
use kube::ResourceExt;
use serde_json::{json, Value};
use ward_slo::Generator;

/// The annotation kubectl keeps the applied object in: not copied to the rule
/// (it describes the PrometheusServiceLevel, and kubectl would read it as the
/// rule's).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// A generated PrometheusRule, as JSON for the API.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rendered {
    /// The object.
    pub(crate) rule: DynamicObject,
    /// Rules in all its groups.
    pub(crate) rules: usize,
}

/// The SLOs the object declares (what sloth's `processedSLOs` counts).
pub(crate) fn slo_count(psl: &DynamicObject) -> usize {
    psl.data["spec"]["slos"].as_array().map_or(0, Vec::len)
}

/// Generates the object's PrometheusRule; the error is the generator's
/// message (naming the object, the SLO and the field).
pub(crate) fn render(generator: &Generator, psl: &DynamicObject) -> Result<Rendered, String> {
    let name = psl.name_any();
    let namespace = psl.namespace().unwrap_or_default();
    let mut annotations = psl.annotations().clone();
    annotations.remove(LAST_APPLIED);
    let doc = json!({
        "apiVersion": "sloth.slok.dev/v1",
        "kind": "PrometheusServiceLevel",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": psl.labels(),
            "annotations": annotations,
        },
        "spec": psl.data["spec"],
    });
    let yaml = serde_yaml_ng::to_string(&doc).map_err(|e| format!("{namespace}/{name}: {e}"))?;
    let result = generator
        .generate_doc(&format!("{namespace}/{name}"), &yaml, &mut Vec::new())
        .map_err(|e| e.to_string())?;
    let text = ward_slo::output::write_k8s(&result, "", Vec::new())
        .map_err(|e| format!("{namespace}/{name}: writing the rules: {e}"))?;
    let mut rule: Value = serde_yaml_ng::from_slice(&text)
        .map_err(|e| format!("{namespace}/{name}: reading the rules back: {e}"))?;
    rule["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "sloth.slok.dev/v1",
        "kind": "PrometheusServiceLevel",
        "name": name,
        "uid": psl.uid().unwrap_or_default(),
        "controller": true,
    }]);
    let rules = rule["spec"]["groups"].as_array().map_or(0, |groups| {
        groups
            .iter()
            .map(|g| g["rules"].as_array().map_or(0, Vec::len))
            .sum()
    });
    let rule = serde_json::from_value(rule)
        .map_err(|e| format!("{namespace}/{name}: reading the rules back: {e}"))?;
    Ok(Rendered { rule, rules })
}

/// True when `existing` already says what `desired` says (labels,
/// annotations, owner references and spec; the API's own fields aside).
pub(crate) fn same_rule(existing: &DynamicObject, desired: &DynamicObject) -> bool {
    existing.labels() == desired.labels()
        && existing.annotations() == desired.annotations()
        && existing.owner_references() == desired.owner_references()
        && existing.data["spec"] == desired.data["spec"]
}

/// True when `existing` names the object among its owners (by UID): ward's
/// or sloth's rule for it, which the controller may overwrite.
pub(crate) fn owned_by(existing: &DynamicObject, psl: &DynamicObject) -> bool {
    let uid = psl.uid();
    existing
        .owner_references()
        .iter()
        .any(|o| Some(&o.uid) == uid.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_slo::Config;

    pub(crate) fn psl(spec: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "sloth.slok.dev/v1",
            "kind": "PrometheusServiceLevel",
            "metadata": {
                "name": "checkout",
                "namespace": "shop",
                "uid": "1234",
                "labels": {"team": "a"},
                "annotations": {LAST_APPLIED: "{}", "note": "kept"},
            },
            "spec": spec,
        }))
        .unwrap()
    }

    fn availability() -> Value {
        json!({
            "service": "checkout",
            "slos": [{
                "name": "requests",
                "objective": 99.9,
                "sli": {"events": {
                    "errorQuery": "sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))",
                    "totalQuery": "sum(rate(http_requests_total[{{.window}}]))",
                }},
                "alerting": {"pageAlert": {"disable": true}, "ticketAlert": {"disable": true}},
            }],
        })
    }

    #[test]
    fn the_rule_is_sloths_object_owned_by_the_service_level() {
        let generator = Generator::new(Config::default()).unwrap();
        let r = render(&generator, &psl(availability())).unwrap();
        let rule = serde_json::to_value(&r.rule).unwrap();
        let meta = &rule["metadata"];
        assert_eq!(rule["kind"], "PrometheusRule");
        assert_eq!(
            (&meta["name"], &meta["namespace"]),
            (&json!("checkout"), &json!("shop"))
        );
        assert_eq!(
            meta["labels"],
            json!({"team": "a", "app.kubernetes.io/component": "SLO", "app.kubernetes.io/managed-by": "sloth"})
        );
        assert_eq!(meta["annotations"], json!({"note": "kept"}));
        assert_eq!(
            meta["ownerReferences"],
            json!([{"apiVersion": "sloth.slok.dev/v1", "kind": "PrometheusServiceLevel", "name": "checkout", "uid": "1234", "controller": true}])
        );
        let groups: Vec<&str> = rule["spec"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            groups,
            [
                "sloth-slo-sli-recordings-checkout-requests",
                "sloth-slo-meta-recordings-checkout-requests"
            ]
        );
        let count = |g: usize| rule["spec"]["groups"][g]["rules"].as_array().unwrap().len();
        assert_eq!(r.rules, count(0) + count(1));
        assert_eq!(r.rules, 15);
        assert!(same_rule(&r.rule, &r.rule.clone()));
        assert!(owned_by(&r.rule, &psl(availability())));
    }

    #[test]
    fn an_invalid_spec_is_named_by_object_slo_and_field() {
        let generator = Generator::new(Config::default()).unwrap();
        let mut spec = availability();
        spec["slos"][0]["sli"]["events"]["errorQuery"] = json!("sum(rate(x[{{.window}}])");
        let e = render(&generator, &psl(spec)).unwrap_err();
        assert_eq!(
            e,
            "shop/checkout: invalid slo \"checkout-requests\" (field sli.events.error_query): slo processor failed: \
             invalid slo \"checkout-requests\": invalid SLI: sli error query expression: parse error: unclosed left parenthesis"
        );
    }
}
