//! Benchmark (not a test): ward installed by its Helm chart on two real nodes
//! (testkit's RealNode): the image's size, the real nodes' start-up, the time
//! from `helm install` to every ward pod Ready, and, after a while, each
//! nurse and lookup pod's memory and CPU as the kubelet reports them
//! (`/stats/summary`, through the API server).
//!
//! ```sh
//! bash scripts/build-image.sh                             # the shipped image
//! cargo test -p ward --bench real_cluster                 # 300 s of agents (the harness needs no optimising)
//! WARD_BENCH_SECONDS=60 cargo test -p ward --bench real_cluster
//! ```
//! Needs root and what scripts/install-test-deps.sh installs.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;
use serde_json::Value;
use tokio::time::Instant;
use ward_testkit::helm::Helm;
use ward_testkit::real_node::RealNode;
use ward_testkit::wait;

#[path = "../tests/support/mod.rs"]
mod support;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sizes of the archive's layers: (compressed, unpacked) bytes.
fn layer_sizes(archive: &PathBuf) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    let ok = std::process::Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "cannot unpack {}", archive.display());
    let read =
        |p: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let blob = |digest: &str| {
        dir.path()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read(dir.path().join("index.json"));
    let manifest = read(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let mut compressed = 0;
    let mut unpacked = 0;
    for layer in manifest["layers"].as_array().unwrap() {
        let path = blob(layer["digest"].as_str().unwrap());
        compressed += std::fs::metadata(&path).unwrap().len();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -dc '{}' | wc -c", path.display()))
            .output()
            .unwrap();
        unpacked += String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<u64>()
            .unwrap();
    }
    (compressed, unpacked)
}

/// Every ward container in a node's `/stats/summary`: (pod, working set MiB,
/// RSS MiB, CPU ns used). The image's file pages are charged to whoever read
/// them first (containerd, unpacking), so the working set is mostly anonymous memory.
fn pod_stats(summary: &Value) -> Vec<(String, f64, f64, f64)> {
    summary["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["podRef"]["namespace"] == "ward")
        .flat_map(|p| {
            let pod = p["podRef"]["name"].as_str().unwrap_or("?").to_string();
            p["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |c| {
                    (
                        pod.clone(),
                        c["memory"]["workingSetBytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                        c["memory"]["rssBytes"].as_f64().unwrap_or(0.0) / 1048576.0,
                        c["cpu"]["usageCoreNanoSeconds"].as_f64().unwrap_or(0.0),
                    )
                })
        })
        .collect()
}

fn main() {
    let seconds: u64 = env_or("WARD_BENCH_SECONDS", 300);
    let archive = support::image_archive();
    assert!(
        archive.is_file(),
        "{}: run scripts/build-image.sh first",
        archive.display()
    );
    let (compressed, unpacked) = layer_sizes(&archive);
    println!(
        "image {}: {:.1} MB compressed, {:.1} MB unpacked",
        archive.display(),
        compressed as f64 / 1e6,
        unpacked as f64 / 1e6
    );
    let cluster = RealNode::builder().nodes(2).image(archive).start().unwrap();
    println!(
        "real nodes (2, CoreDNS available) started in {:.1} s",
        cluster.started_in().as_secs_f64()
    );

    let helm = Helm::new()
        .unwrap()
        .with_kubeconfig(cluster.admin_kubeconfig());
    let chart = support::repo().join("deploy/helm/ward");
    let began = Instant::now();
    let out = helm
        .run(&[
            "install",
            "ward",
            chart.to_str().unwrap(),
            "-n",
            "ward",
            "--create-namespace",
            "--set",
            "image.pullPolicy=Never",
            "--set",
            "e2e.enabled=false",
            "--set",
            "lookup.hosts={kubernetes.default.svc.cluster.local}",
            "--wait",
            "--timeout",
            "180s",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "helm install to every ward pod Ready: {:.1} s",
        began.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(async { cluster.client() }).unwrap();
    let ready = runtime.block_on(async {
        let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), "ward");
        let mut ready = 0;
        for name in ["ward-nurse", "ward-lookup"] {
            ready += daemonsets
                .get(name)
                .await
                .unwrap()
                .status
                .unwrap()
                .number_ready;
        }
        ready
    });
    assert_eq!(ready, 4);
    let summary = |node: &str| -> Value {
        runtime.block_on(async {
            let req = http::Request::get(format!("/api/v1/nodes/{node}/proxy/stats/summary"))
                .body(Vec::new())
                .unwrap();
            serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap()
        })
    };
    let nodes = cluster.node_names();
    let first: Vec<_> = nodes.iter().flat_map(|n| pod_stats(&summary(n))).collect();
    let start = Instant::now();
    // The measurement period: the agents run, the bench waits.
    wait::until(Duration::from_secs(seconds), || None::<()>);
    let last: Vec<_> = nodes.iter().flat_map(|n| pod_stats(&summary(n))).collect();
    let elapsed = start.elapsed().as_secs_f64();
    println!("\nafter {seconds} s ({elapsed:.0} s between the two stats/summary reads):");
    println!(
        "{:<28} {:>14} {:>12} {:>12}",
        "POD", "WORKING SET", "RSS", "CPU"
    );
    for (pod, working_set, rss, cpu) in &last {
        let before = first.iter().find(|s| &s.0 == pod).map_or(0.0, |s| s.3);
        let millicores = (cpu - before) / elapsed / 1e6;
        println!("{pod:<28} {working_set:>10.1} MiB {rss:>8.1} MiB {millicores:>8.2} m");
    }
}
