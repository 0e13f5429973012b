//! The Helm chart deploy/helm/ward with the real helm v4 (built by
//! scripts/deps.d/helm.sh): `helm lint --strict` passes; `helm template`
//! renders exactly the expected objects by default and with each component
//! alone (the control plane's rules, and the Grafana dashboards as sidecar
//! ConfigMaps carrying deploy/dashboards/*.json as they are); the nurse's
//! ingress check is on only when an ingress host is given; the plain manifests under deploy/ are what scripts/render-manifests.sh
//! renders from the chart, byte for byte; and bad values (unknown key, bad
//! duration, non-positive interval, unknown e2e mode, a ServiceMonitor without
//! its CRD) fail with a message naming the value. No cluster is involved.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;
use ward_testkit::helm::Helm;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> PathBuf {
    repo().join("deploy/helm/ward")
}

/// `helm args…` with no kubeconfig and a helm home of its own (see ward_testkit::helm).
fn helm(args: &[&str]) -> Output {
    Helm::new().unwrap().run(args).unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template ward <chart> -n ward <extra…>`; panics unless it succeeds.
fn template(extra: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec!["template", "ward", chart.to_str().unwrap(), "-n", "ward"];
    args.extend_from_slice(extra);
    let out = helm(&args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "helm {args:?} failed:\n{stderr}");
    serde_yaml_ng::Deserializer::from_str(&stdout)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

/// `Kind/name` of every object, sorted.
fn objects(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const NURSE: [&str; 9] = [
    "ClusterRole/ward-nurse-nodes",
    "ClusterRoleBinding/ward-nurse-nodes",
    "DaemonSet/ward-nurse",
    "Role/ward-nurse",
    "RoleBinding/ward-nurse",
    "Role/ward-nurse-api-servers",
    "RoleBinding/ward-nurse-api-servers",
    "Service/ward-nurse",
    "ServiceAccount/ward-nurse",
];
const LOOKUP: [&str; 3] = [
    "DaemonSet/ward-lookup",
    "Service/ward-lookup",
    "ServiceAccount/ward-lookup",
];
const E2E_RBAC: [&str; 9] = [
    "ClusterRole/ward-e2e",
    "ClusterRoleBinding/ward-e2e",
    "Role/ward-e2e-lease",
    "RoleBinding/ward-e2e-lease",
    "ServiceAccount/ward-e2e",
    "ValidatingAdmissionPolicy/ward-e2e-namespaces",
    "ValidatingAdmissionPolicyBinding/ward-e2e-namespaces",
    "ValidatingAdmissionPolicy/ward-e2e-objects",
    "ValidatingAdmissionPolicyBinding/ward-e2e-objects",
];
/// No nurse, lookup or e2e: for the optional components alone.
const NO_DEFAULT_COMPONENTS: [&str; 6] = [
    "--set",
    "nurse.enabled=false",
    "--set",
    "lookup.enabled=false",
    "--set",
    "e2e.enabled=false",
];
const ONLY_NURSE: [&str; 4] = [
    "--set",
    "lookup.enabled=false",
    "--set",
    "e2e.enabled=false",
];

#[test]
fn lint_passes_strict() {
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let values = repo().join("deploy/helm/manifests-values.yaml");
    // (In lint mode `fail` only logs: the monitoring objects' CRD check does not stop it.)
    for extra in [
        vec![],
        vec!["--values", values.to_str().unwrap()],
        vec![
            "--set",
            "e2e.mode=serve",
            "--set",
            "nurse.ingress.enabled=true",
            "--set",
            "nurse.ingress.host=nurse.example.org",
            "--set",
            "nurse.ingress.tls.enabled=true",
            "--set",
            "nurse.tls.enabled=true",
            "--set",
            "nurse.tls.certFile=/tls/tls.crt",
            "--set",
            "nurse.tls.certKey=/tls/tls.key",
        ],
    ] {
        let mut args = vec!["lint", "--strict", chart];
        args.extend_from_slice(&extra);
        let out = helm(&args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "helm {args:?}:\n{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{stdout}"
        );
    }
}

#[test]
fn default_values_render_every_component() {
    let docs = template(&[]);
    let mut want = set(&NURSE);
    want.extend(set(&LOOKUP));
    want.extend(set(&E2E_RBAC));
    want.extend(set(&["CronJob/ward-e2e", "CronJob/ward-e2e-sweep"]));
    assert_eq!(objects(&docs), want);
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        let cluster_scoped = kind.starts_with("Cluster") || kind.starts_with("ValidatingAdmission");
        let ns = doc["metadata"]["namespace"].as_str();
        // The grant to read the kubernetes Service's EndpointSlices lives where they do.
        let home = match doc["metadata"]["name"].as_str() {
            Some("ward-nurse-api-servers") => "default",
            _ => "ward",
        };
        assert_eq!(
            ns,
            (!cluster_scoped).then_some(home),
            "{kind} {}: namespace",
            doc["metadata"]["name"]
        );
    }
    // Every pod runs the image of the chart's appVersion, hardened.
    let chart_yaml = std::fs::read_to_string(chart().join("Chart.yaml")).unwrap();
    let app_version = chart_yaml
        .lines()
        .find_map(|l| l.strip_prefix("appVersion: "))
        .unwrap()
        .trim_matches('"');
    let image = format!("ghcr.io/ward-dev/ward:{app_version}");
    let mut pods = 0;
    for doc in &docs {
        let spec = match doc["kind"].as_str().unwrap() {
            "DaemonSet" | "Deployment" => &doc["spec"]["template"]["spec"],
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        pods += 1;
        let name = &doc["metadata"]["name"];
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(spec["securityContext"]["runAsUser"], 65532, "{name}");
        assert_eq!(
            spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        let c = &spec["containers"][0];
        assert_eq!(c["image"], image.as_str(), "{name}");
        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{name}");
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{name}"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"], false,
            "{name}"
        );
        assert_eq!(
            c["securityContext"]["capabilities"]["drop"][0], "ALL",
            "{name}"
        );
        assert!(c["resources"]["requests"]["memory"].is_string(), "{name}");
        assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");
    }
    assert_eq!(pods, 4);
}

#[test]
fn each_component_renders_alone() {
    let nurse = template(&ONLY_NURSE);
    assert_eq!(objects(&nurse), set(&NURSE));

    let lookup = template(&["--set", "nurse.enabled=false", "--set", "e2e.enabled=false"]);
    assert_eq!(objects(&lookup), set(&LOOKUP));

    let no_agents = [
        "--set",
        "nurse.enabled=false",
        "--set",
        "lookup.enabled=false",
    ];
    let mut want = set(&E2E_RBAC);
    want.extend(set(&["CronJob/ward-e2e", "CronJob/ward-e2e-sweep"]));
    assert_eq!(objects(&template(&no_agents)), want);

    let mut serve_args = no_agents.to_vec();
    serve_args.extend(["--set", "e2e.mode=serve"]);
    let mut want = set(&E2E_RBAC);
    want.extend(set(&[
        "Deployment/ward-e2e-serve",
        "Service/ward-e2e-serve",
    ]));
    assert_eq!(objects(&template(&serve_args)), want);

    // Monitoring objects, once the cluster has the Prometheus Operator CRDs.
    let enable: Vec<String> = ["nurse", "lookup", "e2e"]
        .iter()
        .flat_map(|c| ["serviceMonitor", "prometheusRule"].map(|v| format!("{c}.{v}.enabled=true")))
        .collect();
    let mut monitored = vec![
        "--set",
        "e2e.mode=serve",
        "--api-versions",
        "monitoring.coreos.com/v1/ServiceMonitor",
        "--api-versions",
        "monitoring.coreos.com/v1/PrometheusRule",
    ];
    for value in &enable {
        monitored.extend(["--set", value.as_str()]);
    }
    let all = objects(&template(&monitored));
    for extra in [
        "ServiceMonitor/ward-nurse",
        "PrometheusRule/ward-nurse",
        "ServiceMonitor/ward-lookup",
        "PrometheusRule/ward-lookup",
        "ServiceMonitor/ward-e2e-serve",
        "PrometheusRule/ward-e2e",
    ] {
        assert!(all.contains(extra), "{extra} missing from {all:?}");
    }

    // The control plane's alerts and SLO rules: nothing else, in the release
    // namespace, thresholds from the values.
    let mut control_plane = NO_DEFAULT_COMPONENTS.to_vec();
    control_plane.extend([
        "--api-versions",
        "monitoring.coreos.com/v1/PrometheusRule",
        "--set",
        "controlPlane.prometheusRule.enabled=true",
        "--set",
        "controlPlane.slo.enabled=true",
    ]);
    let docs = template(&control_plane);
    let named = |docs: &[Value], name: &str| {
        docs.iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    assert_eq!(
        objects(&docs),
        set(&[
            "PrometheusRule/ward-control-plane",
            "PrometheusRule/ward-control-plane-slo"
        ])
    );
    let slo = &named(&docs, "ward-control-plane-slo")["spec"]["groups"];
    assert_eq!(
        slo.as_array().map(Vec::len),
        Some(9),
        "three SLOs, three groups each: {slo}"
    );
    control_plane.extend([
        "--set",
        "controlPlane.prometheusRule.etcdLeaderChangesPerHour=5",
        "--set",
        "controlPlane.prometheusRule.apiServerImbalancePercent=150",
    ]);
    let alerts = named(&template(&control_plane), "ward-control-plane");
    let rules = &alerts["spec"]["groups"][0]["rules"];
    assert_eq!(
        rules[0]["expr"].as_str().unwrap().trim(),
        "floor(increase(etcd_server_leader_changes_seen_total[1h])) > 5"
    );
    assert!(
        rules[1]["expr"]
            .as_str()
            .unwrap()
            .contains("[15m]))) * 150 / 100)"),
        "{}",
        rules[1]["expr"]
    );
}

#[test]
fn dashboards_are_configmaps_for_the_grafana_sidecar_when_enabled() {
    let dashboards_dir = repo().join("deploy/dashboards");
    let mut want: Vec<String> = std::fs::read_dir(&dashboards_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    want.sort();
    assert_eq!(want.len(), 5, "{want:?}");
    // Off by default.
    assert!(!objects(&template(&[]))
        .iter()
        .any(|o| o.starts_with("ConfigMap/")));

    let mut args = NO_DEFAULT_COMPONENTS.to_vec();
    args.extend([
        "--set",
        "dashboards.enabled=true",
        "--set",
        "dashboards.namespace=monitoring",
        "--set",
        "dashboards.annotations.grafana_folder=ward",
    ]);
    let docs = template(&args);
    assert_eq!(docs.len(), want.len());
    for (doc, file) in docs.iter().zip(&want) {
        let stem = file.trim_end_matches(".json");
        assert_eq!(doc["kind"], "ConfigMap");
        assert_eq!(doc["metadata"]["name"], format!("ward-dashboard-{stem}"));
        assert_eq!(doc["metadata"]["namespace"], "monitoring");
        assert_eq!(doc["metadata"]["labels"]["grafana_dashboard"], "1");
        assert_eq!(doc["metadata"]["annotations"]["grafana_folder"], "ward");
        let json = std::fs::read_to_string(dashboards_dir.join(file)).unwrap();
        assert_eq!(
            doc["data"][file].as_str(),
            Some(json.as_str()),
            "{file}: the ConfigMap carries deploy/dashboards/{file} as it is"
        );
    }
}

/// The nurse container's env var `name`: Some(value), or None when not set.
fn nurse_env(docs: &[Value], name: &str) -> Option<String> {
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("nurse DaemonSet");
    ds["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().unwrap_or_default().to_string())
}

#[test]
fn the_ingress_check_runs_only_with_an_ingress_host() {
    let off = template(&ONLY_NURSE);
    assert_eq!(nurse_env(&off, "KUBENURSE_INGRESS_URL"), None);
    assert_eq!(
        nurse_env(&off, "KUBENURSE_CHECK_ME_INGRESS").as_deref(),
        Some("false")
    );
    assert!(!objects(&off).contains("Ingress/ward-nurse"));

    let mut args = ONLY_NURSE.to_vec();
    args.extend([
        "--set",
        "nurse.ingress.enabled=true",
        "--set",
        "nurse.ingress.host=nurse.example.org",
    ]);
    let on = template(&args);
    assert_eq!(
        nurse_env(&on, "KUBENURSE_INGRESS_URL").as_deref(),
        Some("http://nurse.example.org")
    );
    assert_eq!(
        nurse_env(&on, "KUBENURSE_CHECK_ME_INGRESS").as_deref(),
        Some("true")
    );
    let ingress = on.iter().find(|d| d["kind"] == "Ingress").expect("Ingress");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "nurse.example.org");
    assert_eq!(rule["http"]["paths"][0]["path"], "/alwayshappy");
    assert_eq!(rule["http"]["paths"][0]["pathType"], "Exact");

    args.extend(["--set", "nurse.ingress.tls.enabled=true"]);
    let tls = template(&args);
    assert_eq!(
        nurse_env(&tls, "KUBENURSE_INGRESS_URL").as_deref(),
        Some("https://nurse.example.org")
    );

    // The check switched off by hand stays off with a host.
    args.extend(["--set", "nurse.checks.meIngress=false"]);
    let manual = template(&args);
    assert_eq!(
        nurse_env(&manual, "KUBENURSE_CHECK_ME_INGRESS").as_deref(),
        Some("false")
    );
}

/// The object `kind`/`name` of a rendering.
fn object<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

/// A Role's or ClusterRole's rules, one `apiGroups|resources|verbs` line
/// each (`|resourceNames` appended when the rule names objects).
fn rules(role: &Value) -> Vec<String> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let join = |key: &str| {
                r[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut line = format!(
                "{}|{}|{}",
                join("apiGroups"),
                join("resources"),
                join("verbs")
            );
            if r["resourceNames"].is_array() {
                line.push('|');
                line.push_str(&join("resourceNames"));
            }
            line
        })
        .collect()
}

/// The optional SLO controller: its objects only when enabled (the CRD kept
/// on uninstall, or left to sloth's chart), least RBAC (no delete on rules:
/// the garbage collector deletes them), hardened pods, and a clear failure
/// where the cluster has no PrometheusRule CRD.
#[test]
fn the_slo_controller_renders_only_when_enabled_with_least_rbac() {
    let mut only = NO_DEFAULT_COMPONENTS.to_vec();
    only.extend([
        "--set",
        "sloController.enabled=true",
        "--api-versions",
        "monitoring.coreos.com/v1/PrometheusRule",
    ]);
    let docs = template(&only);
    let controller = [
        "ClusterRole/ward-slo-controller",
        "ClusterRoleBinding/ward-slo-controller",
        "Deployment/ward-slo-controller",
        "Role/ward-slo-controller-lease",
        "RoleBinding/ward-slo-controller-lease",
        "Service/ward-slo-controller",
        "ServiceAccount/ward-slo-controller",
    ];
    let mut want = set(&controller);
    want.insert("CustomResourceDefinition/prometheusservicelevels.sloth.slok.dev".into());
    assert_eq!(objects(&docs), want);
    let crd = object(
        &docs,
        "CustomResourceDefinition",
        "prometheusservicelevels.sloth.slok.dev",
    );
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        rules(object(&docs, "ClusterRole", "ward-slo-controller")),
        [
            "sloth.slok.dev|prometheusservicelevels|get,list,watch",
            "sloth.slok.dev|prometheusservicelevels/status|patch",
            "monitoring.coreos.com|prometheusrules|create,get,list,watch,update",
        ]
    );
    let lease = object(&docs, "Role", "ward-slo-controller-lease");
    assert_eq!(lease["metadata"]["namespace"], "ward");
    assert_eq!(
        rules(lease),
        [
            "coordination.k8s.io|leases|create",
            "coordination.k8s.io|leases|get,update,delete|ward-slo-controller",
        ]
    );
    let deployment = object(&docs, "Deployment", "ward-slo-controller");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(pod["serviceAccountName"], "ward-slo-controller");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        c["args"],
        serde_json::json!([
            "slo",
            "controller",
            "--metrics-listen-addr=:8081",
            "--resync-interval=15m",
            "--workers=5",
            "--lease-duration=15s",
            "--default-slo-period=30d"
        ])
    );
    only.extend(["--set", "sloController.installCRD=false"]);
    assert_eq!(objects(&template(&only)), set(&controller));
    fails(
        &["--set", "sloController.enabled=true"],
        "sloController.enabled is true but the cluster has no monitoring.coreos.com/v1 PrometheusRule CRD",
    );
}

/// docs/security.md's RBAC table, held: with default values the chart grants
/// exactly these rules, each bound to its own component's ServiceAccount;
/// lookup gets no grant and no token; the nurse verifies TLS; no pod uses the
/// host's network or a volume that outlives it; the agents' Services stay
/// inside the cluster.
#[test]
fn the_chart_grants_exactly_the_documented_rbac_and_nothing_persists() {
    let docs = template(&[]);
    let roles: BTreeSet<String> = objects(&docs)
        .into_iter()
        .filter(|o| o.starts_with("Role/") || o.starts_with("ClusterRole/"))
        .collect();
    assert_eq!(
        roles,
        set(&[
            "ClusterRole/ward-e2e",
            "ClusterRole/ward-nurse-nodes",
            "Role/ward-e2e-lease",
            "Role/ward-nurse",
            "Role/ward-nurse-api-servers",
        ])
    );
    assert_eq!(
        rules(object(&docs, "Role", "ward-nurse")),
        ["|pods|get,list,watch"]
    );
    // The per-instance API-server checks read the kubernetes Service's
    // EndpointSlices, in default only.
    let api_servers = object(&docs, "Role", "ward-nurse-api-servers");
    assert_eq!(api_servers["metadata"]["namespace"], "default");
    assert_eq!(
        rules(api_servers),
        ["discovery.k8s.io|endpointslices|get,list,watch"]
    );
    assert_eq!(
        object(&docs, "RoleBinding", "ward-nurse-api-servers")["metadata"]["namespace"],
        "default"
    );
    assert_eq!(
        rules(object(&docs, "ClusterRole", "ward-nurse-nodes")),
        ["|nodes|get,list,watch"]
    );
    assert_eq!(
        rules(object(&docs, "Role", "ward-e2e-lease")),
        ["coordination.k8s.io|leases|get,create,update,delete"]
    );
    assert_eq!(
        rules(object(&docs, "ClusterRole", "ward-e2e")),
        [
            "|namespaces|create,delete,get,list",
            "|configmaps|create,get,list,patch,delete",
            "apps|deployments|create,get,patch,delete",
            "|pods|list",
            "|services|create,get,delete",
            "discovery.k8s.io|endpointslices|list",
            "|persistentvolumeclaims|create,get,delete",
            "batch|jobs|create,get,delete",
            "|persistentvolumes|get",
            "storage.k8s.io|storageclasses|get,list",
            "|serviceaccounts|create",
            "|serviceaccounts/token|create",
            "rbac.authorization.k8s.io|roles,rolebindings|create",
        ]
    );
    // Each binding: its own role, to its own component's ServiceAccount only.
    for (kind, name, role_kind, account) in [
        ("RoleBinding", "ward-nurse", "Role", "ward-nurse"),
        (
            "RoleBinding",
            "ward-nurse-api-servers",
            "Role",
            "ward-nurse",
        ),
        (
            "ClusterRoleBinding",
            "ward-nurse-nodes",
            "ClusterRole",
            "ward-nurse",
        ),
        ("ClusterRoleBinding", "ward-e2e", "ClusterRole", "ward-e2e"),
        ("RoleBinding", "ward-e2e-lease", "Role", "ward-e2e"),
    ] {
        let binding = object(&docs, kind, name);
        assert_eq!(binding["roleRef"]["kind"], role_kind, "{kind}/{name}");
        assert_eq!(binding["roleRef"]["name"], name, "{kind}/{name}");
        assert_eq!(
            binding["subjects"],
            serde_json::json!([{"kind": "ServiceAccount", "name": account, "namespace": "ward"}]),
            "{kind}/{name}"
        );
    }
    // lookup: no grant, and no token in its pods.
    let lookup_sa = object(&docs, "ServiceAccount", "ward-lookup");
    assert_eq!(lookup_sa["automountServiceAccountToken"], false);
    let lookup = object(&docs, "DaemonSet", "ward-lookup");
    assert_eq!(
        lookup["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
    // The nurse verifies every TLS peer and trusts no extra CA by default.
    let nurse = template(&ONLY_NURSE);
    assert_eq!(
        nurse_env(&nurse, "KUBENURSE_INSECURE").as_deref(),
        Some("false")
    );
    assert_eq!(nurse_env(&nurse, "KUBENURSE_EXTRA_CA"), None);
    assert_eq!(
        nurse_env(&nurse, "WARD_NURSE_CHECK_API_SERVER_INSTANCES").as_deref(),
        Some("true")
    );
    // Without the per-instance checks, no grant in default.
    let mut args = ONLY_NURSE.to_vec();
    args.extend(["--set", "nurse.checks.apiServerInstances=false"]);
    let without = template(&args);
    assert_eq!(
        nurse_env(&without, "WARD_NURSE_CHECK_API_SERVER_INSTANCES").as_deref(),
        Some("false")
    );
    assert!(
        !objects(&without)
            .iter()
            .any(|o| o.ends_with("/ward-nurse-api-servers")),
        "{:?}",
        objects(&without)
    );
    // No pod shares the host's namespaces, runs privileged or keeps data:
    // the only volume is the e2e run's emptyDir /tmp (its JUnit file).
    for doc in &docs {
        let spec = match doc["kind"].as_str().unwrap() {
            "DaemonSet" | "Deployment" => &doc["spec"]["template"]["spec"],
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        let name = doc["metadata"]["name"].as_str().unwrap();
        for host in ["hostNetwork", "hostPID", "hostIPC"] {
            assert!(spec[host].is_null(), "{name}: {host}");
        }
        let c = &spec["containers"][0];
        assert!(c["securityContext"]["privileged"].is_null(), "{name}");
        assert!(
            c["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|p| p["hostPort"].is_null()),
            "{name}: hostPort"
        );
        let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        let want = if name == "ward-e2e" {
            serde_json::json!([{"name": "tmp", "emptyDir": {}}])
        } else {
            serde_json::json!([])
        };
        assert_eq!(Value::Array(volumes), want, "{name}: volumes");
    }
    for service in ["ward-nurse", "ward-lookup"] {
        assert_eq!(
            object(&docs, "Service", service)["spec"]["type"],
            "ClusterIP",
            "{service}"
        );
    }
}

/// Every `*.yaml` under `dir`, by file name.
fn yaml_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect()
}

#[test]
fn plain_manifests_are_rendered_from_the_chart() {
    let out = tempfile::tempdir().unwrap();
    let helm = Helm::new().unwrap();
    let run = helm
        .environment(&mut Command::new("bash"))
        .arg(repo().join("scripts/render-manifests.sh"))
        .arg(out.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&run);
    assert!(
        run.status.success(),
        "render-manifests.sh failed:\n{stdout}\n{stderr}"
    );
    let fix = "run `bash scripts/render-manifests.sh` and commit the result";
    for component in ["nurse", "lookup", "e2e", "control-plane"] {
        let committed = repo().join("deploy").join(component);
        let rendered = out.path().join(component);
        assert_eq!(
            yaml_files(&committed),
            yaml_files(&rendered),
            "deploy/{component}/ holds other files than the chart renders: {fix}"
        );
        for name in yaml_files(&rendered) {
            let want = std::fs::read_to_string(rendered.join(&name)).unwrap();
            let have = std::fs::read_to_string(committed.join(&name)).unwrap();
            if want != have {
                let line = want
                    .lines()
                    .zip(have.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.lines().count().min(have.lines().count()));
                panic!(
                    "deploy/{component}/{name} differs from the chart's rendering (first at line {}): {fix}",
                    line + 1
                );
            }
        }
    }
    // What the plain manifests are for: usable as they are.
    let ds = std::fs::read_to_string(repo().join("deploy/nurse/daemonset.yaml")).unwrap();
    assert!(
        ds.starts_with("# Generated by scripts/render-manifests.sh"),
        "{ds}"
    );
    assert!(ds.contains("image: ghcr.io/ward-dev/ward:"), "{ds}");
    assert!(!ds.contains("helm.sh/chart"), "{ds}");
    assert!(!ds.contains("KUBENURSE_INGRESS_URL"), "{ds}");
}

/// `helm template` with `extra` must fail, and its error contain `want`.
fn fails(extra: &[&str], want: &str) {
    let chart = chart();
    let mut args = vec!["template", "ward", chart.to_str().unwrap(), "-n", "ward"];
    args.extend_from_slice(extra);
    let out = helm(&args);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "helm {extra:?} succeeded:\n{stdout}");
    assert!(
        stderr.contains(want),
        "helm {extra:?}: expected {want:?} in:\n{stderr}"
    );
    assert!(
        stdout.is_empty(),
        "helm {extra:?} printed manifests:\n{stdout}"
    );
}

#[test]
fn bad_values_fail_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "nurse:\n  checkIntervall: 10s\n").unwrap();
    let typo = typo.to_str().unwrap();
    let unitless = dir.path().join("unitless.yaml");
    std::fs::write(&unitless, "lookup:\n  timeout: \"2\"\n").unwrap();
    let unitless = unitless.to_str().unwrap();
    for (args, want) in [
        // an unknown key, in a values file and on the command line
        (
            vec!["-f", typo],
            "- at '/nurse': additional properties 'checkIntervall' not allowed",
        ),
        (
            vec!["--set", "nurse.checkinterval=10s"],
            "- at '/nurse': additional properties 'checkinterval' not allowed",
        ),
        // an unknown component
        (
            vec!["--set", "slo.enabled=true"],
            "- at '': additional properties 'slo' not allowed",
        ),
        // malformed, negative and zero durations
        (
            vec!["--set", "nurse.checkInterval=5 seconds"],
            "- at '/nurse/checkInterval': '5 seconds' does not match pattern",
        ),
        (
            vec!["-f", unitless],
            "- at '/lookup/timeout': '2' does not match pattern",
        ),
        (
            vec!["--set", "nurse.checkInterval=-5s"],
            "- at '/nurse/checkInterval': '-5s' does not match pattern",
        ),
        (
            vec!["--set", "nurse.checkInterval=0s"],
            "- at '/nurse/checkInterval': '0s' does not match pattern",
        ),
        (
            vec!["--set", "lookup.interval=-1s"],
            "- at '/lookup/interval': '-1s' does not match pattern",
        ),
        (
            vec!["--set", "e2e.timeouts.test=0m"],
            "- at '/e2e/timeouts/test': '0m' does not match pattern",
        ),
        (
            vec!["--set", "e2e.timeouts.test=10"],
            "- at '/e2e/timeouts/test': got number, want string",
        ),
        (
            vec!["--set", "controlPlane.prometheusRule.etcdLeaderChangesPerHour=0"],
            "- at '/controlPlane/prometheusRule/etcdLeaderChangesPerHour': minimum: got 0, want 1",
        ),
        (
            vec!["--set", "controlPlane.prometheusRule.apiServerImbalancePercent=100"],
            "- at '/controlPlane/prometheusRule/apiServerImbalancePercent': minimum: got 100, want 101",
        ),
        (
            vec!["--set", "controlPlane.slo.enabled=true"],
            "controlPlane.slo.enabled is true but the cluster has no monitoring.coreos.com/v1 PrometheusRule CRD",
        ),
        (
            vec!["--set", "nurse.neighbourLimit=-1"],
            "- at '/nurse/neighbourLimit': minimum: got -1, want 0",
        ),
        // an unknown e2e mode or test
        (
            vec!["--set", "e2e.mode=daemon"],
            "- at '/e2e/mode': value must be one of 'cronjob', 'serve'",
        ),
        (
            vec!["--set", "e2e.only={dns}"],
            "- at '/e2e/only/0': value must be one of 'api', 'deployment', 'storage', 'networking', 'rbac'",
        ),
        // what the templates check
        (
            vec!["--set", "nurse.serviceMonitor.enabled=true"],
            "nurse.serviceMonitor.enabled is true but the cluster has no monitoring.coreos.com/v1 ServiceMonitor CRD; install the Prometheus Operator CRDs or set nurse.serviceMonitor.enabled=false",
        ),
        (
            vec!["--set", "lookup.prometheusRule.enabled=true"],
            "lookup.prometheusRule.enabled is true but the cluster has no monitoring.coreos.com/v1 PrometheusRule CRD; install the Prometheus Operator CRDs or set lookup.prometheusRule.enabled=false",
        ),
        (
            vec!["--set", "e2e.mode=serve", "--set", "e2e.serviceMonitor.enabled=true"],
            "e2e.serviceMonitor.enabled is true but the cluster has no monitoring.coreos.com/v1 ServiceMonitor CRD",
        ),
        (
            vec!["--set", "nurse.ingress.enabled=true"],
            "nurse.ingress.enabled is true but nurse.ingress.host is empty",
        ),
        (
            vec!["--set", "image.repository="],
            "nurse.image.repository and image.repository are both empty",
        ),
    ] {
        fails(&args, want);
    }
}
