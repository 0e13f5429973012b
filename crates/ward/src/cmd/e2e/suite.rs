//! The flags of the suite that `ward e2e run` and `serve` share (cluster,
//! tests, images, storage, timeouts, Lease, OTLP) and their conversion to
//! the library's [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::builder::BoolishValueParser;
use ward_duration::GoDuration;
use ward_e2e::config::{LeaseConfig, Timeouts, DEFAULT_TTL};
use ward_e2e::{Cluster, Config, OtlpConfig, TestName};

/// How to reach the cluster.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct KubeArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster).
    #[arg(long, env = "WARD_E2E_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current one).
    #[arg(long, env = "WARD_E2E_CONTEXT")]
    context: Option<String>,
}

fn test_name(s: &str) -> Result<TestName, String> {
    s.parse().map_err(|e: ward_e2e::Error| e.to_string())
}

fn key_values(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

fn image_ref(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() || s.chars().any(char::is_whitespace) {
        return Err(
            "must be an image reference such as registry.k8s.io/e2e-test-images/agnhost:2.53"
                .into(),
        );
    }
    Ok(s.to_string())
}

fn pull_policy(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Ok(String::new()),
        p @ ("Always" | "IfNotPresent" | "Never") => Ok(p.to_string()),
        _ => Err("expected Always, IfNotPresent or Never".into()),
    }
}

fn run_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be 1-40 lowercase letters, digits or '-' (a DNS label)".into())
    }
}

/// The suite's settings.
#[derive(Debug, Clone, clap::Args)]
pub(super) struct SuiteArgs {
    #[command(flatten)]
    pub(super) kube: KubeArgs,
    /// Run only these tests (comma-separated: api, deployment, storage, networking, rbac).
    #[arg(long, env = "WARD_E2E_ONLY", value_delimiter = ',', value_parser = test_name)]
    only: Vec<TestName>,
    /// Skip these tests (comma-separated).
    #[arg(long, env = "WARD_E2E_SKIP", value_delimiter = ',', value_parser = test_name)]
    skip: Vec<TestName>,
    /// Suffix of the run namespace `ward-e2e-<id>` (default: random), to find a run's objects and logs.
    #[arg(long, env = "WARD_E2E_RUN_ID", value_parser = run_id)]
    run_id: Option<String>,
    /// Image of the deployment and networking tests' workload: must answer HTTP
    /// GET / with 2xx on --port.
    #[arg(long, env = "WARD_E2E_IMAGE", default_value = ward_e2e::config::DEFAULT_IMAGE, value_parser = image_ref)]
    image: String,
    /// Arguments of the workload container, comma-separated (its entrypoint is
    /// kept; empty runs the image's own command).
    #[arg(
        long,
        env = "WARD_E2E_IMAGE_ARGS",
        default_value = "netexec,--http-port=8080",
        value_delimiter = ','
    )]
    image_args: Vec<String>,
    /// Image of the deployment test's rolling update, with the same arguments
    /// and port (default, or empty: --image again, with a new pod template).
    #[arg(long, env = "WARD_E2E_UPDATE_IMAGE")]
    update_image: Option<String>,
    /// imagePullPolicy of every container the suite starts (default, or empty:
    /// the Kubernetes default, Always for :latest and IfNotPresent otherwise).
    #[arg(long, env = "WARD_E2E_IMAGE_PULL_POLICY", value_parser = pull_policy)]
    image_pull_policy: Option<String>,
    /// Port the workload listens on (TCP readiness probe, HTTP checks).
    #[arg(long, env = "WARD_E2E_PORT", default_value_t = 8080)]
    port: u16,
    /// Replicas of the test Deployments.
    #[arg(long, env = "WARD_E2E_REPLICAS", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=50))]
    replicas: i32,
    /// Node selector of the test pods (`k=v,k2=v2`; default: none).
    #[arg(long, env = "WARD_E2E_NODE_SELECTOR", default_value = "", value_parser = key_values)]
    node_selector: BTreeMap<String, String>,
    /// Image of the storage test's two Jobs: runs `sh -c` with echo, sync, cat
    /// and test on the volume at /data.
    #[arg(long, env = "WARD_E2E_SHELL_IMAGE", default_value = ward_e2e::config::DEFAULT_SHELL_IMAGE, value_parser = image_ref)]
    shell_image: String,
    /// Storage class of the storage test's PVC (default, or empty: the
    /// cluster's default StorageClass; without one the test is skipped, with
    /// that reason in the log, the report and ward_e2e_tests_skipped_total).
    #[arg(long, env = "WARD_E2E_STORAGE_CLASS")]
    storage_class: Option<String>,
    /// DNS server of the networking test (default: first nameserver in /etc/resolv.conf).
    #[arg(long, env = "WARD_E2E_DNS_SERVER")]
    dns_server: Option<SocketAddr>,
    /// Cluster DNS domain.
    #[arg(long, env = "WARD_E2E_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// Time to live of a run's namespace (`sweep` deletes it after that).
    #[arg(long, env = "WARD_E2E_TTL", default_value_t = GoDuration(DEFAULT_TTL))]
    ttl: GoDuration,
    /// Timeout of a single API request step.
    #[arg(long, env = "WARD_E2E_REQUEST_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.request))]
    request_timeout: GoDuration,
    /// Timeout of a rollout (create, scale, update).
    #[arg(long, env = "WARD_E2E_ROLLOUT_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.rollout))]
    rollout_timeout: GoDuration,
    /// Timeout of a PVC becoming Bound.
    #[arg(long, env = "WARD_E2E_BIND_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.bind))]
    bind_timeout: GoDuration,
    /// Timeout of a storage Job completing.
    #[arg(long, env = "WARD_E2E_JOB_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.job))]
    job_timeout: GoDuration,
    /// Timeout of Service endpoints, DNS and HTTP checks.
    #[arg(long, env = "WARD_E2E_NETWORK_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.network))]
    network_timeout: GoDuration,
    /// Timeout of one whole test.
    #[arg(long, env = "WARD_E2E_TEST_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.test))]
    test_timeout: GoDuration,
    /// Timeout of objects disappearing after a test deletes them (Deployment, PVC).
    #[arg(long, env = "WARD_E2E_DELETE_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.delete))]
    delete_timeout: GoDuration,
    /// Timeout of deleting the run's namespace.
    #[arg(long, env = "WARD_E2E_CLEANUP_TIMEOUT", default_value_t = GoDuration(Timeouts::DEFAULT.cleanup))]
    cleanup_timeout: GoDuration,
    /// Namespace of the Lease against overlapping runs (default: the pod's namespace).
    #[arg(long, env = "WARD_E2E_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "WARD_E2E_LEASE_NAME", default_value = "ward-e2e")]
    lease_name: String,
    /// Run without a Lease.
    #[arg(long, env = "WARD_E2E_NO_LEASE", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    no_lease: bool,
    /// This runner's identity in the Lease (default: the pod or host name).
    #[arg(long, env = "POD_NAME")]
    holder: Option<String>,
    /// OTLP base endpoint (`/v1/metrics` is appended; default: none, no OTLP export).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// OTLP metrics endpoint, used as is.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")]
    otlp_metrics_endpoint: Option<String>,
    /// OTLP protocol (default and only one: http/protobuf).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL")]
    otlp_protocol: Option<String>,
    /// OTLP headers, `k=v,k2=v2`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", hide_env_values = true)]
    otlp_headers: Option<String>,
    /// `service.name` of the exported metrics (default: ward-e2e).
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    otlp_service_name: Option<String>,
}

impl SuiteArgs {
    pub(super) fn config(&self) -> anyhow::Result<Config> {
        let tests = ward_e2e::config::select(&self.only, &self.skip);
        if tests.is_empty() {
            bail!("--only/--skip leave no test to run");
        }
        let lease = match self.no_lease {
            true => None,
            false => Some(
                LeaseConfig::new(
                    &self.lease_name,
                    self.lease_namespace.clone(),
                    self.holder.clone(),
                    "ward-e2e",
                    ward_e2e::config::LEASE_DURATION,
                )
                .context(
                    "no namespace for the Lease: pass --lease-namespace (or --no-lease outside a cluster)",
                )?,
            ),
        };
        Ok(Config {
            tests,
            run_id: self.run_id.clone(),
            ttl: self.ttl.0,
            lease,
            image: self.image.clone(),
            image_args: self
                .image_args
                .iter()
                .filter(|a| !a.is_empty())
                .cloned()
                .collect(),
            update_image: self.update_image.clone().filter(|s| !s.trim().is_empty()),
            image_pull_policy: self.image_pull_policy.clone().filter(|s| !s.is_empty()),
            port: self.port,
            replicas: self.replicas,
            node_selector: self.node_selector.clone(),
            shell_image: self.shell_image.clone(),
            storage_class: self.storage_class.clone().filter(|s| !s.is_empty()),
            dns_server: self.dns_server,
            cluster_domain: self.cluster_domain.clone(),
            timeouts: Timeouts {
                request: self.request_timeout.0,
                rollout: self.rollout_timeout.0,
                bind: self.bind_timeout.0,
                job: self.job_timeout.0,
                delete: self.delete_timeout.0,
                network: self.network_timeout.0,
                test: self.test_timeout.0,
                cleanup: self.cleanup_timeout.0,
            },
            reach: None,
        })
    }

    pub(super) fn otlp(&self) -> anyhow::Result<Option<OtlpConfig>> {
        Ok(OtlpConfig::from_values(
            self.otlp_metrics_endpoint.as_deref(),
            self.otlp_endpoint.as_deref(),
            self.otlp_protocol.as_deref(),
            self.otlp_headers.as_deref(),
            self.otlp_service_name.as_deref(),
        )?)
    }
}

impl KubeArgs {
    pub(super) async fn connect(&self) -> anyhow::Result<Cluster> {
        Ok(Cluster::connect(self.kubeconfig.as_deref(), self.context.as_deref()).await?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Args;

    use super::*;

    fn parse(argv: &[&str]) -> Result<SuiteArgs, clap::Error> {
        crate::cmd::try_parse("run", argv)
    }

    #[test]
    fn defaults_and_selection() {
        let config = config(&["--only", "rbac,api"]);
        assert_eq!(config.tests, vec![TestName::Api, TestName::Rbac]);
        assert_eq!(config.ttl, Duration::from_secs(3600));
        assert_eq!(config.timeouts.rollout, Duration::from_secs(120));
        assert!(config.lease.is_none());
        // Every timeout's default is the library's.
        assert_eq!(
            format!("{:?}", config.timeouts),
            format!("{:?}", Timeouts::DEFAULT)
        );
        assert_eq!(config.ttl, DEFAULT_TTL);
        assert_eq!(config.image_args, vec!["netexec", "--http-port=8080"]);
    }

    /// The delete timeout has a flag, and one default (2m) in the library
    /// and the CLI; the CLI used the rollout timeout, the library 60 s.
    #[test]
    fn the_delete_timeout_has_a_flag_and_the_librarys_default() {
        let c = config(&[]);
        assert_eq!(c.timeouts.delete, Timeouts::DEFAULT.delete);
        assert_eq!(c.timeouts.delete, Duration::from_secs(120));
        let c = config(&["--delete-timeout", "45s", "--rollout-timeout", "5m"]);
        assert_eq!(c.timeouts.delete, Duration::from_secs(45));
        assert_eq!(c.timeouts.rollout, Duration::from_secs(300));
        let help = SuiteArgs::augment_args(clap::Command::new("run"))
            .render_long_help()
            .to_string();
        assert!(
            help.contains("[env: WARD_E2E_DELETE_TIMEOUT=]\n          [default: 2m]"),
            "{help}"
        );
    }

    fn config(args: &[&str]) -> Config {
        let argv: Vec<&str> = ["--no-lease"].iter().chain(args).copied().collect();
        parse(&argv).unwrap().config().unwrap()
    }

    #[test]
    fn every_image_is_configurable_and_empty_means_default() {
        let c = config(&[]);
        assert_eq!(c.image, "registry.k8s.io/e2e-test-images/agnhost:2.53");
        assert_eq!(
            c.shell_image,
            "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
        );
        assert_eq!(c.update_image, None);
        assert_eq!(c.image_pull_policy, None);
        assert_eq!(c.storage_class, None);
        let c = config(&[
            "--image=local/busybox:1",
            "--image-args=httpd,-f,-p,8080,-h,/www",
            "--update-image=local/busybox:2",
            "--shell-image=local/busybox:1",
            "--image-pull-policy=Never",
        ]);
        assert_eq!(c.image, "local/busybox:1");
        assert_eq!(c.image_args, ["httpd", "-f", "-p", "8080", "-h", "/www"]);
        assert_eq!(c.update_image.as_deref(), Some("local/busybox:2"));
        assert_eq!(c.shell_image, "local/busybox:1");
        assert_eq!(c.image_pull_policy.as_deref(), Some("Never"));
        // Empty values, as a chart renders unset ones: the defaults (the
        // image's own command, --image again, Kubernetes' pull policy, the
        // cluster's default StorageClass).
        let c = config(&[
            "--image-args=",
            "--update-image=",
            "--image-pull-policy=",
            "--storage-class=",
        ]);
        assert!(c.image_args.is_empty(), "{:?}", c.image_args);
        assert_eq!(c.update_image, None);
        assert_eq!(c.image_pull_policy, None);
        assert_eq!(c.storage_class, None);
    }

    #[test]
    fn empty_images_and_unknown_pull_policies_are_rejected() {
        for flag in ["--image=", "--shell-image= "] {
            let err = parse(&[flag]).unwrap_err().to_string();
            assert!(
                err.contains("must be an image reference such as registry.k8s.io/e2e-test-images/agnhost:2.53"),
                "{flag}: {err}"
            );
        }
        let err = parse(&["--image-pull-policy=never"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected Always, IfNotPresent or Never"),
            "{err}"
        );
    }

    #[test]
    fn skip_everything_is_an_error() {
        let cli = parse(&[
            "--no-lease",
            "--skip",
            "api,deployment,storage,networking,rbac",
        ])
        .unwrap();
        assert!(cli.config().unwrap_err().to_string().contains("no test"));
    }
}
