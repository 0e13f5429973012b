//! Every query ward ships, on real data. A real Prometheus (3.14, built by
//! scripts/deps.d/prometheus3.sh) scrapes ward components running in this
//! test: `ward lab` (3 nodes: real nurses checking the API server, their
//! ingress and service paths and each other, with node-3 answering 1.5 s
//! late, and the lab's API server down for a moment, so failures are recorded
//! too), `ward lookup` against a real unbound (a direct server, a dead one
//! and resolv.conf with a search path; unbound frozen for a moment),
//! `ward e2e serve` running the api test against the testkit control plane,
//! and that control plane's own kube-apiserver and etcd; it loads every rule
//! of deploy/ (so the SLO recordings of `ward slo generate` exist). Then:
//! - every panel query of deploy/dashboards/*.json, with the dashboard's
//!   variables expanded as Grafana does (All, multi-value regexes,
//!   `$__rate_interval`), returns at least one series;
//! - every alert expression with its thresholds taken off (the comparisons;
//!   each side of `and`/`or`; the left of `unless`), and every recording
//!   rule, returns at least one series;
//! - every metric selector in all of them returns series, so a query naming a
//!   metric ward does not export fails by name (a made-up one must fail);
//! - every query of kubenurse's own dashboard returns series against ward's
//!   nurses, except three documented upstream traits, each checked for what
//!   it is: MetricsQL's range-less `rate()` (Prometheus rejects it; with a
//!   range it returns series), `go_goroutines` (a Go runtime metric), and the
//!   `app_kubernetes_io_name="kubenurse"` filter (with ward's value, series).
//!
//! On the healthy control plane (one etcd member, one API server) and the
//! passing e2e runs, the etcd, API-server and e2e alerts as shipped return
//! nothing. A second test runs two healthy labs, of one node and of three,
//! and holds that every nurse alert expression, as shipped, returns nothing
//! once every nurse has run its checks; on one node the old
//! `incoming_checks < 1` alone would have fired.

mod rules_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use promql_parser::parser::{self, token, Expr};
use serde_json::Value;
use ward_testkit::dns::DnsServer;
use ward_testkit::kube::KubeCluster;
use ward_testkit::net::{free_port, free_port_on, http_get};
use ward_testkit::process::Process;
use ward_testkit::prometheus::{Builder, Prometheus};
use ward_testkit::wait;

const WARD: &str = env!("CARGO_BIN_EXE_ward");

/// One of these tests at a time: each runs several servers on 2 shared cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// What `$__rate_interval` becomes: Grafana's 4 x the 1 s scrape interval,
/// rounded up to a window that holds several samples.
const RATE_INTERVAL: &str = "15s";

/// Metrics that exist only while something happens outside ward: alerts
/// firing (`ALERTS`, which the dashboards wrap in `or on () vector(0)`) and
/// kube-state-metrics' cordon flag (only on the excluding side of `unless`).
const NOT_WARDS: [&str; 2] = ["ALERTS", "kube_node_spec_unschedulable"];

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// A query to prove, and where it comes from.
struct Query {
    origin: String,
    expr: String,
}

// ---------------------------------------------------------------- components

/// A running `ward lab`: its process, its own address (faults, ingress,
/// service) and its nurses' addresses.
struct Lab {
    _process: Process,
    addr: SocketAddr,
    nurses: Vec<SocketAddr>,
}

impl Lab {
    /// Applies (`fault`) or clears (`clear`) a fault through the lab's API.
    fn fault(&self, action: &str, spec: &str) {
        let r = ward_testkit::net::http_request(
            self.addr,
            "POST",
            &format!("/lab/{action}?spec={spec}"),
            "",
        );
        assert_eq!(r.map(|r| r.status), Some(204), "{action} {spec}");
    }
}

/// `ward lab` with `nodes` nurses on 127.0.0.2.. at a fixed port, faults
/// applied from the start.
fn start_lab(dir: &Path, name: &str, nodes: usize, faults: &[&str]) -> Lab {
    let port = free_port_on("127.0.0.2");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut args: Vec<String> = [
        "lab",
        "--listen",
        &addr.to_string(),
        "--nurse-port",
        &port.to_string(),
        "--nodes",
        &nodes.to_string(),
        "--check-interval",
        "1s",
        "--check-timeout",
        "1s",
        "--duration",
        "600s",
        "--live=false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for f in faults {
        args.extend(["--fault".to_string(), f.to_string()]);
    }
    let mut lab = Process::spawn(
        name,
        Path::new(WARD),
        &args,
        &dir.join(format!("{name}.log")),
    )
    .unwrap();
    let nurses: Vec<SocketAddr> = (0..nodes)
        .map(|i| SocketAddr::from(([127, 0, 0, 2 + i as u8], port)))
        .collect();
    let all = nurses.clone();
    lab.wait_ready(Duration::from_secs(30), || {
        all.iter()
            .all(|a| http_get(*a, "/metrics").is_some_and(|r| r.status == 200))
    })
    .unwrap();
    Lab {
        _process: lab,
        addr,
        nurses,
    }
}

/// Waits (up to 30 s) until `/metrics` at one of `addrs` has a line starting with `prefix`.
fn wait_for_metric(addrs: &[SocketAddr], prefix: &str) {
    let seen = wait::until(Duration::from_secs(30), || {
        addrs
            .iter()
            .any(|a| {
                http_get(*a, "/metrics")
                    .is_some_and(|r| r.body.lines().any(|l| l.starts_with(prefix)))
            })
            .then_some(())
    });
    assert!(seen.is_some(), "no {prefix} at {addrs:?}");
}

/// Sends a signal to a process (`kill -STOP` / `-CONT`).
fn kill(signal: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A scrape job over the lab's nurses, labelled as the chart's ServiceMonitor
/// and kubenurse's relabelling would: node, pod, app_kubernetes_io_name.
fn nurse_job(job: &str, nurses: &[SocketAddr]) -> String {
    let mut yaml = format!("  - job_name: {job}\n    static_configs:\n");
    for (i, addr) in nurses.iter().enumerate() {
        let node = format!("node-{}", i + 1);
        yaml.push_str(&format!(
            "      - targets: [\"{addr}\"]\n        labels: {{node: {node}, pod: ward-nurse-{node}, namespace: ward-lab, app_kubernetes_io_name: ward-nurse}}\n"
        ));
    }
    yaml
}

/// The admin token of a testkit control plane (its kubeconfig is JSON).
fn admin_token(cluster: &KubeCluster) -> String {
    let text = std::fs::read_to_string(cluster.admin_kubeconfig()).unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    config["users"][0]["user"]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Writes every PrometheusRule of deploy/ as rule files into `dir`.
fn rule_files(dir: &Path) -> Vec<PathBuf> {
    rules_support::rule_files()
        .iter()
        .map(|f| {
            let path = dir.join(format!("{}.rules.yaml", f.name));
            std::fs::write(&path, f.to_rule_file()).unwrap();
            path
        })
        .collect()
}

fn prometheus(builder: Builder, rules: &[PathBuf]) -> Prometheus {
    rules
        .iter()
        .fold(builder.interval(Duration::from_secs(1)), |b, r| {
            b.rule_file(r)
        })
        .start()
        .unwrap()
}

// ------------------------------------------------------------ the queries

/// Grafana's expansion of a dashboard's variables for a test: "All" for
/// label values (`.*`), every value of a custom list as a regex group, the
/// first of an interval list, a textbox's value (`min_burning_rate` -1:
/// every SLO rather than those above a rate, as a user widening the filter).
fn variables(dashboard: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| {
            let name = v["name"].as_str()?.to_string();
            let values: Vec<&str> = v["query"].as_str().unwrap_or("").split(',').collect();
            let value = match v["type"].as_str()? {
                "query" => ".*".to_string(),
                "custom" => format!("({})", values.join("|")),
                "interval" => values[0].to_string(),
                "textbox" if name == "min_burning_rate" => "-1".to_string(),
                "textbox" => values[0].to_string(),
                _ => return None,
            };
            Some((name, value))
        })
        .collect();
    out.extend(
        [
            ("__rate_interval", RATE_INTERVAL),
            ("__interval", "5s"),
            ("__range", "1m"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    // Longest names first, so `$slo` does not eat into `$slo_x`.
    out.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
    out
}

fn expand(expr: &str, vars: &[(String, String)]) -> String {
    vars.iter().fold(expr.to_string(), |e, (k, v)| {
        e.replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v)
    })
}

/// Every panel query of deploy/dashboards/*.json, variables expanded.
fn dashboard_queries() -> Vec<Query> {
    let dir = rules_support::repo().join("deploy/dashboards");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let vars = variables(&dashboard);
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push(Query {
                    origin: format!(
                        "{} / {:?} / {}",
                        file.file_name().unwrap().to_string_lossy(),
                        panel["title"].as_str().unwrap(),
                        target["refId"].as_str().unwrap()
                    ),
                    expr: expand(target["expr"].as_str().unwrap(), &vars),
                });
            }
        }
    }
    out
}

fn is_set(op: token::TokenType, id: token::TokenId) -> bool {
    op.id() == id
}

/// The parts of an alert expression that must return series on real data:
/// comparisons lose their threshold side, `and`/`or` give both sides, `unless`
/// its left, and `absent…()` nothing (it is empty whenever data exists).
fn without_thresholds(expr: &Expr) -> Vec<Expr> {
    match expr {
        Expr::Paren(p) => without_thresholds(&p.expr),
        Expr::Binary(b) if b.op.is_comparison_operator() => {
            let returns_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
            if returns_bool {
                vec![expr.clone()]
            } else {
                without_thresholds(&b.lhs)
            }
        }
        Expr::Binary(b) if is_set(b.op, token::T_LUNLESS) => without_thresholds(&b.lhs),
        Expr::Binary(b) if b.op.is_set_operator() => {
            let mut parts = without_thresholds(&b.lhs);
            parts.extend(without_thresholds(&b.rhs));
            parts
        }
        Expr::Aggregate(a) => without_thresholds(&a.expr)
            .into_iter()
            .map(|inner| {
                let mut a = a.clone();
                a.expr = Box::new(inner);
                Expr::Aggregate(a)
            })
            .collect(),
        Expr::Call(c) if c.func.name.starts_with("absent") => Vec::new(),
        _ => vec![expr.clone()],
    }
}

/// Every alert (thresholds off) and recording rule of deploy/.
fn rule_queries() -> Vec<Query> {
    let mut out = Vec::new();
    for file in rules_support::rule_files() {
        for rule in file.rules() {
            let expr = rule["expr"].as_str().unwrap();
            let (name, parts) = match (rule["alert"].as_str(), rule["record"].as_str()) {
                (Some(alert), _) => {
                    let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{alert}: {e}"));
                    let parts: Vec<String> = without_thresholds(&parsed)
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    (format!("alert {alert}"), parts)
                }
                (_, Some(record)) => (format!("record {record}"), vec![expr.to_string()]),
                _ => panic!("{}: a rule without alert or record", file.source.display()),
            };
            let labels = &rule["labels"];
            let sloth = labels["sloth_slo"]
                .as_str()
                .map(|s| {
                    format!(
                        " ({s}, {})",
                        labels["sloth_severity"]
                            .as_str()
                            .or(labels["sloth_window"].as_str())
                            .unwrap_or("")
                    )
                })
                .unwrap_or_default();
            for (i, expr) in parts.into_iter().enumerate() {
                out.push(Query {
                    origin: format!("{} / {name}{sloth} / part {}", file.name, i + 1),
                    expr,
                });
            }
        }
    }
    out
}

/// Every vector selector of `expr` that must select series: not inside
/// `absent…()`, not on the right of `unless`, not a metric outside ward.
fn selectors(expr: &Expr, out: &mut BTreeSet<String>) {
    match expr {
        Expr::VectorSelector(vs) if !vs.name.as_deref().is_some_and(|n| NOT_WARDS.contains(&n)) => {
            out.insert(vs.to_string());
        }
        Expr::MatrixSelector(ms) => selectors(&Expr::VectorSelector(ms.vs.clone()), out),
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Subquery(s) => selectors(&s.expr, out),
        Expr::Aggregate(a) => selectors(&a.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            if !is_set(b.op, token::T_LUNLESS) {
                selectors(&b.rhs, out);
            }
        }
        Expr::Call(c) if c.func.name.starts_with("absent") => {}
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

/// Runs every query once: the ones that returned nothing or failed, with why.
fn unproven(prometheus: &Prometheus, queries: &[Query]) -> BTreeMap<String, String> {
    queries
        .iter()
        .filter_map(|q| match prometheus.query(&q.expr) {
            Ok(series) if !series.is_empty() => None,
            Ok(_) => Some((q.origin.clone(), format!("no series: {}", q.expr))),
            Err(e) => Some((q.origin.clone(), format!("{e}: {}", q.expr))),
        })
        .collect()
}

/// Waits (up to `timeout`) until every query returns series; the ones that
/// never did, by name.
fn prove(
    prometheus: &Prometheus,
    queries: &[Query],
    timeout: Duration,
) -> BTreeMap<String, String> {
    let mut last = BTreeMap::new();
    wait::until(timeout, || {
        last = unproven(prometheus, queries);
        last.is_empty().then_some(())
    });
    last
}

fn report(failed: &BTreeMap<String, String>) -> String {
    failed
        .iter()
        .map(|(origin, why)| format!("- {origin}: {why}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ------------------------------------------------------------------ tests

#[test]
fn every_dashboard_query_and_alert_expression_returns_series_from_real_components() {
    let _one = serial();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let cluster = KubeCluster::start().unwrap();

    // ward lab: three nurses, node-3 answering after the checks' deadline.
    let lab = start_lab(dir.path(), "ward-lab", 3, &["delay:node-3:1500ms"]);
    let nurses = lab.nurses.clone();

    // ward lookup: a real unbound directly and through a search path, a
    // server that does not answer, a name that does not exist.
    let mut dns = DnsServer::unbound()
        .bind_ip("127.0.0.61")
        .zone("cluster.local")
        .a("a.test", "127.0.0.9")
        .start()
        .unwrap();
    let resolv = dir.path().join("resolv.conf");
    std::fs::write(
        &resolv,
        format!(
            "nameserver {}\nsearch svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n",
            dns.addr()
        ),
    )
    .unwrap();
    let lookup_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let servers = format!("udp://{},udp://127.0.0.1:{}", dns.addr(), free_port());
    let _lookup = Process::spawn_with(
        "ward-lookup",
        Path::new(WARD),
        [
            "lookup",
            "--interval",
            "500ms",
            "--timeout",
            "500ms",
            "--prom-histogram",
            "--listen",
            &lookup_addr.to_string(),
            "--dns-servers",
            &servers,
            "--resolv-conf",
            &resolv.display().to_string(),
        ],
        &dir.path().join("ward-lookup.log"),
        &[("HOSTLOOKUPER_HOSTS", "a.test,missing.test")],
    )
    .unwrap();

    // ward e2e serve: the api test against the real control plane, every 2 s.
    let e2e_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _e2e = Process::spawn(
        "ward-e2e",
        Path::new(WARD),
        [
            "e2e",
            "serve",
            "--no-lease",
            "--only",
            "api",
            "--interval",
            "2s",
            "--shutdown-duration",
            "0s",
            "--listen",
            &e2e_addr.to_string(),
            "--kubeconfig",
            &cluster.admin_kubeconfig().display().to_string(),
        ],
        &dir.path().join("ward-e2e.log"),
    )
    .unwrap();

    // Outages, so the error series exist too: the API server down until the
    // nurses have counted failed checks of it; unbound frozen until a pod's
    // resolv.conf lookups have timed out.
    lab.fault("fault", "api-down");
    wait_for_metric(&nurses, "kubenurse_errors_total{type=\"api_server_direct\"");
    lab.fault("clear", "api-down");
    let unbound = dns.process().pid();
    kill("-STOP", unbound);
    wait_for_metric(
        &[lookup_addr],
        "ward_lookup_errors_total{host=\"a.test\",dns_server=\"resolv.conf\",class=\"timeout\"}",
    );
    kill("-CONT", unbound);

    let ports: BTreeMap<&str, u16> = cluster.ports().into_iter().collect();
    let apiserver_job = format!(
        "  - job_name: apiserver\n    scheme: https\n    tls_config: {{ca_file: {}}}\n    authorization: {{credentials: {}}}\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
        cluster.ca_path().display(),
        admin_token(&cluster),
        ports["kube-apiserver"]
    );
    let lookup_job = format!(
        "  - job_name: ward-lookup\n    static_configs:\n      - targets: [\"{lookup_addr}\"]\n        labels: {{node: node-1}}\n"
    );
    let rules = rule_files(dir.path());
    let prometheus = prometheus(
        ward_testkit::otlp::receiver_builder()
            .unwrap()
            .scrape_config(nurse_job("ward-nurse", &nurses))
            .scrape_config(lookup_job)
            .scrape("ward-e2e", e2e_addr)
            .scrape("etcd", SocketAddr::from(([127, 0, 0, 1], ports["etcd"])))
            .scrape_config(apiserver_job),
        &rules,
    );
    eprintln!("components up after {:?}", started.elapsed());

    let dashboards = dashboard_queries();
    let rule_parts = rule_queries();
    let mut selected = BTreeSet::new();
    for q in dashboards.iter().chain(&rule_parts) {
        let parsed =
            parser::parse(&q.expr).unwrap_or_else(|e| panic!("{}: {e}: {}", q.origin, q.expr));
        selectors(&parsed, &mut selected);
    }
    let metrics: Vec<Query> = selected
        .into_iter()
        .map(|s| Query {
            origin: format!("selector {s}"),
            expr: s,
        })
        .collect();
    let all: Vec<Query> = metrics
        .into_iter()
        .chain(dashboards)
        .chain(rule_parts)
        .collect();
    let failed = prove(&prometheus, &all, Duration::from_secs(120));
    let count = |what: &str| all.iter().filter(|q| q.origin.contains(what)).count();
    eprintln!(
        "{} queries ({} selectors, {} panel queries, {} alert parts, {} recordings) proven after {:?}",
        all.len(),
        count("selector "),
        count(".json / "),
        count(" / alert "),
        count(" / record "),
        started.elapsed()
    );
    assert!(
        failed.is_empty(),
        "{} of {} queries returned no series from real data:\n{}",
        failed.len(),
        all.len(),
        report(&failed)
    );

    // Negative control: a metric ward does not export fails by name.
    let made_up = [Query {
        origin: "selector kubenurse_made_up_total".into(),
        expr: r#"kubenurse_made_up_total{type=~"path_.*"}"#.into(),
    }];
    let failed = unproven(&prometheus, &made_up);
    assert_eq!(
        failed.keys().collect::<Vec<_>>(),
        ["selector kubenurse_made_up_total"]
    );

    kubenurse_dashboard_queries(&prometheus);

    // The control plane is healthy (one etcd member, started once; one API
    // server) and the e2e runs pass: those alerts, as shipped, say nothing.
    // (The nurses and lookups here have faults on purpose; the SLO burn
    // rates depend on how fast this shared machine answers writes.)
    let quiet = [
        "WardEtcdLeaderChanges",
        "WardAPIServerLoadImbalance",
        "WardE2ETestFailing",
        "WardE2ETestFailingRepeatedly",
        "WardE2EStepSlow",
    ];
    let mut checked = 0;
    for file in rules_support::rule_files() {
        for rule in file.rules() {
            let Some(alert) = rule["alert"].as_str().filter(|a| quiet.contains(a)) else {
                continue;
            };
            checked += 1;
            let series = prometheus.query(rule["expr"].as_str().unwrap()).unwrap();
            assert_eq!(
                series,
                Vec::<Value>::new(),
                "{alert} on a healthy control plane"
            );
        }
    }
    assert_eq!(checked, quiet.len());
    eprintln!("done after {:?}", started.elapsed());
}

/// kubenurse's own dashboard against ward's nurses: every query returns
/// series, except three upstream traits, each checked for what it is.
fn kubenurse_dashboard_queries(prometheus: &Prometheus) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kubenurse-dashboard.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vars = [
        ("cluster".to_string(), String::new()),
        (
            "request_type".to_string(),
            "(api_server_direct|api_server_dns|me_service|me_ingress|path_)".to_string(),
        ),
    ];
    let queries: Vec<Query> = fixture["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| Query {
            origin: format!(
                "kubenurse panel {} {:?}",
                q["panel"],
                q["title"].as_str().unwrap()
            ),
            expr: expand(q["expr"].as_str().unwrap(), &vars),
        })
        .collect();
    assert_eq!(queries.len(), 10);
    // The exceptions, by panel.
    const METRICSQL_RATE: &str = "kubenurse panel 2 \"Requests $request_type\"";
    const GOROUTINES: &str = "kubenurse panel 36 \"Number of goroutines\"";
    const LABEL_FILTER: [&str; 2] = [
        "kubenurse panel 38 \"Memory usage\"",
        "kubenurse panel 44 \"Open FDS\"",
    ];
    let failed = unproven(prometheus, &queries);
    let mut exceptions: Vec<&str> = vec![METRICSQL_RATE, GOROUTINES];
    exceptions.extend(LABEL_FILTER);
    assert_eq!(
        failed.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut e = exceptions.clone();
            e.sort();
            e
        },
        "kubenurse's dashboard against ward nurse:\n{}",
        report(&failed)
    );
    assert!(
        failed[METRICSQL_RATE].contains(
            "expected type range vector in call to function \\\"rate\\\", got instant vector"
        ),
        "{}",
        failed[METRICSQL_RATE]
    );
    let by = |origin: &str| queries.iter().find(|q| q.origin == origin).unwrap();
    let fixed = [
        Query {
            origin: format!("{METRICSQL_RATE} with a range"),
            expr: by(METRICSQL_RATE).expr.replace("\"}))", "\"}[1m]))"),
        },
        Query {
            origin: format!("{} with ward's name", LABEL_FILTER[0]),
            expr: by(LABEL_FILTER[0])
                .expr
                .replace("\"kubenurse\"", "\"ward-nurse\""),
        },
        Query {
            origin: format!("{} with ward's name", LABEL_FILTER[1]),
            expr: by(LABEL_FILTER[1])
                .expr
                .replace("\"kubenurse\"", "\"ward-nurse\""),
        },
    ];
    assert!(fixed[0].expr.contains("}[1m]))"), "{}", fixed[0].expr);
    let failed = unproven(prometheus, &fixed);
    assert!(failed.is_empty(), "{}", report(&failed));
    // go_goroutines: not there under any filter (ward is not a Go program;
    // etcd and the API server, scraped here too, are).
    assert_eq!(
        prometheus
            .query(r#"go_goroutines{job="ward-nurse"}"#)
            .unwrap(),
        Vec::<Value>::new()
    );
    assert!(!prometheus.query("go_goroutines").unwrap().is_empty());
}

#[test]
fn nurse_alerts_stay_silent_on_healthy_labs_of_one_and_three_nodes() {
    let _one = serial();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let solo = start_lab(dir.path(), "lab-1", 1, &[]);
    let three = start_lab(dir.path(), "lab-3", 3, &[]);
    let rules: Vec<PathBuf> = rule_files(dir.path())
        .into_iter()
        .filter(|p| p.ends_with("ward-nurse.rules.yaml"))
        .collect();
    assert_eq!(rules.len(), 1);
    let prometheus = prometheus(
        Prometheus::builder()
            .scrape_config(nurse_job("lab-1", &solo.nurses))
            .scrape_config(nurse_job("lab-3", &three.nurses)),
        &rules,
    );
    // Every nurse has run a few rounds (and the three are checked by each other).
    let ready = [
        r#"min by (job) (kubenurse_httpclient_requests_total{type="api_server_direct"}) >= 5"#,
        r#"count by (job) (kubenurse_neighbourhood_incoming_checks >= 1)"#,
    ];
    let ready = wait::until(Duration::from_secs(60), || {
        let rounds = prometheus.query(ready[0]).ok()?;
        let checked = prometheus.query(ready[1]).ok()?;
        let checked_three = checked
            .iter()
            .any(|s| s["metric"]["job"] == "lab-3" && s["value"][1] == "3");
        (rounds.len() == 2 && checked_three).then_some(())
    });
    assert!(ready.is_some(), "the labs' nurses did not run their checks");

    let alerts: Vec<(String, String)> = rules_support::rule_files()
        .into_iter()
        .filter(|f| f.name == "ward-nurse")
        .flat_map(|f| {
            f.rules()
                .filter_map(|r| {
                    Some((
                        r["alert"].as_str()?.to_string(),
                        r["expr"].as_str()?.to_string(),
                    ))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(alerts.len(), 6);
    for (alert, expr) in &alerts {
        let series = prometheus.query(expr).unwrap();
        assert_eq!(
            series,
            Vec::<Value>::new(),
            "{alert} would fire on a healthy lab"
        );
    }
    // What the alert was before: on one node it would fire forever.
    let old = prometheus
        .query("kubenurse_neighbourhood_incoming_checks < 1")
        .unwrap();
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["metric"]["job"], "lab-1", "{old:?}");
    eprintln!("healthy labs checked after {:?}", started.elapsed());
}
