//! One check round: every enabled check in parallel, each bounded by the
//! check timeout; the result is published only once all have finished.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use url::Url;
use ward_agent::Registry;
use ward_probe::http::{AcceptStatus, HttpRequest};
use ward_probe::target::join_host_port;
use ward_probe::{ErrorClass, Outcome, Prober, Target};

use crate::config::NurseConfig;
use crate::discovery::{Discovery, Neighbour, Snapshot};
use crate::instances::{self, Instances};
use crate::metrics;

/// Header naming the calling pod on neighbour checks (Go canonicalises it to `Kubenurse-Neighbour-Origin`).
pub const ORIGIN_HEADER: &str = "kubenurse-neighbour-origin";

/// The result of one round, as `/alive` shows it.
#[derive(Debug, Clone, Default)]
pub struct RoundResult {
    /// Result per check: `ok`, `skipped`, `error`, `<code> <reason>` or the error text.
    pub checks: BTreeMap<String, String>,
    /// What discovery saw (every eligible neighbour, before the limit), when it succeeded.
    pub neighbourhood: Option<Arc<Snapshot>>,
    /// `ok`, `skipped`, or the discovery error.
    pub neighbourhood_state: String,
    /// The outcome of each check that ran.
    pub outcomes: BTreeMap<String, Outcome>,
    /// This node and the neighbours it checked (ring order).
    pub ring: Option<(String, Vec<Neighbour>)>,
}

/// What a single planned check sends.
#[derive(Debug, Clone)]
enum Plan {
    Http(HttpRequest),
    Other(Target),
    /// One API-server instance, on the connection kept for it.
    Instance(SocketAddr, HttpRequest),
}

/// The per-instance API-server checks: the EndpointSlice watch and a prober
/// that keeps one connection per instance across rounds (so the GOAWAY
/// frames an instance sends are seen).
pub struct InstanceChecks {
    /// The watch of `default/kubernetes`'s EndpointSlices.
    pub instances: Instances,
    /// A prober with connection reuse on.
    pub prober: Prober,
}

/// Runs rounds with one configuration, prober and registry.
pub struct Checker {
    config: Arc<NurseConfig>,
    prober: Prober,
    registry: Arc<Registry>,
    discovery: Option<Discovery>,
    selected_before: Mutex<BTreeSet<String>>,
    instances: Option<InstanceChecks>,
    instances_before: Mutex<BTreeSet<SocketAddr>>,
}

impl Checker {
    /// A checker; `discovery` is `None` when the neighbourhood check is off.
    pub fn new(
        config: Arc<NurseConfig>,
        prober: Prober,
        registry: Arc<Registry>,
        discovery: Option<Discovery>,
    ) -> Self {
        Self {
            config,
            prober,
            registry,
            discovery,
            selected_before: Mutex::new(BTreeSet::new()),
            instances: None,
            instances_before: Mutex::new(BTreeSet::new()),
        }
    }

    /// The same checker, also checking every API-server instance.
    pub fn with_instances(mut self, checks: InstanceChecks) -> Self {
        self.instances = Some(checks);
        self
    }

    /// The discovery watches, when the neighbourhood check is on.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// The URL of a neighbour's `/alwayshappy` (https on the TLS port when serving TLS).
    pub fn neighbour_url(&self, n: &Neighbour, path: &str) -> Option<Url> {
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        Url::parse(&format!(
            "{scheme}://{}{path}",
            join_host_port(&n.pod_ip, self.config.neighbour_port)
        ))
        .ok()
    }

    fn neighbour_request(&self, n: &Neighbour) -> Option<HttpRequest> {
        let url = self.neighbour_url(n, "/alwayshappy")?;
        let mut request = kubenurse_get(HttpRequest::get(url));
        if let Ok(origin) = HeaderValue::from_str(&self.config.pod_name) {
            request
                .headers
                .push((HeaderName::from_static(ORIGIN_HEADER), origin));
        }
        Some(request)
    }

    /// `Bearer <token>` from the token file, read now (the kubelet rotates it).
    async fn bearer(&self) -> Result<HeaderValue, String> {
        let file = &self.config.token_file;
        let token = tokio::fs::read_to_string(file)
            .await
            .map_err(|e| format!("reading token {}: {e}", file.display()))?;
        HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| format!("token {} is not a valid header value", file.display()))
    }

    /// One `/version` request per API-server instance: to its address, verified
    /// as [`instances::SERVER_NAME`], with the token (which goes to these
    /// addresses only), no redirects followed.
    async fn instance_plans(&self, checks: &InstanceChecks) -> Result<Vec<(String, Plan)>, String> {
        let wait = self.config.check_timeout.min(Duration::from_secs(2));
        let addresses = checks.instances.addresses(wait).await?;
        self.expire_departed_instances(&addresses);
        let bearer = self.bearer().await?;
        let mut plans = Vec::new();
        for addr in addresses {
            let url = Url::parse(&format!(
                "https://{}/version",
                join_host_port(instances::SERVER_NAME, addr.port())
            ))
            .map_err(|e| format!("API-server instance {addr}: {e}"))?;
            let mut request = HttpRequest::get(url);
            request.accept = AcceptStatus::Exact(vec![200]);
            request.connect_to = Some(addr);
            request.headers.push((AUTHORIZATION, bearer.clone()));
            plans.push((instance_check(addr), Plan::Instance(addr, request)));
        }
        Ok(plans)
    }

    fn expire_departed_instances(&self, now: &[SocketAddr]) {
        let now: BTreeSet<SocketAddr> = now.iter().copied().collect();
        let mut before = self
            .instances_before
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for gone in before.difference(&now) {
            let removed = metrics::expire_instance(&self.registry, &gone.to_string());
            tracing::info!(endpoint = %gone, series = removed, "API-server instance left the endpoints, series expired");
        }
        *before = now;
    }

    async fn api_server_requests(&self) -> Result<[Option<HttpRequest>; 2], String> {
        let c = &self.config;
        let wanted = [c.toggles.api_server_direct, c.toggles.api_server_dns];
        if !wanted.contains(&true) {
            return Ok([None, None]);
        }
        let bearer = self.bearer().await?;
        let make = |host: &str| -> Option<HttpRequest> {
            let url = Url::parse(&format!(
                "https://{}/version",
                join_host_port(host, c.api_server_port)
            ))
            .ok()?;
            let mut request = kubenurse_get(HttpRequest::get(url));
            // The token goes to the API server and nowhere else.
            request.headers.push((AUTHORIZATION, bearer.clone()));
            Some(request)
        };
        Ok([
            wanted[0].then(|| make(&c.api_server_host)).flatten(),
            wanted[1].then(|| make(&c.api_server_dns)).flatten(),
        ])
    }

    /// The neighbours this node checks now (ring order), from discovery.
    pub async fn neighbourhood(&self) -> Result<(Arc<Snapshot>, Vec<Neighbour>), String> {
        let discovery = self
            .discovery
            .as_ref()
            .ok_or("neighbourhood check disabled")?;
        let snapshot = discovery
            .snapshot(self.config.check_timeout.min(Duration::from_secs(2)))
            .await?;
        let selected = snapshot.selected(self.config.neighbour_limit);
        Ok((snapshot, selected))
    }

    /// Runs one HTTP check to each neighbour given, without recording metrics (for `/check`).
    pub async fn check_neighbours(&self, neighbours: &[Neighbour]) -> BTreeMap<String, Outcome> {
        let runs = neighbours.iter().filter_map(|n| {
            let request = self.neighbour_request(n)?;
            let node = n.node_name.clone();
            Some(async move { (node, self.prober.check_http(&request).await) })
        });
        join_all(runs).await.into_iter().collect()
    }

    /// Runs one round: every enabled check in parallel; records metrics; returns when all are done.
    pub async fn round(&self) -> RoundResult {
        let c = &self.config;
        let mut result = RoundResult::default();
        let mut plans: Vec<(String, Plan)> = Vec::new();
        match self.api_server_requests().await {
            Ok([direct, dns]) => {
                for (name, on, request) in [
                    ("api_server_direct", c.toggles.api_server_direct, direct),
                    ("api_server_dns", c.toggles.api_server_dns, dns),
                ] {
                    match (on, request) {
                        (false, _) => skip(&mut result, name),
                        (true, Some(r)) => plans.push((name.into(), Plan::Http(r))),
                        (true, None) => error(&mut result, name, "invalid API server address"),
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "API server checks");
                for name in ["api_server_direct", "api_server_dns"] {
                    error(&mut result, name, "error");
                }
            }
        }
        for (name, on, base) in [
            ("me_ingress", c.toggles.me_ingress, &c.ingress_url),
            ("me_service", c.toggles.me_service, &c.service_url),
        ] {
            if !on {
                skip(&mut result, name);
                continue;
            }
            match Url::parse(&format!("{base}/alwayshappy")) {
                Ok(url) => plans.push((
                    name.into(),
                    Plan::Http(kubenurse_get(HttpRequest::get(url))),
                )),
                Err(e) => error(
                    &mut result,
                    name,
                    &format!("Get \"{base}/alwayshappy\": {e}"),
                ),
            }
        }
        for extra in &c.extra_checks {
            let plan = match &extra.target {
                Target::Http(url) => Plan::Http(kubenurse_get(HttpRequest::get(url.clone()))),
                other => Plan::Other(other.clone()),
            };
            plans.push((extra.name.clone(), plan));
        }
        if let Some(checks) = &self.instances {
            match self.instance_plans(checks).await {
                Ok(instance_plans) => plans.extend(instance_plans),
                Err(e) => {
                    tracing::error!(error = %e, "API-server instance checks");
                    error(&mut result, metrics::API_SERVER_INSTANCE, &e);
                }
            }
        }
        if c.toggles.neighbourhood {
            match self.neighbourhood().await {
                Ok((snapshot, selected)) => {
                    for n in &selected {
                        if let Some(request) = self.neighbour_request(n) {
                            plans.push((format!("path_{}", n.node_name), Plan::Http(request)));
                        }
                    }
                    self.expire_departed(&selected);
                    result.neighbourhood_state = "ok".into();
                    result.ring = Some((snapshot.self_node.clone().unwrap_or_default(), selected));
                    result.neighbourhood = Some(snapshot);
                }
                Err(e) => result.neighbourhood_state = e,
            }
        } else {
            result.neighbourhood_state = "skipped".into();
        }
        let runs = plans.into_iter().map(|(name, plan)| async move {
            let prober = match (&plan, &self.instances) {
                (Plan::Instance(..), Some(checks)) => &checks.prober,
                _ => &self.prober,
            };
            let outcome = match &plan {
                Plan::Http(request) | Plan::Instance(_, request) => {
                    prober.check_http(request).await
                }
                Plan::Other(target) => prober.check(target).await,
            };
            let instance = match plan {
                Plan::Instance(addr, _) => Some(addr),
                _ => None,
            };
            (name, instance, outcome)
        });
        for (name, instance, outcome) in join_all(runs).await {
            match instance {
                Some(addr) => metrics::record_instance(&self.registry, &addr.to_string(), &outcome),
                None => metrics::record(&self.registry, &name, &outcome),
            }
            if let Some(e) = &outcome.error {
                tracing::error!(request_type = %name, class = %e.class, err = %e.message, "check failed");
            }
            result.checks.insert(name.clone(), describe(&outcome));
            result.outcomes.insert(name, outcome);
        }
        result
    }

    fn expire_departed(&self, selected: &[Neighbour]) {
        let now: BTreeSet<String> = selected
            .iter()
            .map(|n| format!("path_{}", n.node_name))
            .collect();
        let mut before = self
            .selected_before
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for gone in before.difference(&now) {
            let removed = metrics::expire(&self.registry, gone);
            tracing::info!(check = %gone, series = removed, "neighbour left the selection, series expired");
        }
        *before = now;
    }
}

/// The `/alive` key of an API-server instance check: `api_server_instance_<ip:port>`.
pub fn instance_check(addr: SocketAddr) -> String {
    format!("{}_{addr}", metrics::API_SERVER_INSTANCE)
}

/// As kubenurse's client: only 200 is ok, redirects are followed (Go's rules).
fn kubenurse_get(mut request: HttpRequest) -> HttpRequest {
    request.accept = AcceptStatus::Exact(vec![200]);
    request.follow_redirects = true;
    request
}

fn skip(result: &mut RoundResult, name: &str) {
    result
        .checks
        .insert(name.to_string(), "skipped".to_string());
}

fn error(result: &mut RoundResult, name: &str, text: &str) {
    result.checks.insert(name.to_string(), text.to_string());
}

/// The `/alive` value of a check: `ok`, `<code> <reason>` (as Go's `resp.Status`), or the error.
pub fn describe(o: &Outcome) -> String {
    match (&o.error, o.status) {
        (None, _) => "ok".to_string(),
        (Some(e), Some(status)) if e.class == ErrorClass::HttpStatus => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("");
            format!("{status} {reason}").trim_end().to_string()
        }
        (Some(e), _) if o.target.starts_with("http") => {
            format!("Get {:?}: {}", o.target, e.message)
        }
        (Some(e), _) => e.message.clone(),
    }
}
