//! An in-process simulation of the part of the Kubernetes API that ward uses:
//! `/version` and discovery, nodes, pods, namespaces, services and EndpointSlices (list with label and
//! field selectors and pagination, watch with resourceVersion, history and
//! bookmarks, get, create, replace, merge/strategic/apply patches, delete, the
//! `status` subresource, `Status` errors), served as k8s-openapi JSON over
//! HTTPS with a CA generated at start, so an unmodified `kube::Client` talks
//! to it. It has no authentication or authorization (every request is
//! allowed), no admission, no graceful deletion and no controllers.
//! [`KubeSim::start_dns`] adds a cluster DNS answering from the same objects
//! as CoreDNS's `kubernetes` plugin would ([`dns`]).
//!
//! Entry point: [`KubeSim::start`]. The lab's faults use
//! [`KubeSim::set_available`] (the listener is closed, connections refused),
//! [`KubeSim::set_delay`] (every answer late)
//! and [`KubeSim::store`] (in-process edits, e.g. cordoning a node).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ward_kube_sim::Error> {
//! use k8s_openapi::api::core::v1::Node;
//! let sim = ward_kube_sim::KubeSim::start(Default::default()).await?;
//! let nodes: kube::Api<Node> = kube::Api::all(sim.client()?);
//! assert!(nodes.list(&Default::default()).await.is_ok());
//! # Ok(()) }
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

pub mod dns;
pub mod selector;
pub mod server;
pub mod status;
pub mod store;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub use status::ApiError;
pub use store::Store;

/// Why the simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not be bound.
    #[error("kube-sim: listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Generating the CA or serving certificate failed.
    #[error("kube-sim: {what}: {detail}")]
    Tls {
        /// What was being made.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// Building the kube client failed.
    #[error("kube-sim: building a kube client: {0}")]
    Client(#[source] kube::Error),
}

/// Settings of a simulated API server.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Time between bookmarks on watches that allow them.
    pub bookmark_interval: Duration,
    /// `gitVersion` reported by `/version`.
    pub git_version: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: Duration::from_secs(5),
            git_version: "v1.34.0-ward-kube-sim".into(),
        }
    }
}

/// A running simulated API server; stops when dropped.
pub struct KubeSim {
    shared: Arc<server::Shared>,
    addr: SocketAddr,
    ca_pem: String,
    ca_der: Vec<u8>,
    up: watch::Sender<bool>,
    stop: CancellationToken,
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn tls_err(what: &'static str) -> impl Fn(rcgen::Error) -> Error {
    move |e| Error::Tls {
        what,
        detail: e.to_string(),
    }
}

/// A fresh CA and a serving certificate for 127.0.0.1, ::1 and localhost.
fn certificates(listen: SocketAddr) -> Result<(String, Vec<u8>, Arc<rustls::ServerConfig>), Error> {
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(tls_err("CA params"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ward-kube-sim CA");
    let ca_key = KeyPair::generate().map_err(tls_err("CA key"))?;
    let ca = ca_params.self_signed(&ca_key).map_err(tls_err("CA"))?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes.default.svc".into(),
    ])
    .map_err(tls_err("serving certificate params"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let mut ips = vec![
        std::net::IpAddr::from([127, 0, 0, 1]),
        std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ];
    if !ips.contains(&listen.ip()) && !listen.ip().is_unspecified() {
        ips.push(listen.ip());
    }
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    let key = KeyPair::generate().map_err(tls_err("serving key"))?;
    let cert = params
        .signed_by(&key, &ca, &ca_key)
        .map_err(tls_err("serving certificate"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| {
        Error::Tls {
            what: "serving key",
            detail: e.to_string(),
        }
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(vec![cert.der().clone(), ca.der().clone()], key_der)
        })
        .map_err(|e| Error::Tls {
            what: "server config",
            detail: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((ca.pem(), ca.der().to_vec(), Arc::new(config)))
}

impl KubeSim {
    /// Generates a CA and starts serving on `config.listen`.
    pub async fn start(config: SimConfig) -> Result<Self, Error> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
        let (ca_pem, ca_der, tls) = certificates(addr)?;
        let shared = Arc::new(server::Shared {
            store: Store::new(),
            bookmark_interval: config.bookmark_interval,
            git_version: config.git_version,
            connections: std::sync::Mutex::new(CancellationToken::new()),
            requests: AtomicU64::new(0),
            delay_ms: AtomicU64::new(0),
        });
        let (up, up_rx) = watch::channel(true);
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(
            Some(listener),
            addr,
            TlsAcceptor::from(tls),
            shared.clone(),
            up_rx,
            stop.clone(),
        ));
        tracing::info!(%addr, "kube-sim listening");
        Ok(Self {
            shared,
            addr,
            ca_pem,
            ca_der,
            up,
            stop,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The objects, for in-process edits (they are seen by watches like API writes).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// A kube-rs configuration for this server (trusting its CA, no credentials).
    pub fn kube_config(&self) -> kube::Config {
        let url = self
            .url()
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("https://127.0.0.1"));
        let mut config = kube::Config::new(url);
        config.root_cert = Some(vec![self.ca_der.clone()]);
        config.connect_timeout = Some(Duration::from_secs(2));
        config.read_timeout = None;
        config
    }

    /// A kube-rs client for this server.
    pub fn client(&self) -> Result<kube::Client, Error> {
        kube::Client::try_from(self.kube_config()).map_err(Error::Client)
    }

    /// Starts a cluster DNS answering from this simulation's objects.
    pub async fn start_dns(&self, config: dns::DnsConfig) -> Result<dns::ClusterDns, Error> {
        dns::ClusterDns::start(self.shared.clone(), config).await
    }

    /// Up (serving) or down (listener closed: connections are refused, open watches end).
    pub fn set_available(&self, available: bool) {
        self.up.send_replace(available);
    }

    /// True while serving.
    pub fn is_available(&self) -> bool {
        *self.up.borrow()
    }

    /// Every answer waits this long first (zero: none), as an overloaded API server's.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// API requests received so far (every path and verb, watches included).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

async fn accept_loop(
    mut listener: Option<TcpListener>,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<server::Shared>,
    mut up: watch::Receiver<bool>,
    stop: CancellationToken,
) {
    let router = server::router(shared.clone());
    loop {
        let Some(l) = listener.take() else {
            // Down: wait to come back up, then bind the same port again.
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = up.wait_for(|u| *u) => if changed.is_err() { return },
            }
            let mut attempts = 0;
            listener = loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break Some(l),
                    Err(e) if attempts > 50 => {
                        tracing::error!(%addr, error = %e, "kube-sim cannot listen again");
                        return;
                    }
                    Err(_) => {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            };
            continue;
        };
        let connections = {
            let fresh = CancellationToken::new();
            if let Ok(mut c) = shared.connections.lock() {
                *c = fresh.clone();
            }
            fresh
        };
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => { connections.cancel(); return }
                changed = up.wait_for(|u| !*u) => {
                    if changed.is_err() { return }
                    break;
                }
                a = l.accept() => a,
            };
            let Ok((stream, _)) = accepted else {
                tokio::task::yield_now().await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let router = router.clone();
            let conn_stop = connections.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
                else {
                    return;
                };
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(
                    TokioIo::new(tls),
                    TowerToHyperService::new(router),
                );
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = conn_stop.cancelled() => {}
                }
            });
        }
        // Going down: close the listener and cut every open connection.
        drop(l);
        connections.cancel();
        tracing::info!(%addr, "kube-sim down");
    }
}
