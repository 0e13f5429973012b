//! `ward lab`: a simulated cluster on loopback. It starts kube-sim and its
//! cluster DNS, registers N nodes, one nurse Pod per node and the Services
//! `default/kubernetes` and `ward-lab/ward-nurse`, runs a real `ward-nurse`
//! for each node on 127.0.0.2.. (same port on every address) and a real
//! `ward-lookup` prober per node against the cluster DNS, serves an ingress
//! and a service path that forward to the live nurses, the mesh dashboard at
//! `/ui` with the lab's own `/status` and `/check_all`, and applies faults
//! without root: in the nurses' endpoints (cut, delay), in kube-sim (API
//! server down, cordon, DNS down or slow) and by shutting nurses down (kill).
//!
//! Entry point: [`Lab::start`]; [`Lab::live`] and [`Lab::stop`] return the
//! data the binary renders.
#![deny(missing_docs)]

pub mod fault;
mod http;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;
use ward_agent::Lifecycle;
use ward_kube_sim::dns::{ClusterDns, DnsConfig, DEFAULT_ZONE};
use ward_kube_sim::{store, KubeSim};
use ward_lookup::{Lookup, Lookuper};
use ward_nurse::status::{Cell, NodeStatus};
use ward_nurse::{Faults, Hooks, NurseConfig};

pub use fault::{Fault, FaultError};

/// Loopback addresses the lab gives nurses: 127.0.0.2 to 127.0.0.254.
pub const MAX_NODES: usize = 253;
/// Namespace of the nurse pods in kube-sim.
pub const NAMESPACE: &str = "ward-lab";
/// Label of the nurse pods.
pub const LABEL: (&str, &str) = ("app", "ward-nurse");
/// The headless Service selecting the nurse pods (a name the DNS prober looks up).
pub const SERVICE: &str = "ward-nurse";
/// Prefix of the DNS prober's checks: `dns:NAME`.
pub const DNS_CHECK_PREFIX: &str = "dns:";

/// Why the lab could not start or a fault could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad setting, naming the argument.
    #[error("{arg} {value}: {reason}")]
    Config {
        /// The argument (flag) concerned.
        arg: &'static str,
        /// Its value.
        value: String,
        /// What was wrong.
        reason: String,
    },
    /// A fault spec was malformed.
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// kube-sim failed.
    #[error(transparent)]
    Sim(#[from] ward_kube_sim::Error),
    /// kube-sim rejected an object.
    #[error("registering {what} in kube-sim: {source}")]
    Register {
        /// The object.
        what: String,
        /// The API error.
        #[source]
        source: ward_kube_sim::ApiError,
    },
    /// The DNS prober rejected its configuration.
    #[error("the lab's DNS prober: {0}")]
    Dns(#[source] ward_lookup::Error),
    /// Writing the nurses' token or CA failed.
    #[error("writing {what}: {source}")]
    Files {
        /// The file.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Settings of a lab.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Number of simulated nodes (one nurse each).
    pub nodes: usize,
    /// Port every nurse listens on, on its own 127.0.0.x (0: pick a free one).
    pub nurse_port: u16,
    /// Dashboard, ingress and service address.
    pub listen: SocketAddr,
    /// Time between check rounds.
    pub check_interval: Duration,
    /// Deadline of one check.
    pub check_timeout: Duration,
    /// Neighbours each node checks (`<= 0`: all).
    pub neighbour_limit: i64,
    /// Faults applied at start.
    pub faults: Vec<Fault>,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            nodes: 6,
            nurse_port: 0,
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            check_interval: Duration::from_secs(2),
            check_timeout: Duration::from_secs(1),
            neighbour_limit: 3,
            faults: Vec::new(),
        }
    }
}

/// Counts of one check (a path `from → to`, or a node's own check) over the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tally {
    /// Passed.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
    /// Error class of the last failure.
    pub last_class: Option<String>,
    /// Message of the last failure.
    pub last_error: Option<String>,
    /// Whether the last result failed.
    pub failing_now: bool,
}

impl Tally {
    /// Counts one result.
    fn count(&mut self, cell: &Cell) {
        self.failing_now = !cell.ok;
        if cell.ok {
            self.ok += 1;
        } else {
            self.failed += 1;
            self.last_class = cell.class.map(String::from);
            self.last_error = cell.error.clone();
        }
    }
}

/// A check that failed at least once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failing {
    /// The checking node.
    pub from: String,
    /// The checked node (for paths) or the check's name.
    pub to: String,
    /// Counts.
    #[serde(flatten)]
    pub tally: Tally,
}

/// One DNS check (a name the lab's lookup probers resolve), over all nodes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DnsCheck {
    /// The check, `dns:NAME`.
    pub check: String,
    /// Lookups that resolved.
    pub ok: u64,
    /// Lookups that failed.
    pub failed: u64,
    /// Nodes whose last lookup failed.
    pub nodes_failing_now: usize,
}

/// What the lab saw, for the live line and the final summary.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Nodes.
    pub nodes: usize,
    /// Time since the start.
    pub elapsed_seconds: f64,
    /// Rounds completed by all nurses together.
    pub rounds: u64,
    /// Path checks run.
    pub path_checks: u64,
    /// Path checks failed.
    pub path_failures: u64,
    /// Distinct paths checked in the latest rounds (n × k when all is well).
    pub paths_now: usize,
    /// Paths failing in the latest rounds.
    pub paths_failing_now: usize,
    /// Paths that failed at least once.
    pub failing_paths: Vec<Failing>,
    /// Other checks (API server, ingress, service, DNS) that failed at least once.
    pub failing_checks: Vec<Failing>,
    /// The DNS checks run (every node's lookup prober resolves each name).
    pub dns_checks: Vec<DnsCheck>,
    /// Faults active now.
    pub faults: Vec<String>,
    /// Faults applied during the run.
    pub faults_applied: Vec<String>,
}

struct NodeRun {
    name: String,
    ip: Ipv4Addr,
    faults: Arc<Faults>,
    lifecycle: Option<Arc<Lifecycle>>,
    /// The nurse's listener, bound at start so that every nurse listens
    /// before the first one checks its neighbours (taken when it starts).
    listener: Option<std::net::TcpListener>,
}

struct State {
    statuses: BTreeMap<String, Arc<NodeStatus>>,
    /// Each node's last DNS lookups, shown with its nurse's checks.
    dns: BTreeMap<String, BTreeMap<String, Cell>>,
    tallies: BTreeMap<(String, String), Tally>,
    rounds: u64,
    active: Vec<Fault>,
    applied: Vec<String>,
}

/// The running lab; [`Lab::stop`] shuts it down.
pub struct Lab {
    inner: Arc<Inner>,
    server: tokio::task::JoinHandle<()>,
    stop: tokio_util::sync::CancellationToken,
}

pub(crate) struct Inner {
    config: LabConfig,
    sim: KubeSim,
    dns: ClusterDns,
    nodes: Mutex<Vec<NodeRun>>,
    state: Mutex<State>,
    nurse_port: u16,
    addr: SocketAddr,
    files: tempfile::TempDir,
    started: Instant,
    next_backend: std::sync::atomic::AtomicUsize,
    prober: ward_probe::Prober,
    /// The DNS probers' series (hostlookuper's names), served on `/metrics`.
    dns_metrics: Arc<ward_agent::Registry>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn node_name(i: usize) -> String {
    format!("node-{}", i + 1)
}

fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, u8::try_from(i + 2).unwrap_or(254))
}

/// Binds one port free on every nurse address (or the one given), a listener per node.
fn nurse_listeners(config: &LabConfig) -> Result<Vec<std::net::TcpListener>, Error> {
    let try_port = |port: u16| -> Result<Vec<std::net::TcpListener>, std::io::Error> {
        let first = std::net::TcpListener::bind((node_ip(0), port))?;
        let port = first.local_addr()?.port();
        let mut held = vec![first];
        for i in 1..config.nodes {
            held.push(std::net::TcpListener::bind((node_ip(i), port))?);
        }
        Ok(held)
    };
    if config.nurse_port != 0 {
        return try_port(config.nurse_port).map_err(|e| Error::Config {
            arg: "--nurse-port",
            value: config.nurse_port.to_string(),
            reason: e.to_string(),
        });
    }
    let mut last = None;
    for _ in 0..20 {
        match try_port(0) {
            Ok(held) => return Ok(held),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Config {
        arg: "--nurse-port",
        value: "0".into(),
        reason: format!(
            "no port free on all of 127.0.0.2..{}: {}",
            node_ip(config.nodes.saturating_sub(1)),
            last.map(|e| e.to_string()).unwrap_or_default()
        ),
    })
}

impl Lab {
    /// Validates the settings, starts kube-sim, registers the nodes and pods,
    /// starts the nurses and the dashboard, and applies the initial faults.
    pub async fn start(config: LabConfig) -> Result<Self, Error> {
        if config.nodes == 0 || config.nodes > MAX_NODES {
            return Err(Error::Config {
                arg: "--nodes",
                value: config.nodes.to_string(),
                reason: format!(
                    "must be 1 to {MAX_NODES} (the lab uses the loopback addresses 127.0.0.2 to 127.0.0.254)"
                ),
            });
        }
        for f in &config.faults {
            if let Some(n) = f.node() {
                let known = (0..config.nodes).any(|i| node_name(i) == n);
                if !known {
                    return Err(FaultError {
                        spec: f.to_string(),
                        reason: format!(
                            "no node {n:?}; the lab has node-1 to node-{}",
                            config.nodes
                        ),
                    }
                    .into());
                }
            }
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Config {
                arg: "--listen",
                value: config.listen.to_string(),
                reason: e.to_string(),
            })?;
        let addr = listener.local_addr().map_err(|e| Error::Config {
            arg: "--listen",
            value: config.listen.to_string(),
            reason: e.to_string(),
        })?;
        let listeners = nurse_listeners(&config)?;
        let port = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map_or(config.nurse_port, |a| a.port());
        let sim = KubeSim::start(ward_kube_sim::SimConfig::default()).await?;
        let files = tempfile::Builder::new()
            .prefix("ward-lab-")
            .tempdir()
            .map_err(|source| Error::Files {
                what: "temp folder",
                source,
            })?;
        let write = |name: &'static str, text: &str| {
            std::fs::write(files.path().join(name), text)
                .map_err(|source| Error::Files { what: name, source })
        };
        write("token", "ward-lab-token")?;
        write("ca.crt", sim.ca_pem())?;
        let dns = sim.start_dns(DnsConfig::default()).await?;
        write("resolv.conf", &resolv_conf(dns.addr()))?;
        register(&sim, &config)?;
        let dns_metrics = ward_lookup::metrics::registry(false);
        let lookupers = lookupers(&config, &files.path().join("resolv.conf"), &dns_metrics)?;
        let prober = ward_probe::Prober::new(ward_probe::ProberConfig {
            timeout: config.check_timeout,
            ..Default::default()
        })
        .map_err(|e| Error::Config {
            arg: "--check-timeout",
            value: format!("{:?}", config.check_timeout),
            reason: e.to_string(),
        })?;
        let nodes = listeners
            .into_iter()
            .enumerate()
            .map(|(i, listener)| NodeRun {
                name: node_name(i),
                ip: node_ip(i),
                faults: Faults::new(),
                lifecycle: None,
                listener: Some(listener),
            })
            .collect();
        let inner = Arc::new(Inner {
            sim,
            dns,
            nodes: Mutex::new(nodes),
            state: Mutex::new(State {
                statuses: BTreeMap::new(),
                dns: BTreeMap::new(),
                tallies: BTreeMap::new(),
                rounds: 0,
                active: Vec::new(),
                applied: Vec::new(),
            }),
            nurse_port: port,
            addr,
            files,
            started: Instant::now(),
            next_backend: Default::default(),
            prober,
            dns_metrics,
            config: config.clone(),
        });
        for i in 0..config.nodes {
            inner.start_nurse(i)?;
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(http::serve(listener, inner.clone(), stop.clone()));
        tokio::spawn(inner.clone().probe_dns(lookupers, stop.clone()));
        for f in &config.faults {
            inner.apply(f)?;
        }
        Ok(Self {
            inner,
            server,
            stop,
        })
    }

    /// The dashboard's URL.
    pub fn dashboard_url(&self) -> String {
        format!("http://{}/ui", self.inner.addr)
    }

    /// The simulated API server's URL.
    pub fn api_url(&self) -> String {
        self.inner.sim.url()
    }

    /// The cluster DNS's address (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.inner.dns.addr()
    }

    /// The address of a node's nurse.
    pub fn nurse_addr(&self, node: usize) -> SocketAddr {
        SocketAddr::from((node_ip(node), self.inner.nurse_port))
    }

    /// Applies a fault now.
    pub fn apply(&self, fault: &Fault) -> Result<(), Error> {
        self.inner.apply(fault)
    }

    /// Clears a fault now.
    pub fn clear(&self, fault: &Fault) -> Result<(), Error> {
        self.inner.clear(fault)
    }

    /// What the lab has seen so far.
    pub fn live(&self) -> Summary {
        self.inner.summary()
    }

    /// Stops the nurses and servers and returns the final summary.
    pub async fn stop(self) -> Summary {
        let summary = self.inner.summary();
        let lifecycles: Vec<Arc<Lifecycle>> = lock(&self.inner.nodes)
            .iter_mut()
            .filter_map(|n| n.lifecycle.take())
            .collect();
        for l in &lifecycles {
            l.request_shutdown();
        }
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(3), self.server).await;
        // Give the nurses their (zero) lameduck and drain.
        tokio::time::sleep(Duration::from_millis(100)).await;
        summary
    }
}

fn register(sim: &KubeSim, config: &LabConfig) -> Result<(), Error> {
    let s = sim.store();
    let reg = |what: String, r: &str, ns: &str, v: serde_json::Value| {
        let resource = store::resource(r).ok_or_else(|| Error::Register {
            what: what.clone(),
            source: ward_kube_sim::ApiError::bad_request(format!("unknown resource {r}")),
        })?;
        s.create(resource, ns, v)
            .map_err(|source| Error::Register { what, source })
    };
    for ns in ["default", NAMESPACE] {
        reg(
            format!("namespace {ns}"),
            "namespaces",
            "",
            json!({"metadata": {"name": ns}}),
        )?;
    }
    // The API server's Service: its ClusterIP is kube-sim's own address.
    let api = sim.addr();
    reg(
        "service default/kubernetes".into(),
        "services",
        "default",
        json!({
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": api.ip().to_string(),
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api.port()}]},
        }),
    )?;
    reg(
        format!("service {NAMESPACE}/{SERVICE}"),
        "services",
        NAMESPACE,
        json!({
            "metadata": {"name": SERVICE},
            "spec": {"clusterIP": "None", "selector": {LABEL.0: LABEL.1},
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
        }),
    )?;
    for i in 0..config.nodes {
        let name = node_name(i);
        let ip = node_ip(i).to_string();
        reg(
            format!("node {name}"),
            "nodes",
            "",
            json!({
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ward lab"}],
                }
            }),
        )?;
        let pod = format!("ward-nurse-{name}");
        let r = store::resource("pods").ok_or_else(|| Error::Register {
            what: pod.clone(),
            source: ward_kube_sim::ApiError::bad_request("no pods".into()),
        })?;
        reg(
            format!("pod {pod}"),
            "pods",
            NAMESPACE,
            json!({
                "metadata": {"name": pod, "labels": {LABEL.0: LABEL.1}},
                "spec": {"nodeName": name, "containers": [{"name": "nurse", "image": "ward:lab"}]},
            }),
        )?;
        s.patch(
            r,
            NAMESPACE,
            &pod,
            &json!({"status": {"phase": "Running", "podIP": ip, "hostIP": ip,
                "conditions": [{"type": "Ready", "status": "True"}]}}),
            true,
        )
        .map_err(|source| Error::Register {
            what: pod.clone(),
            source,
        })?;
    }
    Ok(())
}

/// What a pod in the lab's namespace has as /etc/resolv.conf, pointing at the
/// cluster DNS (`IP:PORT` is ward lookup's extension for test resolvers).
fn resolv_conf(dns: SocketAddr) -> String {
    format!(
        "nameserver {dns}\nsearch {NAMESPACE}.svc.{DEFAULT_ZONE} svc.{DEFAULT_ZONE} {DEFAULT_ZONE}\noptions ndots:5 attempts:1\n"
    )
}

/// The names every node's prober resolves, absolute (one query each, no search-path walk).
fn dns_names() -> [String; 2] {
    [
        format!("kubernetes.default.svc.{DEFAULT_ZONE}."),
        format!("{SERVICE}.{NAMESPACE}.svc.{DEFAULT_ZONE}."),
    ]
}

/// One lookup prober per node, in resolv.conf mode (a pod's view: UDP, TCP
/// when truncated); all record into `registry`.
fn lookupers(
    config: &LabConfig,
    resolv_conf: &std::path::Path,
    registry: &Arc<ward_agent::Registry>,
) -> Result<Vec<Lookuper>, Error> {
    let lookup = ward_lookup::Config {
        interval: config.check_interval,
        timeout: config.check_timeout,
        hosts: ward_lookup::config::parse_hosts(&dns_names().join(",")).map_err(Error::Dns)?,
        servers: Vec::new(),
        prom_histogram: false,
        resolv_conf: Some(resolv_conf.to_path_buf()),
        debug: false,
    };
    (0..config.nodes)
        .map(|_| Lookuper::new(lookup.clone(), registry).map_err(Error::Dns))
        .collect()
}

/// The check a lookup is shown as: `dns:NAME` with its latency and error class.
fn dns_cell(lookup: &Lookup) -> (String, Cell) {
    let name = lookup.host.trim_end_matches('.');
    let error = (!lookup.succeeded()).then(|| {
        lookup.message.clone().unwrap_or_else(|| {
            format!(
                "{} for {name}",
                lookup.rcode.as_deref().unwrap_or("no answer")
            )
        })
    });
    (
        format!("{DNS_CHECK_PREFIX}{name}"),
        Cell {
            ok: lookup.succeeded(),
            status: None,
            seconds: lookup.duration.as_secs_f64(),
            class: lookup.failure.map(|f| f.as_str()),
            error,
        },
    )
}

impl Inner {
    /// Every check interval, each live node's lookup prober resolves the names.
    async fn probe_dns(
        self: Arc<Self>,
        lookupers: Vec<Lookuper>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let lookupers = Arc::new(lookupers);
        let schedule = ward_agent::Schedule {
            interval: self.config.check_interval,
            jitter: 0.0,
            round_timeout: lookupers
                .first()
                .map_or(self.config.check_timeout, Lookuper::round_timeout),
        };
        ward_agent::every(schedule, stop, |_, _| {
            let me = self.clone();
            let lookupers = lookupers.clone();
            async move {
                let live: Vec<(usize, String)> = lock(&me.nodes)
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.lifecycle.is_some())
                    .map(|(i, n)| (i, n.name.clone()))
                    .collect();
                // Each node's lookups are recorded as soon as they finish, so a
                // round cut at its deadline keeps what was done.
                let rounds = live.iter().filter_map(|(i, node)| {
                    let l = lookupers.get(*i)?;
                    let me = &me;
                    Some(async move { me.record_dns(node, &l.round().await) })
                });
                futures::future::join_all(rounds).await;
            }
        })
        .await;
    }

    fn record_dns(&self, node: &str, lookups: &[Lookup]) {
        let mut state = lock(&self.state);
        for lookup in lookups {
            let (check, cell) = dns_cell(lookup);
            state
                .tallies
                .entry((node.to_string(), format!("#{check}")))
                .or_default()
                .count(&cell);
            state
                .dns
                .entry(node.to_string())
                .or_default()
                .insert(check, cell);
        }
    }

    fn nurse_config(&self, node: &NodeRun) -> NurseConfig {
        let c = &self.config;
        let base = format!("http://{}", self.addr);
        NurseConfig {
            ingress_url: format!("{base}/ingress"),
            service_url: format!("{base}/service"),
            namespace: NAMESPACE.into(),
            neighbour_filter: format!("{}={}", LABEL.0, LABEL.1),
            neighbour_limit: c.neighbour_limit,
            check_interval: c.check_interval,
            jitter: 0.5,
            check_timeout: c.check_timeout,
            shutdown_duration: Duration::ZERO,
            service_account_ca: self.files.path().join("ca.crt"),
            token_file: self.files.path().join("token"),
            api_server_host: "127.0.0.1".into(),
            api_server_port: self.sim.addr().port(),
            api_server_dns: "localhost".into(),
            pod_name: format!("ward-nurse-{}", node.name),
            node_name: Some(node.name.clone()),
            listen: SocketAddr::from((node.ip, self.nurse_port)),
            neighbour_port: self.nurse_port,
            ..NurseConfig::default()
        }
    }

    fn start_nurse(self: &Arc<Self>, i: usize) -> Result<(), Error> {
        let mut nodes = lock(&self.nodes);
        let Some(node) = nodes.get_mut(i) else {
            return Ok(());
        };
        let config = self.nurse_config(node);
        let client = self.sim.client()?;
        let lifecycle = Lifecycle::new();
        node.lifecycle = Some(lifecycle.clone());
        let me = Arc::downgrade(self);
        let name = node.name.clone();
        let hooks = Hooks {
            faults: Some(node.faults.clone()),
            listener: node.listener.take(),
            on_round: Some(Arc::new(move |_node, status| {
                if let Some(inner) = me.upgrade() {
                    inner.record(&name, status);
                }
            })),
        };
        let name = node.name.clone();
        tokio::spawn(async move {
            if let Err(e) = ward_nurse::run_with(config, Some(client), lifecycle, hooks).await {
                tracing::error!(node = %name, error = %e, "nurse stopped");
            }
        });
        Ok(())
    }

    fn record(&self, node: &str, status: Arc<NodeStatus>) {
        let mut state = lock(&self.state);
        state.rounds += 1;
        for (check, cell) in &status.checks {
            let to = check.strip_prefix("path_").unwrap_or(check).to_string();
            let key = (
                node.to_string(),
                if check.starts_with("path_") {
                    to
                } else {
                    format!("#{check}")
                },
            );
            state.tallies.entry(key).or_default().count(cell);
        }
        state.statuses.insert(node.to_string(), status);
    }

    fn node_index(&self, name: &str) -> Result<usize, Error> {
        lock(&self.nodes)
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| {
                FaultError {
                    spec: name.to_string(),
                    reason: format!("no node {name:?}"),
                }
                .into()
            })
    }

    fn set_unschedulable(&self, node: &str, on: bool) -> Result<(), Error> {
        let r = store::resource("nodes").ok_or_else(|| Error::Register {
            what: node.into(),
            source: ward_kube_sim::ApiError::bad_request("no nodes".into()),
        })?;
        self.sim
            .store()
            .patch(r, "", node, &json!({"spec": {"unschedulable": if on { json!(true) } else { serde_json::Value::Null }}}), false)
            .map(|_| ())
            .map_err(|source| Error::Register { what: format!("node {node}"), source })
    }

    pub(crate) fn apply(self: &Arc<Self>, fault: &Fault) -> Result<(), Error> {
        self.switch(fault, true)?;
        let mut state = lock(&self.state);
        state.active.retain(|f| !f.same_kind(fault));
        state.active.push(fault.clone());
        state.applied.push(fault.to_string());
        tracing::info!(fault = %fault, "fault applied");
        Ok(())
    }

    pub(crate) fn clear(self: &Arc<Self>, fault: &Fault) -> Result<(), Error> {
        self.switch(fault, false)?;
        lock(&self.state).active.retain(|f| !f.same_kind(fault));
        tracing::info!(fault = %fault, "fault cleared");
        Ok(())
    }

    /// Turns the fault's effect on or off (the bookkeeping is the caller's).
    fn switch(self: &Arc<Self>, fault: &Fault, on: bool) -> Result<(), Error> {
        let index = fault.node().map(|n| self.node_index(n)).transpose()?;
        let faults = index.and_then(|i| lock(&self.nodes).get(i).map(|n| n.faults.clone()));
        let when_on = |d: Duration| if on { d } else { Duration::ZERO };
        match fault {
            Fault::Cut(_) => faults.iter().for_each(|f| f.set_cut(on)),
            Fault::Delay(_, d) => faults.iter().for_each(|f| f.set_delay(when_on(*d))),
            Fault::ApiDown => self.sim.set_available(!on),
            Fault::DnsDown => self.dns.set_down(on),
            Fault::DnsDelay(d) => self.dns.set_delay(when_on(*d)),
            Fault::Cordon(n) => self.set_unschedulable(n, on)?,
            Fault::Kill(n) if on => {
                let l = index.and_then(|i| {
                    lock(&self.nodes)
                        .get_mut(i)
                        .and_then(|n| n.lifecycle.take())
                });
                if let Some(l) = l {
                    l.request_shutdown();
                }
                let mut state = lock(&self.state);
                state.statuses.remove(n);
                state.dns.remove(n);
            }
            Fault::Kill(_) => {
                if let Some(i) = index {
                    let running = lock(&self.nodes)
                        .get(i)
                        .is_some_and(|n| n.lifecycle.is_some());
                    if !running {
                        self.start_nurse(i)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn summary(&self) -> Summary {
        let state = lock(&self.state);
        let mut s = Summary {
            nodes: self.config.nodes,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            rounds: state.rounds,
            path_checks: 0,
            path_failures: 0,
            paths_now: 0,
            paths_failing_now: 0,
            failing_paths: Vec::new(),
            failing_checks: Vec::new(),
            dns_checks: Vec::new(),
            faults: state.active.iter().map(|f| f.to_string()).collect(),
            faults_applied: state.applied.clone(),
        };
        for status in state.statuses.values() {
            for (k, c) in &status.checks {
                if k.starts_with("path_") {
                    s.paths_now += 1;
                    if !c.ok {
                        s.paths_failing_now += 1;
                    }
                }
            }
        }
        let mut dns: BTreeMap<&str, DnsCheck> = BTreeMap::new();
        for ((from, to), t) in &state.tallies {
            if let Some(check) = to
                .strip_prefix('#')
                .filter(|c| c.starts_with(DNS_CHECK_PREFIX))
            {
                let d = dns.entry(check).or_insert_with(|| DnsCheck {
                    check: check.to_string(),
                    ok: 0,
                    failed: 0,
                    nodes_failing_now: 0,
                });
                d.ok += t.ok;
                d.failed += t.failed;
                d.nodes_failing_now += usize::from(t.failing_now);
            }
            let is_path = !to.starts_with('#');
            if is_path {
                s.path_checks += t.ok + t.failed;
                s.path_failures += t.failed;
            }
            if t.failed > 0 {
                let f = Failing {
                    from: from.clone(),
                    to: to.trim_start_matches('#').to_string(),
                    tally: t.clone(),
                };
                if is_path {
                    s.failing_paths.push(f);
                } else {
                    s.failing_checks.push(f);
                }
            }
        }
        s.dns_checks = dns.into_values().collect();
        s
    }

    pub(crate) fn status_page(&self) -> ward_nurse::status::StatusPage {
        let state = lock(&self.state);
        let names: Vec<String> = lock(&self.nodes).iter().map(|n| n.name.clone()).collect();
        ward_nurse::status::StatusPage {
            source: "lab",
            interval_seconds: self.config.check_interval.as_secs_f64(),
            neighbour_limit: self.config.neighbour_limit,
            ring: ward_nurse::status::ring_entries(&names),
            nodes: state
                .statuses
                .iter()
                .map(|(k, v)| {
                    let mut status = (**v).clone();
                    if let Some(dns) = state.dns.get(k) {
                        status
                            .checks
                            .extend(dns.iter().map(|(c, cell)| (c.clone(), cell.clone())));
                    }
                    (k.clone(), status)
                })
                .collect(),
            faults: state.active.iter().map(|f| f.to_string()).collect(),
            api_server_up: Some(self.sim.is_available()),
        }
    }

    pub(crate) fn check_all(&self) -> serde_json::Value {
        let state = lock(&self.state);
        let mut nodes = serde_json::Map::new();
        let killed: HashMap<String, bool> = lock(&self.nodes)
            .iter()
            .map(|n| (n.name.clone(), n.lifecycle.is_none()))
            .collect();
        for (name, dead) in &killed {
            if *dead {
                nodes.insert(name.clone(), json!({"error": "agent killed (lab fault)"}));
            }
        }
        for (node, status) in &state.statuses {
            let checks: serde_json::Map<String, serde_json::Value> = status
                .checks
                .iter()
                .filter_map(|(k, c)| {
                    Some((
                        k.strip_prefix("path_")?.to_string(),
                        serde_json::to_value(c).ok()?,
                    ))
                })
                .collect();
            nodes.insert(node.clone(), json!({"node": node, "checks": checks}));
        }
        json!({ "nodes": nodes })
    }
}
