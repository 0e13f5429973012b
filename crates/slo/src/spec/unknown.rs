//! Finds keys a spec document sets that sloth would silently ignore
//! (typos such as `pageAlert` in a prometheus/v1 file). sloth ignores them,
//! so ward does too by default and only reports them; `ward slo --strict`
//! turns them into errors. The loaders call this on the tree they already
//! parsed, so a document is read once. OpenSLO documents are not checked
//! (sloth reads a small part of a large schema).

use crate::yaml::tree::Value;

/// Expected shape of a node.
enum Shape {
    /// Anything (free-form maps, plugin configs, metadata).
    Any,
    /// An object with these fields.
    Obj(&'static [(&'static str, Shape)]),
    /// A list of this shape.
    List(&'static Shape),
}

use Shape::{Any, List, Obj};

const PLUGINS: Shape = Obj(&[
    ("overridePrevious", Any),
    (
        "chain",
        List(&Obj(&[("id", Any), ("config", Any), ("priority", Any)])),
    ),
]);

/// `for` is ward's extension (sloth ignores it).
const ALERT: Shape = Obj(&[
    ("disable", Any),
    ("labels", Any),
    ("annotations", Any),
    ("for", Any),
]);

/// The fields of a spec (`prometheus/v1` root or Kubernetes `spec`) in one
/// naming dialect, plus any extra root fields.
macro_rules! spec_fields {
    ($slo_plugins:literal, $error_query:literal, $total_query:literal,
     $error_ratio_query:literal, $page:literal, $ticket:literal,
     $record_traffic:literal, $event_weighted_period:literal $(, $extra:expr)*) => {
        &[
            $($extra,)*
            // ward's extensions (sloth ignores them), for every SLO.
            ($record_traffic, Any),
            ($event_weighted_period, Any),
            ("service", Any),
            ("labels", Any),
            ($slo_plugins, PLUGINS),
            (
                "slos",
                List(&Obj(&[
                    ("name", Any),
                    ("description", Any),
                    ("objective", Any),
                    // ward's extension (sloth ignores it).
                    ("period", Any),
                    ($record_traffic, Any),
                    ($event_weighted_period, Any),
                    ("labels", Any),
                    ("plugins", PLUGINS),
                    (
                        "sli",
                        Obj(&[
                            ("events", Obj(&[($error_query, Any), ($total_query, Any)])),
                            ("raw", Obj(&[($error_ratio_query, Any)])),
                            ("plugin", Obj(&[("id", Any), ("options", Any)])),
                            // ward's extension (sloth ignores it).
                            (
                                "latency",
                                Obj(&[("histogram", Any), ("threshold", Any), ("selector", Any)]),
                            ),
                        ]),
                    ),
                    (
                        "alerting",
                        Obj(&[
                            ("name", Any),
                            ("labels", Any),
                            ("annotations", Any),
                            ($page, ALERT),
                            ($ticket, ALERT),
                        ]),
                    ),
                ])),
            ),
        ]
    };
}

const PROMETHEUS: Shape = Obj(spec_fields!(
    "slo_plugins",
    "error_query",
    "total_query",
    "error_ratio_query",
    "page_alert",
    "ticket_alert",
    "record_traffic",
    "event_weighted_period",
    ("version", Any)
));

const K8S: Shape = Obj(&[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", Any),
    ("status", Any),
    (
        "spec",
        Obj(spec_fields!(
            "sloPlugins",
            "errorQuery",
            "totalQuery",
            "errorRatioQuery",
            "pageAlert",
            "ticketAlert",
            "recordTraffic",
            "eventWeightedPeriod"
        )),
    ),
]);

/// One step of a path: a key or a list index.
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

fn render(path: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => {
                s.push('[');
                s.push_str(&i.to_string());
                s.push(']');
            }
        }
    }
    s
}

fn walk<'v>(
    v: &'v Value,
    shape: &Shape,
    case_insensitive: bool,
    path: &mut Vec<Step<'v>>,
    out: &mut Vec<String>,
) {
    match (shape, v) {
        (Any, _) => {}
        (List(item), Value::Seq(items)) => {
            for (i, it) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk(it, item, case_insensitive, path, out);
                path.pop();
            }
        }
        (Obj(fields), Value::Map(entries)) => {
            for (k, val) in entries {
                let key = &*k.raw;
                let field = fields.iter().find(|(name, _)| {
                    if case_insensitive {
                        name.eq_ignore_ascii_case(key)
                    } else {
                        *name == key
                    }
                });
                path.push(Step::Key(key));
                match field {
                    Some((_, s)) => walk(val, s, case_insensitive, path, out),
                    None => out.push(render(path)),
                }
                path.pop();
            }
        }
        _ => {}
    }
}

/// Appends the paths of keys sloth ignores in a parsed prometheus/v1 document.
pub fn prometheus(doc: &Value, out: &mut Vec<String>) {
    walk(doc, &PROMETHEUS, true, &mut Vec::new(), out);
}

/// Appends the paths of keys sloth ignores in a parsed `PrometheusServiceLevel`.
pub fn k8s(doc: &Value, out: &mut Vec<String>) {
    walk(doc, &K8S, false, &mut Vec::new(), out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::tree;

    #[test]
    fn finds_ignored_keys() {
        let doc = "version: prometheus/v1\nservice: s\nslos:\n  - name: a\n    Objective: 9\n    alerting:\n      pageAlert: {disable: true}\n";
        let mut found = Vec::new();
        prometheus(&tree::parse(doc).unwrap(), &mut found);
        assert_eq!(found, vec!["slos[0].alerting.pageAlert".to_string()]);
        let k8s_doc = "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec:\n  slos:\n    - name: a\n      alerting:\n        page_alert: {}\n    - name: b\n      tipo: x\n";
        let mut found = Vec::new();
        k8s(&tree::parse(k8s_doc).unwrap(), &mut found);
        assert_eq!(
            found,
            vec![
                "spec.slos[0].alerting.page_alert".to_string(),
                "spec.slos[1].tipo".to_string()
            ]
        );
    }
}
