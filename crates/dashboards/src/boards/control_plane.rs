use crate::model::{Dashboard, Panel, Variable};

/// The API server and etcd dashboard for maintenance: request share per
/// API-server instance (long-lived HTTP/2 connections do not rebalance),
/// latency by verb, etcd leader per member and leader changes.
pub fn control_plane() -> Dashboard {
    let api = r#"job=~"$job""#;
    let etcd = r#"job=~"$etcd_job""#;
    let rate_by_instance =
        format!("sum by (instance) (rate(apiserver_request_total{{{api}}}[$__rate_interval]))");
    Dashboard {
        file: "control-plane",
        uid: "ward-control-plane",
        title: "API server and etcd",
        description: "What predicts trouble during control-plane maintenance: one API server taking most requests (fixed with --goaway-chance; Kubernetes exports no GOAWAY metric, the request share evening out is the signal), etcd leader changes, and request latency by verb.",
        tags: vec!["ward", "kubernetes", "apiserver", "etcd"],
        variables: vec![
            Variable::LabelValues {
                name: "job",
                label: "API server job",
                metric: "apiserver_request_total",
                label_name: "job",
            },
            Variable::LabelValues {
                name: "etcd_job",
                label: "etcd job",
                metric: "etcd_server_has_leader",
                label_name: "job",
            },
        ],
        panels: vec![
            Panel::row("API servers: request share"),
            Panel::stacked("Request share per API server", "percentunit")
                .describe("Even shares are healthy. One instance holding most of the traffic after a rolling restart is the HTTP/2 stickiness --goaway-chance fixes (WardAPIServerLoadImbalance).")
                .query(&format!("{rate_by_instance} / ignoring (instance) group_left () sum(rate(apiserver_request_total{{{api}}}[$__rate_interval]))"), "{{instance}}")
                .size(8, 8),
            Panel::timeseries("Requests per API server and twice the mean", "reqps")
                .query(&rate_by_instance, "{{instance}}")
                .query(&format!("2 * avg({rate_by_instance})"), "2 × mean")
                .size(8, 8),
            Panel::timeseries("Long-running requests (watches) per API server", "short")
                .query(&format!("sum by (instance) (apiserver_longrunning_requests{{{api}}})"), "{{instance}}")
                .size(8, 8),
            Panel::row("API servers: latency and errors"),
            Panel::timeseries("Request latency p99 by verb", "s")
                .query(&format!("histogram_quantile(0.99, sum by (le, verb) (rate(apiserver_request_duration_seconds_bucket{{{api}, verb!~\"WATCH|CONNECT\"}}[$__rate_interval])))"), "{{verb}}")
                .size(8, 8),
            Panel::timeseries("Requests by code", "reqps")
                .query(&format!("sum by (code) (rate(apiserver_request_total{{{api}}}[$__rate_interval]))"), "{{code}}")
                .size(8, 8),
            Panel::timeseries("In-flight requests", "short")
                .query(&format!("sum by (instance, request_kind) (apiserver_current_inflight_requests{{{api}}})"), "{{instance}} {{request_kind}}")
                .size(8, 8),
            Panel::row("etcd"),
            Panel::state_timeline("Leader per member (1 = leader)", "short")
                .query(&format!("max by (instance) (etcd_server_is_leader{{{etcd}}})"), "{{instance}}")
                .size(8, 8),
            Panel::timeseries("Leader changes in the last hour", "short")
                .describe("Each member counts its first election after a start as one change. WardEtcdLeaderChanges fires above 3.")
                .query(&format!("floor(increase(etcd_server_leader_changes_seen_total{{{etcd}}}[1h]))"), "{{instance}}")
                .size(8, 8),
            Panel::stat("Members with a leader", "short")
                .query(&format!("sum(etcd_server_has_leader{{{etcd}}})"), "with a leader")
                .size(4, 4),
            Panel::stat("Members", "short")
                .query(&format!("count(etcd_server_has_leader{{{etcd}}})"), "members")
                .size(4, 4),
            Panel::timeseries("WAL fsync and backend commit p99", "s")
                .query(&format!("histogram_quantile(0.99, sum by (le, instance) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{{{etcd}}}[$__rate_interval])))"), "fsync {{instance}}")
                .query(&format!("histogram_quantile(0.99, sum by (le, instance) (rate(etcd_disk_backend_commit_duration_seconds_bucket{{{etcd}}}[$__rate_interval])))"), "commit {{instance}}")
                .size(8, 8),
            Panel::timeseries("Proposals committed and failed", "short")
                .query(&format!("sum by (instance) (rate(etcd_server_proposals_committed_total{{{etcd}}}[$__rate_interval]))"), "committed {{instance}}")
                .query(&format!("sum by (instance) (rate(etcd_server_proposals_failed_total{{{etcd}}}[$__rate_interval]))"), "failed {{instance}}")
                .size(8, 8),
        ],
    }
}
