//! Smoke tests of the loopback Kubernetes control plane with kube-rs: nodes,
//! a Deployment rollout on kwok nodes, watches, RBAC with ServiceAccount tokens,
//! PV/PVC binding, Pods with chosen IPs, and cleanup on drop.
//!
//! Needs the binaries from `scripts/kube-control-plane.sh build`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, HostPathVolumeSource, Node, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeSpec, Pod, PodSpec, PodTemplateSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::WatchEvent;
use kube::runtime::wait::{await_condition, Condition};
use ward_testkit::kube::{node_ready, policy_rule, KubeCluster, NodeSpec};

/// The shared control plane serves every test of a full run on 2 cores: at
/// its end a three-replica rollout once took over 60 s.
const DEADLINE: Duration = Duration::from_secs(120);

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits (with [`DEADLINE`]) until `cond` holds for object `name`.
async fn wait_for<K>(api: Api<K>, name: &str, what: &str, cond: impl Condition<K>) -> K
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    match tokio::time::timeout(DEADLINE, await_condition(api.clone(), name, cond)).await {
        Ok(Ok(Some(obj))) => obj,
        Ok(Ok(None)) => panic!("{what}: {name} was deleted"),
        Ok(Err(e)) => panic!("{what}: watching {name}: {e}"),
        Err(_) => panic!(
            "{what}: not reached within {DEADLINE:?}; last seen: {:?}",
            api.get_opt(name).await
        ),
    }
}

#[tokio::test]
async fn lists_nodes_registered_ready_cordoned_and_not_ready() {
    let cluster = KubeCluster::shared();
    cluster
        .add_nodes(&[
            NodeSpec::ready("smoke-ready"),
            NodeSpec::ready("smoke-cordoned").cordoned(),
            NodeSpec::not_ready("smoke-down").with_ip("127.0.0.9".parse().unwrap()),
        ])
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(cluster.client().unwrap());
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let by_name: BTreeMap<_, _> = list
        .items
        .iter()
        .map(|n| (n.metadata.name.clone().unwrap(), n))
        .collect();
    let ready = by_name["smoke-ready"];
    assert_eq!(node_ready(ready), Some("True"));
    let cordoned = by_name["smoke-cordoned"];
    assert_eq!(node_ready(cordoned), Some("True"));
    assert_eq!(cordoned.spec.as_ref().unwrap().unschedulable, Some(true));
    let down = by_name["smoke-down"];
    assert_ne!(node_ready(down), Some("True"));
    let addrs = down.status.as_ref().unwrap().addresses.as_ref().unwrap();
    assert!(addrs.iter().any(|a| a.address == "127.0.0.9"), "{addrs:?}");
}

#[tokio::test]
async fn deployment_with_three_replicas_becomes_available() {
    let cluster = KubeCluster::shared();
    let ns = cluster.create_namespace("smoke-deploy").await.unwrap();
    cluster
        .add_nodes(&[NodeSpec::ready("deploy-a"), NodeSpec::ready("deploy-b")])
        .await
        .unwrap();
    let api: Api<Deployment> = Api::namespaced(cluster.client().unwrap(), &ns);
    let app = labels(&[("app", "web")]);
    let deploy = Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(3),
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some("nginx:placeholder".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    };
    api.create(&PostParams::default(), &deploy).await.unwrap();
    let available = |d: Option<&Deployment>| {
        d.and_then(|d| d.status.as_ref())
            .and_then(|s| s.available_replicas)
            == Some(3)
    };
    wait_for(api, "web", "3 available replicas", available).await;
    // kwok gave each pod an IP from its range on a kwok node.
    let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), &ns);
    let list = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let running: Vec<_> = list
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect();
    assert_eq!(running.len(), 3);
    for p in running {
        let node = p.spec.as_ref().unwrap().node_name.as_deref().unwrap();
        assert!(
            !node.starts_with("smoke-down"),
            "scheduled on a NotReady node"
        );
        let ip = p.status.as_ref().unwrap().pod_ip.as_deref().unwrap();
        assert!(ip.starts_with("10.244."), "{ip}");
    }
}

#[tokio::test]
async fn pod_watch_sees_added_modified_deleted() {
    let cluster = KubeCluster::shared();
    let ns = cluster.create_namespace("smoke-watch").await.unwrap();
    cluster
        .add_nodes(&[NodeSpec::ready("watch-a")])
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), &ns);
    let rv = pods
        .list_metadata(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = pods
        .watch(&kube::api::WatchParams::default().timeout(60), &rv)
        .await
        .unwrap();
    let mut stream = stream.boxed();

    let ip: IpAddr = "127.0.0.20".parse().unwrap();
    cluster
        .create_pod_on_node(&ns, "watched", "watch-a", &[("app", "w")], ip, ip)
        .await
        .unwrap();
    let patch = serde_json::json!({"metadata": {"labels": {"touched": "yes"}}});
    pods.patch("watched", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    pods.delete("watched", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let collect = async {
        while let Some(ev) = stream.next().await {
            let kind = match ev.unwrap() {
                WatchEvent::Added(_) => "ADDED",
                WatchEvent::Modified(_) => "MODIFIED",
                WatchEvent::Deleted(_) => "DELETED",
                WatchEvent::Bookmark(_) => continue,
                WatchEvent::Error(e) => panic!("watch error: {e:?}"),
            };
            seen.push(kind);
            if kind == "DELETED" {
                break;
            }
        }
    };
    tokio::time::timeout(DEADLINE, collect)
        .await
        .expect("watch did not deliver DELETED in time");
    assert_eq!(seen.first(), Some(&"ADDED"), "{seen:?}");
    assert!(seen.contains(&"MODIFIED"), "{seen:?}");
    assert_eq!(seen.last(), Some(&"DELETED"), "{seen:?}");
}

#[tokio::test]
async fn service_account_without_list_pods_gets_403_and_with_it_200() {
    let cluster = KubeCluster::shared();
    let ns = cluster.create_namespace("smoke-rbac").await.unwrap();
    cluster
        .create_service_account(
            &ns,
            "reader",
            vec![policy_rule(&[""], &["pods"], &["get", "list", "watch"])],
        )
        .await
        .unwrap();
    cluster
        .create_service_account(&ns, "nobody", Vec::new())
        .await
        .unwrap();
    let reader = cluster
        .service_account_kubeconfig(&ns, "reader")
        .await
        .unwrap();
    let nobody = cluster
        .service_account_kubeconfig(&ns, "nobody")
        .await
        .unwrap();
    assert!(reader.path.exists());

    let denied: Api<Pod> = Api::namespaced(nobody.client().unwrap(), &ns);
    match denied.list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403, "{e:?}"),
        other => panic!("expected 403, got {other:?}"),
    }
    // RBAC is served from an informer cache: allow it a moment to see the binding.
    let allowed: Api<Pod> = Api::namespaced(reader.client().unwrap(), &ns);
    let ok = tokio::time::timeout(DEADLINE, async {
        loop {
            match allowed.list(&ListParams::default()).await {
                Ok(list) => return list,
                Err(kube::Error::Api(e)) if e.code == 403 => {}
                Err(e) => panic!("reader list pods: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("reader never allowed to list pods");
    assert!(ok.items.is_empty());
    // The token is a real ServiceAccount token: other namespaces stay forbidden.
    let elsewhere: Api<Pod> = Api::namespaced(reader.client().unwrap(), "default");
    match elsewhere.list(&ListParams::default()).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403),
        other => panic!("expected 403 in another namespace, got {other:?}"),
    }
}

#[tokio::test]
async fn pvc_binds_to_a_precreated_pv() {
    let cluster = KubeCluster::shared();
    let ns = cluster.create_namespace("smoke-pvc").await.unwrap();
    let client = cluster.client().unwrap();
    let capacity = BTreeMap::from([("storage".to_string(), Quantity("1Gi".into()))]);
    let pv = PersistentVolume {
        metadata: ObjectMeta {
            name: Some("smoke-pv".into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(capacity.clone()),
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some("manual".into()),
            host_path: Some(HostPathVolumeSource {
                path: "/tmp/ward-smoke-pv".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Api::<PersistentVolume>::all(client.clone())
        .create(&PostParams::default(), &pv)
        .await
        .unwrap();
    let pvc = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("claim".into()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: Some("manual".into()),
            resources: Some(VolumeResourceRequirements {
                requests: Some(capacity),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client, &ns);
    claims.create(&PostParams::default(), &pvc).await.unwrap();
    let bound = |c: Option<&PersistentVolumeClaim>| {
        c.and_then(|c| c.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Bound")
    };
    let claim = wait_for(claims, "claim", "PVC Bound", bound).await;
    assert_eq!(claim.spec.unwrap().volume_name.as_deref(), Some("smoke-pv"));
}

#[tokio::test]
async fn pod_on_node_keeps_its_chosen_ips_and_readiness() {
    let cluster = KubeCluster::shared();
    let ns = cluster.create_namespace("smoke-agents").await.unwrap();
    cluster
        .add_nodes(&[
            NodeSpec::ready("agent-a").with_ip("127.0.0.31".parse().unwrap()),
            NodeSpec::not_ready("agent-b").with_ip("127.0.0.32".parse().unwrap()),
        ])
        .await
        .unwrap();
    let a: IpAddr = "127.0.0.31".parse().unwrap();
    let b: IpAddr = "127.0.0.32".parse().unwrap();
    cluster
        .create_pod_on_node(&ns, "agent-a", "agent-a", &[("app", "agent")], a, a)
        .await
        .unwrap();
    cluster
        .create_pod_on_node(&ns, "agent-b", "agent-b", &[("app", "agent")], b, b)
        .await
        .unwrap();
    // A pod kwok does manage, created after ours on the same node: once kwok has
    // made it Running, it has also seen (and left alone) the agent pod.
    let pods: Api<Pod> = Api::namespaced(cluster.client().unwrap(), &ns);
    let sentinel = Pod {
        metadata: ObjectMeta {
            name: Some("sentinel".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some("agent-a".into()),
            containers: vec![Container {
                name: "c".into(),
                image: Some("placeholder".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    pods.create(&PostParams::default(), &sentinel)
        .await
        .unwrap();
    let running = |p: Option<&Pod>| {
        p.and_then(|p| p.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some("Running")
    };
    let s = wait_for(pods.clone(), "sentinel", "sentinel Running", running).await;
    assert_eq!(s.status.unwrap().host_ip.as_deref(), Some("127.0.0.31"));

    let list = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 2);
    for p in &list.items {
        let name = p.metadata.name.as_deref().unwrap();
        let want = if name == "agent-a" {
            "127.0.0.31"
        } else {
            "127.0.0.32"
        };
        let status = p.status.as_ref().unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some(want), "{name}");
        assert_eq!(status.host_ip.as_deref(), Some(want), "{name}");
        assert_eq!(status.phase.as_deref(), Some("Running"), "{name}");
        // Only the pod on the Ready node is sure to stay Ready: the real node
        // lifecycle controller marks a pod on a NotReady node not Ready once it
        // has gathered that node's health (within its 5 s monitor period), so
        // agent-b's readiness is the controller's, not the fixture's.
        if name == "agent-a" {
            let ready = status
                .conditions
                .as_ref()
                .unwrap()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            assert!(ready, "{name} not Ready");
        }
        assert_eq!(p.spec.as_ref().unwrap().node_name.as_deref(), Some(name));
    }
    // Field selectors work on the binding: pods on node agent-a.
    let on_a = pods
        .list(&ListParams::default().fields("spec.nodeName=agent-a"))
        .await
        .unwrap();
    assert_eq!(on_a.items.len(), 2, "agent-a and sentinel");
}

#[test]
fn a_private_cluster_starts_quickly_and_leaves_nothing_behind() {
    let cluster = KubeCluster::start().unwrap();
    eprintln!("control plane ready in {:?}", cluster.started_in());
    let dir = cluster.dir().to_path_buf();
    let pids = cluster.pids();
    let ports = cluster.ports();
    assert!(dir.join("admin.kubeconfig").exists());
    for (name, port) in ports {
        assert!(
            ward_testkit::net::accepts(([127, 0, 0, 1], port).into()),
            "{name} not listening on 127.0.0.1:{port}"
        );
    }
    drop(cluster);
    assert!(!dir.exists(), "{} left behind", dir.display());
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true),
            "process {pid} still running"
        );
    }
    for (name, port) in ports {
        assert!(
            !ward_testkit::net::accepts(([127, 0, 0, 1], port).into()),
            "{name} still listening on {port} after drop"
        );
    }
}
