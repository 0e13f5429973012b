//! Every manifest under deploy/ is valid: Kubernetes objects parse into their
//! k8s-openapi types without losing a field (unknown fields fail) and are
//! accepted by the real API server in a server-side dry run with strict field
//! validation; ServiceMonitors and PrometheusRules likewise, against
//! prometheus-operator's own CRDs (v0.85.0, installed in the test control
//! plane), and PrometheusRule groups pass `promtool check rules`. The chart,
//! installed with every ServiceMonitor and PrometheusRule switched on into
//! that cluster, finds the CRDs and creates exactly those objects.
//! deploy/helm (the chart they are rendered from, and its values) is not a
//! manifest: crates/ward/tests/helm.rs checks it.

use std::path::{Path, PathBuf};

use kube::api::{Patch, PatchParams};
use kube::Api;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ward_testkit::kube::KubeCluster;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Every YAML document under deploy/, with the file it came from.
fn documents() -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut dirs = vec![deploy_dir()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "helm") {
                    continue;
                }
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                    let value = Value::deserialize(doc)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    if !value.is_null() {
                        out.push((path.clone(), value));
                    }
                }
            }
        }
    }
    out
}

/// Parses `doc` as `T` and checks that serialising it back gives the same document.
fn strict<T: DeserializeOwned + Serialize>(path: &Path, doc: &Value) {
    let typed: T = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{}: {} does not parse: {e}", path.display(), doc["kind"]));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        &back,
        doc,
        "{}: {} has fields its type does not know",
        path.display(),
        doc["kind"]
    );
}

#[test]
fn manifests_parse_strictly_and_pass_a_server_side_dry_run() {
    use k8s_openapi::api::admissionregistration::v1::{
        ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
    };
    use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
    use k8s_openapi::api::batch::v1::CronJob;
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
    use k8s_openapi::api::networking::v1::Ingress;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

    let docs = documents();
    assert!(
        docs.len() >= 6,
        "expected manifests under {}",
        deploy_dir().display()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::shared();
    let client = {
        let _inside = runtime.enter();
        cluster.client().unwrap()
    };
    install_operator_crds(&runtime, &client);
    let mut custom = 0;
    for (path, doc) in &docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        match kind {
            "DaemonSet" => strict::<DaemonSet>(path, doc),
            "Deployment" => strict::<Deployment>(path, doc),
            "CronJob" => strict::<CronJob>(path, doc),
            "Service" => strict::<Service>(path, doc),
            "ServiceAccount" => strict::<ServiceAccount>(path, doc),
            "ConfigMap" => strict::<ConfigMap>(path, doc),
            "Ingress" => strict::<Ingress>(path, doc),
            "Lease" => strict::<Lease>(path, doc),
            "Namespace" => strict::<Namespace>(path, doc),
            "ValidatingAdmissionPolicy" => strict::<ValidatingAdmissionPolicy>(path, doc),
            "ValidatingAdmissionPolicyBinding" => {
                strict::<ValidatingAdmissionPolicyBinding>(path, doc)
            }
            "Role" => strict::<Role>(path, doc),
            "RoleBinding" => strict::<RoleBinding>(path, doc),
            "ClusterRole" => strict::<ClusterRole>(path, doc),
            "ClusterRoleBinding" => strict::<ClusterRoleBinding>(path, doc),
            "PrometheusRule" => {
                custom += 1;
                check_rules(path, doc);
            }
            "ServiceMonitor" => {
                custom += 1;
                assert!(
                    doc["spec"]["endpoints"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty()),
                    "{}",
                    path.display()
                );
            }
            other => panic!("{}: no check for kind {other}", path.display()),
        }
        dry_run(&runtime, &client, path, doc);
    }
    assert_eq!(
        custom, 8,
        "3 ServiceMonitors and 5 PrometheusRules expected"
    );
    // The CRDs' schemas are enforced: a misspelt field is refused.
    let (_, monitor) = docs
        .iter()
        .find(|(_, d)| d["kind"] == "ServiceMonitor")
        .unwrap();
    let mut misspelt = monitor.clone();
    misspelt["spec"]["endpoints"][0]["intervall"] = "30s".into();
    let error = try_dry_run(&runtime, &client, &misspelt)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(".spec.endpoints[0].intervall: field not declared in schema"),
        "{error}"
    );
}

/// Installs prometheus-operator's CRDs and waits until they are served.
fn install_operator_crds(runtime: &tokio::runtime::Runtime, client: &kube::Client) {
    runtime
        .block_on(ward_testkit::prometheus_operator::install_crds(client))
        .unwrap();
}

#[test]
fn the_chart_creates_its_monitoring_objects_where_the_operator_crds_are() {
    use ward_testkit::helm::Helm;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::shared();
    let client = {
        let _inside = runtime.enter();
        cluster.client().unwrap()
    };
    install_operator_crds(&runtime, &client);
    let chart = deploy_dir().join("helm/ward");
    let mut args = vec![
        "install".to_string(),
        "ward".into(),
        chart.display().to_string(),
        "--namespace".into(),
        "ward-monitoring".into(),
        "--create-namespace".into(),
        "--set".into(),
        "e2e.mode=serve".into(),
    ];
    for value in [
        "nurse.serviceMonitor",
        "nurse.prometheusRule",
        "lookup.serviceMonitor",
        "lookup.prometheusRule",
        "e2e.serviceMonitor",
        "e2e.prometheusRule",
        "controlPlane.prometheusRule",
        "controlPlane.slo",
    ] {
        args.extend(["--set".into(), format!("{value}.enabled=true")]);
    }
    let helm = Helm::new()
        .unwrap()
        .with_kubeconfig(cluster.admin_kubeconfig());
    let out = helm
        .run(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    assert!(
        out.status.success(),
        "helm install: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = |kind: &str| -> Vec<String> {
        let doc = serde_json::json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": kind,
            "metadata": {"namespace": "ward-monitoring", "name": "-"},
        });
        let (api, _) = ward_testkit::kube::dynamic_api(&client, &doc);
        let mut names: Vec<String> = runtime
            .block_on(api.list(&Default::default()))
            .unwrap()
            .items
            .into_iter()
            .map(|o| o.metadata.name.unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names("ServiceMonitor"),
        ["ward-e2e-serve", "ward-lookup", "ward-nurse"]
    );
    assert_eq!(
        names("PrometheusRule"),
        [
            "ward-control-plane",
            "ward-control-plane-slo",
            "ward-e2e",
            "ward-lookup",
            "ward-nurse"
        ]
    );
    let out = helm
        .run(&["uninstall", "ward", "--namespace", "ward-monitoring"])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dry_run(runtime: &tokio::runtime::Runtime, client: &kube::Client, path: &Path, doc: &Value) {
    let kind = doc["kind"].as_str().unwrap();
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    try_dry_run(runtime, client, doc).unwrap_or_else(|e| {
        panic!(
            "{}: {kind}/{name} rejected by the API server: {e}",
            path.display()
        )
    });
}

/// A server-side apply of `doc` in dry-run mode with strict field validation.
fn try_dry_run(
    runtime: &tokio::runtime::Runtime,
    client: &kube::Client,
    doc: &Value,
) -> kube::Result<()> {
    let (api, name) = ward_testkit::kube::dynamic_api(client, doc);
    let namespace = doc["metadata"]["namespace"].as_str();
    runtime.block_on(async {
        if let Some(ns) = namespace {
            let _ = cluster_namespace(client, ns).await;
        }
        let mut params = PatchParams::apply("ward-deploy-test").force();
        params.dry_run = true;
        params.field_validation = Some(kube::api::ValidationDirective::Strict);
        api.patch(&name, &params, &Patch::Apply(doc))
            .await
            .map(|_| ())
    })
}

async fn cluster_namespace(client: &kube::Client, ns: &str) -> kube::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(client.clone());
    let body =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    api.patch(
        ns,
        &PatchParams::apply("ward-deploy-test"),
        &Patch::Apply(body),
    )
    .await
    .map(|_| ())
}

fn check_rules(path: &Path, doc: &Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    let groups = serde_json::json!({ "groups": doc["spec"]["groups"] });
    std::fs::write(&file, serde_yaml_ng::to_string(&groups).unwrap()).unwrap();
    let out = ward_testkit::prometheus::promtool_check_rules(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(out.contains("SUCCESS"), "{}: {out}", path.display());
}
