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
//! data the binary renders. This file holds the lab's settings, its state
//! and its start and stop; `cluster` registers the simulated cluster,
//! `nurses` runs the agents, `dns` probes the cluster DNS, `fault` parses and
//! switches faults, `route` and `ingress` make the ingress and service paths,
//! `summary` counts what was seen and `http` serves it.
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod cluster;
mod dns;
pub mod fault;
mod http;
mod ingress;
mod nurses;
mod promql;
mod route;
mod run;
mod series;
pub mod slo;
mod summary;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use ward_agent::Lifecycle;
use ward_kube_sim::dns::{ClusterDns, DnsConfig};
use ward_kube_sim::KubeSim;
use ward_nurse::status::{Cell, NodeStatus};
use ward_nurse::Faults;

use cluster::{node_ip, node_name, nurse_listeners, register};
use dns::{lookupers, resolv_conf};
pub use fault::{Fault, FaultError};
pub use ingress::IngressConfig;
pub use nurses::Round;
pub use route::Routing;
pub use summary::{DnsCheck, Failing, LabStatus, Summary, Tally};

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
/// Rounds a [`Lab::subscribe`] receiver may fall behind.
const ROUNDS_KEPT: usize = 4096;

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
    /// For each node's last ingress and service checks: the backends their requests went to.
    via: BTreeMap<String, BTreeMap<String, Vec<String>>>,
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
    router: route::Router,
    /// Every recorded round, for [`Lab::subscribe`].
    rounds: tokio::sync::broadcast::Sender<Round>,
    /// The DNS probers' series (hostlookuper's names), served on `/metrics`.
    dns_metrics: Arc<ward_agent::Registry>,
    /// The lab's scraped series and the SLOs computed from them.
    slo: slo::SloState,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lab {
    /// Validates the settings, starts kube-sim, registers the nodes and pods,
    /// starts the nurses and the dashboard, and applies the initial faults;
    /// the ingress and service route as [`Routing::for_lab`] says.
    pub async fn start(config: LabConfig) -> Result<Self, Error> {
        let routing = Routing::for_lab(&config);
        Self::start_with(config, routing).await
    }

    /// [`Lab::start`] with the ingress's settings and the service's seed given.
    pub async fn start_with(config: LabConfig, routing: Routing) -> Result<Self, Error> {
        if config.nodes == 0 || config.nodes > MAX_NODES {
            return Err(Error::Config {
                arg: "--nodes",
                value: config.nodes.to_string(),
                reason: format!(
                    "must be 1 to {MAX_NODES} (the lab uses the loopback addresses 127.0.0.2 to 127.0.0.254)"
                ),
            });
        }
        for (arg, value) in [
            ("--check-interval", config.check_interval),
            ("--check-timeout", config.check_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Config {
                    arg,
                    value: ward_duration::GoDuration(value).to_string(),
                    reason: "must be greater than zero".into(),
                });
            }
        }
        for f in &config.faults {
            f.check_node(config.nodes)?;
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
        let router = route::Router::new(
            &routing,
            config.check_timeout,
            (0..config.nodes).map(node_name),
        )?;
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
                via: BTreeMap::new(),
                tallies: BTreeMap::new(),
                rounds: 0,
                active: Vec::new(),
                applied: Vec::new(),
            }),
            nurse_port: port,
            addr,
            files,
            started: Instant::now(),
            router,
            rounds: tokio::sync::broadcast::channel(ROUNDS_KEPT).0,
            dns_metrics,
            slo: slo::SloState::new(),
            config: config.clone(),
        });
        for i in 0..config.nodes {
            inner.start_nurse(i)?;
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(http::serve(listener, inner.clone(), stop.clone()));
        tokio::spawn(inner.clone().probe_dns(lookupers, stop.clone()));
        tokio::spawn(inner.clone().sample_series(stop.clone()));
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
        self.inner.nurse_addr(node)
    }

    /// Applies a fault now.
    pub fn apply(&self, fault: &Fault) -> Result<(), Error> {
        self.inner.apply(fault)
    }

    /// Clears a fault now.
    pub fn clear(&self, fault: &Fault) -> Result<(), Error> {
        self.inner.clear(fault)
    }

    /// The SLO and API-server panel as the lab's series stand now.
    pub fn slo_panel(&self) -> slo::SloPanel {
        self.inner.slo_panel()
    }

    /// What the lab has seen so far.
    pub fn live(&self) -> Summary {
        self.inner.summary()
    }

    /// Every node's last round and DNS checks, as `/status` serves them.
    pub fn status(&self) -> LabStatus {
        self.inner.status_page()
    }

    /// Every round recorded from now on, as it is recorded (a receiver that
    /// falls more than 4096 rounds behind loses the oldest).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Round> {
        self.inner.rounds.subscribe()
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
