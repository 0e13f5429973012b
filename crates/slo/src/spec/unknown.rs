//! Finds keys a spec document sets that sloth would silently ignore
//! (typos such as `pageAlert` in a prometheus/v1 file). sloth ignores them,
//! so ward does too by default and only reports them; `ward slo --strict`
//! turns them into errors. OpenSLO documents are not checked (sloth reads a
//! small part of a large schema).

use super::Detected;
use crate::yaml::tree::{self, Value};

/// Expected shape of a node.
enum Shape {
    /// Anything (free-form maps, plugin configs, metadata).
    Any,
    /// An object with these fields.
    Obj(Vec<(&'static str, Shape)>),
    /// A list of this shape.
    List(Box<Shape>),
}

fn obj(fields: Vec<(&'static str, Shape)>) -> Shape {
    Shape::Obj(fields)
}

fn plugins() -> Shape {
    obj(vec![
        ("overridePrevious", Shape::Any),
        (
            "chain",
            Shape::List(Box::new(obj(vec![
                ("id", Shape::Any),
                ("config", Shape::Any),
                ("priority", Shape::Any),
            ]))),
        ),
    ])
}

fn alert() -> Shape {
    obj(vec![
        ("disable", Shape::Any),
        ("labels", Shape::Any),
        ("annotations", Shape::Any),
    ])
}

fn slo(k8s: bool) -> Shape {
    let n = |snake: &'static str, camel: &'static str| if k8s { camel } else { snake };
    obj(vec![
        ("name", Shape::Any),
        ("description", Shape::Any),
        ("objective", Shape::Any),
        ("labels", Shape::Any),
        ("plugins", plugins()),
        (
            "sli",
            obj(vec![
                (
                    "events",
                    obj(vec![
                        (n("error_query", "errorQuery"), Shape::Any),
                        (n("total_query", "totalQuery"), Shape::Any),
                    ]),
                ),
                (
                    "raw",
                    obj(vec![(
                        n("error_ratio_query", "errorRatioQuery"),
                        Shape::Any,
                    )]),
                ),
                (
                    "plugin",
                    obj(vec![("id", Shape::Any), ("options", Shape::Any)]),
                ),
            ]),
        ),
        (
            "alerting",
            obj(vec![
                ("name", Shape::Any),
                ("labels", Shape::Any),
                ("annotations", Shape::Any),
                (n("page_alert", "pageAlert"), alert()),
                (n("ticket_alert", "ticketAlert"), alert()),
            ]),
        ),
    ])
}

fn spec_fields(k8s: bool) -> Vec<(&'static str, Shape)> {
    vec![
        ("service", Shape::Any),
        ("labels", Shape::Any),
        (if k8s { "sloPlugins" } else { "slo_plugins" }, plugins()),
        ("slos", Shape::List(Box::new(slo(k8s)))),
    ]
}

fn walk(v: &Value, shape: &Shape, case_insensitive: bool, path: &str, out: &mut Vec<String>) {
    match (shape, v) {
        (Shape::Any, _) => {}
        (Shape::List(item), Value::Seq(items)) => {
            for (i, it) in items.iter().enumerate() {
                walk(it, item, case_insensitive, &format!("{path}[{i}]"), out);
            }
        }
        (Shape::Obj(fields), Value::Map(entries)) => {
            for (k, val) in entries {
                let key = &k.raw;
                let field = fields.iter().find(|(name, _)| {
                    if case_insensitive {
                        name.eq_ignore_ascii_case(key)
                    } else {
                        name == key
                    }
                });
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match field {
                    Some((_, s)) => walk(val, s, case_insensitive, &p, out),
                    None => out.push(p),
                }
            }
        }
        _ => {}
    }
}

/// Paths of keys sloth ignores in a spec document (empty when it can't tell).
pub fn unknown_fields(doc: &str) -> Vec<String> {
    let Ok(v) = tree::parse(doc) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match super::detect(doc) {
        Some(Detected::Prometheus) => {
            let mut fields = spec_fields(false);
            fields.push(("version", Shape::Any));
            walk(&v, &obj(fields), true, "", &mut out);
        }
        Some(Detected::K8s) => {
            let root = obj(vec![
                ("apiVersion", Shape::Any),
                ("kind", Shape::Any),
                ("metadata", Shape::Any),
                ("status", Shape::Any),
                ("spec", obj(spec_fields(true))),
            ]);
            walk(&v, &root, false, "", &mut out);
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ignored_keys() {
        let doc = "version: prometheus/v1\nservice: s\nslos:\n  - name: a\n    Objective: 9\n    alerting:\n      pageAlert: {disable: true}\n";
        assert_eq!(
            unknown_fields(doc),
            vec!["slos[0].alerting.pageAlert".to_string()]
        );
        let k8s = "apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel\nspec:\n  slos:\n    - name: a\n      alerting:\n        page_alert: {}\n";
        assert_eq!(
            unknown_fields(k8s),
            vec!["spec.slos[0].alerting.page_alert".to_string()]
        );
    }
}
