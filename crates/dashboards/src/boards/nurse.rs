use crate::model::{Dashboard, Panel, Variable};

/// `label_replace` turning `type="path_<node>"` into `destination="<node>"`.
fn by_destination(inner: &str) -> String {
    format!(r#"label_replace({inner}, "destination", "$1", "type", "path_(.*)")"#)
}

/// The nurse dashboard: everything kubenurse's own dashboard shows (same
/// metric names, so it works on kubenurse data too; `go_goroutines` aside,
/// which a Rust process has not), plus the mesh by source and destination
/// node, each API-server instance, and ward's per-phase latency, failure
/// classes and certificate expiry.
pub fn nurse() -> Dashboard {
    let sel = r#"job=~"$job", type=~"$request_type.*", node=~"$node""#;
    let path = r#"job=~"$job", type=~"path_.*", node=~"$node""#;
    let any = r#"job=~"$job", node=~"$node""#;
    let instance = r#"job=~"$job", type="api_server_instance", node=~"$node""#;
    let path_requests = by_destination(&format!(
        "rate(kubenurse_httpclient_requests_total{{{path}}}[$__rate_interval])"
    ));
    let path_errors = by_destination(&format!(
        "rate(kubenurse_errors_total{{{path}}}[$__rate_interval])"
    ));
    Dashboard {
        file: "nurse",
        uid: "ward-nurse",
        title: "ward nurse (kubenurse)",
        description: "Per-check latency and errors of ward nurse (kubenurse's metrics), the node mesh by source and destination, and per-phase latency. Source node: the `node` label the chart's ServiceMonitor adds.",
        tags: vec!["ward", "kubenurse", "network"],
        variables: vec![
            Variable::LabelValues {
                name: "job",
                label: "Job",
                metric: "kubenurse_httpclient_requests_total",
                label_name: "job",
            },
            Variable::Custom {
                name: "request_type",
                label: "Request type",
                values: vec!["api_server_direct", "api_server_dns", "me_service", "me_ingress", "path_"],
            },
            Variable::LabelValues {
                name: "node",
                label: "Source node",
                metric: "kubenurse_httpclient_requests_total",
                label_name: "node",
            },
        ],
        panels: vec![
            Panel::row("$request_type").repeat("request_type"),
            Panel::heatmap("Requests $request_type", "s")
                .describe("Round trip to the response head, as a histogram over time (kubenurse's panel, with a range so Prometheus takes it).")
                .query(&format!("sum by (le) (increase(kubenurse_httpclient_request_duration_seconds_bucket{{{sel}}}[$__rate_interval]))"), "{{le}}")
                .size(6, 8),
            Panel::timeseries("Error rate $request_type", "short")
                .describe("Failed checks per second by source node, and over all nurses.")
                .query(&format!("sum by (node) (rate(kubenurse_errors_total{{{sel}}}[$__rate_interval]))"), "errors from {{node}}")
                .query(&format!("sum(rate(kubenurse_errors_total{{{sel}}}[$__rate_interval]))"), "sum over all nurses")
                .size(6, 8),
            Panel::timeseries("http request duration by source node (p0.95) $request_type", "s")
                .query(&format!("histogram_quantile(0.95, sum by (le, node) (rate(kubenurse_httpclient_request_duration_seconds_bucket{{{sel}}}[$__rate_interval])))"), "{{node}}")
                .size(6, 8),
            Panel::timeseries("http request tracing (p0.95) $request_type", "s")
                .describe("Time from the start of the check to each event (dns_done, connect_done, tls_handshake_done, got_first_resp_byte, …).")
                .query(&format!("histogram_quantile(0.95, sum by (le, event) (rate(kubenurse_httpclient_trace_request_duration_seconds_bucket{{{sel}}}[$__rate_interval])))"), "{{event}}")
                .size(6, 8),
            Panel::row("Mesh: source node → destination node"),
            Panel::table("Path error ratio, source → destination", "percentunit")
                .describe("Share of the neighbour checks from `node` into `destination` (the nurse on that node) that failed. A destination failing from every source is partitioned (WardNurseNodeUnreachable); one source failing to several, that source's network.")
                .query(&format!("(sum by (node, destination) ({path_errors}) or sum by (node, destination) ({path_requests}) * 0) / sum by (node, destination) ({path_requests})"), "")
                .size(8, 10),
            Panel::timeseries("Path latency p95, source → destination", "s")
                .query(&format!("histogram_quantile(0.95, sum by (le, node, destination) ({}))", by_destination(&format!("rate(kubenurse_httpclient_request_duration_seconds_bucket{{{path}}}[$__rate_interval])"))), "{{node}} → {{destination}}")
                .size(8, 10),
            Panel::state_timeline("Last path check passed (1) or failed (0)", "short")
                .query(&format!("max by (node, destination) ({})", by_destination(&format!("ward_nurse_check_success{{{path}}}"))), "{{node}} → {{destination}}")
                .size(8, 10),
            Panel::timeseries("Neighbours that checked each nurse (last 60 s)", "short")
                .describe("kubenurse_neighbourhood_incoming_checks: 0 on a node with neighbours means nobody reaches it (WardNurseNotCheckedByNeighbours); a one-node cluster has none.")
                .query(&format!("max by (node) (kubenurse_neighbourhood_incoming_checks{{{any}}})"), "{{node}}")
                .size(12, 8),
            Panel::row("API-server instances (ward)"),
            Panel::timeseries("API-server instance latency (p0.95)", "s")
                .describe("Each address of the kubernetes Service's endpoints, checked on its own (WARD_NURSE_CHECK_API_SERVER_INSTANCES). One instance slower than the others is hidden by api_server_direct, which the Service balances.")
                .query(&format!("histogram_quantile(0.95, sum by (le, endpoint) (rate(kubenurse_httpclient_request_duration_seconds_bucket{{{instance}}}[$__rate_interval])))"), "{{endpoint}}")
                .size(8, 8),
            Panel::timeseries("API-server instance errors", "short")
                .describe("Failed checks per second by instance and event: one instance failing while the load-balanced checks pass is the one to look at.")
                .query(&format!("sum by (endpoint, event) (rate(kubenurse_errors_total{{{instance}}}[$__rate_interval]))"), "{{endpoint}} {{event}}")
                .size(8, 8),
            Panel::timeseries("HTTP/2 GOAWAYs by API-server instance", "short")
                .describe("GOAWAY frames the nurses received per instance (ward_nurse_http2_goaways_received_total): --goaway-chance at work, or an instance shutting down. None anywhere with --goaway-chance set means it is not applied.")
                .query(&format!("sum by (endpoint) (increase(ward_nurse_http2_goaways_received_total{{{instance}}}[$__rate_interval]))"), "{{endpoint}}")
                .size(8, 8),
            Panel::row("Per-phase latency and failures (ward)"),
            Panel::stacked("Phases of the last check $request_type", "s")
                .describe("ward_nurse_check_phase_seconds: dns, connect, tls, send, wait (server time), receive of each check's last run, averaged over the nurses.")
                .query(&format!("avg by (type, phase) (ward_nurse_check_phase_seconds{{{sel}}})"), "{{type}} {{phase}}")
                .size(8, 8),
            Panel::timeseries("DNS duration (p0.95)", "s")
                .describe("kubenurse's panel: dns_done minus dns_start of the checks that resolve a name.")
                .query(&format!("histogram_quantile(0.95, sum by (le) (rate(kubenurse_httpclient_trace_request_duration_seconds_bucket{{{any}, event=\"dns_done\"}}[$__rate_interval]))) - histogram_quantile(0.95, sum by (le) (rate(kubenurse_httpclient_trace_request_duration_seconds_bucket{{{any}, event=\"dns_start\"}}[$__rate_interval])))"), "p95")
                .size(8, 8),
            Panel::timeseries("Failed checks by class", "short")
                .describe("ward_nurse_check_failures_total by the probe's stable error class (connect_refused, timeout_first_byte, tls, http_status, …).")
                .query(&format!("sum by (type, class) (rate(ward_nurse_check_failures_total{{{any}}}[$__rate_interval]))"), "{{type}} {{class}}")
                .size(8, 8),
            Panel::bargauge("TLS certificate expires in", "s")
                .query(&format!("min by (type) (ward_nurse_tls_cert_expiry_timestamp_seconds{{{any}}}) - time()"), "{{type}}")
                .size(8, 6),
            Panel::row("Debug information"),
            Panel::table("http requests by nurse", "short")
                .query(&format!("sum by (pod, node) (kubenurse_httpclient_requests_total{{{any}}})"), "")
                .size(8, 8),
            Panel::timeseries("Memory usage", "decbytes")
                .query(&format!("process_resident_memory_bytes{{{any}}}"), "{{pod}}")
                .size(8, 8),
            Panel::timeseries("Open FDs", "short")
                .query(&format!("process_open_fds{{{any}}}"), "{{pod}}")
                .size(8, 8),
        ],
    }
}
