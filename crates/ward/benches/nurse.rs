//! Benchmark (not a test): `ward nurse` vs kubenurse on the same fake cluster,
//! one after the other in one run: RSS at the end, CPU seconds per check round,
//! API requests per minute. Both run the neighbourhood check only (the
//! configuration Zalando runs at scale), every second, limit 10, and both must
//! have checked their 10 neighbours with answers of 200 before the window
//! starts and go on doing so in it, or the bench fails: a broken peer run
//! cannot look like a win. Both are measured on a settled cluster (the API
//! request rate of all clients under 60 a minute for a minute, waited for up
//! to 7 min): the controllers' answer to 100 new silent nodes, a burst of node
//! and pod updates, would otherwise land on whichever tool runs first.
//!
//! ```sh
//! KUBENURSE_BIN=/path/to/kubenurse cargo bench -p ward --bench nurse     # 100 nodes, 60 s each
//! WARD_BENCH_NODES=1000 WARD_BENCH_SECONDS=120 WARD_BENCH_TOOLS=ward cargo bench -p ward --bench nurse
//! ```
//! `WARD_BENCH_TOOLS=ward@/path/a,ward@/path/b` compares two ward builds in one run.
//! `KUBENURSE_BIN` names a kubenurse v1.15.3 built from its source repository
//! (docs/benchmarks.md); without it kubenurse is skipped. It gets what a pod
//! gives it: a ServiceAccount token file (it sends no request without one) and
//! the pod's name as host name (its identity), in a private view of the system
//! (`ward_testkit::isolate`); ward gets `POD_NAME`. `WARD_BIN` names the ward
//! binary to measure (nurse.sh passes the shipped static build), else the
//! bench's own build is used.
//! Prints RSS split into the process's own memory (`RssAnon`) and pages of its
//! binary (`RssFile`); `WARD_BENCH_SMAPS=FILE` saves the last run's smaps.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;
use ward_testkit::isolate::Isolated;
use ward_testkit::kube::{KubeCluster, NodeSpec};
use ward_testkit::net::http_get;
use ward_testkit::process::Process;
use ward_testkit::wait;

/// The pod the measured nurse is, by name (its node is `bench-0000`).
const SELF_POD: &str = "nurse-0000";
/// Neighbours each nurse checks.
const LIMIT: usize = 10;
/// The API request rate (all clients) under which the cluster counts as settled.
const SETTLED_API_PER_MINUTE: f64 = 60.0;
/// How long each look at the API request rate lasts.
const SETTLE_WINDOW: Duration = Duration::from_secs(15);
/// Quiet windows in a row that make the cluster settled: the node lifecycle
/// controller marks the silent nodes and their pods not ready only after its
/// grace period (~50 s), so one quiet look right after the start is not enough.
const SETTLE_QUIET_WINDOWS: u32 = 4;
/// How long to wait for the cluster to settle before measuring anyway.
const SETTLE_DEADLINE: Duration = Duration::from_secs(420);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A memory field of `/proc/PID/status` (`VmRSS`, `RssAnon`, `RssFile`), in MiB.
fn proc_status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .and_then(|v| v.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Neighbour checks answered 200 so far, and how many neighbours answered.
fn checks_done() -> (f64, usize) {
    let body = http_get("127.0.0.1:8080".parse().unwrap(), "/metrics")
        .map(|r| r.body)
        .unwrap_or_default();
    let ok: Vec<f64> = body
        .lines()
        .filter(|l| {
            l.starts_with("kubenurse_httpclient_requests_total{")
                && l.contains("type=\"path_")
                && l.contains("code=\"200\"")
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .collect();
    (ok.iter().sum(), ok.len())
}

fn api_requests(runtime: &tokio::runtime::Runtime, cluster: &KubeCluster) -> f64 {
    runtime.block_on(async {
        let client = cluster.client().unwrap();
        let text = client
            .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with("apiserver_request_total{"))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    })
}

struct Run {
    tool: String,
    rss_mib: f64,
    anon_mib: f64,
    file_mib: f64,
    cpu_per_round_ms: f64,
    api_per_minute: f64,
    rounds: f64,
}

fn main() {
    let nodes: usize = env_or("WARD_BENCH_NODES", 100);
    let seconds: u64 = env_or("WARD_BENCH_SECONDS", 60);
    let tools: String = env_or("WARD_BENCH_TOOLS", "ward,kubenurse".to_string());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::start().unwrap();
    let ns = "bench";
    let started = Instant::now();
    runtime.block_on(async {
        cluster.create_namespace(ns).await.unwrap();
        // Unmanaged nodes: kwok sends no heartbeats for them, so the API
        // request count is the nurses' (plus the controllers' background).
        let specs: Vec<NodeSpec> = (0..nodes)
            .map(|i| NodeSpec::not_ready(format!("bench-{i:04}")))
            .collect();
        for chunk in specs.chunks(50) {
            cluster.add_nodes(chunk).await.unwrap();
        }
        for i in 0..nodes {
            let ip: IpAddr = format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)
                .parse()
                .unwrap();
            cluster
                .create_pod_on_node(
                    ns,
                    &format!("nurse-{i:04}"),
                    &format!("bench-{i:04}"),
                    &[("app", "nurse")],
                    ip,
                    ip,
                )
                .await
                .unwrap();
        }
    });
    eprintln!(
        "cluster with {nodes} nodes and pods ready in {:?}",
        started.elapsed()
    );
    // The controllers answer the new nodes and pods for a few minutes (node
    // conditions, pod readiness): the watch events that causes would land
    // on whichever tool runs first. Measure both on a settled cluster.
    let settling = Instant::now();
    let mut quiet = 0;
    let settled = wait::until(SETTLE_DEADLINE, || {
        let before = api_requests(&runtime, &cluster);
        wait::until(SETTLE_WINDOW, || None::<()>);
        let per_minute =
            (api_requests(&runtime, &cluster) - before) * 60.0 / SETTLE_WINDOW.as_secs_f64();
        quiet = if per_minute <= SETTLED_API_PER_MINUTE {
            quiet + 1
        } else {
            0
        };
        (quiet == SETTLE_QUIET_WINDOWS).then_some(per_minute)
    });
    match settled {
        Some(rate) => eprintln!(
            "cluster settled after {:?} ({rate:.0} API requests/min)",
            settling.elapsed()
        ),
        None => eprintln!("cluster still busy after {SETTLE_DEADLINE:?}; measuring anyway"),
    }
    let dir = tempfile::tempdir().unwrap();
    // kubenurse's identity is its host name, and it sends nothing without a token file.
    let pod_view = Isolated::new()
        .unwrap()
        .hostname(SELF_POD)
        .service_account_token("bench-token")
        .unwrap();
    let mut runs = Vec::new();
    for tool in tools.split(',') {
        let (binary, args): (PathBuf, Vec<String>) = match tool {
            other if other.starts_with("ward@") => {
                (PathBuf::from(&other["ward@".len()..]), vec!["nurse".into()])
            }
            "ward" => (
                std::env::var_os("WARD_BIN")
                    .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ward")), PathBuf::from),
                vec!["nurse".into()],
            ),
            "kubenurse" => match std::env::var_os("KUBENURSE_BIN") {
                Some(b) => pod_view.wrap(&PathBuf::from(b)),
                None => {
                    eprintln!("skipping kubenurse: KUBENURSE_BIN is not set (docs/benchmarks.md says how to build it)");
                    continue;
                }
            },
            other => panic!("unknown tool {other}"),
        };
        let env = [
            ("KUBECONFIG", cluster.admin_kubeconfig().to_str().unwrap()),
            ("KUBENURSE_NAMESPACE", ns),
            ("KUBENURSE_NEIGHBOUR_FILTER", "app=nurse"),
            ("KUBENURSE_NEIGHBOUR_LIMIT", "10"),
            ("KUBENURSE_INGRESS_URL", "http://127.0.0.1:8080"),
            ("KUBENURSE_SERVICE_URL", "http://127.0.0.1:8080"),
            ("KUBENURSE_ALLOW_UNSCHEDULABLE", "false"),
            ("KUBENURSE_CHECK_INTERVAL", "1s"),
            ("KUBENURSE_CHECK_API_SERVER_DIRECT", "false"),
            ("KUBENURSE_CHECK_API_SERVER_DNS", "false"),
            ("KUBENURSE_CHECK_ME_INGRESS", "false"),
            ("KUBENURSE_CHECK_ME_SERVICE", "false"),
            ("POD_NAME", SELF_POD),
            ("WARD_NURSE_LISTEN", "0.0.0.0:8080"),
            ("WARD_LOG", "error"),
        ];
        let api_before = api_requests(&runtime, &cluster);
        let mut p = Process::spawn_with(
            tool,
            &binary,
            &args,
            &dir.path().join(format!("{}.log", tool.replace('/', "_"))),
            &env,
        )
        .unwrap();
        p.wait_ready(Duration::from_secs(30), || {
            http_get("127.0.0.1:8080".parse().unwrap(), "/alwayshappy").is_some()
        })
        .unwrap();
        let warm = wait::until(Duration::from_secs(60), || {
            let (ok, neighbours) = checks_done();
            (ok >= 2.0 * LIMIT as f64 && neighbours == LIMIT).then_some(())
        });
        assert!(
            warm.is_some(),
            "{tool} did not check its {LIMIT} neighbours (200s from {} of them):\n{}",
            checks_done().1,
            p.log_tail(20)
        );
        let (cpu0, (checks0, _), t0) = (proc_cpu_seconds(p.pid()), checks_done(), Instant::now());
        wait::until(Duration::from_secs(seconds), || None::<()>);
        let cpu = proc_cpu_seconds(p.pid()) - cpu0;
        let rounds = (checks_done().0 - checks0) / LIMIT as f64;
        assert!(
            rounds >= seconds as f64 / 2.0,
            "{tool} ran only {rounds} rounds of {LIMIT} ok checks in {seconds} s:\n{}",
            p.log_tail(20)
        );
        let elapsed = t0.elapsed().as_secs_f64();
        let rss = proc_status_mib(p.pid(), "VmRSS");
        let (anon, file) = (
            proc_status_mib(p.pid(), "RssAnon"),
            proc_status_mib(p.pid(), "RssFile"),
        );
        if let Some(path) = std::env::var_os("WARD_BENCH_SMAPS") {
            let _ = std::fs::copy(format!("/proc/{}/smaps", p.pid()), path);
        }
        let api = api_requests(&runtime, &cluster) - api_before;
        p.stop(Duration::from_secs(10));
        runs.push(Run {
            tool: tool.to_string(),
            rss_mib: rss,
            anon_mib: anon,
            file_mib: file,
            cpu_per_round_ms: cpu * 1000.0 / rounds.max(1.0),
            api_per_minute: api * 60.0 / (elapsed + 5.0),
            rounds,
        });
    }
    println!("nodes={nodes} seconds={seconds} interval=1s limit=10 (neighbourhood check only)");
    println!(
        "{:<10} {:>9} {:>15} {:>16} {:>12} {:>8}",
        "tool", "RSS MiB", "anon/file MiB", "CPU ms/round", "API req/min", "rounds"
    );
    for r in &runs {
        println!(
            "{:<10} {:>9.1} {:>15} {:>16.2} {:>12.1} {:>8.0}",
            r.tool,
            r.rss_mib,
            format!("{:.1}/{:.1}", r.anon_mib, r.file_mib),
            r.cpu_per_round_ms,
            r.api_per_minute,
            r.rounds
        );
    }
    let run = |tool: &str| runs.iter().find(|r| r.tool == tool);
    if let (Some(w), Some(k)) = (run("ward"), run("kubenurse")) {
        println!(
            "ratios kubenurse/ward: RSS {:.1}x, CPU per round {:.1}x, API requests {:.1}x",
            k.rss_mib / w.rss_mib,
            k.cpu_per_round_ms / w.cpu_per_round_ms,
            k.api_per_minute / w.api_per_minute.max(0.01)
        );
    }
}
