use crate::model::{Dashboard, Panel, Variable};

/// The lookup dashboard: DNS latency per server and host, answers by rcode,
/// unanswered ratio and error classes, and the search-path amplification of
/// resolv.conf lookups (hostlookuper's metric names plus ward's).
pub fn lookup() -> Dashboard {
    let sel = r#"job=~"$job", dns_server=~"$dns_server", host=~"$host""#;
    let by_host = r#"job=~"$job", host=~"$host""#;
    let quantile = |q: &str, by: &str| {
        format!("histogram_quantile({q}, sum by (le, {by}) (rate(hostlookuper_dns_lookup_duration_seconds_bucket{{{sel}}}[$__rate_interval])))")
    };
    Dashboard {
        file: "lookup",
        uid: "ward-lookup",
        title: "ward lookup (hostlookuper)",
        description: "DNS lookups of ward lookup: latency per server and host, answers and errors, and what the search path costs a pod.",
        tags: vec!["ward", "hostlookuper", "dns"],
        variables: vec![
            Variable::LabelValues {
                name: "job",
                label: "Job",
                metric: "hostlookuper_dns_lookup_total",
                label_name: "job",
            },
            Variable::LabelValues {
                name: "dns_server",
                label: "DNS server",
                metric: "hostlookuper_dns_lookup_total",
                label_name: "dns_server",
            },
            Variable::LabelValues {
                name: "host",
                label: "Host",
                metric: "hostlookuper_dns_lookup_total",
                label_name: "host",
            },
        ],
        panels: vec![
            Panel::row("Latency"),
            Panel::timeseries("Lookup latency p99 by server", "s")
                .describe("resolv.conf: the whole lookup a pod makes, search path included. Alert: WardLookupLatencyP99High above 250ms.")
                .query(&quantile("0.99", "dns_server"), "{{dns_server}}")
                .query(&quantile("0.5", "dns_server"), "{{dns_server}} p50")
                .size(12, 8),
            Panel::timeseries("Lookup latency p99 by host", "s")
                .query(&quantile("0.99", "host"), "{{host}}")
                .size(12, 8),
            Panel::heatmap("Lookup latency", "s")
                .query(&format!("sum by (le) (increase(hostlookuper_dns_lookup_duration_seconds_bucket{{{sel}}}[$__rate_interval]))"), "{{le}}")
                .size(24, 7),
            Panel::row("Answers and errors"),
            Panel::stacked("Lookups by rcode (share)", "percentunit")
                .describe("Share of the lookups answered with each response code; 'no answer' is a timeout, refusal or network error.")
                .query(&format!("sum by (rcode) (label_replace(rate(hostlookuper_dns_lookup_total{{{sel}}}[$__rate_interval]), \"rcode\", \"no answer\", \"rcode\", \"\")) / ignoring (rcode) group_left () sum(rate(hostlookuper_dns_lookup_total{{{sel}}}[$__rate_interval]))"), "{{rcode}}")
                .size(8, 8),
            Panel::timeseries("Unanswered lookups by server (ratio)", "percentunit")
                .describe("Alert: WardLookupErrorRatioHigh above 1%.")
                .query(&format!("sum by (dns_server) (rate(hostlookuper_dns_errors_total{{{sel}}}[$__rate_interval])) / sum by (dns_server) (rate(hostlookuper_dns_lookup_total{{{sel}}}[$__rate_interval]))"), "{{dns_server}}")
                .size(8, 8),
            Panel::timeseries("Failed lookups by class", "short")
                .describe("ward_lookup_errors_total: timeout, refused, truncated, servfail, nxdomain, network.")
                .query(&format!("sum by (dns_server, class) (rate(ward_lookup_errors_total{{{sel}}}[$__rate_interval]))"), "{{dns_server}} {{class}}")
                .size(8, 8),
            Panel::row("Search-path amplification (resolv.conf)"),
            Panel::timeseries("Queries per lookup", "short")
                .describe("DNS queries one resolv.conf lookup sends (ndots and the search list): the last lookup's, and the mean over the interval.")
                .query(&format!("max by (host) (ward_lookup_resolver_queries_per_lookup{{{by_host}}})"), "{{host}} (last)")
                .query(&format!("sum by (host) (rate(ward_lookup_resolver_queries_total{{{by_host}}}[$__rate_interval])) / sum by (host) (rate(hostlookuper_dns_lookup_total{{{by_host}, dns_server=\"resolv.conf\"}}[$__rate_interval]))"), "{{host}} (mean)")
                .size(12, 8),
            Panel::timeseries("Last resolv.conf lookup duration", "s")
                .query(&format!("max by (host) (ward_lookup_resolver_last_lookup_seconds{{{by_host}}})"), "{{host}}")
                .size(12, 8),
            Panel::table("Lookups in the time range by server, host and rcode", "short")
                .query(&format!("sum by (dns_server, host, rcode) (increase(hostlookuper_dns_lookup_total{{{sel}}}[$__range]))"), "")
                .size(24, 8),
        ],
    }
}
