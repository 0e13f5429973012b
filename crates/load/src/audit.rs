//! `keepalive audit`: reads ingress-nginx's upstream keep-alive timeout from
//! its ConfigMap, finds every Service behind an Ingress and its ready
//! endpoints (EndpointSlices), measures each endpoint's idle keep-alive
//! timeout with [`crate::idle::probe`] and flags those that close idle
//! connections no later than the proxy keeps them: the keep-alive race
//! behind sporadic 502s.
//!
//! What cannot be read (a 403 on the ConfigMap, on Ingresses, on a Service)
//! becomes a [`Problem`] and the rest still runs; a backend that does not
//! answer is a [`Status::NoAnswer`] row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressServiceBackend};
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use url::Url;

use crate::idle::{self, CloseKind, IdleConfig};

/// ingress-nginx's ConfigMap key for its upstream keep-alive timeout (seconds).
pub const TIMEOUT_KEY: &str = "upstream-keepalive-timeout";
/// ingress-nginx's default `upstream-keepalive-timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// ingress-nginx's controller ConfigMap in its default install, `NAMESPACE/NAME`.
pub const DEFAULT_CONFIGMAP: &str = "ingress-nginx/ingress-nginx-controller";

/// Parses a `NAMESPACE/NAME` reference to an object (the controller's ConfigMap).
pub fn parse_namespaced_name(input: &str) -> crate::Result<(String, String)> {
    match input.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(crate::Error::value(
            "object reference",
            input,
            "expected NAMESPACE/NAME",
        )),
    }
}

/// Settings of an audit.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Namespace of the ingress controller's ConfigMap.
    pub configmap_namespace: String,
    /// Name of the ingress controller's ConfigMap.
    pub configmap_name: String,
    /// Only Ingresses of this namespace (all namespaces when `None`).
    pub namespace: Option<String>,
    /// Backends measured at the same time.
    pub concurrency: u32,
    /// Longest wait for one backend's idle close ([`IdleConfig::max_wait`]).
    pub max_wait: Duration,
    /// Deadline of each request ([`IdleConfig::timeout`]).
    pub timeout: Duration,
}

impl AuditConfig {
    /// Defaults: ConfigMap `ingress-nginx/ingress-nginx-controller`, all
    /// namespaces, 4 backends at a time, 2 minutes' wait, 10 s per request.
    pub fn new() -> Self {
        let (configmap_namespace, configmap_name) =
            parse_namespaced_name(DEFAULT_CONFIGMAP).unwrap_or_default();
        AuditConfig {
            configmap_namespace,
            configmap_name,
            namespace: None,
            concurrency: 4,
            max_wait: Duration::from_secs(120),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the proxy's upstream keep-alive timeout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutSource {
    /// The ConfigMap's `upstream-keepalive-timeout`.
    Configmap,
    /// ingress-nginx's default: the ConfigMap does not set the key.
    Default,
    /// ingress-nginx's default, assumed: the ConfigMap or its key could not
    /// be read (see the report's problems).
    Assumed,
}

/// Something the audit could not read or resolve; the rest still ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What could not be read (`ConfigMap ingress-nginx/ingress-nginx-controller`).
    pub what: String,
    /// Why: the API's message and status code, or what was missing.
    pub reason: String,
}

/// A backend's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It closes idle connections no later than the proxy keeps them.
    AtRisk,
    /// It keeps idle connections longer than the proxy.
    Ok,
    /// It closed no idle connection within `max_wait`.
    NoClose,
    /// It keeps no connection alive, so the proxy reuses none.
    NoKeepAlive,
    /// It did not answer the probe's request.
    NoAnswer,
}

/// One endpoint of a Service behind an Ingress, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// The Service, `namespace/name`.
    pub service: String,
    /// The Service port the Ingress names (a number or a port name).
    pub port: String,
    /// The Ingresses routing to it, `namespace/name`.
    pub ingresses: Vec<String>,
    /// The endpoint's URL as probed.
    pub url: String,
    /// The verdict.
    pub status: Status,
    /// The measured idle keep-alive timeout.
    #[serde(
        rename = "idle_timeout_seconds",
        with = "ward_duration::seconds::option"
    )]
    pub idle_timeout: Option<Duration>,
    /// How its idle connections ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<CloseKind>,
    /// Why the probe failed ([`Status::NoAnswer`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of an audit.
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    /// The controller whose settings were read (`ingress-nginx`).
    pub controller: &'static str,
    /// The ConfigMap read, `namespace/name`.
    pub configmap: String,
    /// The proxy's upstream keep-alive timeout compared against.
    #[serde(
        rename = "upstream_keepalive_timeout_seconds",
        with = "ward_duration::seconds"
    )]
    pub upstream_timeout: Duration,
    /// Where that timeout came from.
    pub upstream_timeout_source: TimeoutSource,
    /// The longest wait per backend.
    #[serde(rename = "max_wait_seconds", with = "ward_duration::seconds")]
    pub max_wait: Duration,
    /// Every endpoint measured, by Service then URL.
    pub backends: Vec<Backend>,
    /// What could not be read.
    pub problems: Vec<Problem>,
}

impl AuditReport {
    /// Whether any backend is at risk.
    pub fn at_risk(&self) -> bool {
        self.backends.iter().any(|b| b.status == Status::AtRisk)
    }

    /// Whether something could not be read or measured.
    pub fn incomplete(&self) -> bool {
        !self.problems.is_empty() || self.backends.iter().any(|b| b.status == Status::NoAnswer)
    }
}

/// The API's words for a failed request: its message and HTTP status.
fn api_reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} (HTTP {})", s.message, s.code),
        other => other.to_string(),
    }
}

/// Audits every Service behind an Ingress against ingress-nginx's upstream
/// keep-alive timeout, as the kubeconfig (or the pod's service account) allows.
pub async fn audit(config: &AuditConfig) -> crate::Result<AuditReport> {
    let client = Client::try_default().await?;
    Ok(audit_with(client, config).await)
}

/// [`audit`] with a given client.
async fn audit_with(client: Client, config: &AuditConfig) -> AuditReport {
    let mut problems = Vec::new();
    let (upstream_timeout, upstream_timeout_source) =
        upstream_timeout(&client, config, &mut problems).await;
    let targets = targets(&client, config, &mut problems).await;
    let backends = measure(targets, config, upstream_timeout).await;
    AuditReport {
        controller: "ingress-nginx",
        configmap: format!("{}/{}", config.configmap_namespace, config.configmap_name),
        upstream_timeout,
        upstream_timeout_source,
        max_wait: config.max_wait,
        backends,
        problems,
    }
}

/// Reads `upstream-keepalive-timeout` from the controller's ConfigMap.
async fn upstream_timeout(
    client: &Client,
    config: &AuditConfig,
    problems: &mut Vec<Problem>,
) -> (Duration, TimeoutSource) {
    let what = format!(
        "ConfigMap {}/{}",
        config.configmap_namespace, config.configmap_name
    );
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &config.configmap_namespace);
    let map = match api.get(&config.configmap_name).await {
        Ok(map) => map,
        Err(e) => {
            problems.push(Problem {
                what,
                reason: api_reason(&e),
            });
            return (DEFAULT_TIMEOUT, TimeoutSource::Assumed);
        }
    };
    let Some(value) = map.data.as_ref().and_then(|d| d.get(TIMEOUT_KEY)) else {
        return (DEFAULT_TIMEOUT, TimeoutSource::Default);
    };
    match value.trim().parse::<u64>() {
        Ok(secs) => (Duration::from_secs(secs), TimeoutSource::Configmap),
        Err(_) => {
            problems.push(Problem {
                what: format!("{what} key {TIMEOUT_KEY}"),
                reason: format!("{value:?} is not a whole number of seconds"),
            });
            (DEFAULT_TIMEOUT, TimeoutSource::Assumed)
        }
    }
}

/// A Service port behind Ingresses, resolved to endpoint URLs.
struct Target {
    service: String,
    port: String,
    ingresses: Vec<String>,
    urls: Vec<Url>,
}

/// The Service ports the Ingresses route to, with their ready endpoints.
async fn targets(
    client: &Client,
    config: &AuditConfig,
    problems: &mut Vec<Problem>,
) -> Vec<Target> {
    let ingresses: Api<Ingress> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let list = match ingresses.list(&ListParams::default()).await {
        Ok(list) => list,
        Err(e) => {
            let scope = match &config.namespace {
                Some(ns) => format!("Ingresses in namespace {ns}"),
                None => "Ingresses in all namespaces".into(),
            };
            problems.push(Problem {
                what: scope,
                reason: api_reason(&e),
            });
            return Vec::new();
        }
    };
    // (namespace, service, port) -> Ingresses naming it.
    let mut wanted: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for ing in &list.items {
        let ns = ing.metadata.namespace.clone().unwrap_or_default();
        let name = format!("{ns}/{}", ing.metadata.name.as_deref().unwrap_or_default());
        for backend in service_backends(ing) {
            let port = backend.port.as_ref().map(|p| match (&p.name, p.number) {
                (Some(n), _) => n.clone(),
                (None, Some(n)) => n.to_string(),
                (None, None) => String::new(),
            });
            let key = (ns.clone(), backend.name.clone(), port.unwrap_or_default());
            let names = wanted.entry(key).or_default();
            if !names.contains(&name) {
                names.push(name.clone());
            }
        }
    }
    let mut out = Vec::new();
    for ((ns, service, port), ingresses) in wanted {
        let what = format!("Service {ns}/{service} port {port}");
        match endpoint_urls(client, &ns, &service, &port).await {
            Ok(urls) if urls.is_empty() => problems.push(Problem {
                what,
                reason: "no ready endpoints".into(),
            }),
            Ok(urls) => out.push(Target {
                service: format!("{ns}/{service}"),
                port,
                ingresses,
                urls,
            }),
            Err(reason) => problems.push(Problem { what, reason }),
        }
    }
    out
}

/// Every Service backend of an Ingress: its default backend and its rules' paths.
fn service_backends(ing: &Ingress) -> Vec<&IngressServiceBackend> {
    let Some(spec) = &ing.spec else {
        return Vec::new();
    };
    let default = spec.default_backend.iter();
    let paths = spec
        .rules
        .iter()
        .flatten()
        .filter_map(|r| r.http.as_ref())
        .flat_map(|h| h.paths.iter().map(|p| &p.backend));
    default
        .chain(paths)
        .filter_map(|b| b.service.as_ref())
        .collect()
}

/// The URLs of the ready endpoints of Service port `port` (number or name).
async fn endpoint_urls(
    client: &Client,
    ns: &str,
    service: &str,
    port: &str,
) -> Result<Vec<Url>, String> {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc = services.get(service).await.map_err(|e| api_reason(&e))?;
    let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
    let svc_port = ports
        .iter()
        .find(|p| p.name.as_deref() == Some(port) || p.port.to_string() == port)
        .ok_or_else(|| format!("the Service has no port {port}"))?;
    let port_name = svc_port.name.clone().unwrap_or_default();
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    let list = slices
        .list(&params)
        .await
        .map_err(|e| format!("listing its EndpointSlices: {}", api_reason(&e)))?;
    let mut urls = Vec::new();
    for slice in &list.items {
        let Some(number) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.clone().unwrap_or_default() == port_name)
            .and_then(|p| p.port)
        else {
            continue;
        };
        let ready = slice
            .endpoints
            .iter()
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false));
        for address in ready.flat_map(|e| e.addresses.iter()) {
            let host = match address.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
                _ => address.clone(),
            };
            let url = format!("http://{host}:{number}/");
            if let Ok(url) = url.parse() {
                urls.push(url);
            }
        }
    }
    urls.sort();
    urls.dedup();
    Ok(urls)
}

/// Probes every endpoint, `concurrency` at a time.
async fn measure(targets: Vec<Target>, config: &AuditConfig, upstream: Duration) -> Vec<Backend> {
    let gate = Arc::new(Semaphore::new(config.concurrency.max(1) as usize));
    let mut set = JoinSet::new();
    for target in targets {
        for url in &target.urls {
            let mut probe = IdleConfig::new(url.clone());
            probe.samples = 1;
            probe.max_wait = config.max_wait;
            probe.timeout = config.timeout;
            let gate = gate.clone();
            let row = Backend {
                service: target.service.clone(),
                port: target.port.clone(),
                ingresses: target.ingresses.clone(),
                url: url.to_string(),
                status: Status::NoAnswer,
                idle_timeout: None,
                close: None,
                error: None,
            };
            set.spawn(async move {
                let _permit = gate.acquire_owned().await;
                judge(row, idle::probe(&probe).await, upstream)
            });
        }
    }
    let mut rows = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(row) = joined {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| (&a.service, &a.port, &a.url).cmp(&(&b.service, &b.port, &b.url)));
    rows
}

/// Fills a row's verdict from its probe.
fn judge(mut row: Backend, probed: crate::Result<idle::IdleReport>, upstream: Duration) -> Backend {
    let report = match probed {
        Ok(r) => r,
        Err(e) => {
            row.error = Some(e.to_string());
            return row;
        }
    };
    row.close = Some(report.close);
    row.idle_timeout = report.timeout;
    row.status = match (report.close, report.timeout) {
        (CloseKind::NoKeepAlive, _) => Status::NoKeepAlive,
        (_, Some(t)) if t <= upstream => Status::AtRisk,
        (_, Some(_)) => Status::Ok,
        (_, None) => Status::NoClose,
    };
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Backend {
        Backend {
            service: "shop/api".into(),
            port: "80".into(),
            ingresses: vec!["shop/web".into()],
            url: "http://10.0.0.5:8080/".into(),
            status: Status::NoAnswer,
            idle_timeout: None,
            close: None,
            error: None,
        }
    }

    fn measured(secs: u64, close: CloseKind) -> crate::Result<idle::IdleReport> {
        Ok(idle::IdleReport {
            url: "http://10.0.0.5:8080/".into(),
            timeout: (close != CloseKind::NoKeepAlive && close != CloseKind::None)
                .then(|| Duration::from_secs(secs)),
            close,
            method: idle::IdleMethod::Passive,
            max_wait: Duration::from_secs(120),
            http_version: "HTTP/1.1".into(),
            bracket: None,
            proxy: None,
            samples: Vec::new(),
        })
    }

    #[test]
    fn the_default_configmap_and_bad_references() {
        let config = AuditConfig::new();
        assert_eq!(
            (
                config.configmap_namespace.as_str(),
                config.configmap_name.as_str()
            ),
            ("ingress-nginx", "ingress-nginx-controller")
        );
        for bad in ["ingress-nginx", "/x", "x/", "a/b/c"] {
            assert_eq!(
                parse_namespaced_name(bad).unwrap_err().to_string(),
                format!("invalid object reference {bad:?}: expected NAMESPACE/NAME")
            );
        }
    }

    #[test]
    fn a_backend_closing_at_or_before_the_proxy_is_at_risk() {
        let upstream = Duration::from_secs(60);
        let verdict = |secs, close| judge(row(), measured(secs, close), upstream).status;
        assert_eq!(verdict(20, CloseKind::Fin), Status::AtRisk);
        assert_eq!(verdict(60, CloseKind::Fin), Status::AtRisk);
        assert_eq!(verdict(65, CloseKind::Reset), Status::Ok);
        assert_eq!(verdict(0, CloseKind::None), Status::NoClose);
        assert_eq!(verdict(0, CloseKind::NoKeepAlive), Status::NoKeepAlive);
    }
}
