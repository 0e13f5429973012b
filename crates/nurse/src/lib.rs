//! The kubenurse-compatible agent: every interval, from every node, it checks
//! the API server (by IP and by DNS name), its own Ingress and Service, the
//! ring neighbours it is responsible for, and extra checks; it exports
//! kubenurse's metrics and endpoints and shuts down with a lameduck period.
//!
//! Entry point: [`run`] with a [`NurseConfig`] and a kube client. Checks are
//! made by `ward-probe`; the runtime (rounds, endpoints, lameduck) is `ward-agent`.
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

pub mod config;
pub mod discovery;
pub mod faults;
pub mod instances;
pub mod metrics;
pub mod ring;
pub mod round;
pub mod server;
pub mod slim;
pub mod status;
pub mod ui;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ward_agent::metrics::Registry;
use ward_agent::schedule::{every, Schedule};
use ward_agent::{lifecycle, Endpoint, Lifecycle};
use ward_probe::tls::{Roots, TlsConfig};
use ward_probe::{Prober, ProberConfig};

pub use config::NurseConfig;
pub use faults::Faults;

/// Optional hooks for a caller that runs nurses in-process (the lab).
#[derive(Default)]
pub struct Hooks {
    /// Faults applied to the nurse's endpoints.
    pub faults: Option<Arc<Faults>>,
    /// Called with every finished round's status.
    pub on_round: Option<server::RoundHook>,
    /// The plain endpoint's listener, already bound by the caller (so a
    /// caller starting many nurses has them all listening before any checks).
    pub listener: Option<std::net::TcpListener>,
}

/// Why the nurse could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// TLS settings (CA files, certificates) are unusable.
    #[error("{what}: {reason}")]
    Tls {
        /// The setting concerned.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A listener could not be bound.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The checks' prober; `reuse` keeps connections across rounds whatever
/// `KUBENURSE_REUSE_CONNECTIONS` says (the API-server instance checks).
fn prober_for(config: &NurseConfig, reuse: bool) -> Result<Prober, Error> {
    let mut extra_ca = Vec::new();
    if config.service_account_ca.is_file() {
        extra_ca.push(config.service_account_ca.clone());
    }
    extra_ca.extend(config.extra_ca.clone());
    Prober::new(ProberConfig {
        timeout: config.check_timeout,
        reuse: reuse || config.reuse_connections,
        max_body: 1 << 20,
        proxy: config.proxy.clone(),
        tls: TlsConfig {
            roots: Roots::System,
            extra_ca,
            insecure: config.insecure,
            ..TlsConfig::default()
        },
        ..ProberConfig::default()
    })
    .map_err(|e| Error::Tls {
        what: "KUBENURSE_EXTRA_CA",
        reason: e.to_string(),
    })
}

fn server_tls(tls: &config::ServeTls) -> Result<Arc<rustls::ServerConfig>, Error> {
    let bad = |what: &'static str, reason: String| Error::Tls { what, reason };
    let certs = ward_probe::tls::read_certs(&tls.cert_file, ward_probe::TlsFile::ServerCert)
        .map_err(|e| bad("KUBENURSE_CERT_FILE", e.to_string()))?;
    let key_pem = std::fs::read(&tls.key_file).map_err(|e| {
        bad(
            "KUBENURSE_CERT_KEY",
            format!("reading {}: {e}", tls.key_file.display()),
        )
    })?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| {
            bad(
                "KUBENURSE_CERT_KEY",
                format!("{}: no PEM private key found", tls.key_file.display()),
            )
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| bad("KUBENURSE_CERT_FILE", e.to_string()))?;
    Ok(Arc::new(config))
}

/// Runs the nurse until SIGTERM/SIGINT (then lameduck) or `lifecycle.request_shutdown()`.
///
/// `client` is needed for the neighbourhood and API-server instance checks
/// ([`config::Toggles::need_client`]); pass `None` when they are off.
pub async fn run(
    config: NurseConfig,
    client: Option<kube::Client>,
    lifecycle: Arc<Lifecycle>,
) -> Result<(), Error> {
    run_with(config, client, lifecycle, Hooks::default()).await
}

/// [`run`] with hooks: faults on the endpoints and a callback per round.
pub async fn run_with(
    config: NurseConfig,
    client: Option<kube::Client>,
    lifecycle: Arc<Lifecycle>,
    hooks: Hooks,
) -> Result<(), Error> {
    let config = Arc::new(config);
    let registry = Arc::new(Registry::new(
        config.histograms.clone(),
        config.expose_metadata,
    ));
    let discovery = match (&client, config.toggles.neighbourhood) {
        (Some(client), true) => Some(discovery::Discovery::start(
            client.clone(),
            &config.namespace,
            &config.neighbour_filter,
            config.allow_unschedulable,
            discovery::Identity {
                pod_name: config.pod_name.clone(),
                node_name: config.node_name.clone(),
            },
        )),
        _ => None,
    };
    let mut checker = round::Checker::new(
        config.clone(),
        prober_for(&config, false)?,
        registry.clone(),
        discovery,
    );
    if let (Some(client), true) = (&client, config.toggles.api_server_instances) {
        checker = checker.with_instances(round::InstanceChecks {
            instances: instances::Instances::start(client.clone()),
            prober: prober_for(&config, true)?,
        });
    }
    let checker = Arc::new(checker);
    let shared = Arc::new(server::Shared {
        lifecycle: lifecycle.clone(),
        last: RwLock::new(None),
        checker: checker.clone(),
        prober: Arc::new(prober_for(&config, false)?),
        incoming: Mutex::new(HashMap::new()),
        hostname: config.pod_name.clone(),
        registry: registry.clone(),
        rounds: Default::default(),
        status: RwLock::new(None),
        interval: config.check_interval,
        neighbour_limit: config.neighbour_limit,
        on_round: hooks.on_round.clone(),
    });
    let listen_error = |source| Error::Listen {
        addr: config.listen,
        source,
    };
    let plain = match hooks.listener {
        Some(listener) => listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(listener))
            .map(|l| Endpoint::from_listener(l, None)),
        None => Endpoint::bind(config.listen).await,
    }
    .map_err(listen_error)?;
    let mut endpoints = vec![plain];
    if let Some(tls) = &config.tls {
        endpoints.push(
            Endpoint::bind_tls(tls.listen, server_tls(tls)?)
                .await
                .map_err(|source| Error::Listen {
                    addr: tls.listen,
                    source,
                })?,
        );
    }
    let mut router = server::router(shared.clone());
    if let Some(faults) = hooks.faults {
        router = router.layer(axum::middleware::from_fn_with_state(faults, faults::apply));
    }
    let schedule = Schedule {
        interval: config.check_interval,
        jitter: config.jitter,
        round_timeout: config.check_timeout + Duration::from_secs(2),
    };
    let stop = lifecycle.stopping();
    // As kubenurse: SIGTERM ends the checks at once (a check from a pod
    // being shut down would report its own shutdown as errors); the
    // endpoints and the incoming-checks gauge go on for the lameduck period.
    let checking = lifecycle.lameduck_started();
    let rounds = {
        let shared = shared.clone();
        async move {
            let incoming = {
                let shared = shared.clone();
                let stop = stop.clone();
                let every_second = Schedule {
                    interval: Duration::from_secs(1),
                    jitter: 0.0,
                    round_timeout: Duration::from_secs(1),
                };
                every(every_second, stop, move |_, _| {
                    shared.refresh_incoming();
                    async {}
                })
            };
            let checks = every(schedule, checking, move |_, _| {
                let shared = shared.clone();
                async move {
                    let result = shared.checker.round().await;
                    shared.publish(result);
                    shared.lifecycle.round_completed();
                }
            });
            futures::join!(incoming, checks);
        }
    };
    tracing::info!(listen = %config.listen, "kubenurse just started");
    lifecycle::run(
        lifecycle,
        endpoints,
        router,
        rounds,
        config.shutdown_duration,
    )
    .await;
    Ok(())
}

/// A kube client from `KUBECONFIG`, `~/.kube/config` or the in-cluster ServiceAccount.
pub async fn kube_client() -> Result<kube::Client, kube::Error> {
    kube::Client::try_default().await
}

/// Names of every node in the cluster (for `ward nurse ring` without a nodes file).
pub async fn node_names(client: kube::Client) -> Result<Vec<String>, kube::Error> {
    use kube::ResourceExt;
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
    let list = nodes.list_metadata(&Default::default()).await?;
    Ok(list.items.iter().map(|n| n.name_any()).collect())
}
