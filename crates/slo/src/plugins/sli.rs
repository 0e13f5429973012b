//! SLI plugins (sloth's `SLIPlugin(ctx, meta, labels, options)`), native
//! re-implementations of the common ones from slok/sloth-common-sli-plugins:
//! Kubernetes apiserver availability/latency, CoreDNS availability/latency
//! and nginx-ingress availability. Each returns a raw error-ratio query
//! that still contains `{{.window}}`; ids, options and output text match
//! the Go plugins.

use std::sync::OnceLock;

use regex::Regex;

use crate::model::Labels;

/// The `meta` map sloth passes to SLI plugins.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `service`.
    pub service: String,
    /// `slo` (the SLO name).
    pub slo: String,
    /// `objective` formatted with `%f`.
    pub objective: String,
}

/// Supported SLI plugin ids.
pub const IDS: &[&str] = &[
    "sloth-common/kubernetes/apiserver/availability",
    "sloth-common/kubernetes/apiserver/latency",
    "sloth-common/coredns/availability",
    "sloth-common/coredns/latency",
    "sloth-common/kubernetes/nginx-ingress/availability",
];

const W: &str = "{{.window}}";

fn trim_filter(f: &str) -> &str {
    f.trim_matches(|c| c == '{' || c == '}' || c == ',')
}

/// The checked `filter` option (`k="v",k2="v2"`), empty when absent.
fn checked_filter(options: &Labels) -> Result<String, String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?m)^\{?([^=]+="[^=,"]+",)*([^=]+="[^=,"]+")$"#).expect("static regex")
    });
    let Some(f) = options.get("filter").filter(|f| !f.is_empty()) else {
        return Ok(String::new());
    };
    let f = trim_filter(f);
    if !re.is_match(f) {
        return Err(format!(
            "could not get filter: invalid prometheus filter: {f}"
        ));
    }
    Ok(f.to_string())
}

fn bucket(options: &Labels) -> Result<String, String> {
    let b = options
        .get("bucket")
        .filter(|b| !b.is_empty())
        .ok_or_else(|| "could not get bucket: \"bucket\" option is required".to_string())?;
    if b.parse::<f64>().is_err()
        && !matches!(
            b.to_ascii_lowercase().as_str(),
            "inf" | "+inf" | "-inf" | "infinity" | "+infinity" | "-infinity" | "nan"
        )
    {
        return Err(format!(
            "could not get bucket: not a valid bucket, can't parse to float64: strconv.ParseFloat: parsing {b:?}: invalid syntax"
        ));
    }
    Ok(b.to_string())
}

fn with_comma(f: &str) -> String {
    if f.is_empty() {
        String::new()
    } else {
        format!("{f},")
    }
}

/// Runs the SLI plugin `id`; errors use sloth's texts.
pub fn run(id: &str, _meta: &Meta, _labels: &Labels, options: &Labels) -> Result<String, String> {
    let exec =
        |r: Result<String, String>| r.map_err(|e| format!("plugin {id:?} execution error: {e}"));
    match id {
        "sloth-common/kubernetes/apiserver/availability" => exec(checked_filter(options).map(|f| {
            format!(
                "\nsum(rate(apiserver_request_total{{ {}code=~\"(5..|429)\" }}[{W}]))\n/\nsum(rate(apiserver_request_total{{ {f} }}[{W}]))\n",
                with_comma(&f)
            )
        })),
        "sloth-common/kubernetes/apiserver/latency" => exec((|| {
            let b = bucket(options)?;
            let f = with_comma(&checked_filter(options)?);
            Ok(format!(
                "\n(\n  sum(rate(apiserver_request_duration_seconds_count{{ {f}verb!=\"WATCH\" }}[{W}]))\n  -\n  sum(rate(apiserver_request_duration_seconds_bucket{{ {f}le=\"{b}\",verb!=\"WATCH\" }}[{W}]))\n)\n/\nsum(rate(apiserver_request_duration_seconds_count{{ {f}verb!=\"WATCH\" }}[{W}]))\n"
            ))
        })()),
        "sloth-common/coredns/availability" => exec((|| {
            let custom = options.get("custom_rcode_regex").map(|s| s.trim()).unwrap_or("");
            let rcode = if custom.is_empty() {
                "SERVFAIL".to_string()
            } else {
                Regex::new(custom).map_err(|e| {
                    format!("could not get custom rcodes regex: invalid regex: {e}")
                })?;
                custom.to_string()
            };
            let f = trim_filter(options.get("filter").map(|f| &**f).unwrap_or("")).to_string();
            Ok(format!(
                "\nsum(rate(coredns_dns_responses_total{{ {}rcode=~\"{rcode}\" }}[{W}]))\n/\n(sum(rate(coredns_dns_responses_total{{ {f} }}[{W}])) > 0)\n",
                with_comma(&f)
            ))
        })()),
        "sloth-common/coredns/latency" => exec((|| {
            let b = bucket(options)?;
            let f = trim_filter(options.get("filter").map(|f| &**f).unwrap_or("")).to_string();
            Ok(format!(
                "\n1 - ((\n  sum(rate(coredns_dns_request_duration_seconds_bucket{{ {}le=\"{b}\" }}[{{{{ .window }}}}]))\n  /\n  (sum(rate(coredns_dns_request_duration_seconds_count{{ {f} }}[{{{{ .window }}}}])) > 0)\n) OR on() vector(1))\n",
                with_comma(&f)
            ))
        })()),
        "sloth-common/kubernetes/nginx-ingress/availability" => exec(checked_filter(options).map(|f| {
            format!(
                "\nsum(rate(nginx_ingress_controller_requests{{ {}status=~\"(5..|429)\" }}[{W}]))\n/\nsum(rate(nginx_ingress_controller_requests{{ {f} }}[{W}]))\n",
                with_comma(&f)
            )
        })),
        _ => Err(format!(
            "could not get plugin: plugin {id:?} not found: resource not found"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> Labels {
        kv.iter().map(|&(k, v)| (k.into(), v.into())).collect()
    }

    fn meta() -> Meta {
        Meta {
            service: "s".into(),
            slo: "x".into(),
            objective: "99.900000".into(),
        }
    }

    #[test]
    fn apiserver_availability() {
        let q = run(
            "sloth-common/kubernetes/apiserver/availability",
            &meta(),
            &Labels::new(),
            &opts(&[("filter", "{job=\"apiserver\"}")]),
        )
        .unwrap();
        assert_eq!(
            q,
            "\nsum(rate(apiserver_request_total{ job=\"apiserver\",code=~\"(5..|429)\" }[{{.window}}]))\n/\nsum(rate(apiserver_request_total{ job=\"apiserver\" }[{{.window}}]))\n"
        );
    }

    #[test]
    fn latency_requires_bucket_and_unknown_ids_fail() {
        let e = run(
            "sloth-common/kubernetes/apiserver/latency",
            &meta(),
            &Labels::new(),
            &Labels::new(),
        );
        assert!(e.unwrap_err().contains("\"bucket\" option is required"));
        let e = run("nope/x", &meta(), &Labels::new(), &Labels::new());
        assert!(e.unwrap_err().contains("plugin \"nope/x\" not found"));
    }
}
