//! `ward e2e` as a process against the real testkit control plane: SIGTERM in
//! the middle of the deployment test leaves no namespace behind, `sweep`
//! deletes a stale run namespace and keeps a fresh one, a run refused by a
//! held Lease exits 0 with one WARN line, and bad input (unknown test,
//! unreachable API server) is a one-line error with exit code 2.

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use support::ward;
use ward_testkit::kube::KubeCluster;
use ward_testkit::wait;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn exists<K>(rt: &tokio::runtime::Runtime, api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    rt.block_on(api.get_opt(name)).unwrap().is_some()
}

#[test]
fn sigterm_during_the_deployment_test_leaves_no_namespace() {
    let cluster = KubeCluster::shared();
    let rt = runtime();
    let client = {
        let _in = rt.enter();
        cluster.client().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let mut child = ward()
        .args([
            "e2e",
            "run",
            "--no-lease",
            "--only",
            "deployment",
            "--run-id",
            "sigterm",
        ])
        .args([
            "--node-selector",
            "e2e.ward.dev/pool=none",
            "--rollout-timeout",
            "2m",
        ])
        .arg("--kubeconfig")
        .arg(cluster.admin_kubeconfig())
        .arg("--junit")
        .arg(&junit)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run is inside the deployment test (its Deployment exists, rollout pending).
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "ward-e2e-sigterm");
    let inside = wait::until(Duration::from_secs(30), || {
        exists(&rt, &deployments, "ward-e2e-deploy").then_some(())
    });
    assert!(inside.is_some(), "the run never created its Deployment");
    support::signal(&child, "TERM");
    let exited = wait::until(Duration::from_secs(90), || child.try_wait().unwrap());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = exited.expect("ward exits after SIGTERM").code();
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("cancelled (termination signal)"),
        "{stdout}"
    );
    assert!(stdout.contains("(cancelled)"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testcase classname=\"deployment\" name=\"rollout\""),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"cancelled (termination signal)"),
        "{xml}"
    );
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(
        !exists(&rt, &namespaces, "ward-e2e-sigterm"),
        "namespace left behind:\n{stdout}"
    );
}

/// A Lease in `default` held by `holder` for another 5 minutes.
fn hold_lease(rt: &tokio::runtime::Runtime, client: &kube::Client, name: &str, holder: &str) {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let now = MicroTime(k8s_openapi::chrono::Utc::now());
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(300),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), "default");
    rt.block_on(leases.create(&PostParams::default(), &lease))
        .unwrap();
}

#[test]
fn a_run_refused_by_a_held_lease_exits_0_with_one_warn_line() {
    let cluster = KubeCluster::shared();
    let rt = runtime();
    let client = {
        let _in = rt.enter();
        cluster.client().unwrap()
    };
    hold_lease(&rt, &client, "ward-e2e-cli-overlap", "first-run");
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let run = |output: &str| {
        ward()
            .args([
                "e2e",
                "run",
                "--only",
                "api,storage",
                "--run-id",
                "clioverlap",
            ])
            .args([
                "--lease-namespace",
                "default",
                "--lease-name",
                "ward-e2e-cli-overlap",
            ])
            .args(["--holder", "second-run", "-o", output])
            .arg("--junit")
            .arg(&junit)
            .arg("--kubeconfig")
            .arg(cluster.admin_kubeconfig())
            .output()
            .unwrap()
    };
    let prefix = "run skipped: another run holds Lease default/ward-e2e-cli-overlap (holder first-run, renewed ";
    let suffix = "s ago); runs must not overlap";

    let out = run("text");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(prefix) && lines[0].ends_with(suffix),
        "{stdout}"
    );
    // The log (default level warn): exactly one line, a WARN naming Lease and holder.
    let logged: Vec<&str> = stderr.lines().collect();
    assert_eq!(logged.len(), 1, "{stderr}");
    assert!(logged[0].contains(" WARN "), "{stderr}");
    assert!(logged[0].contains(prefix), "{stderr}");
    assert!(logged[0].contains("reason=\"lease_held\""), "{stderr}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(!xml.contains("<failure"), "{xml}");
    assert_eq!(
        xml.matches("<skipped message=\"run skipped: another run holds Lease")
            .count(),
        2,
        "{xml}"
    );

    let out = run("json");
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["skipped"]["reason"], "lease_held", "{report}");
    let message = report["skipped"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(prefix) && message.ends_with(suffix),
        "{report}"
    );
    let outcomes: Vec<&str> = report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["skipped", "skipped"], "{report}");
    assert_eq!(report["cleanup"]["outcome"], "skipped", "{report}");

    let namespaces: Api<Namespace> = Api::all(client);
    assert!(
        !exists(&rt, &namespaces, "ward-e2e-clioverlap"),
        "a skipped run creates nothing"
    );
}

fn plant(rt: &tokio::runtime::Runtime, api: &Api<Namespace>, name: &str, ttl: &str, label: bool) {
    let mut labels = BTreeMap::new();
    if label {
        labels.insert("e2e.ward.dev/run".to_string(), "true".to_string());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            annotations: Some([("e2e.ward.dev/ttl-seconds".to_string(), ttl.to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    rt.block_on(api.create(&PostParams::default(), &ns))
        .unwrap();
}

#[test]
fn sweep_deletes_a_stale_namespace_and_keeps_a_fresh_one() {
    let cluster = KubeCluster::shared();
    let rt = runtime();
    let client = {
        let _in = rt.enter();
        cluster.client().unwrap()
    };
    let namespaces: Api<Namespace> = Api::all(client);
    plant(&rt, &namespaces, "ward-e2e-stale", "0", true);
    plant(&rt, &namespaces, "ward-e2e-fresh", "3600", true);
    plant(&rt, &namespaces, "ward-e2e-notours", "0", false);
    // A TTL of 0 s expires once the namespace is a second old: sweep until it is deleted.
    let swept = wait::until(Duration::from_secs(10), || {
        let out = ward()
            .args(["e2e", "sweep", "-o", "json", "--kubeconfig"])
            .arg(cluster.admin_kubeconfig())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let deleted = report["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["name"] == "ward-e2e-stale" && n["deleted"] == true);
        deleted.then_some(report)
    })
    .expect("sweep never deleted the stale namespace");
    let fresh = swept["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "ward-e2e-fresh")
        .cloned()
        .unwrap();
    assert_eq!(fresh["deleted"], false, "{swept}");
    assert!(exists(&rt, &namespaces, "ward-e2e-fresh"));
    assert!(
        exists(&rt, &namespaces, "ward-e2e-notours"),
        "unlabelled namespaces are not ward's"
    );
    let stale = rt.block_on(namespaces.get_opt("ward-e2e-stale")).unwrap();
    assert!(
        stale.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()),
        "stale namespace not deleted"
    );
}

/// A kubeconfig in `dir` naming an API server on a loopback port nothing
/// listens on; returns its path and the port.
fn refused_kubeconfig(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    let kubeconfig = dir.join("kubeconfig");
    let port = ward_testkit::net::free_port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: \"https://127.0.0.1:{port}\"}}}}]\n\
             users: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    (kubeconfig, port)
}

/// A kubeconfig that does not exist is the first and only error, naming its
/// path, whether given with --kubeconfig or $KUBECONFIG (it was a Lease
/// error, since the Lease needs a namespace outside a cluster; issue 26 item 4).
#[test]
fn a_missing_kubeconfig_is_named_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-kubeconfig");
    let shown = missing.display();
    for sub in ["run", "serve"] {
        let out = ward()
            .args(["e2e", sub, "--kubeconfig"])
            .arg(&missing)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("ward: reading kubeconfig {shown}: No such file or directory (os error 2)\n"),
            "{sub}"
        );
    }
    let out = ward()
        .args(["e2e", "run"])
        .env("KUBECONFIG", &missing)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "ward: reading kubeconfig {shown}: No such file or directory (os error 2); \
             not in a cluster either (pass --kubeconfig)\n"
        )
    );
}

/// `serve` against an API server it cannot reach serves the suite's metric
/// families with the failure counted: each test failed its `preflight` step
/// (it served only process_* metrics; issue 26 item 4).
#[test]
fn serve_counts_an_unreachable_api_server_as_failed_preflights() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = refused_kubeconfig(dir.path());
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], ward_testkit::net::free_port()).into();
    let mut child = ward()
        .args(["e2e", "serve", "--no-lease", "--interval", "1h"])
        .args(["--shutdown-duration", "0s", "--listen", &addr.to_string()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let metrics = wait::until(Duration::from_secs(30), || {
        ward_testkit::net::http_get(addr, "/metrics").filter(|r| {
            r.body
                .contains("test_executed_total{test_name=\"rbac\"} 1\n")
        })
    });
    let _ = child.kill();
    let _ = child.wait();
    let body = metrics.expect("the failed run in /metrics").body;
    for test in ["api", "deployment", "storage", "networking", "rbac"] {
        for line in [
            format!("test_executed_total{{test_name=\"{test}\"}} 1\n"),
            format!("test_errors_total{{test_name=\"{test}\"}} 1\n"),
            format!("test_executed_total{{test_name=\"{test}\",step=\"preflight\"}} 1\n"),
            format!("test_errors_total{{test_name=\"{test}\",step=\"preflight\"}} 1\n"),
            format!("test_last_success_timestamp_seconds{{test_name=\"{test}\"}} 0\n"),
        ] {
            assert!(body.contains(&line), "{line} missing in:\n{body}");
        }
    }
    assert!(
        body.contains("# TYPE test_duration_seconds histogram\n"),
        "{body}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_code_2() {
    let out = ward()
        .args(["e2e", "run", "--only", "dns"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown test \"dns\""), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, port) = refused_kubeconfig(dir.path());
    let out = ward()
        .args(["e2e", "run", "--no-lease", "--kubeconfig"])
        .arg(&kubeconfig)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // kube-client logs its own ERROR line at the default level (warn); ours is one line.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ward:")).collect();
    assert_eq!(ours.len(), 1, "{stderr}");
    assert!(
        ours[0].starts_with(&format!(
            "ward: API server https://127.0.0.1:{port}/ unreachable: "
        )),
        "{stderr}"
    );
    assert!(
        ours[0].ends_with("Connection refused (os error 111)"),
        "{stderr}"
    );
}

#[test]
fn serve_runs_the_suite_and_serves_metrics() {
    let cluster = KubeCluster::shared();
    let port = ward_testkit::net::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = ward()
        .args([
            "e2e",
            "serve",
            "--no-lease",
            "--only",
            "api",
            "--interval",
            "1h",
        ])
        .args(["--shutdown-duration", "0s", "--listen", &addr.to_string()])
        .arg("--kubeconfig")
        .arg(cluster.admin_kubeconfig())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = wait::until(Duration::from_secs(60), || {
        ward_testkit::net::http_get(addr, "/metrics")
            .filter(|r| r.body.contains("test_executed_total{test_name=\"api\"} 1"))
    });
    let Some(metrics) = metrics else {
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        panic!(
            "no run in /metrics: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let body = metrics.body;
    assert!(
        body.contains("# TYPE test_duration_seconds histogram"),
        "{body}"
    );
    assert!(
        body.contains("test_errors_total{test_name=\"api\",step=\"patch\"} 0"),
        "{body}"
    );
    assert!(
        body.contains("test_last_success_timestamp_seconds{test_name=\"api\"}"),
        "{body}"
    );
    // There from the start, so alerts and rates on skipped runs have a series.
    assert!(
        body.contains("ward_e2e_runs_skipped_total{reason=\"lease_held\"} 0\n"),
        "{body}"
    );
    support::signal(&child, "TERM");
    let exited = wait::until(Duration::from_secs(30), || child.try_wait().unwrap());
    assert_eq!(exited.and_then(|s| s.code()), Some(0));
}

/// Applies every document of a deploy/e2e manifest (server-side apply).
fn apply(rt: &tokio::runtime::Runtime, client: &kube::Client, file: &str) {
    use kube::api::{Patch, PatchParams};
    use serde::Deserialize;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/e2e")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let doc = serde_json::Value::deserialize(doc).unwrap();
        let kind = doc["kind"].as_str().unwrap();
        let (api, name) = ward_testkit::kube::dynamic_api(client, &doc);
        rt.block_on(api.patch(
            &name,
            &PatchParams::apply("ward-e2e-test").force(),
            &Patch::Apply(&doc),
        ))
        .unwrap_or_else(|e| panic!("{file}: {kind}/{name}: {e}"));
    }
}

#[test]
fn the_shipped_rbac_is_enough_for_the_suite_and_the_policy_fences_namespaces() {
    use ward_testkit::kube::NodeSpec;
    let cluster = KubeCluster::shared();
    let rt = runtime();
    let client = {
        let _in = rt.enter();
        cluster.client().unwrap()
    };
    apply(&rt, &client, "namespace.yaml");
    apply(&rt, &client, "rbac.yaml");
    rt.block_on(cluster.add_nodes(&[NodeSpec::ready("e2e-rbac-node")]))
        .unwrap();
    let sa = rt
        .block_on(cluster.service_account_kubeconfig("ward-e2e", "ward-e2e"))
        .unwrap();
    let out = ward()
        .args(["e2e", "run", "--only", "api,deployment,rbac,storage"])
        .args(["--run-id", "leastrbac", "--lease-namespace", "ward-e2e"])
        .args(["--rollout-timeout", "30s"])
        .arg("--kubeconfig")
        .arg(&sa.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("3 passed, 0 failed, 1 skipped"), "{stdout}");
    // No class given and this cluster has no default StorageClass: skipped, saying so
    // (the shipped RBAC lets the runner list the classes to look for the default).
    let reason = "no storage class given and the cluster has no default StorageClass";
    let row = stdout
        .lines()
        .find(|l| l.starts_with("storage ") && l.contains("(test)"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("skipped") && row.contains(reason), "{stdout}");
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warned.len(), 1, "{stderr}");
    assert!(
        warned[0].contains(&format!("test skipped: {reason}")),
        "{stderr}"
    );
    assert!(warned[0].contains("test=\"storage\""), "{stderr}");
    // The policy: this ServiceAccount may not create other namespaces, labelled or not.
    let sa_client = {
        let _in = rt.enter();
        sa.client().unwrap()
    };
    let namespaces: Api<Namespace> = Api::all(sa_client);
    let other = Namespace {
        metadata: ObjectMeta {
            name: Some("production".into()),
            labels: Some([("e2e.ward.dev/run".to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = rt
        .block_on(namespaces.create(&PostParams::default(), &other))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ward e2e may only create and delete namespaces ward-e2e-*"),
        "{err}"
    );
}
