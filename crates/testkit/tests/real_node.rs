//! The real-node tier: real kubelets, containerd and runc run real containers
//! on two nodes; pods reach pods on the other node, Services through
//! kube-proxy and names through CoreDNS; the API server reaches the kubelets
//! (logs); and nothing is left on the machine afterwards, also when the test
//! process is killed.
//!
//! Needs root and what scripts/install-test-deps.sh installs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use kube::api::{Api, ListParams, LogParams, PostParams};
use serde_json::json;
use ward_testkit::net::http_get;
use ward_testkit::real_node::{RealNode, BUSYBOX};
use ward_testkit::wait;

const DEADLINE: Duration = Duration::from_secs(90);

fn object<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test object")
}

/// A DaemonSet of busybox httpd answering its node's name on :8080.
fn web_daemonset() -> DaemonSet {
    object(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "httpd",
                    "image": BUSYBOX.reference,
                    "imagePullPolicy": "Never",
                    "command": ["sh", "-c",
                        "mkdir -p /tmp/www && echo \"$NODE\" > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"],
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}
                }]}
            }
        }
    }))
}

/// Polls until `check` gives a value, panicking after [`DEADLINE`] with `what`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = tokio::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_real_nodes_run_pods_that_reach_each_other_services_and_dns() {
    let cluster = tokio::task::spawn_blocking(|| RealNode::builder().nodes(2).start().unwrap())
        .await
        .unwrap();
    eprintln!("real node started in {:?}", cluster.started_in());
    assert_eq!(cluster.node_names(), ["node-a", "node-b"]);
    let client = cluster.client().unwrap();
    let ns = "real-node-test";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &object(json!({"metadata": {"name": ns}})),
        )
        .await
        .unwrap();
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
    daemonsets
        .create(&PostParams::default(), &web_daemonset())
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service = services
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
            })),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    // One Ready web pod per node, each with an address from its node's range.
    let by_node = eventually("a Ready web pod on each node", || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        let mut ready: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .filter_map(|p| {
                let node = p.spec.as_ref()?.node_name.clone()?;
                Some((node, p.status.as_ref()?.pod_ip.clone()?))
            })
            .collect();
        ready.sort();
        (ready.len() == 2).then_some(ready)
    })
    .await;
    assert_eq!(by_node[0].0, "node-a");
    assert!(by_node[0].1.starts_with("10.244.0."), "{by_node:?}");
    assert_eq!(by_node[1].0, "node-b");
    assert!(by_node[1].1.starts_with("10.244.1."), "{by_node:?}");

    // The test process reaches a pod on the second node (across the veth link).
    let pod_b: SocketAddr = format!("{}:8080", by_node[1].1).parse().unwrap();
    let forward = cluster.forward(pod_b).unwrap();
    let answer = http_get(forward.addr(), "/").expect("pod on node-b answers");
    assert_eq!((answer.status, answer.body.trim()), (200, "node-b"));

    // A pod on node-a reaches the pod on node-b directly, the Service by its
    // ClusterIP (kube-proxy) and by name (CoreDNS through the kube-dns Service).
    let cluster_ip = service.spec.unwrap().cluster_ip.unwrap();
    let script = format!(
        "set -e; wget -qO- http://{pod}:8080/; wget -qO- http://{ip}/ >/dev/null; \
         wget -qO- http://web.{ns}.svc.cluster.local/ >/dev/null; nslookup web.{ns}.svc.cluster.local | grep -c {ip}",
        pod = by_node[1].1,
        ip = cluster_ip,
    );
    pods.create(
        &PostParams::default(),
        &object(json!({
            "metadata": {"name": "client"},
            "spec": {
                "nodeName": "node-a",
                "restartPolicy": "Never",
                "containers": [{
                    "name": "client", "image": BUSYBOX.reference, "imagePullPolicy": "Never",
                    "command": ["sh", "-c", script]
                }]
            }
        })),
    )
    .await
    .unwrap();
    let phase = eventually("client pod finished", || async {
        let p = pods.get("client").await.ok()?;
        let phase = p.status?.phase?;
        matches!(phase.as_str(), "Succeeded" | "Failed").then_some(phase)
    })
    .await;
    // The API server reaches the kubelet for the log.
    let log = pods.logs("client", &LogParams::default()).await.unwrap();
    assert_eq!((phase.as_str(), log.as_str()), ("Succeeded", "node-b\n1\n"));

    let dir = cluster.dir().to_path_buf();
    let marker = dir.display().to_string();
    drop(cluster);
    assert_nothing_left(&dir, &marker);
}

/// No folder, no process naming it, no namespace or cgroup of this test's clusters.
fn assert_nothing_left(dir: &Path, marker: &str) {
    assert!(!dir.exists(), "{} still exists", dir.display());
    let leftovers = processes_mentioning(marker);
    assert!(leftovers.is_empty(), "processes left: {leftovers:?}");
    let prefix = format!("ward-{}-", std::process::id());
    let netns = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(netns.is_empty(), "namespaces left: {netns:?}");
    let cgroups: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup/memory")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&prefix)
        })
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let cni: Vec<String> = std::fs::read_dir("/var/lib/cni/results")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(cni.is_empty(), "CNI results left: {cni:?}");
    assert!(
        !Path::new("/var/lib/kubelet/device-plugins/kubelet.sock").exists(),
        "the kubelet's device-plugin socket is left"
    );
}

fn processes_mentioning(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(marker).then_some(text)
        })
        .collect()
}

/// Run as a child by the next test: starts one node, prints its folder, waits.
#[test]
#[ignore = "a child process of a_killed_test_process_leaves_nothing_behind"]
fn child_starts_a_node_and_waits() {
    let cluster = RealNode::builder().coredns(false).start().unwrap();
    println!("{}", cluster.dir().display());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn a_killed_test_process_leaves_nothing_behind() {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_starts_a_node_and_waits",
            "--ignored",
            "--nocapture",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let dir = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended before it printed its cluster folder"
        );
        if line.starts_with("/tmp/ward-node-") {
            break PathBuf::from(line.trim());
        }
    };
    let kubelet_running = !processes_mentioning(&dir.display().to_string()).is_empty();
    assert!(kubelet_running, "no process of the child's node runs");
    child.kill().unwrap();
    child.wait().unwrap();
    let marker = dir.display().to_string();
    let gone = wait::until(Duration::from_secs(60), || {
        (!dir.exists() && processes_mentioning(&marker).is_empty()).then_some(())
    });
    assert!(
        gone.is_some(),
        "{} or its processes outlived the killed test",
        dir.display()
    );
    let child_prefix = format!("ward-{}-", child.id());
    let netns_left = wait::until(Duration::from_secs(10), || {
        let left = std::fs::read_dir("/run/netns")
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&child_prefix))
            })
            .unwrap_or(false);
        (!left).then_some(())
    });
    assert!(netns_left.is_some(), "the killed test's namespaces remain");
}
