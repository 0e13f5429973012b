//! The nurse's resolved configuration, and the kubenurse parse rules for the
//! values that need them (extra checks, histogram buckets, the two boolean
//! conventions). The binary maps flags and `KUBENURSE_*` variables onto this.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ward_agent::metrics::HistogramKind;
use ward_probe::{ProxyConfig, Target};

/// A bad configuration value, naming the variable and the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}={value:?}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or flag) concerned.
    pub var: &'static str,
    /// The value given.
    pub value: String,
    /// What was expected.
    pub reason: String,
}

fn bad(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Which built-in checks run (each can be switched off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toggles {
    /// `api_server_direct`.
    pub api_server_direct: bool,
    /// `api_server_dns`.
    pub api_server_dns: bool,
    /// `me_ingress`.
    pub me_ingress: bool,
    /// `me_service`.
    pub me_service: bool,
    /// Discovery and the `path_<node>` checks.
    pub neighbourhood: bool,
    /// ward's `api_server_instance` checks of every `default/kubernetes`
    /// endpoint (off unless asked for).
    pub api_server_instances: bool,
}

impl Toggles {
    /// True when a check needs the Kubernetes API (a watch).
    pub fn need_client(&self) -> bool {
        self.neighbourhood || self.api_server_instances
    }
}

impl Default for Toggles {
    fn default() -> Self {
        Self {
            api_server_direct: true,
            api_server_dns: true,
            me_ingress: true,
            me_service: true,
            neighbourhood: true,
            api_server_instances: false,
        }
    }
}

/// A user-defined check from `KUBENURSE_EXTRA_CHECKS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraCheck {
    /// The `type` label and `/alive` key.
    pub name: String,
    /// What to check: an http(s) URL, `tcp://host:port` or `dns://server/name`.
    pub target: Target,
}

/// Parses `name:target|name:target`: split at the first `:` of each entry; a
/// later duplicate name replaces the earlier one (as kubenurse does).
pub fn parse_extra_checks(value: &str) -> Result<Vec<ExtraCheck>, ConfigError> {
    const VAR: &str = "KUBENURSE_EXTRA_CHECKS";
    let mut checks: Vec<ExtraCheck> = Vec::new();
    if value.is_empty() {
        return Ok(checks);
    }
    for entry in value.split('|') {
        let (name, target) = entry
            .split_once(':')
            .ok_or_else(|| bad(VAR, value, format!("entry {entry:?} is not name:url")))?;
        if name.is_empty() {
            return Err(bad(
                VAR,
                value,
                format!("entry {entry:?} has an empty name"),
            ));
        }
        let target: Target = target
            .parse()
            .map_err(|e| bad(VAR, value, format!("entry {name:?}: {e}")))?;
        checks.retain(|c| c.name != name);
        checks.push(ExtraCheck {
            name: name.to_string(),
            target,
        });
    }
    Ok(checks)
}

/// Parses comma-separated, strictly increasing bucket bounds (a trailing `+Inf` is dropped).
pub fn parse_buckets(value: &str) -> Result<Vec<f64>, ConfigError> {
    const VAR: &str = "KUBENURSE_HISTOGRAM_BUCKETS";
    let mut bounds = Vec::new();
    for part in value.split(',') {
        let b: f64 = part
            .parse()
            .map_err(|_| bad(VAR, value, format!("{part:?} is not a number")))?;
        if b.is_nan() {
            return Err(bad(VAR, value, "NaN is not a bucket bound"));
        }
        if let Some(last) = bounds.last() {
            if b <= *last {
                return Err(bad(VAR, value, "bounds must be strictly increasing"));
            }
        }
        bounds.push(b);
    }
    if bounds.last() == Some(&f64::INFINITY) {
        bounds.pop();
    }
    Ok(bounds)
}

/// kubenurse's feature-flag rule: on only for the exact value `true`.
pub fn flag_on(value: &str) -> bool {
    value == "true"
}

/// kubenurse's check-toggle rule: off only for the exact value `false`.
pub fn toggle_on(value: &str) -> bool {
    value != "false"
}

/// Everything a nurse needs to run.
#[derive(Debug, Clone)]
pub struct NurseConfig {
    /// Base URL of the nurse's Ingress (`/alwayshappy` is appended).
    pub ingress_url: String,
    /// Base URL of the nurse's Service (`/alwayshappy` is appended).
    pub service_url: String,
    /// Namespace where neighbour pods are discovered (empty: all namespaces).
    pub namespace: String,
    /// Label selector of neighbour pods.
    pub neighbour_filter: String,
    /// How many neighbours to check (`<= 0`: all).
    pub neighbour_limit: i64,
    /// Also check neighbours on cordoned nodes.
    pub allow_unschedulable: bool,
    /// Time between check rounds.
    pub check_interval: Duration,
    /// Fraction of the interval by which the first round is randomly delayed.
    pub jitter: f64,
    /// Deadline of one check.
    pub check_timeout: Duration,
    /// Lameduck period after SIGTERM.
    pub shutdown_duration: Duration,
    /// Reuse keep-alive connections between rounds.
    pub reuse_connections: bool,
    /// Which built-in checks run.
    pub toggles: Toggles,
    /// User-defined checks.
    pub extra_checks: Vec<ExtraCheck>,
    /// Histogram flavour and buckets.
    pub histograms: HistogramKind,
    /// Write `# HELP`/`# TYPE` lines.
    pub expose_metadata: bool,
    /// Skip TLS verification on outgoing checks.
    pub insecure: bool,
    /// Extra CA (PEM) trusted by outgoing checks.
    pub extra_ca: Option<PathBuf>,
    /// The ServiceAccount CA, trusted when the file exists.
    pub service_account_ca: PathBuf,
    /// The ServiceAccount token sent to the API server (read every round).
    pub token_file: PathBuf,
    /// API server address for `api_server_direct` (`KUBERNETES_SERVICE_HOST`).
    pub api_server_host: String,
    /// API server port for both API-server checks (`KUBERNETES_SERVICE_PORT`).
    pub api_server_port: u16,
    /// API server DNS name for `api_server_dns` (`KUBERNETES_SERVICE_DNS`).
    pub api_server_dns: String,
    /// This pod's name (downward API `POD_NAME`), sent as the origin header.
    pub pod_name: String,
    /// This pod's node (downward API `NODE_NAME`); found from the pod when absent.
    pub node_name: Option<String>,
    /// Plain HTTP listener (kubenurse: `:8080`).
    pub listen: SocketAddr,
    /// HTTPS listener, certificate and key, when `USE_TLS` is on.
    pub tls: Option<ServeTls>,
    /// Port of the neighbours' endpoint (8080, or 8443 with TLS).
    pub neighbour_port: u16,
    /// Forward proxies of the HTTP checks (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`).
    pub proxy: ProxyConfig,
}

/// Where a pod's ServiceAccount token and CA are mounted.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl Default for NurseConfig {
    /// kubenurse's defaults (each `KUBENURSE_*` variable unset), ward's for
    /// what kubenurse does not configure.
    fn default() -> Self {
        Self {
            ingress_url: String::new(),
            service_url: String::new(),
            namespace: String::new(),
            neighbour_filter: String::new(),
            neighbour_limit: 10,
            allow_unschedulable: false,
            check_interval: Duration::from_secs(5),
            jitter: 1.0,
            check_timeout: Duration::from_secs(6),
            shutdown_duration: Duration::from_secs(5),
            reuse_connections: false,
            toggles: Toggles::default(),
            extra_checks: Vec::new(),
            histograms: HistogramKind::default(),
            expose_metadata: false,
            insecure: false,
            extra_ca: None,
            service_account_ca: PathBuf::from(SERVICE_ACCOUNT_DIR).join("ca.crt"),
            token_file: PathBuf::from(SERVICE_ACCOUNT_DIR).join("token"),
            api_server_host: String::new(),
            api_server_port: 443,
            api_server_dns: "kubernetes.default.svc.cluster.local".into(),
            pod_name: String::new(),
            node_name: None,
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls: None,
            neighbour_port: 8080,
            proxy: ProxyConfig::default(),
        }
    }
}

/// HTTPS serving settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeTls {
    /// Listener (kubenurse: `:8443`).
    pub listen: SocketAddr,
    /// Certificate chain (PEM).
    pub cert_file: PathBuf,
    /// Private key (PEM).
    pub key_file: PathBuf,
}

impl ServeTls {
    /// kubenurse's HTTPS listener, `:8443` (also the neighbours' port with TLS).
    pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::UNSPECIFIED,
        8443,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_checks_split_at_first_colon_and_last_duplicate_wins() {
        let checks = parse_extra_checks(
            "google:https://www.google.ch/|db:tcp://10.0.0.1:5432|google:http://x.test/",
        )
        .unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0].name, "db");
        assert_eq!(checks[1].target.to_string(), "http://x.test/");
    }

    #[test]
    fn malformed_extra_checks_name_the_variable() {
        assert_eq!(
            parse_extra_checks("a:http://x.test/|")
                .unwrap_err()
                .to_string(),
            "KUBENURSE_EXTRA_CHECKS=\"a:http://x.test/|\": entry \"\" is not name:url"
        );
        assert_eq!(
            parse_extra_checks("a:ftp://x").unwrap_err().to_string(),
            "KUBENURSE_EXTRA_CHECKS=\"a:ftp://x\": entry \"a\": target \"ftp://x\": unknown scheme \"ftp\"; expected http, https, tcp or dns"
        );
    }

    #[test]
    fn buckets_must_increase() {
        assert_eq!(parse_buckets("0.005,0.05,0.5,1,5,10").unwrap().len(), 6);
        assert_eq!(parse_buckets("1,2,+Inf").unwrap(), vec![1.0, 2.0]);
        assert_eq!(
            parse_buckets("1,1").unwrap_err().to_string(),
            "KUBENURSE_HISTOGRAM_BUCKETS=\"1,1\": bounds must be strictly increasing"
        );
        assert!(
            parse_buckets("1, 2").is_err(),
            "spaces are not trimmed, as in kubenurse"
        );
    }

    #[test]
    fn boolean_conventions() {
        assert!(flag_on("true") && !flag_on("True") && !flag_on("1"));
        assert!(toggle_on("False") && toggle_on("") && !toggle_on("false"));
    }
}
