//! Shared setup of the e2e tests: the testkit cluster of this test binary,
//! three kwok nodes, and a suite configuration with short timeouts.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use ward_e2e::config::Timeouts;
use ward_e2e::{Cluster, Config, Error, Recorder, Report, TestName, TestReport};
use ward_testkit::kube::{KubeCluster, NodeSpec};

/// Nodes every test of the binary can schedule on.
pub(crate) const NODES: [&str; 3] = ["e2e-node-a", "e2e-node-b", "e2e-node-c"];

static NODES_READY: OnceCell<()> = OnceCell::const_new();

/// The cluster (admin client) with the test nodes registered.
pub(crate) struct Env {
    pub cluster: Cluster,
}

pub(crate) async fn prepare() -> Env {
    let kc = KubeCluster::shared();
    NODES_READY
        .get_or_init(|| async {
            let specs: Vec<NodeSpec> = NODES.iter().map(|n| NodeSpec::ready(*n)).collect();
            kc.add_nodes(&specs).await.unwrap();
        })
        .await;
    Env {
        cluster: Cluster::from_config(kc.config()).unwrap(),
    }
}

/// A configuration for `tests` in namespace `ward-e2e-<id>` with test-sized timeouts.
pub(crate) fn config(tests: &[TestName], id: &str) -> Config {
    Config {
        tests: tests.to_vec(),
        run_id: Some(id.to_string()),
        image: "ward-e2e.invalid/agnhost:1".into(),
        timeouts: Timeouts {
            request: Duration::from_secs(10),
            rollout: Duration::from_secs(30),
            bind: Duration::from_secs(30),
            job: Duration::from_secs(30),
            delete: Duration::from_secs(30),
            network: Duration::from_secs(30),
            test: Duration::from_secs(120),
            cleanup: Duration::from_secs(60),
        },
        ..Config::default()
    }
}

/// One run of the suite with `cfg` against `cluster`: no recorder, never cancelled.
pub(crate) async fn run(cluster: &Cluster, cfg: &Config) -> Result<Report, Error> {
    ward_e2e::run(cluster, cfg, &Recorder::none(), CancellationToken::new()).await
}

/// The names of the steps of test `name`, in the order they ran.
pub(crate) fn step_names<'a>(report: &'a Report, name: &str) -> Vec<&'a str> {
    test_report(report, name)
        .steps
        .iter()
        .map(|s| s.name.as_str())
        .collect()
}

/// True when namespace `name` exists (read with the admin client).
pub(crate) async fn namespace_exists(env: &Env, name: &str) -> bool {
    let namespaces: Api<Namespace> = Api::all(env.cluster.client.clone());
    namespaces.get_opt(name).await.unwrap().is_some()
}

/// The report of test `name`.
pub(crate) fn test_report<'a>(report: &'a Report, name: &str) -> &'a TestReport {
    report
        .tests
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no test {name} in {report:#?}"))
}

/// A storage class `name` (no provisioner, Immediate binding) with `pvs` pre-created 1Gi PVs.
pub(crate) async fn storage_class(env: &Env, name: &str, pvs: usize) {
    make_storage_class(env, name, pvs, false).await;
}

/// Like [`storage_class`], annotated as the cluster's default StorageClass.
pub(crate) async fn default_storage_class(env: &Env, name: &str, pvs: usize) {
    make_storage_class(env, name, pvs, true).await;
}

async fn make_storage_class(env: &Env, name: &str, pvs: usize, default: bool) {
    use k8s_openapi::api::core::v1::{
        HostPathVolumeSource, PersistentVolume, PersistentVolumeSpec,
    };
    use k8s_openapi::api::storage::v1::StorageClass;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kube::api::{Api, ObjectMeta, PostParams};
    let classes: Api<StorageClass> = Api::all(env.cluster.client.clone());
    let class = StorageClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: default.then(|| {
                [(
                    "storageclass.kubernetes.io/is-default-class".to_string(),
                    "true".to_string(),
                )]
                .into()
            }),
            ..Default::default()
        },
        provisioner: "kubernetes.io/no-provisioner".into(),
        volume_binding_mode: Some("Immediate".into()),
        reclaim_policy: Some("Retain".into()),
        ..Default::default()
    };
    classes
        .create(&PostParams::default(), &class)
        .await
        .unwrap();
    let volumes: Api<PersistentVolume> = Api::all(env.cluster.client.clone());
    for i in 0..pvs {
        let pv = PersistentVolume {
            metadata: ObjectMeta {
                name: Some(format!("{name}-pv-{i}")),
                ..Default::default()
            },
            spec: Some(PersistentVolumeSpec {
                storage_class_name: Some(name.into()),
                capacity: Some([("storage".to_string(), Quantity("1Gi".into()))].into()),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                persistent_volume_reclaim_policy: Some("Retain".into()),
                host_path: Some(HostPathVolumeSource {
                    path: format!("/tmp/ward-e2e-{name}-{i}"),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: None,
        };
        volumes.create(&PostParams::default(), &pv).await.unwrap();
    }
}

/// Local HTTP servers standing in for pods and Services: each address the suite
/// connects to is given its own backend on first use.
pub(crate) struct PodNetwork {
    backends: Vec<ward_testkit::backend::Backend>,
    assigned:
        std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<std::net::SocketAddr, usize>>>,
}

impl PodNetwork {
    pub(crate) fn start(n: usize) -> Self {
        let backends = (0..n)
            .map(|_| {
                ward_testkit::backend::Backend::builder()
                    .body("ok")
                    .start()
                    .unwrap()
            })
            .collect();
        Self {
            backends,
            assigned: Default::default(),
        }
    }

    /// The rewrite for `Config::reach`.
    pub(crate) fn reach(&self) -> ward_e2e::config::Reach {
        let targets: Vec<std::net::SocketAddr> = self.backends.iter().map(|b| b.addr()).collect();
        let assigned = self.assigned.clone();
        std::sync::Arc::new(move |addr| {
            let mut map = assigned.lock().unwrap();
            let next = map.len();
            let i = *map.entry(addr).or_insert(next);
            targets[i.min(targets.len() - 1)]
        })
    }

    /// Addresses the suite connected to, and how many requests each backend served.
    pub(crate) fn requests(&self) -> Vec<(std::net::SocketAddr, u64)> {
        let map = self.assigned.lock().unwrap();
        map.iter()
            .map(|(addr, i)| (*addr, self.backends[*i].requests()))
            .collect()
    }
}
