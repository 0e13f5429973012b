//! The resolved configuration of one suite run: which tests, images, storage
//! class, timeouts, the Lease and the namespace TTL. Built by the binary from
//! flags and env vars; plain data with defaults that work in a real cluster.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

/// One test of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestName {
    /// ConfigMap create/get/list/patch/delete and the latency of each verb.
    Api,
    /// Deployment rollout, scale up and down, rolling update, delete.
    Deployment,
    /// PVC bound, written by one pod, read back by another, released.
    Storage,
    /// Service DNS, HTTP through the Service and to each pod, headless Service.
    Networking,
    /// A ServiceAccount can do what its Role allows and gets 403 for the rest.
    Rbac,
}

impl TestName {
    /// Every test, in the order they run.
    pub const ALL: [TestName; 5] = [
        TestName::Api,
        TestName::Deployment,
        TestName::Storage,
        TestName::Networking,
        TestName::Rbac,
    ];

    /// The name used on the command line, in metrics (`test_name`) and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TestName::Api => "api",
            TestName::Deployment => "deployment",
            TestName::Storage => "storage",
            TestName::Networking => "networking",
            TestName::Rbac => "rbac",
        }
    }
}

impl fmt::Display for TestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TestName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        TestName::ALL
            .into_iter()
            .find(|t| t.as_str() == s.trim())
            .ok_or_else(|| {
                Error::Config(format!(
                    "unknown test {s:?} (expected one of: {})",
                    TestName::ALL.map(TestName::as_str).join(", ")
                ))
            })
    }
}

/// The tests selected by `--only` and `--skip` (in suite order).
pub fn select(only: &[TestName], skip: &[TestName]) -> Vec<TestName> {
    TestName::ALL
        .into_iter()
        .filter(|t| only.is_empty() || only.contains(t))
        .filter(|t| !skip.contains(t))
        .collect()
}

/// Rewrites the address the runner connects to for HTTP checks. Identity in a
/// cluster (the runner is a pod on the pod network); set where the runner is
/// outside the pod network, e.g. tests whose pods are local processes.
pub type Reach = Arc<dyn Fn(SocketAddr) -> SocketAddr + Send + Sync>;

/// Timeouts of the steps; their defaults are the binary's flag defaults too.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// A single API request step (create, get, patch, …).
    pub request: Duration,
    /// A rollout (availableReplicas, observedGeneration, Available).
    pub rollout: Duration,
    /// A PVC becoming Bound.
    pub bind: Duration,
    /// A Job (storage writer/reader) completing.
    pub job: Duration,
    /// Objects disappearing after delete.
    pub delete: Duration,
    /// Service endpoints, DNS and HTTP checks (each, retried until this).
    pub network: Duration,
    /// Whole test (each).
    pub test: Duration,
    /// Deleting the run's namespace at the end.
    pub cleanup: Duration,
}

impl Timeouts {
    /// The defaults: long enough for a real cluster pulling images.
    pub const DEFAULT: Timeouts = Timeouts {
        request: Duration::from_secs(10),
        rollout: Duration::from_secs(120),
        bind: Duration::from_secs(120),
        job: Duration::from_secs(180),
        delete: Duration::from_secs(120),
        network: Duration::from_secs(60),
        test: Duration::from_secs(600),
        cleanup: Duration::from_secs(120),
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How long the Lease stays valid without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(60);

/// The Lease that keeps two runs from overlapping.
pub use ward_lease::LeaseConfig;

/// Everything one run needs.
#[derive(Clone)]
pub struct Config {
    /// Tests to run, in order.
    pub tests: Vec<TestName>,
    /// Suffix of the namespace `ward-e2e-<run_id>` (random when `None`).
    pub run_id: Option<String>,
    /// How long a run's namespace may live before `sweep` deletes it.
    pub ttl: Duration,
    /// The Lease; `None` runs without one.
    pub lease: Option<LeaseConfig>,
    /// Image of the test workload (deployment and networking tests): an HTTP
    /// server answering `GET /` with a 2xx status on `port`, running as UID
    /// 65534 with a read-only root filesystem and no capabilities.
    pub image: String,
    /// Arguments of the workload container (its `args`: the image's entrypoint
    /// is kept); empty runs the image's own command.
    pub image_args: Vec<String>,
    /// Image of the rolling update (default: same image, new pod template);
    /// started with the same arguments and port.
    pub update_image: Option<String>,
    /// `imagePullPolicy` of every container the suite starts (default: the
    /// Kubernetes default for the tag).
    pub image_pull_policy: Option<String>,
    /// Port the workload listens on (TCP readiness probe and HTTP checks).
    pub port: u16,
    /// Replicas of the test Deployments.
    pub replicas: i32,
    /// Node selector of every test pod.
    pub node_selector: BTreeMap<String, String>,
    /// Image of the storage Jobs: runs `sh -c` scripts using `echo`, `sync`,
    /// `cat` and `test` on the volume at `/data`, as UID 65534.
    pub shell_image: String,
    /// Storage class of the PVC; `None` uses the cluster's default
    /// StorageClass, and the storage test is skipped when there is none.
    pub storage_class: Option<String>,
    /// DNS server for the networking test (default: first nameserver of /etc/resolv.conf).
    pub dns_server: Option<SocketAddr>,
    /// Cluster DNS domain.
    pub cluster_domain: String,
    /// Step timeouts.
    pub timeouts: Timeouts,
    /// Address rewrite for HTTP checks (see [`Reach`]).
    pub reach: Option<Reach>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("tests", &self.tests)
            .field("run_id", &self.run_id)
            .field("image", &self.image)
            .field("shell_image", &self.shell_image)
            .field("storage_class", &self.storage_class)
            .field("reach", &self.reach.is_some())
            .finish_non_exhaustive()
    }
}

/// Default time to live of a run's namespace.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// Default workload image: the HTTP server of the Kubernetes e2e tests.
pub const DEFAULT_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";
/// Default shell image for the storage Jobs.
pub const DEFAULT_SHELL_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1";

impl Default for Config {
    fn default() -> Self {
        Self {
            tests: TestName::ALL.to_vec(),
            run_id: None,
            ttl: DEFAULT_TTL,
            lease: None,
            image: DEFAULT_IMAGE.to_string(),
            image_args: vec!["netexec".into(), "--http-port=8080".into()],
            update_image: None,
            image_pull_policy: None,
            port: 8080,
            replicas: 2,
            node_selector: BTreeMap::new(),
            shell_image: DEFAULT_SHELL_IMAGE.to_string(),
            storage_class: None,
            dns_server: None,
            cluster_domain: "cluster.local".to_string(),
            timeouts: Timeouts::default(),
            reach: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_and_skip_keep_suite_order() {
        use TestName::*;
        assert_eq!(select(&[], &[]), TestName::ALL.to_vec());
        assert_eq!(select(&[Rbac, Api], &[]), vec![Api, Rbac]);
        assert_eq!(
            select(&[], &[Storage, Networking]),
            vec![Api, Deployment, Rbac]
        );
    }

    #[test]
    fn unknown_test_names_list_the_known_ones() {
        let e = "dns".parse::<TestName>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown test \"dns\" (expected one of: api, deployment, storage, networking, rbac)"
        );
        assert_eq!("rbac".parse::<TestName>().unwrap(), TestName::Rbac);
    }
}
