//! ward in a real cluster: the shipped image (scripts/build-image.sh), the
//! Helm chart installed by the real helm, on two real nodes (testkit's
//! RealNode: kubelet, containerd, runc, bridge CNI, kube-proxy, CoreDNS).
//!
//! - `helm install` with nurse, lookup and e2e: nurse pods go Ready and check
//!   the API server (direct and by name), their own Service through
//!   kube-proxy and each other across the nodes; lookup pods resolve cluster
//!   names through CoreDNS; a Job from the e2e CronJob runs the whole suite
//!   (real pods, a local PV, DNS and Services, RBAC) and reports over OTLP; a
//!   real Prometheus finds every pod with kubernetes_sd_configs and scrapes it.
//! - `helm upgrade` with a new check interval rolls the nurses with no failed
//!   check reported meanwhile; `helm uninstall` leaves nothing behind.
//! - A wrong image with `--rollback-on-failure` leaves no release and no objects.
//! - prometheus-operator (v0.85.0, built from its Go module) with its CRDs:
//!   the Prometheus it manages on a real node (images packed from
//!   prometheus3 and the operator's config reloader) discovers ward's pods
//!   through the chart's ServiceMonitors, scrapes them and loads the chart's
//!   PrometheusRules.
//!
//! Needs root, what scripts/install-test-deps.sh installs, and the image
//! archive (`WARD_IMAGE_ARCHIVE`, else `<target>/ward-image.tar`; scripts/test.sh
//! builds it with scripts/build-image.sh).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Event, Namespace, PersistentVolume, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DynamicObject, ListParams, LogParams, PostParams};
use kube::discovery::ApiResource;
use serde_json::{json, Value};
use tokio::time::Instant;
use ward_testkit::helm::Helm;
use ward_testkit::net::http_get;
use ward_testkit::real_node::{RealNode, BUSYBOX};

mod support;

const RELEASE: &str = "ward";
const NAMESPACE: &str = "ward";
const DEADLINE: Duration = Duration::from_secs(120);

/// The image reference the archive names (`io.containerd.image.name`), split at the tag.
fn image_reference(archive: &Path) -> (String, String) {
    let out = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg("index.json")
        .output()
        .unwrap();
    let index: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = index["manifests"][0]["annotations"]["io.containerd.image.name"]
        .as_str()
        .expect("the archive names its image")
        .to_string();
    let (repository, tag) = name.rsplit_once(':').unwrap();
    (repository.to_string(), tag.to_string())
}

fn object<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("test object")
}

/// Polls `check` until it gives a value; panics with `what` after `limit`.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs helm and returns stdout, panicking with its stderr unless it succeeds.
fn helm_ok(helm: &Helm, args: &[&str]) -> String {
    let out = helm.run(args).unwrap();
    assert!(
        out.status.success(),
        "helm {}:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A default StorageClass for pre-made local volumes and one local PV on the
/// first node, in a folder the e2e storage Jobs (UID 65534) may write.
async fn local_storage(cluster: &RealNode, client: &kube::Client) {
    let folder = cluster.dir().join("local-pv");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::set_permissions(&folder, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    Api::<StorageClass>::all(client.clone())
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "local", "annotations": {
                    "storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "WaitForFirstConsumer"
            })),
        )
        .await
        .unwrap();
    Api::<PersistentVolume>::all(client.clone())
        .create(
            &PostParams::default(),
            &object(json!({
                "metadata": {"name": "local-node-a"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "local",
                    "local": {"path": folder.display().to_string()},
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-a"]}
                    ]}]}}
                }
            })),
        )
        .await
        .unwrap();
}

/// The values the test installs with: the imported image, cluster-only names
/// for lookup, the e2e suite on local busybox images, its metrics to the
/// Prometheus in the cluster, and a CronJob schedule that never fires (the
/// test starts the Job itself).
fn values(dir: &Path, otlp: &str, interval: &str) -> PathBuf {
    let path = dir.join(format!("values-{interval}.yaml"));
    let values = json!({
        "image": {"pullPolicy": "Never"},
        "nurse": {"checkInterval": interval},
        "lookup": {
            "interval": "2s",
            "hosts": ["kubernetes.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local"]
        },
        "e2e": {
            "mode": "cronjob",
            "output": "json",
            "schedule": "0 0 1 1 *",
            "images": {
                "workload": BUSYBOX.reference,
                "workloadArgs": ["-c", "exec httpd -f -p 8080 -h /www"],
                "shell": BUSYBOX.reference,
                "pullPolicy": "Never"
            },
            "otlp": {"endpoint": otlp}
        }
    });
    std::fs::write(&path, serde_json::to_string_pretty(&values).unwrap()).unwrap();
    path
}

/// `kubernetes_sd_configs` over pods, kept when annotated `prometheus.io/scrape`.
fn pod_scrape_job(kubeconfig: &Path) -> String {
    format!(
        r#"  - job_name: pods
    scrape_interval: 1s
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: {kubeconfig}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        regex: ([^:]+)(?::\d+)?;(\d+)
        replacement: $1:$2
        target_label: __address__
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
        target_label: component
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_node_name]
        target_label: node
"#,
        kubeconfig = kubeconfig.display()
    )
}

/// Ready pods of a component, as (node, pod IP).
async fn ready_pods(pods: &Api<Pod>, component: &str) -> Vec<(String, String)> {
    let selector =
        format!("app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component={component}");
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .unwrap();
    let mut out: Vec<(String, String)> = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| {
            Some((
                p.spec.as_ref()?.node_name.clone()?,
                p.status.as_ref()?.pod_ip.clone()?,
            ))
        })
        .collect();
    out.sort();
    out
}

/// The value of one exposition line `name{labels} value`, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// `/metrics` of a pod, through a forwarder into the cluster.
fn scrape(cluster: &RealNode, ip: &str, port: u16) -> Option<String> {
    let addr: SocketAddr = format!("{ip}:{port}").parse().ok()?;
    let forward = cluster.forward(addr).ok()?;
    http_get(forward.addr(), "/metrics")
        .filter(|r| r.status == 200)
        .map(|r| r.body)
}

/// The value of the first series of an instant query, if any.
fn query_value(prometheus: &ward_testkit::prometheus::Prometheus, expr: &str) -> Option<f64> {
    let result = prometheus.query(expr).ok()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_upgrade_and_uninstall_on_real_nodes() {
    let archive = support::image_archive();
    let (repository, tag) = image_reference(&archive);
    let cluster = tokio::task::spawn_blocking(move || {
        RealNode::builder().nodes(2).image(archive).start().unwrap()
    })
    .await
    .unwrap();
    eprintln!("real nodes up in {:?}", cluster.started_in());
    let client = cluster.client().unwrap();
    local_storage(&cluster, &client).await;

    // Prometheus in the cluster's namespace: scrapes pods it discovers through
    // the API server, and receives the e2e Job's OTLP push on the node address.
    let node_ip = cluster
        .in_cluster_server()
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let otlp = format!(
        "http://{node_ip}:{}/api/v1/otlp",
        ward_testkit::prometheus::NETNS_PORT
    );
    let prometheus = ward_testkit::otlp::receiver_builder()
        .unwrap()
        .interval(Duration::from_secs(1))
        .scrape_config(pod_scrape_job(&cluster.in_namespace_kubeconfig()))
        .start_in(cluster.netns())
        .unwrap();

    let helm = Helm::new()
        .unwrap()
        .with_kubeconfig(cluster.admin_kubeconfig());
    let chart = support::repo().join("deploy/helm/ward");
    let chart = chart.to_str().unwrap();
    let image_args = [
        "--set".to_string(),
        format!("image.repository={repository}"),
        "--set".to_string(),
        format!("image.tag={tag}"),
    ];
    let install_values = values(cluster.dir(), &otlp, "2s");
    let mut args = vec![
        "install",
        RELEASE,
        chart,
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "180s",
        "-f",
        install_values.to_str().unwrap(),
    ];
    args.extend(image_args.iter().map(String::as_str));
    let began = Instant::now();
    helm_ok(&helm, &args);
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    for component in ["nurse", "lookup"] {
        let ready = ready_pods(&pods, component).await;
        let nodes: Vec<&str> = ready.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            nodes,
            ["node-a", "node-b"],
            "{component} pods Ready on both nodes"
        );
    }
    eprintln!(
        "helm install to every ward pod Ready: {:?}",
        began.elapsed()
    );

    // Each nurse checks the API server directly and by name, its Service
    // through kube-proxy, and the nurse on the other node.
    let nurses = ready_pods(&pods, "nurse").await;
    for (node, ip) in &nurses {
        let other = if node == "node-a" { "node-b" } else { "node-a" };
        let wanted = [
            "api_server_direct".to_string(),
            "api_server_dns".to_string(),
            "me_service".to_string(),
            format!("path_{other}"),
        ];
        let text = eventually(
            &format!("nurse on {node} checks {wanted:?}"),
            DEADLINE,
            || async {
                let text = scrape(&cluster, ip, 8080)?;
                wanted
                    .iter()
                    .all(|t| {
                        let series = format!(
                            "kubenurse_httpclient_requests_total{{type=\"{t}\",code=\"200\"}}"
                        );
                        sample(&text, &series).is_some_and(|v| v >= 1.0)
                    })
                    .then_some(text)
            },
        )
        .await;
        assert!(
            !text.contains("type=\"me_ingress\""),
            "no ingress host, so no ingress check:\n{text}"
        );
    }

    // Lookup pods resolve cluster names through CoreDNS (their resolv.conf).
    for (node, ip) in ready_pods(&pods, "lookup").await {
        eventually(&format!("lookup on {node} resolves through CoreDNS"), DEADLINE, || async {
            let text = scrape(&cluster, &ip, 9090)?;
            ["kubernetes.default.svc.cluster.local", "kube-dns.kube-system.svc.cluster.local"]
                .iter()
                .all(|host| {
                    let series = format!(
                        "hostlookuper_dns_lookup_total{{host=\"{host}\",dns_server=\"resolv.conf\",rcode=\"NOERROR\"}}"
                    );
                    sample(&text, &series).is_some_and(|v| v >= 1.0)
                })
                .then_some(())
        })
        .await;
    }

    // Prometheus found all four agents through the API server and scrapes them.
    let up = eventually(
        "Prometheus scrapes 2 nurses and 2 lookups",
        DEADLINE,
        || async {
            let v = query_value(
                &prometheus,
                r#"count(up{job="pods",component=~"nurse|lookup"} == 1)"#,
            )?;
            (v == 4.0).then_some(v)
        },
    )
    .await;
    assert_eq!(up, 4.0);

    // A Job from the e2e CronJob runs the whole suite on real pods.
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), NAMESPACE);
    let cronjob = cronjobs.get("ward-e2e").await.unwrap();
    let jobs: Api<Job> = Api::namespaced(client.clone(), NAMESPACE);
    let template = cronjob.spec.unwrap().job_template;
    let job: Job = object(json!({
        "metadata": {
            "name": "ward-e2e-manual",
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "labels": template.metadata.as_ref().and_then(|m| m.labels.clone()),
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "CronJob", "name": "ward-e2e",
                "uid": cronjob.metadata.uid.clone().unwrap(), "controller": true
            }]
        },
        "spec": template.spec,
    }));
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let succeeded = eventually("the e2e Job ends", Duration::from_secs(300), || async {
        let status = jobs.get("ward-e2e-manual").await.ok()?.status?;
        let done = status.succeeded.unwrap_or(0) + status.failed.unwrap_or(0);
        (done > 0).then(|| status.succeeded.unwrap_or(0))
    })
    .await;
    let job_pods = pods
        .list(&ListParams::default().labels("job-name=ward-e2e-manual"))
        .await
        .unwrap()
        .items;
    let job_pod = job_pods.first().expect("the e2e Job's pod");
    let name = job_pod.metadata.name.as_deref().unwrap();
    let log = pods
        .logs(name, &LogParams::default())
        .await
        .unwrap_or_else(|e| format!("(no log: {e})"));
    if succeeded != 1 {
        // Say why: the pod's state and the events of its namespace and the runs'.
        let state = serde_json::to_string_pretty(&job_pod.status).unwrap();
        panic!(
            "the e2e Job failed:\n{log}\n--- pod {name} status ---\n{state}\n--- events ---\n{}",
            events(&client).await
        );
    }
    // The JSON report is the block of lines from "{" to "}" (logs go around it).
    let report: Value = {
        let lines: Vec<&str> = log.lines().collect();
        let start = lines.iter().position(|l| *l == "{");
        let end = lines.iter().rposition(|l| *l == "}");
        let (Some(start), Some(end)) = (start, end) else {
            panic!("no JSON report in the Job's log:\n{log}")
        };
        serde_json::from_str(&lines[start..=end].join("\n")).expect("the report parses")
    };
    let outcomes: Vec<(&str, &str)> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("api", "passed"),
            ("deployment", "passed"),
            ("storage", "passed"),
            ("networking", "passed"),
            ("rbac", "passed"),
        ],
        "{log}"
    );
    assert_eq!(report["cleanup"]["outcome"], "passed", "{log}");
    for test in ["api", "deployment", "storage", "networking", "rbac"] {
        let expr = format!(r#"test_executed_total{{test_name="{test}",step=""}}"#);
        let v = eventually(&format!("OTLP: {expr}"), DEADLINE, || async {
            query_value(&prometheus, &expr)
        })
        .await;
        assert_eq!(v, 1.0, "{expr}");
    }
    assert_eq!(
        query_value(&prometheus, "sum(test_errors_total)"),
        Some(0.0)
    );

    // helm upgrade with a new check interval rolls the nurses; meanwhile no
    // nurse reports a failed check.
    let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), NAMESPACE);
    let before = daemonsets.get("ward-nurse").await.unwrap();
    let generation = before.metadata.generation.unwrap();
    let upgrade_values = values(cluster.dir(), &otlp, "3s");
    let mut args = vec![
        "upgrade",
        RELEASE,
        chart,
        "-n",
        NAMESPACE,
        "--wait",
        "--timeout",
        "180s",
        "-f",
        upgrade_values.to_str().unwrap(),
    ];
    args.extend(image_args.iter().map(String::as_str));
    let roll = Instant::now();
    helm_ok(&helm, &args);
    let after = daemonsets.get("ward-nurse").await.unwrap();
    assert!(after.metadata.generation.unwrap() > generation);
    let status = after.status.unwrap();
    assert_eq!(
        (status.updated_number_scheduled, status.number_ready),
        (Some(2), 2),
        "every nurse rolled and Ready"
    );
    // Once Prometheus has scraped both new pods, count errors over the roll.
    let new_nurses = ready_pods(&pods, "nurse").await;
    assert_ne!(new_nurses, nurses, "new nurse pods");
    let instances: Vec<String> = new_nurses
        .iter()
        .map(|(_, ip)| format!("{ip}:8080"))
        .collect();
    let scraped = format!(
        r#"count(count by (instance) (kubenurse_httpclient_requests_total{{instance=~"{}"}}))"#,
        instances.join("|")
    );
    eventually("Prometheus scraped both new nurses", DEADLINE, || async {
        (query_value(&prometheus, &scraped)? == 2.0).then_some(())
    })
    .await;
    let window = roll.elapsed() + Duration::from_secs(5);
    let errors = query_value(
        &prometheus,
        &format!(
            "sum(increase(kubenurse_errors_total[{}s])) or vector(0)",
            window.as_secs()
        ),
    );
    assert_eq!(errors, Some(0.0), "failed checks during the roll");
    let checks = query_value(
        &prometheus,
        &format!(
            r#"sum(increase(kubenurse_httpclient_requests_total{{code="200"}}[{}s]))"#,
            window.as_secs()
        ),
    )
    .unwrap_or(0.0);
    assert!(checks > 0.0, "nurses kept checking during the roll");

    // helm uninstall leaves nothing of the release behind.
    helm_ok(
        &helm,
        &[
            "uninstall",
            RELEASE,
            "-n",
            NAMESPACE,
            "--wait",
            "--timeout",
            "120s",
        ],
    );
    drop(prometheus);
    let leftovers = eventually("nothing of the release left", DEADLINE, || async {
        let left = release_objects(&client, RELEASE).await;
        left.is_empty().then_some(left)
    })
    .await;
    assert!(leftovers.is_empty());
    let namespaces = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let e2e_left: Vec<String> = namespaces
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .filter(|n| n.starts_with("ward-e2e-"))
        .collect();
    assert!(e2e_left.is_empty(), "e2e run namespaces left: {e2e_left:?}");
}

/// Every event in the cluster, one line each (for failure messages).
async fn events(client: &kube::Client) -> String {
    let list = Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    list.iter()
        .map(|e| {
            format!(
                "{}/{} {} {}: {}",
                e.involved_object.namespace.as_deref().unwrap_or(""),
                e.involved_object.name.as_deref().unwrap_or(""),
                e.type_.as_deref().unwrap_or(""),
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every object labelled as the release's, or owned by one of its objects,
/// of the kinds the chart creates (and the Jobs and Pods they create).
async fn release_objects(client: &kube::Client, release: &str) -> Vec<String> {
    let kinds: [(&str, &str, &str, &str); 14] = [
        ("", "v1", "Pod", "pods"),
        ("", "v1", "Service", "services"),
        ("", "v1", "ServiceAccount", "serviceaccounts"),
        ("", "v1", "ConfigMap", "configmaps"),
        ("apps", "v1", "DaemonSet", "daemonsets"),
        ("apps", "v1", "Deployment", "deployments"),
        ("batch", "v1", "CronJob", "cronjobs"),
        ("batch", "v1", "Job", "jobs"),
        ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicies",
        ),
        (
            "admissionregistration.k8s.io",
            "v1",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybindings",
        ),
    ];
    let mut left = Vec::new();
    for (group, version, kind, plural) in kinds {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let resource = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version,
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let selector = format!("app.kubernetes.io/instance={release}");
        let labelled = api
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        left.extend(labelled.items.iter().map(|o| {
            format!(
                "{kind} {}/{}",
                o.metadata.namespace.clone().unwrap_or_default(),
                o.metadata.name.clone().unwrap_or_default()
            )
        }));
        // Jobs and their pods carry the template's labels; the manual Job too.
        if kind == "Job" || kind == "Pod" {
            let all = api.list(&ListParams::default()).await.unwrap();
            left.extend(
                all.items
                    .iter()
                    .filter(|o| {
                        o.metadata
                            .name
                            .as_deref()
                            .is_some_and(|n| n.starts_with("ward-e2e-manual"))
                    })
                    .map(|o| format!("{kind} {}", o.metadata.name.clone().unwrap_or_default())),
            );
        }
    }
    left.sort();
    left.dedup();
    left
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_image_leaves_no_release_and_no_objects() {
    let cluster =
        tokio::task::spawn_blocking(|| RealNode::builder().coredns(false).start().unwrap())
            .await
            .unwrap();
    let client = cluster.client().unwrap();
    let helm = Helm::new()
        .unwrap()
        .with_kubeconfig(cluster.admin_kubeconfig());
    let chart = support::repo().join("deploy/helm/ward");
    // An image no node has and none can pull (no registry is reachable).
    let out = helm
        .run(&[
            "install",
            "bad",
            chart.to_str().unwrap(),
            "-n",
            "bad",
            "--create-namespace",
            "--set",
            "image.repository=localhost/ward-missing/ward",
            "--set",
            "image.tag=0.0.0",
            "--set",
            "e2e.enabled=false",
            "--set",
            "lookup.enabled=false",
            "--wait",
            "--timeout",
            "20s",
            "--rollback-on-failure",
        ])
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the install should fail");
    assert!(
        stderr.starts_with(
            "Error: INSTALLATION FAILED: release bad failed, and has been uninstalled due to \
             rollback-on-failure being set: resource DaemonSet/bad/bad-ward-nurse not ready."
        ),
        "{stderr}"
    );
    // The events the release leaves name the image (docs/helm.md: what to look at).
    let events: Api<Event> = Api::namespaced(client.clone(), "bad");
    let image_event = eventually("an event naming the image", DEADLINE, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find_map(|e| {
            let message = e
                .message
                .filter(|_| e.reason.as_deref() == Some("Failed"))?;
            message
                .starts_with("Failed to pull image \"localhost/ward-missing/ward:0.0.0\"")
                .then_some(message)
        })
    })
    .await;
    assert!(!image_event.is_empty());
    let every_state = [
        "--deployed",
        "--failed",
        "--pending",
        "--superseded",
        "--uninstalling",
    ];
    let mut list = vec!["list", "-A", "-q"];
    list.extend(every_state);
    let releases = helm_ok(&helm, &list);
    assert_eq!(releases.trim(), "", "no release left");
    let left = eventually("nothing of the failed release left", DEADLINE, || async {
        let left = release_objects(&client, "bad").await;
        left.is_empty().then_some(left)
    })
    .await;
    assert!(left.is_empty());
}

/// The active targets of the Prometheus at `addr` whose scrape pool is
/// `serviceMonitor/<namespace>/<name>/0`, as (node label, health).
fn monitor_targets(addr: SocketAddr, monitor: &str) -> Vec<(String, String)> {
    let Some(body) = http_get(addr, "/api/v1/targets?state=active").map(|r| r.body) else {
        return Vec::new();
    };
    let targets: Value = serde_json::from_str(&body).unwrap_or_default();
    let pool = format!("serviceMonitor/{NAMESPACE}/{monitor}/0");
    let mut out: Vec<(String, String)> = targets["data"]["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["scrapePool"] == pool.as_str())
        .map(|t| {
            (
                t["labels"]["node"].as_str().unwrap_or_default().to_string(),
                t["health"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// prometheus-operator for real: with its CRDs installed and the operator
/// running, a Prometheus it manages on a real node discovers ward's pods
/// through the chart's ServiceMonitors (with their node relabelling), scrapes
/// them, and loads every PrometheusRule of the chart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_managed_prometheus_scrapes_ward_through_the_charts_monitors() {
    use ward_testkit::prometheus_operator::{install_crds, Operator};
    use ward_testkit::real_node::{CONFIG_RELOADER, PROMETHEUS};

    let archive = support::image_archive();
    let (repository, tag) = image_reference(&archive);
    let cluster = tokio::task::spawn_blocking(move || {
        let cluster = RealNode::builder().image(archive).start().unwrap();
        for image in [PROMETHEUS, CONFIG_RELOADER] {
            cluster.import_image(&image.archive().unwrap()).unwrap();
        }
        cluster
    })
    .await
    .unwrap();
    eprintln!("real node up in {:?}", cluster.started_in());
    let client = cluster.client().unwrap();
    install_crds(&client).await.unwrap();

    // The chart with nurse and lookup, every ServiceMonitor and PrometheusRule on.
    let helm = Helm::new()
        .unwrap()
        .with_kubeconfig(cluster.admin_kubeconfig());
    let chart = support::repo().join("deploy/helm/ward");
    let mut args: Vec<String> = [
        "install",
        RELEASE,
        chart.to_str().unwrap(),
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "180s",
    ]
    .map(String::from)
    .to_vec();
    for value in [
        format!("image.repository={repository}"),
        format!("image.tag={tag}"),
        "image.pullPolicy=Never".into(),
        "e2e.enabled=false".into(),
        "lookup.hosts={kubernetes.default.svc.cluster.local}".into(),
        "nurse.serviceMonitor.enabled=true".into(),
        "nurse.serviceMonitor.interval=2s".into(),
        "nurse.prometheusRule.enabled=true".into(),
        "lookup.serviceMonitor.enabled=true".into(),
        "lookup.serviceMonitor.interval=2s".into(),
        "lookup.prometheusRule.enabled=true".into(),
        "controlPlane.prometheusRule.enabled=true".into(),
        "controlPlane.slo.enabled=true".into(),
    ] {
        args.extend(["--set".to_string(), value]);
    }
    helm_ok(&helm, &args.iter().map(String::as_str).collect::<Vec<_>>());

    // A Prometheus for the operator to manage: every ServiceMonitor and
    // PrometheusRule of the namespace, with the RBAC to discover the pods.
    let dynamic = |api_version: &str, kind: &str, plural: &str| {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let resource = ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        Api::<DynamicObject>::namespaced_with(client.clone(), NAMESPACE, &resource)
    };
    for (api_version, kind, plural, body) in [
        ("v1", "ServiceAccount", "serviceaccounts", json!({})),
        (
            "rbac.authorization.k8s.io/v1",
            "Role",
            "roles",
            json!({"rules": [
                {"apiGroups": [""], "resources": ["services", "endpoints", "pods"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}
            ]}),
        ),
        (
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            "rolebindings",
            json!({
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "prometheus"},
                "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": NAMESPACE}]
            }),
        ),
        (
            "monitoring.coreos.com/v1",
            "Prometheus",
            "prometheuses",
            json!({"spec": {
                "image": PROMETHEUS.reference,
                "version": "v3.14.0",
                "imagePullPolicy": "Never",
                "replicas": 1,
                "serviceAccountName": "prometheus",
                "serviceMonitorSelector": {},
                "ruleSelector": {},
                "scrapeInterval": "2s",
                "evaluationInterval": "2s"
            }}),
        ),
    ] {
        let mut doc = body;
        doc["apiVersion"] = api_version.into();
        doc["kind"] = kind.into();
        doc["metadata"] = json!({"name": "prometheus", "namespace": NAMESPACE});
        let object: DynamicObject = serde_json::from_value(doc).unwrap();
        dynamic(api_version, kind, plural)
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("creating {kind}: {e}"));
    }
    let operator = tokio::task::spawn_blocking({
        let kubeconfig = cluster.admin_kubeconfig().to_path_buf();
        move || Operator::start(&kubeconfig, NAMESPACE).unwrap()
    })
    .await
    .unwrap();

    // The StatefulSet the operator makes runs, with the config reloader.
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let ip = eventually(
        "the operator's Prometheus pod Ready",
        Duration::from_secs(180),
        || async {
            let pod = pods.get_opt("prometheus-prometheus-0").await.ok()??;
            let status = pod.status?;
            let ready = status
                .conditions?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(status.pod_ip?)
        },
    )
    .await;
    let forward = cluster
        .forward(format!("{ip}:9090").parse().unwrap())
        .unwrap();
    let prometheus = forward.addr();

    // Through the chart's ServiceMonitors: the nurse and the lookup pod, up,
    // with the node label their relabelling adds.
    for monitor in ["ward-nurse", "ward-lookup"] {
        let targets = eventually(
            &format!("{monitor} scraped through its ServiceMonitor"),
            DEADLINE,
            || async {
                let t = monitor_targets(prometheus, monitor);
                (t.len() == 1 && t[0].1 == "up").then_some(t)
            },
        )
        .await;
        assert_eq!(
            targets,
            [("node-a".to_string(), "up".to_string())],
            "{monitor}"
        );
    }
    let series = eventually("the nurse's series in the operator's Prometheus", DEADLINE, || async {
        let s = ward_testkit::prometheus::query(
            prometheus,
            r#"kubenurse_httpclient_requests_total{node="node-a", type="api_server_direct", code="200"}"#,
        )
        .ok()?;
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(series[0]["metric"]["job"], "ward-nurse", "{series:?}");

    // Every PrometheusRule of the chart, loaded.
    let groups = eventually("the chart's rules loaded", DEADLINE, || async {
        let body = http_get(prometheus, "/api/v1/rules")?.body;
        let rules: Value = serde_json::from_str(&body).ok()?;
        let mut names: Vec<String> = rules["data"]["groups"]
            .as_array()?
            .iter()
            .filter_map(|g| g["name"].as_str().map(String::from))
            .collect();
        names.sort();
        (names.len() == 12).then_some(names)
    })
    .await;
    for group in [
        "ward-nurse",
        "ward-lookup",
        "ward-control-plane",
        "sloth-slo-alerts-kubernetes-apiserver-availability",
    ] {
        assert!(
            groups.iter().any(|g| g == group),
            "{group} not in {groups:?}"
        );
    }
    eprintln!("operator log:\n{}", operator.log_tail(5));
}
