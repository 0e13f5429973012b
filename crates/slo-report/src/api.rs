//! The part of Prometheus' HTTP API the report reads: instant queries, one
//! range query and the alerting rules, each answer checked field by field so
//! that a malformed one is named by its path (`data.result[2].value`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use url::Url;
use ward_probe::http::{AcceptStatus, HttpRequest};
use ward_probe::{Prober, ProberConfig};

use crate::{Error, Result};

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// Its labels, `__name__` included.
    pub(crate) labels: BTreeMap<String, String>,
    /// Its value (NaN when Prometheus computed 0/0).
    pub(crate) value: f64,
}

/// One series of a range query: its labels and its (Unix seconds, value) points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) points: Vec<(f64, f64)>,
}

/// An alerting rule as `/api/v1/rules` lists it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AlertRule {
    /// The group it is in.
    pub(crate) group: String,
    /// The alert name.
    pub(crate) name: String,
    /// Its `sloth_severity` label, if any.
    pub(crate) severity: Option<String>,
    /// `inactive`, `pending` or `firing`.
    pub(crate) state: String,
}

/// A Prometheus' API at a base URL (which may carry a path prefix).
pub(crate) struct Api {
    base: Url,
    prober: Prober,
}

impl Api {
    /// A client of the API at `base`; each request must finish within `timeout`.
    pub(crate) fn new(base: &Url, timeout: Duration) -> Result<Self> {
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::Url {
                url: base.to_string(),
                reason: "expected an http:// or https:// URL with a host".into(),
            });
        }
        let prober = Prober::new(ProberConfig {
            timeout,
            max_body: 64 << 20,
            ..ProberConfig::default()
        })
        .map_err(|e| Error::Url {
            url: base.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            base: base.clone(),
            prober,
        })
    }

    /// The base URL, as the user gave it.
    pub(crate) fn url(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    fn malformed(&self, path: &str, what: String) -> Error {
        Error::Malformed {
            url: self.url(),
            path: path.to_string(),
            what,
        }
    }

    /// GETs `path` with `params` and returns the answer's `data`.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> Result<Value> {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{path}", self.base.path().trim_end_matches('/')));
        url.query_pairs_mut().clear().extend_pairs(params);
        let mut request = HttpRequest::get(url);
        request.accept = AcceptStatus::Any;
        let (outcome, body) = self.prober.fetch_http(&request).await;
        if let Some(e) = outcome.error {
            return Err(Error::Unreachable {
                url: self.url(),
                reason: e.message,
            });
        }
        let status = outcome.status.unwrap_or_default();
        let answer: Option<Value> = serde_json::from_slice(&body).ok();
        let message = |answer: &Option<Value>| match answer.as_ref().and_then(|a| a.get("error")) {
            Some(Value::String(e)) => e.clone(),
            _ => one_line(&String::from_utf8_lossy(&body)),
        };
        if status != 200 {
            return Err(Error::Status {
                url: self.url(),
                path: path.to_string(),
                status,
                message: message(&answer),
            });
        }
        let Some(answer) = answer else {
            return Err(self.malformed(path, "not JSON".into()));
        };
        match answer.get("status").and_then(Value::as_str) {
            Some("success") => {}
            Some(_) => {
                return Err(Error::Status {
                    url: self.url(),
                    path: path.to_string(),
                    status,
                    message: message(&Some(answer)),
                })
            }
            None => return Err(self.malformed(path, "status: expected a string".into())),
        }
        answer
            .get("data")
            .cloned()
            .ok_or_else(|| self.malformed(path, "data: missing".into()))
    }

    /// The instant vector `expr` evaluates to at `at` (Unix seconds).
    pub(crate) async fn query(&self, expr: &str, at: f64) -> Result<Vec<Sample>> {
        const PATH: &str = "/api/v1/query";
        let data = self
            .get(PATH, &[("query", expr), ("time", &format!("{at:.3}"))])
            .await?;
        each_result(&data, "vector", |s, at| {
            Ok(Sample {
                labels: labels(s, at)?,
                value: point(s.get("value"), &format!("{at}.value"))?.1,
            })
        })
        .map_err(|what| self.malformed(PATH, what))
    }

    /// The series `expr` evaluates to from `start` to `end` every `step` (Unix seconds).
    pub(crate) async fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<Series>> {
        const PATH: &str = "/api/v1/query_range";
        let (start, end, step) = (
            format!("{start:.3}"),
            format!("{end:.3}"),
            format!("{step:.3}"),
        );
        let data = self
            .get(
                PATH,
                &[
                    ("query", expr),
                    ("start", &start),
                    ("end", &end),
                    ("step", &step),
                ],
            )
            .await?;
        each_result(&data, "matrix", |s, at| {
            let values = s
                .get("values")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("{at}.values: expected an array of [time, \"value\"]"))?;
            Ok(Series {
                labels: labels(s, at)?,
                points: values
                    .iter()
                    .enumerate()
                    .map(|(j, p)| point(Some(p), &format!("{at}.values[{j}]")))
                    .collect::<Result<_, _>>()?,
            })
        })
        .map_err(|what| self.malformed(PATH, what))
    }

    /// Every alerting rule Prometheus has loaded, with its group and state.
    pub(crate) async fn alert_rules(&self) -> Result<Vec<AlertRule>> {
        const PATH: &str = "/api/v1/rules";
        let data = self.get(PATH, &[("type", "alert")]).await?;
        alert_rules(&data).map_err(|what| self.malformed(PATH, what))
    }
}

/// `data.result` of a query answer of `kind` (`vector`, `matrix`).
fn results<'a>(data: &'a Value, kind: &str) -> Result<&'a Vec<Value>, String> {
    match data.get("resultType").and_then(Value::as_str) {
        Some(k) if k == kind => {}
        other => {
            return Err(format!(
                "data.resultType: expected {kind:?}, got {}",
                other.map_or("nothing".to_string(), |k| format!("{k:?}"))
            ))
        }
    }
    data.get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| "data.result: expected an array".to_string())
}

/// `read` applied to each `data.result[i]` of a query answer of `kind`,
/// with the element's path.
fn each_result<T>(
    data: &Value,
    kind: &str,
    read: impl Fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    results(data, kind)?
        .iter()
        .enumerate()
        .map(|(i, s)| read(s, &format!("data.result[{i}]")))
        .collect()
}

/// The `metric` labels of a result at path `at`.
fn labels(series: &Value, at: &str) -> Result<BTreeMap<String, String>, String> {
    let metric = series
        .get("metric")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{at}.metric: expected an object"))?;
    metric
        .iter()
        .map(|(k, v)| match v {
            Value::String(v) => Ok((k.clone(), v.clone())),
            _ => Err(format!("{at}.metric.{k}: expected a string")),
        })
        .collect()
}

/// A `[time, "value"]` pair at path `at`.
fn point(v: Option<&Value>, at: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{at}: expected [time, \"value\"]");
    match v.and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::Number(t), Value::String(x)]) => {
            let t = t.as_f64().ok_or_else(bad)?;
            let x = x
                .parse::<f64>()
                .map_err(|_| format!("{at}: value {x:?} is not a number"))?;
            Ok((t, x))
        }
        _ => Err(bad()),
    }
}

/// The alerting rules of a `/api/v1/rules` answer's `data`.
fn alert_rules(data: &Value) -> Result<Vec<AlertRule>, String> {
    let groups = data
        .get("groups")
        .and_then(Value::as_array)
        .ok_or("data.groups: expected an array")?;
    let mut out = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let at = format!("data.groups[{i}]");
        let group = g
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.name: expected a string"))?;
        let rules = g
            .get("rules")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{at}.rules: expected an array"))?;
        for (j, r) in rules.iter().enumerate() {
            let at = format!("{at}.rules[{j}]");
            if r.get("type").and_then(Value::as_str) != Some("alerting") {
                continue;
            }
            let text = |key: &str| {
                r.get(key)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("{at}.{key}: expected a string"))
            };
            let state = text("state")?;
            if !matches!(state.as_str(), "inactive" | "pending" | "firing") {
                return Err(format!(
                    "{at}.state: expected inactive, pending or firing, got {state:?}"
                ));
            }
            out.push(AlertRule {
                group: group.to_string(),
                name: text("name")?,
                severity: r
                    .get("labels")
                    .and_then(|l| l.get("sloth_severity"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                state,
            });
        }
    }
    Ok(out)
}

/// The start of a non-JSON answer body, on one line.
fn one_line(body: &str) -> String {
    let line = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_malformed_answer_is_named_by_its_path() {
        let bad_value = json!({"resultType": "vector", "result": [
            {"metric": {"a": "b"}, "value": [1, "0.5"]},
            {"metric": {"a": "c"}, "value": [1, 0.5]},
        ]});
        let r = results(&bad_value, "vector").unwrap();
        assert_eq!(point(r[0].get("value"), "x").unwrap(), (1.0, 0.5));
        assert_eq!(
            point(r[1].get("value"), "data.result[1].value").unwrap_err(),
            "data.result[1].value: expected [time, \"value\"]"
        );
        assert!(point(Some(&json!([1, "NaN"])), "v").unwrap().1.is_nan());
        assert_eq!(
            point(Some(&json!([1, "+Inf"])), "v").unwrap().1,
            f64::INFINITY
        );
        assert_eq!(
            point(Some(&json!([1, "x"])), "v").unwrap_err(),
            "v: value \"x\" is not a number"
        );
        assert_eq!(
            results(&json!({"resultType": "matrix", "result": []}), "vector").unwrap_err(),
            "data.resultType: expected \"vector\", got \"matrix\""
        );
        assert_eq!(
            labels(&json!({"metric": {"a": 1}}), "data.result[0]").unwrap_err(),
            "data.result[0].metric.a: expected a string"
        );
        assert_eq!(
            alert_rules(&json!({"groups": [{"name": "g", "rules": [
                {"type": "recording", "name": "r"},
                {"type": "alerting", "name": "A", "state": "firing", "labels": {"sloth_severity": "page"}},
                {"type": "alerting", "name": "B", "state": "on fire"},
            ]}]}))
            .unwrap_err(),
            "data.groups[0].rules[2].state: expected inactive, pending or firing, got \"on fire\""
        );
        assert_eq!(one_line("a\n  b\tc"), "a b c");
    }
}
