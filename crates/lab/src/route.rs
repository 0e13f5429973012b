//! The lab's ingress and service paths: which nurse answers a request to
//! `/ingress/alwayshappy` or `/service/alwayshappy`.
//!
//! The ingress balances as ingress-nginx with its defaults does (see
//! `ingress`): round robin over the ready endpoints, the next upstream after
//! an error or a timeout for an idempotent request, and a failed upstream
//! skipped for a while. The service balances as kube-proxy in iptables mode
//! does: each connection goes to an endpoint drawn at random on the
//! caller's node, with no retry (a nurse opens a connection per check, so
//! per request is per connection). Nurses send their checks through
//! `/from/NODE/…`, which names the caller as an ingress's log names the
//! client address; the backends each request went to are noted, so that a
//! nurse's check can be shown with the backend that served it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use ward_probe::http::{AcceptStatus, HttpRequest};
use ward_probe::{ErrorClass, Prober, ProberConfig};

use crate::ingress::{IngressConfig, Upstreams};
use crate::{lock, Error, Inner, LabConfig};

/// A way from a nurse to the nurses' `/alwayshappy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    Ingress,
    Service,
}

impl Route {
    /// Both routes.
    pub(crate) const ALL: [Route; 2] = [Route::Ingress, Route::Service];

    /// The nurse check that goes this way.
    pub(crate) fn check(self) -> &'static str {
        match self {
            Route::Ingress => "me_ingress",
            Route::Service => "me_service",
        }
    }

    /// Its segment of the lab's URL paths.
    pub(crate) fn segment(self) -> &'static str {
        match self {
            Route::Ingress => "ingress",
            Route::Service => "service",
        }
    }
}

/// How the lab's ingress and service choose the nurse that answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The ingress's settings.
    pub ingress: IngressConfig,
    /// Seed of the service's choices (each node draws from a stream of its
    /// own, as each node's kernel applies its own iptables rules); `None`:
    /// a random one.
    pub seed: Option<u64>,
}

impl Routing {
    /// The lab's routing for `config`: [`IngressConfig::for_checks`] and a random seed.
    pub fn for_lab(config: &LabConfig) -> Self {
        Self {
            ingress: IngressConfig::for_checks(config.check_timeout),
            seed: None,
        }
    }
}

/// The backends one request went to, in order, and when it arrived.
#[derive(Debug)]
struct Noted {
    via: Vec<String>,
    at: Instant,
}

/// How an attempt on a backend ended.
enum Answer {
    /// It answered with this status.
    Status(StatusCode),
    /// It failed: a timeout, or another error.
    Failed { timeout: bool },
}

/// The routing state of a running lab.
pub(crate) struct Router {
    upstreams: Mutex<Upstreams>,
    /// Sends the ingress's attempts (the read timeout bounds each).
    ingress: Prober,
    /// Sends the service's connections, bounded only so that none is left
    /// behind (twice the check timeout: after every nurse gave up).
    service: Prober,
    tries: usize,
    seed: u64,
    /// Each node's stream of service choices ("": callers that are not nodes).
    draws: Mutex<HashMap<String, StdRng>>,
    /// The nodes, the callers whose requests are noted.
    callers: HashSet<String>,
    noted: Mutex<HashMap<(String, Route), Noted>>,
}

fn prober(timeout: Duration) -> Result<Prober, Error> {
    Prober::new(ProberConfig {
        timeout,
        ..Default::default()
    })
    .map_err(|e| Error::Config {
        arg: "--check-timeout",
        value: format!("{timeout:?}"),
        reason: e.to_string(),
    })
}

/// A stable 64-bit mix of `seed` and `name` (FNV-1a), the seed of `name`'s stream.
fn stream_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Router {
    pub(crate) fn new(
        routing: &Routing,
        check_timeout: Duration,
        nodes: impl IntoIterator<Item = String>,
    ) -> Result<Self, Error> {
        Ok(Self {
            upstreams: Mutex::new(Upstreams::new(routing.ingress.clone())),
            ingress: prober(routing.ingress.read_timeout)?,
            service: prober(check_timeout * 2)?,
            tries: routing.ingress.tries.max(1),
            seed: routing.seed.unwrap_or_else(rand::random),
            draws: Mutex::new(HashMap::new()),
            callers: nodes.into_iter().collect(),
            noted: Mutex::new(HashMap::new()),
        })
    }

    /// Notes the backends `caller`'s request has gone to so far.
    fn note(&self, caller: Option<&str>, route: Route, via: &[String]) {
        if let Some(c) = caller {
            let noted = Noted {
                via: via.to_vec(),
                at: Instant::now(),
            };
            lock(&self.noted).insert((c.to_string(), route), noted);
        }
    }

    /// Takes the backends of `node`'s last request on each route, by
    /// check, when it arrived within `within` (a round sends one each).
    pub(crate) fn take(&self, node: &str, within: Duration) -> BTreeMap<String, Vec<String>> {
        let mut noted = lock(&self.noted);
        Route::ALL
            .into_iter()
            .filter_map(|r| {
                let n = noted.remove(&(node.to_string(), r))?;
                (n.at.elapsed() <= within).then(|| (r.check().to_string(), n.via))
            })
            .collect()
    }

    /// The upstreams the ingress skips now.
    pub(crate) fn ingress_skips(&self) -> Vec<String> {
        lock(&self.upstreams).skipped_now(Instant::now())
    }

    /// One request through the ingress: up to `tries` attempts (one for a
    /// method that is not idempotent), each on the next upstream.
    async fn ingress(
        &self,
        endpoints: &[(String, SocketAddr)],
        caller: Option<&str>,
        method: &Method,
    ) -> StatusCode {
        let names: Vec<String> = endpoints.iter().map(|(n, _)| n.clone()).collect();
        // As nginx counts them: at most one attempt per upstream.
        let tries = if method.is_idempotent() {
            self.tries.min(names.len())
        } else {
            1
        };
        let mut tried: Vec<String> = Vec::new();
        let mut timed_out = false;
        while tried.len() < tries {
            let picked = lock(&self.upstreams).pick(&names, &tried, Instant::now());
            let Some((name, addr)) = picked.and_then(|p| endpoints.iter().find(|(n, _)| *n == p))
            else {
                // nginx: "no live upstreams".
                break;
            };
            tried.push(name.clone());
            self.note(caller, Route::Ingress, &tried);
            let answer = attempt(&self.ingress, *addr).await;
            let failed = matches!(answer, Answer::Failed { .. });
            if names.len() > 1 {
                lock(&self.upstreams).done(name, failed, Instant::now());
            }
            match answer {
                Answer::Status(status) => return status,
                Answer::Failed { timeout } => timed_out = timeout,
            }
        }
        if timed_out {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        }
    }

    /// One connection through the service: an endpoint drawn at random on
    /// the caller's node, no retry.
    async fn service(
        &self,
        endpoints: &[(String, SocketAddr)],
        caller: Option<&str>,
    ) -> StatusCode {
        let i = {
            let key = caller.unwrap_or_default();
            let mut draws = lock(&self.draws);
            let rng = draws
                .entry(key.to_string())
                .or_insert_with(|| StdRng::seed_from_u64(stream_seed(self.seed, key)));
            rng.random_range(0..endpoints.len())
        };
        let Some((name, addr)) = endpoints.get(i) else {
            return StatusCode::SERVICE_UNAVAILABLE;
        };
        self.note(caller, Route::Service, std::slice::from_ref(name));
        match attempt(&self.service, *addr).await {
            Answer::Status(status) => status,
            Answer::Failed { timeout: true } => StatusCode::GATEWAY_TIMEOUT,
            Answer::Failed { timeout: false } => StatusCode::BAD_GATEWAY,
        }
    }
}

/// One GET of a nurse's `/alwayshappy`: its status, or how it failed.
async fn attempt(prober: &Prober, addr: SocketAddr) -> Answer {
    let Ok(url) = url::Url::parse(&format!("http://{addr}/alwayshappy")) else {
        return Answer::Failed { timeout: false };
    };
    let mut request = HttpRequest::get(url);
    request.accept = AcceptStatus::Any;
    let outcome = prober.check_http(&request).await;
    match outcome.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        Some(status) if outcome.success => Answer::Status(status),
        _ => Answer::Failed {
            timeout: outcome.error.is_some_and(|e| {
                matches!(
                    e.class,
                    ErrorClass::ConnectTimeout | ErrorClass::TimeoutFirstByte | ErrorClass::Timeout
                )
            }),
        },
    }
}

impl Inner {
    /// The ready endpoints: every running nurse, in node order.
    fn endpoints(&self) -> Vec<(String, SocketAddr)> {
        lock(&self.nodes)
            .iter()
            .filter(|n| n.lifecycle.is_some())
            .map(|n| (n.name.clone(), SocketAddr::from((n.ip, self.nurse_port))))
            .collect()
    }

    /// Forwards one request that came in on `route` from `caller` (a node
    /// name, or anyone else) to a nurse's `/alwayshappy`, and answers with
    /// its status (503 when no nurse runs, 502 or 504 when none answered).
    pub(crate) async fn forward(&self, route: Route, caller: &str, method: &Method) -> StatusCode {
        let endpoints = self.endpoints();
        if endpoints.is_empty() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        let caller = self.router.callers.contains(caller).then_some(caller);
        match route {
            Route::Ingress => self.router.ingress(&endpoints, caller, method).await,
            Route::Service => self.router.service(&endpoints, caller).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_node_has_a_stream_of_its_own() {
        assert_eq!(stream_seed(7, "node-1"), stream_seed(7, "node-1"));
        assert_ne!(stream_seed(7, "node-1"), stream_seed(7, "node-2"));
        assert_ne!(stream_seed(7, "node-1"), stream_seed(8, "node-1"));
    }
}
