//! Shared setup of the e2e tests: the testkit cluster of this test binary,
//! three kwok nodes, and a suite configuration with short timeouts.
#![allow(dead_code)]

use std::time::Duration;

use tokio::sync::OnceCell;
use ward_e2e::config::Timeouts;
use ward_e2e::{Cluster, Config, Report, TestName, TestReport};
use ward_testkit::kube::{KubeCluster, NodeSpec};

/// Nodes every test of the binary can schedule on.
pub const NODES: [&str; 3] = ["e2e-node-a", "e2e-node-b", "e2e-node-c"];

static NODES_READY: OnceCell<()> = OnceCell::const_new();

/// The cluster (admin client) with the test nodes registered.
pub struct Env {
    pub cluster: Cluster,
}

pub async fn prepare() -> Env {
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
pub fn config(tests: &[TestName], id: &str) -> Config {
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

/// The report of test `name`.
pub fn test_report<'a>(report: &'a Report, name: &str) -> &'a TestReport {
    report
        .tests
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no test {name} in {report:#?}"))
}
