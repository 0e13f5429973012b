//! `ward slo controller` on the testkit control plane (a real kube-apiserver,
//! etcd, and kube-controller-manager with its garbage collector), running as
//! the chart's ServiceAccount with exactly the chart's RBAC: a missing CRD is a
//! one-line error and exit 1; a PrometheusServiceLevel gets its owned
//! PrometheusRule and a status; an update rewrites the rule; an invalid spec
//! keeps the last good rule and its status names the field; a rule of the same
//! name it does not own is left alone; deleting the object deletes its rule;
//! of two replicas only the Lease holder writes, and when it is killed the
//! other takes over.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{json, Value};
use ward_testkit::helm::Helm;
use ward_testkit::kube::{dynamic_api, install_crds, KubeCluster};
use ward_testkit::net::{free_port, http_get};
use ward_testkit::process::{Process, Signal};
use ward_testkit::wait;

/// How long the controller may take to act on a change.
const ACT: Duration = Duration::from_secs(60);
/// The chart's namespace (where the Deployment and its Lease live).
const HOME: &str = "ward";
/// Where the PrometheusServiceLevels live.
const SHOP: &str = "shop";
/// The Lease duration the replicas run with (a killed leader blocks this long).
const LEASE: &str = "4s";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crd_file() -> PathBuf {
    repo().join("deploy/helm/ward/files/crds/sloth.slok.dev_prometheusservicelevels.yaml")
}

/// The chart's ServiceAccount and RBAC for the controller, applied as they render.
fn apply_chart_rbac(runtime: &tokio::runtime::Runtime, client: &kube::Client) {
    let out = Helm::new()
        .unwrap()
        .run(&[
            "template",
            "ward",
            repo().join("deploy/helm/ward").to_str().unwrap(),
            "--namespace",
            HOME,
            "--set",
            "sloController.enabled=true",
            "--api-versions",
            "monitoring.coreos.com/v1/PrometheusRule",
            "--show-only",
            "templates/slo-controller/rbac.yaml",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut kinds = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc: Value = serde::Deserialize::deserialize(doc).unwrap();
        if doc.is_null() {
            continue;
        }
        kinds.push(doc["kind"].as_str().unwrap().to_string());
        let (api, _) = dynamic_api(client, &doc);
        let object: DynamicObject = serde_json::from_value(doc).unwrap();
        runtime
            .block_on(api.create(&PostParams::default(), &object))
            .unwrap();
    }
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding"
        ]
    );
}

/// `ward slo controller` as replica `name`, with the ServiceAccount's kubeconfig.
fn controller(kubeconfig: &Path, name: &str, dir: &Path, port: u16) -> Process {
    let mut p = Process::spawn_with(
        name,
        Path::new(env!("CARGO_BIN_EXE_ward")),
        [
            "slo".to_string(),
            "controller".into(),
            format!("--metrics-listen-addr=127.0.0.1:{port}"),
            format!("--lease-namespace={HOME}"),
            format!("--lease-duration={LEASE}"),
            "--resync-interval=1h".into(),
        ],
        &dir.join(format!("{name}.log")),
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("HOSTNAME", name),
            ("WARD_LOG", "info"),
        ],
    )
    .unwrap();
    p.wait_ready(Duration::from_secs(30), || {
        http_get(([127, 0, 0, 1], port).into(), "/healthz").is_some()
    })
    .unwrap();
    p
}

/// The replica's `/metrics` line for `series`, as a number.
fn metric(port: u16, series: &str) -> Option<f64> {
    let body = http_get(([127, 0, 0, 1], port).into(), "/metrics")?.body;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn api(client: &kube::Client, api_version: &str, kind: &str) -> Api<DynamicObject> {
    dynamic_api(
        client,
        &json!({"apiVersion": api_version, "kind": kind, "metadata": {"namespace": SHOP, "name": "-"}}),
    )
    .0
}

fn availability(objective: f64, error_query: &str) -> Value {
    json!({
        "service": "checkout",
        "slos": [{
            "name": "requests",
            "objective": objective,
            "sli": {"events": {
                "errorQuery": error_query,
                "totalQuery": "sum(rate(http_requests_total[{{.window}}]))",
            }},
            "alerting": {"pageAlert": {"disable": true}, "ticketAlert": {"disable": true}},
        }],
    })
}

const ERRORS: &str = "sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))";

/// The `slo:objective:ratio` expression of the rule, once it exists.
fn objective_of(runtime: &tokio::runtime::Runtime, rules: &Api<DynamicObject>) -> Option<String> {
    let rule = runtime.block_on(rules.get_opt("checkout")).ok()??;
    rule.data["spec"]["groups"]
        .as_array()?
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .find(|r| r["record"] == "slo:objective:ratio")
        .and_then(|r| r["expr"].as_str().map(str::to_string))
}

#[test]
fn the_controller_writes_owned_rules_with_a_status_and_hands_over() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cluster = KubeCluster::start().unwrap();
    let client = {
        let _inside = runtime.enter();
        cluster.client().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(cluster.create_namespace(HOME)).unwrap();
    runtime.block_on(cluster.create_namespace(SHOP)).unwrap();
    apply_chart_rbac(&runtime, &client);
    let sa = runtime
        .block_on(cluster.service_account_kubeconfig(HOME, "ward-slo-controller"))
        .unwrap();

    // No CRDs: one line naming the missing one, exit 1.
    let missing = |want: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_ward"))
            .args(["slo", "controller", "--leader-elect=false"])
            .arg(format!("--metrics-listen-addr=127.0.0.1:{}", free_port()))
            .env("KUBECONFIG", &sa.path)
            .env("WARD_LOG", "error")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("ward: {want}\n")
        );
    };
    missing(
        "the PrometheusServiceLevel CRD (prometheusservicelevels.sloth.slok.dev, version v1) is not installed \
         in the cluster: install it with the chart (sloController.installCRD=true) or sloth's",
    );
    runtime
        .block_on(install_crds(&client, "ward CRDs", &[crd_file()]))
        .unwrap();
    missing(
        "the PrometheusRule CRD (prometheusrules.monitoring.coreos.com, version v1) is not installed \
         in the cluster: install prometheus-operator's CRDs",
    );
    runtime
        .block_on(ward_testkit::prometheus_operator::install_crds(&client))
        .unwrap();

    // Two replicas: the first takes the Lease, the second waits.
    let (port_a, port_b) = (free_port(), free_port());
    let a = controller(&sa.path, "replica-a", dir.path(), port_a);
    wait::expect("replica-a leads", ACT, || {
        metric(port_a, "ward_slo_controller_leader") == Some(1.0)
    });
    let mut b = controller(&sa.path, "replica-b", dir.path(), port_b);
    wait::expect("replica-b serves metrics", ACT, || {
        metric(port_b, "ward_slo_controller_leader") == Some(0.0)
    });

    // Create: the rule, owned by the object, and the status.
    let levels = api(&client, "sloth.slok.dev/v1", "PrometheusServiceLevel");
    let rules = api(&client, "monitoring.coreos.com/v1", "PrometheusRule");
    let level: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "sloth.slok.dev/v1",
        "kind": "PrometheusServiceLevel",
        "metadata": {"name": "checkout", "namespace": SHOP, "labels": {"team": "payments"}},
        "spec": availability(99.9, ERRORS),
    }))
    .unwrap();
    let created = runtime
        .block_on(levels.create(&PostParams::default(), &level))
        .unwrap();
    let status = |levels: &Api<DynamicObject>| {
        runtime
            .block_on(levels.get("checkout"))
            .map(|l| l.data["status"].clone())
            .unwrap_or(Value::Null)
    };
    let ready = |levels: &Api<DynamicObject>, generation: i64| {
        let s = status(levels);
        (s["observedGeneration"] == generation && s["conditions"][0]["type"] == "Ready")
            .then_some(s)
    };
    let s = wait::expect_value("status of generation 1", ACT, || ready(&levels, 1));
    assert_eq!(
        (
            &s["processedSLOs"],
            &s["promOpRulesGenerated"],
            &s["promOpRulesGeneratedSLOs"],
            &s["generatedRules"],
        ),
        (&json!(1), &json!(true), &json!(1), &json!(15)),
        "{s}"
    );
    assert!(s["lastPromOpRulesSuccessfulGenerated"].is_string(), "{s}");
    let cond = &s["conditions"][0];
    assert_eq!(
        (&cond["status"], &cond["reason"], &cond["message"]),
        (
            &json!("True"),
            &json!("RulesGenerated"),
            &json!("15 rules for 1 SLOs in PrometheusRule shop/checkout")
        )
    );
    let rule = runtime.block_on(rules.get("checkout")).unwrap();
    let owner = &rule.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            &owner.uid,
            owner.controller
        ),
        (
            "PrometheusServiceLevel",
            "checkout",
            created.metadata.uid.as_ref().unwrap(),
            Some(true)
        )
    );
    let labels = rule.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels,
        [
            ("app.kubernetes.io/component", "SLO"),
            ("app.kubernetes.io/managed-by", "sloth"),
            ("team", "payments")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into()
    );
    let groups: Vec<&str> = rule.data["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "sloth-slo-sli-recordings-checkout-requests",
            "sloth-slo-meta-recordings-checkout-requests"
        ]
    );
    let info = rule.data["spec"]["groups"][1]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record"] == "sloth_slo_info")
        .unwrap();
    assert_eq!(info["labels"]["sloth_mode"], "ctrl-gen-k8s", "{info}");
    assert_eq!(
        objective_of(&runtime, &rules).as_deref(),
        Some("vector(0.9990000000000001)")
    );

    // Update: the rule follows.
    let spec = |objective: f64, errors: &str| {
        Patch::Merge(json!({"spec": availability(objective, errors)}))
    };
    runtime
        .block_on(levels.patch("checkout", &PatchParams::default(), &spec(99.0, ERRORS)))
        .unwrap();
    wait::expect("the rule at objective 99", ACT, || {
        objective_of(&runtime, &rules).as_deref() == Some("vector(0.99)")
    });
    wait::expect_value("status of generation 2", ACT, || ready(&levels, 2));

    // Invalid: the status names the field; the last good rule stays.
    runtime
        .block_on(levels.patch(
            "checkout",
            &PatchParams::default(),
            &spec(99.5, "sum(rate(x[{{.window}}])"),
        ))
        .unwrap();
    let s = wait::expect_value("status of generation 3", ACT, || ready(&levels, 3));
    let cond = &s["conditions"][0];
    assert_eq!(
        (&cond["status"], &cond["reason"], &cond["message"]),
        (
            &json!("False"),
            &json!("InvalidSpec"),
            &json!(
                "shop/checkout: invalid slo \"checkout-requests\" (field sli.events.error_query): slo processor failed: \
                 invalid slo \"checkout-requests\": invalid SLI: sli error query expression: parse error: unclosed left parenthesis"
            )
        )
    );
    assert_eq!(
        (
            &s["promOpRulesGenerated"],
            &s["promOpRulesGeneratedSLOs"],
            &s["generatedRules"]
        ),
        (&json!(false), &json!(0), &json!(0))
    );
    assert_eq!(
        objective_of(&runtime, &rules).as_deref(),
        Some("vector(0.99)")
    );
    // Counted per reconcile: the status write itself brings one more round.
    assert!(
        metric(
            port_a,
            "ward_slo_controller_reconciles_total{result=\"invalid\"}"
        ) >= Some(1.0)
    );

    // The leader dies without giving the Lease up: the other takes over once
    // it expires, and fixing the spec is acted on.
    a.signal(Signal::SIGKILL).unwrap();
    wait::expect("replica-b leads", ACT, || {
        metric(port_b, "ward_slo_controller_leader") == Some(1.0)
    });
    runtime
        .block_on(levels.patch("checkout", &PatchParams::default(), &spec(99.5, ERRORS)))
        .unwrap();
    wait::expect(
        "the rule at objective 99.5 (written by replica-b)",
        ACT,
        || objective_of(&runtime, &rules).as_deref() == Some("vector(0.995)"),
    );
    let s = wait::expect_value("status of generation 4", ACT, || ready(&levels, 4));
    assert_eq!(s["conditions"][0]["status"], "True", "{s}");

    // A rule of the same name that the object does not own is left alone.
    let foreign: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "orders", "namespace": SHOP},
        "spec": {"groups": []},
    }))
    .unwrap();
    runtime
        .block_on(rules.create(&PostParams::default(), &foreign))
        .unwrap();
    let mut orders = level.clone();
    orders.metadata.name = Some("orders".into());
    runtime
        .block_on(levels.create(&PostParams::default(), &orders))
        .unwrap();
    let s = wait::expect_value("status of orders", ACT, || {
        let s = runtime.block_on(levels.get("orders")).ok()?.data["status"].clone();
        (s["conditions"][0]["reason"] == "RuleConflict").then_some(s)
    });
    assert_eq!(
        s["conditions"][0]["message"],
        "PrometheusRule shop/orders exists and is not owned by this PrometheusServiceLevel: rename or delete it"
    );
    let kept = runtime.block_on(rules.get("orders")).unwrap();
    assert_eq!(
        (kept.metadata.owner_references, &kept.data["spec"]),
        (None, &json!({"groups": []}))
    );
    assert!(
        metric(
            port_b,
            "ward_slo_controller_reconciles_total{result=\"conflict\"}"
        ) >= Some(1.0)
    );

    // Delete: the garbage collector deletes the owned rule.
    runtime
        .block_on(levels.delete("checkout", &DeleteParams::background()))
        .unwrap();
    wait::expect("the rule deleted with its object", ACT, || {
        matches!(runtime.block_on(rules.get_opt("checkout")), Ok(None))
    });
    b.stop(Duration::from_secs(10));
    drop(a);
}
