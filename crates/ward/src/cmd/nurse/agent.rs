//! The nurse agent's flags: every `KUBENURSE_*` variable with kubenurse's
//! defaults (the library's) and parse rules, ward's own settings, and their
//! conversion to a [`NurseConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::bail;
use clap::builder::BoolishValueParser;
use ward_agent::metrics::HistogramKind;
use ward_duration::GoDuration;
use ward_nurse::config::{parse_buckets, parse_extra_checks, ServeTls, Toggles};
use ward_nurse::NurseConfig;
use ward_probe::ProxyConfig;

use super::{defaults, kube_flag, kube_toggle, neighbour_limit};

/// The agent's settings; each flag falls back to kubenurse's environment variable.
#[derive(Debug, clap::Args)]
pub(super) struct AgentArgs {
    /// Base URL of this DaemonSet's Ingress (`/alwayshappy` is appended); no default: set
    /// it, or turn the check off with `--check-me-ingress=false`.
    #[arg(long, env = "KUBENURSE_INGRESS_URL", default_value = "")]
    ingress_url: String,
    /// Base URL of this DaemonSet's Service (`/alwayshappy` is appended); no default: set
    /// it, or turn the check off with `--check-me-service=false`.
    #[arg(long, env = "KUBENURSE_SERVICE_URL", default_value = "")]
    service_url: String,
    /// Namespace of the neighbour pods (default: empty, all namespaces).
    #[arg(long, env = "KUBENURSE_NAMESPACE", default_value = "")]
    namespace: String,
    /// Label selector of the neighbour pods (default: empty, no selector).
    #[arg(long, env = "KUBENURSE_NEIGHBOUR_FILTER", default_value = "")]
    neighbour_filter: String,
    /// How many ring neighbours to check (0: all).
    #[arg(long, env = "KUBENURSE_NEIGHBOUR_LIMIT", default_value_t = defaults().neighbour_limit, value_parser = neighbour_limit)]
    neighbour_limit: i64,
    /// Also check neighbours on cordoned nodes (`true` to enable).
    #[arg(long, env = "KUBENURSE_ALLOW_UNSCHEDULABLE", value_parser = kube_flag, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    allow_unschedulable: bool,
    /// Time between check rounds (greater than zero).
    #[arg(long, env = "KUBENURSE_CHECK_INTERVAL", default_value_t = GoDuration(defaults().check_interval), value_parser = positive_interval, allow_hyphen_values = true)]
    check_interval: GoDuration,
    /// Lameduck period after SIGTERM before the servers stop.
    #[arg(long, env = "KUBENURSE_SHUTDOWN_DURATION", default_value_t = GoDuration(defaults().shutdown_duration))]
    shutdown_duration: GoDuration,
    /// Reuse keep-alive connections between rounds (`true` to enable).
    #[arg(long, env = "KUBENURSE_REUSE_CONNECTIONS", value_parser = kube_flag, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    reuse_connections: bool,
    /// Check the API server by IP (`false` to disable).
    #[arg(long, env = "KUBENURSE_CHECK_API_SERVER_DIRECT", value_parser = kube_toggle, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    check_api_server_direct: bool,
    /// Check the API server by DNS name (`false` to disable).
    #[arg(long, env = "KUBENURSE_CHECK_API_SERVER_DNS", value_parser = kube_toggle, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    check_api_server_dns: bool,
    /// Check the Ingress round trip (`false` to disable).
    #[arg(long, env = "KUBENURSE_CHECK_ME_INGRESS", value_parser = kube_toggle, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    check_me_ingress: bool,
    /// Check the Service round trip (`false` to disable).
    #[arg(long, env = "KUBENURSE_CHECK_ME_SERVICE", value_parser = kube_toggle, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    check_me_service: bool,
    /// Discover and check ring neighbours (`false` to disable).
    #[arg(long, env = "KUBENURSE_CHECK_NEIGHBOURHOOD", value_parser = kube_toggle, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    check_neighbourhood: bool,
    /// Also check every endpoint of `default/kubernetes` directly: latency, errors and HTTP/2
    /// GOAWAYs per API-server instance (needs `get, list, watch` on EndpointSlices in
    /// `default`).
    #[arg(long, env = "WARD_NURSE_CHECK_API_SERVER_INSTANCES", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    check_api_server_instances: bool,
    /// Extra checks, `name:url|name:tcp://host:port|name:dns://server/name` (default: none).
    #[arg(long, env = "KUBENURSE_EXTRA_CHECKS", default_value = "")]
    extra_checks: String,
    /// Histogram bucket bounds, comma-separated and increasing (default: empty, kubenurse's
    /// buckets).
    #[arg(long, env = "KUBENURSE_HISTOGRAM_BUCKETS", default_value = "")]
    histogram_buckets: String,
    /// Use VictoriaMetrics `vmrange` histograms (`true` to enable).
    #[arg(long, env = "KUBENURSE_VICTORIAMETRICS_HISTOGRAM", value_parser = kube_flag, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    victoriametrics_histogram: bool,
    /// Write `# HELP`/`# TYPE` lines (`true` to enable).
    #[arg(long, env = "KUBENURSE_EXPOSE_METADATA", value_parser = kube_flag, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    expose_metadata: bool,
    /// Skip TLS verification of outgoing checks (`true` to enable).
    #[arg(long, env = "KUBENURSE_INSECURE", value_parser = kube_flag, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    insecure: bool,
    /// Extra CA file (PEM) trusted by outgoing checks.
    #[arg(long, env = "KUBENURSE_EXTRA_CA")]
    extra_ca: Option<PathBuf>,
    /// Also serve HTTPS and check neighbours over HTTPS (`true` to enable).
    #[arg(long, env = "KUBENURSE_USE_TLS", value_parser = kube_flag, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    use_tls: bool,
    /// Server certificate (PEM) for HTTPS.
    #[arg(long, env = "KUBENURSE_CERT_FILE")]
    cert_file: Option<PathBuf>,
    /// Server key (PEM) for HTTPS.
    #[arg(long, env = "KUBENURSE_CERT_KEY")]
    cert_key: Option<PathBuf>,
    /// API server address for `api_server_direct` (default: empty; Kubernetes sets it in
    /// every pod).
    #[arg(long, env = "KUBERNETES_SERVICE_HOST", default_value = "")]
    kubernetes_service_host: String,
    /// API server port for both API-server checks.
    #[arg(long, env = "KUBERNETES_SERVICE_PORT", default_value_t = defaults().api_server_port)]
    kubernetes_service_port: u16,
    /// API server DNS name for `api_server_dns`.
    #[arg(long, env = "KUBERNETES_SERVICE_DNS", default_value_t = defaults().api_server_dns)]
    kubernetes_service_dns: String,
    /// This pod's name (downward API); defaults to the host name.
    #[arg(long, env = "POD_NAME")]
    pod_name: Option<String>,
    /// This pod's node (downward API; default: found from the pod).
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// Address of the plain HTTP endpoints.
    #[arg(long, env = "WARD_NURSE_LISTEN", default_value_t = defaults().listen)]
    listen: SocketAddr,
    /// Address of the HTTPS endpoints (with `USE_TLS`).
    #[arg(long, env = "WARD_NURSE_TLS_LISTEN", default_value_t = ServeTls::DEFAULT_LISTEN)]
    tls_listen: SocketAddr,
    /// Port of the neighbours' endpoints (default 8080, or 8443 with TLS).
    #[arg(long, env = "WARD_NURSE_NEIGHBOUR_PORT")]
    neighbour_port: Option<u16>,
    /// Deadline of one check.
    #[arg(long, env = "WARD_NURSE_CHECK_TIMEOUT", default_value_t = GoDuration(defaults().check_timeout))]
    check_timeout: GoDuration,
    /// Fraction of the interval (0 to 1) by which the first round is randomly delayed.
    #[arg(long, env = "WARD_NURSE_JITTER", default_value_t = defaults().jitter)]
    jitter: f64,
    /// ServiceAccount token sent to the API server.
    #[arg(long, env = "WARD_NURSE_TOKEN_FILE", default_value_os_t = defaults().token_file)]
    token_file: PathBuf,
    /// ServiceAccount CA, trusted when present.
    #[arg(long, env = "WARD_NURSE_SERVICE_ACCOUNT_CA", default_value_os_t = defaults().service_account_ca)]
    service_account_ca: PathBuf,
}

/// A duration between rounds: zero or negative is bad input (kubenurse's
/// ticker panics on it).
fn positive_interval(s: &str) -> Result<GoDuration, ward_duration::ParseError> {
    ward_duration::parse_positive(s).map(GoDuration)
}

impl AgentArgs {
    pub(super) fn into_config(self) -> anyhow::Result<NurseConfig> {
        let extra_checks = parse_extra_checks(&self.extra_checks)?;
        let histograms = if self.victoriametrics_histogram {
            HistogramKind::VictoriaMetrics
        } else if self.histogram_buckets.is_empty() {
            HistogramKind::default()
        } else {
            HistogramKind::Prometheus(parse_buckets(&self.histogram_buckets)?)
        };
        let tls = if self.use_tls {
            let (Some(cert_file), Some(key_file)) = (self.cert_file, self.cert_key) else {
                bail!("KUBENURSE_USE_TLS=true needs KUBENURSE_CERT_FILE and KUBENURSE_CERT_KEY");
            };
            Some(ServeTls {
                listen: self.tls_listen,
                cert_file,
                key_file,
            })
        } else {
            None
        };
        let toggles = Toggles {
            api_server_direct: self.check_api_server_direct,
            api_server_dns: self.check_api_server_dns,
            me_ingress: self.check_me_ingress,
            me_service: self.check_me_service,
            neighbourhood: self.check_neighbourhood,
            api_server_instances: self.check_api_server_instances,
        };
        if (toggles.api_server_direct || toggles.api_server_dns)
            && self.kubernetes_service_host.is_empty()
        {
            bail!("KUBERNETES_SERVICE_HOST is empty: set it, or KUBENURSE_CHECK_API_SERVER_DIRECT=false and KUBENURSE_CHECK_API_SERVER_DNS=false");
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            bail!("WARD_NURSE_JITTER={}: must be between 0 and 1", self.jitter);
        }
        let pod_name = self
            .pod_name
            .filter(|p| !p.is_empty())
            .or_else(ward_agent::host_name)
            .unwrap_or_default();
        Ok(NurseConfig {
            ingress_url: self.ingress_url,
            service_url: self.service_url,
            namespace: self.namespace,
            neighbour_filter: self.neighbour_filter,
            neighbour_limit: self.neighbour_limit,
            allow_unschedulable: self.allow_unschedulable,
            check_interval: self.check_interval.0,
            jitter: self.jitter,
            check_timeout: self.check_timeout.0,
            shutdown_duration: self.shutdown_duration.0,
            reuse_connections: self.reuse_connections,
            toggles,
            extra_checks,
            histograms,
            expose_metadata: self.expose_metadata,
            insecure: self.insecure,
            extra_ca: self.extra_ca,
            service_account_ca: self.service_account_ca,
            token_file: self.token_file,
            api_server_host: self.kubernetes_service_host,
            api_server_port: self.kubernetes_service_port,
            api_server_dns: self.kubernetes_service_dns,
            pod_name,
            node_name: self.node_name.filter(|n| !n.is_empty()),
            listen: self.listen,
            neighbour_port: self.neighbour_port.unwrap_or(match tls {
                Some(_) => ServeTls::DEFAULT_LISTEN.port(),
                None => defaults().neighbour_port,
            }),
            tls,
            // Go's http.ProxyFromEnvironment, as kubenurse's transport.
            proxy: ProxyConfig::from_env(|name| std::env::var(name).ok())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn parse(argv: &[&str]) -> Result<AgentArgs, clap::Error> {
        crate::cmd::try_parse("nurse", argv)
    }

    #[test]
    fn bad_values_name_the_flag_or_variable() {
        let err = parse(&["--check-interval", "5x"]).unwrap_err().to_string();
        assert!(
            err.contains("invalid value '5x' for '--check-interval <CHECK_INTERVAL>'"),
            "{err}"
        );
        for (bad, why) in [
            ("0s", "\"0s\": must be greater than zero"),
            (
                "-1s",
                "invalid duration \"-1s\" (expected e.g. 500ms, 5s, 1m30s)",
            ),
        ] {
            let err = parse(&["--check-interval", bad]).unwrap_err().to_string();
            assert!(
                err.contains(&format!(
                    "invalid value '{bad}' for '--check-interval <CHECK_INTERVAL>': {why}"
                )),
                "{err}"
            );
        }
        let err = parse(&["--neighbour-limit=-3"]).unwrap_err().to_string();
        assert!(
            err.contains("must be 0 (check every neighbour) or a positive number"),
            "{err}"
        );
    }

    #[test]
    fn kubenurse_boolean_rules_apply_to_flags() {
        let cli = parse(&[
            "--check-me-ingress=False",
            "--reuse-connections=True",
            "--kubernetes-service-host",
            "10.0.0.1",
        ])
        .unwrap();
        assert!(cli.check_me_ingress, "only the literal false disables");
        assert!(!cli.reuse_connections, "only the literal true enables");
        let config = cli.into_config().unwrap();
        assert_eq!(config.neighbour_limit, 10);
        assert_eq!(config.check_interval, Duration::from_secs(5));
        assert_eq!(config.neighbour_port, 8080);
    }

    #[test]
    fn an_empty_api_server_host_with_the_api_checks_on_is_a_startup_error() {
        let err = parse(&["--kubernetes-service-host", ""])
            .unwrap()
            .into_config()
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "KUBERNETES_SERVICE_HOST is empty: set it, or KUBENURSE_CHECK_API_SERVER_DIRECT=false and KUBENURSE_CHECK_API_SERVER_DNS=false"
        );
        let off = parse(&[
            "--kubernetes-service-host",
            "",
            "--check-api-server-direct=false",
            "--check-api-server-dns=false",
        ])
        .unwrap();
        assert!(off.into_config().is_ok());
    }
}
