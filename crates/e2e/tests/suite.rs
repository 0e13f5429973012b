//! The suite against the real testkit control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, kwok): the whole suite passes, each
//! failure mode is reported with its step, setup errors leave nothing behind.
//! One cluster for the whole binary; each test uses its own run id.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use tokio_util::sync::CancellationToken;
use ward_e2e::config::LeaseConfig;
use ward_e2e::{Cluster, Error, Outcome, Recorder, TestName};

use support::{config, prepare, test_report};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_deployment_pass_and_the_namespace_is_gone() {
    let env = prepare().await;
    let mut cfg = config(&[TestName::Api, TestName::Deployment], "apidep");
    cfg.lease = Some(LeaseConfig {
        namespace: "default".into(),
        name: "ward-e2e-apidep".into(),
        holder: "test".into(),
        duration: Duration::from_secs(30),
    });
    let report = ward_e2e::run(
        &env.cluster,
        &cfg,
        &Recorder::none(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(report.passed(), "{report:#?}");
    let api = test_report(&report, "api");
    let names: Vec<&str> = api.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["create", "get", "list", "patch", "delete"]);
    let dep = test_report(&report, "deployment");
    let names: Vec<&str> = dep.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "create",
            "rollout",
            "scale-up",
            "scale-down",
            "rolling-update",
            "delete"
        ]
    );
    assert_eq!(report.cleanup.outcome, Outcome::Passed, "{report:#?}");
    let namespaces: Api<Namespace> = Api::all(env.cluster.client.clone());
    assert!(namespaces
        .get_opt("ward-e2e-apidep")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_never_becomes_ready_fails_the_rollout_step() {
    let env = prepare().await;
    let mut cfg = config(&[TestName::Deployment], "noready");
    cfg.node_selector = [("e2e.ward.dev/pool".to_string(), "none".to_string())].into();
    cfg.timeouts.rollout = Duration::from_secs(4);
    let report = ward_e2e::run(
        &env.cluster,
        &cfg,
        &Recorder::none(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(!report.passed());
    let dep = test_report(&report, "deployment");
    assert_eq!(dep.outcome, Outcome::Failed);
    let step = dep.failed_step().unwrap();
    assert_eq!(step.name, "rollout");
    let error = step.error.as_deref().unwrap();
    assert!(error.contains("not done within 4s"), "{error}");
    assert!(error.contains("0/2 available"), "{error}");
    assert!(error.contains("not scheduled"), "{error}");
    assert_eq!(report.cleanup.outcome, Outcome::Passed, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_permissions_are_named_and_nothing_is_created() {
    let env = prepare().await;
    let kc = ward_testkit::kube::KubeCluster::shared();
    let ns = kc.create_namespace("e2e-noperm").await.unwrap();
    let sa = kc.service_account_kubeconfig(&ns, "nobody").await.unwrap();
    let cluster = Cluster::from_config(sa.config()).unwrap();
    let cfg = config(&[TestName::Api], "noperm");
    let err = ward_e2e::run(&cluster, &cfg, &Recorder::none(), CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Permissions(_)), "{text}");
    assert!(
        text.contains("cannot create namespaces (cluster-wide)"),
        "{text}"
    );
    assert!(
        text.contains("cannot create configmaps in namespace ward-e2e-noperm"),
        "{text}"
    );
    let namespaces: Api<Namespace> = Api::all(env.cluster.client.clone());
    assert!(namespaces
        .get_opt("ward-e2e-noperm")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_stops_an_overlapping_run() {
    let env = prepare().await;
    let lease = LeaseConfig {
        namespace: "default".into(),
        name: "ward-e2e-overlap".into(),
        holder: "first-run".into(),
        duration: Duration::from_secs(60),
    };
    let held = ward_e2e::cluster::acquire_lease(&env.cluster.client, &lease)
        .await
        .unwrap();
    let mut cfg = config(&[TestName::Api], "overlap");
    cfg.lease = Some(LeaseConfig {
        holder: "second-run".into(),
        ..lease.clone()
    });
    let err = ward_e2e::run(
        &env.cluster,
        &cfg,
        &Recorder::none(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    assert!(err.to_string().contains("holder first-run"), "{err}");
    held.release().await.unwrap();
    // Released: the second run may go now.
    let report = ward_e2e::run(
        &env.cluster,
        &cfg,
        &Recorder::none(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(report.passed(), "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_server_is_one_readable_error() {
    let port = ward_testkit::net::free_port();
    let mut config = kube::Config::new(format!("https://127.0.0.1:{port}").parse().unwrap());
    config.connect_timeout = Some(Duration::from_secs(2));
    let cluster = Cluster::from_config(config).unwrap();
    let cfg = config_for_unreachable();
    let err = ward_e2e::run(&cluster, &cfg, &Recorder::none(), CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("API server https://127.0.0.1:{port}/ unreachable")),
        "{text}"
    );
}

fn config_for_unreachable() -> ward_e2e::Config {
    config(&[TestName::Api], "unreach")
}
