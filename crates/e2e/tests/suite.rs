//! The suite against the real testkit control plane (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, kwok): the whole suite passes, each
//! failure mode is reported with its step, setup errors leave nothing behind.
//! One cluster for the whole binary; each test uses its own run id.

mod support;

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use tokio_util::sync::CancellationToken;
use ward_e2e::config::LeaseConfig;
use ward_e2e::{Cluster, Error, FailureReason, Outcome, Recorder, SkipReason, TestName};

use support::{config, namespace_exists, prepare, run, step_names, test_report};

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
    let report = run(&env.cluster, &cfg).await.unwrap();
    assert!(report.passed(), "{report:#?}");
    assert_eq!(
        step_names(&report, "api"),
        ["create", "get", "list", "patch", "delete"]
    );
    assert_eq!(
        step_names(&report, "deployment"),
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
    assert!(!namespace_exists(&env, "ward-e2e-apidep").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_that_never_becomes_ready_fails_the_rollout_step() {
    let env = prepare().await;
    let mut cfg = config(&[TestName::Deployment], "noready");
    cfg.node_selector = [("e2e.ward.dev/pool".to_string(), "none".to_string())].into();
    cfg.timeouts.rollout = Duration::from_secs(4);
    let report = run(&env.cluster, &cfg).await.unwrap();
    assert!(!report.passed());
    let dep = test_report(&report, "deployment");
    assert_eq!(dep.outcome, Outcome::Failed);
    let step = dep.failed_step().unwrap();
    assert_eq!(step.name, "rollout");
    let error = step.error.as_deref().unwrap();
    assert!(error.contains("not done within 4s"), "{error}");
    assert!(error.contains("0/2 available"), "{error}");
    assert!(error.contains("not scheduled"), "{error}");
    // Classified by what the wait saw: alertable without the error text.
    assert_eq!(step.failure_reason, Some(FailureReason::Unschedulable));
    assert_eq!(dep.failure_reason, Some(FailureReason::Unschedulable));
    let junit = report.junit();
    assert!(junit.contains("\" type=\"unschedulable\">"), "{junit}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["tests"][0]["failure_reason"], "unschedulable",
        "{json}"
    );
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
    let registry = Arc::new(ward_e2e::metrics::registry());
    let recorder = Recorder::none().with_registry(registry.clone());
    let err = ward_e2e::run(&cluster, &cfg, &recorder, CancellationToken::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Permissions(_)), "{text}");
    let mut metrics = String::new();
    registry.encode(&mut metrics);
    for line in [
        "ward_e2e_failures_total{test_name=\"setup\",reason=\"forbidden\"} 1\n",
        "ward_e2e_failures_total{test_name=\"api\",step=\"preflight\",reason=\"forbidden\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    assert!(
        text.contains("cannot create namespaces (cluster-wide)"),
        "{text}"
    );
    assert!(
        text.contains("cannot create configmaps in namespace ward-e2e-noperm"),
        "{text}"
    );
    assert!(!namespace_exists(&env, "ward-e2e-noperm").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lease_skips_an_overlapping_run_which_passes_and_is_counted() {
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
    let mut cfg = config(&[TestName::Api, TestName::Storage], "overlap");
    cfg.lease = Some(LeaseConfig {
        holder: "second-run".into(),
        ..lease.clone()
    });
    let registry = Arc::new(ward_e2e::metrics::registry());
    let recorder = Recorder::none().with_registry(registry.clone());
    let report = ward_e2e::run(&env.cluster, &cfg, &recorder, CancellationToken::new())
        .await
        .unwrap();
    assert!(report.passed(), "a skipped run is no failure: {report:#?}");
    let skip = report.skipped.clone().expect("the run is skipped");
    assert_eq!(skip.reason, SkipReason::LeaseHeld);
    let message = skip.message.clone();
    assert!(
        message.starts_with(
            "run skipped: another run holds Lease default/ward-e2e-overlap (holder first-run, renewed "
        ),
        "{message}"
    );
    assert!(
        message.ends_with("s ago); runs must not overlap"),
        "{message}"
    );
    for test in &report.tests {
        assert_eq!(test.outcome, Outcome::Skipped, "{test:#?}");
        assert_eq!(test.skip_reason, Some(SkipReason::LeaseHeld));
        assert_eq!(test.reason.as_deref(), Some(message.as_str()));
        assert!(test.steps.is_empty());
    }
    assert_eq!(report.cleanup.outcome, Outcome::Skipped);
    assert!(!namespace_exists(&env, "ward-e2e-overlap").await);
    let mut text = String::new();
    registry.encode(&mut text);
    assert!(
        text.contains("ward_e2e_runs_skipped_total{reason=\"lease_held\"} 1\n"),
        "{text}"
    );
    // Nothing ran, so no test series at all.
    assert!(!text.contains("test_executed_total"), "{text}");
    assert!(!text.contains("ward_e2e_tests_skipped_total"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["skipped"]["reason"], "lease_held", "{json}");
    assert_eq!(json["skipped"]["message"], message.as_str(), "{json}");
    assert_eq!(json["tests"][0]["skip_reason"], "lease_held", "{json}");

    held.release().await.unwrap();
    // Released: the second run may go now.
    cfg.tests = vec![TestName::Api];
    let report = run(&env.cluster, &cfg).await.unwrap();
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.skipped, None);
    assert_eq!(test_report(&report, "api").outcome, Outcome::Passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_server_is_one_readable_error() {
    let port = ward_testkit::net::free_port();
    let mut config = kube::Config::new(format!("https://127.0.0.1:{port}").parse().unwrap());
    config.connect_timeout = Some(Duration::from_secs(2));
    let cluster = Cluster::from_config(config).unwrap();
    let cfg = config_for_unreachable();
    let err = run(&cluster, &cfg).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("API server https://127.0.0.1:{port}/ unreachable")),
        "{text}"
    );
}

fn config_for_unreachable() -> ward_e2e::Config {
    config(&[TestName::Api], "unreach")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_suite_passes_with_real_dns() {
    let env = prepare().await;
    support::storage_class(&env, "e2e-manual", 1).await;
    let dns = tokio::task::spawn_blocking(|| {
        ward_testkit::coredns::CoreDns::start(ward_testkit::kube::KubeCluster::shared()).unwrap()
    })
    .await
    .unwrap();
    let network = support::PodNetwork::start(3);
    let mut cfg = config(&TestName::ALL, "whole");
    cfg.storage_class = Some("e2e-manual".into());
    cfg.dns_server = Some(dns.addr());
    cfg.reach = Some(network.reach());
    let report = run(&env.cluster, &cfg).await.unwrap();
    assert!(report.passed(), "{report:#?}");
    for test in &report.tests {
        assert_eq!(test.outcome, Outcome::Passed, "{test:#?}");
    }
    assert_eq!(
        step_names(&report, "networking"),
        [
            "create",
            "endpoints",
            "dns-service",
            "dns-headless",
            "http-service",
            "http-pods"
        ]
    );
    // The Service (ClusterIP:80) and each of the two pods (podIP:8080) got their own request.
    let requests = network.requests();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert!(requests.iter().all(|(_, n)| *n >= 1), "{requests:?}");
    assert!(requests.iter().any(|(a, _)| a.port() == 80), "{requests:?}");
    assert_eq!(requests.iter().filter(|(a, _)| a.port() == 8080).count(), 2);
    assert_eq!(
        step_names(&report, "storage"),
        [
            "pvc-create",
            "pvc-bound",
            "write",
            "delete-writer",
            "read",
            "pvc-delete"
        ]
    );
    // The reader was scheduled away from the writer's node, so the data
    // really crossed nodes (the test nodes are all ready and schedulable).
    let read = test_report(&report, "storage")
        .steps
        .iter()
        .find(|s| s.name == "read")
        .unwrap();
    let detail = read.detail.as_deref().unwrap_or_default();
    let nodes = detail
        .strip_prefix("written on node ")
        .and_then(|rest| rest.split_once(", read on node "));
    let Some((writer, reader)) = nodes else {
        panic!("read step detail: {detail:?}");
    };
    assert!(support::NODES.contains(&writer), "{detail}");
    assert!(support::NODES.contains(&reader), "{detail}");
    assert_ne!(writer, reader, "{detail}");
}

/// The only test of this binary that depends on the cluster's default
/// StorageClass: it first has none, then this test makes one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_uses_the_default_class_and_is_skipped_with_a_reason_without_one() {
    let env = prepare().await;
    let registry = Arc::new(ward_e2e::metrics::registry());
    let recorder = Recorder::none().with_registry(registry.clone());
    let cfg = config(&[TestName::Storage], "nostorage");
    let report = ward_e2e::run(&env.cluster, &cfg, &recorder, CancellationToken::new())
        .await
        .unwrap();
    assert!(report.passed());
    let storage = test_report(&report, "storage");
    assert_eq!(storage.outcome, Outcome::Skipped, "{storage:#?}");
    assert_eq!(storage.skip_reason, Some(SkipReason::NoStorageClass));
    let reason = "no storage class given and the cluster has no default StorageClass (set \
                  --storage-class / WARD_E2E_STORAGE_CLASS, or annotate a class with \
                  storageclass.kubernetes.io/is-default-class: \"true\")";
    assert_eq!(storage.reason.as_deref(), Some(reason));
    assert!(storage.steps.is_empty(), "{storage:#?}");
    let junit = report.junit();
    let escaped = reason.replace('"', "&quot;");
    assert!(
        junit.contains(&format!(
            "<testcase classname=\"storage\" name=\"storage\" time=\"0.000\">\n      <skipped message=\"{escaped}\"/>"
        )),
        "{junit}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tests"][0]["outcome"], "skipped", "{json}");
    assert_eq!(
        json["tests"][0]["skip_reason"], "no_storage_class",
        "{json}"
    );
    assert_eq!(json["tests"][0]["reason"], reason, "{json}");
    let mut text = String::new();
    registry.encode(&mut text);
    assert!(
        text.contains(
            "ward_e2e_tests_skipped_total{test_name=\"storage\",reason=\"no_storage_class\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("test_executed_total{test_name=\"storage\"}"),
        "a skipped test is not an executed one: {text}"
    );

    // A non-default class, then the default one: the test takes the default.
    support::storage_class(&env, "e2e-not-default", 0).await;
    support::default_storage_class(&env, "e2e-default", 1).await;
    let cfg = config(&[TestName::Storage], "defaultclass");
    let report = run(&env.cluster, &cfg).await.unwrap();
    assert!(report.passed(), "{report:#?}");
    let storage = test_report(&report, "storage");
    assert_eq!(storage.outcome, Outcome::Passed, "{storage:#?}");
    let create = &storage.steps[0];
    assert_eq!(create.name, "pvc-create");
    assert_eq!(
        create.detail.as_deref(),
        Some("storage class e2e-default (the cluster's default)")
    );
    // A given class wins over the default.
    let mut cfg = config(&[TestName::Storage], "givenclass");
    cfg.storage_class = Some("e2e-not-default".into());
    cfg.timeouts.bind = Duration::from_secs(2);
    let report = run(&env.cluster, &cfg).await.unwrap();
    let storage = test_report(&report, "storage");
    assert_eq!(
        storage.steps[0].detail.as_deref(),
        Some("storage class e2e-not-default (given)")
    );
    assert_eq!(
        storage.failed_step().unwrap().name,
        "pvc-bound",
        "no PVs in it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pvc_that_never_binds_fails_pvc_bound() {
    let env = prepare().await;
    support::storage_class(&env, "e2e-empty", 0).await;
    let mut cfg = config(&[TestName::Storage], "nobind");
    cfg.storage_class = Some("e2e-empty".into());
    cfg.timeouts.bind = Duration::from_secs(3);
    let report = run(&env.cluster, &cfg).await.unwrap();
    let storage = test_report(&report, "storage");
    let step = storage.failed_step().unwrap();
    assert_eq!(step.name, "pvc-bound");
    assert!(
        step.error
            .as_deref()
            .unwrap()
            .contains("PVC ward-e2e-data is Pending"),
        "{step:?}"
    );
    assert_eq!(report.cleanup.outcome, Outcome::Passed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_broad_rbac_rule_fails_the_denied_step() {
    use k8s_openapi::api::rbac::v1::{
        ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject,
    };
    use kube::api::{ObjectMeta, PostParams};
    let env = prepare().await;
    // Someone granted the suite's ServiceAccount cluster-wide secret reads.
    let roles: Api<ClusterRole> = Api::all(env.cluster.client.clone());
    let meta = || ObjectMeta {
        name: Some("e2e-too-broad".into()),
        ..Default::default()
    };
    roles
        .create(
            &PostParams::default(),
            &ClusterRole {
                metadata: meta(),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["secrets".into()]),
                    verbs: vec!["list".into()],
                    ..Default::default()
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let bindings: Api<ClusterRoleBinding> = Api::all(env.cluster.client.clone());
    bindings
        .create(
            &PostParams::default(),
            &ClusterRoleBinding {
                metadata: meta(),
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "ClusterRole".into(),
                    name: "e2e-too-broad".into(),
                },
                subjects: Some(vec![Subject {
                    kind: "ServiceAccount".into(),
                    name: "ward-e2e-rbac".into(),
                    namespace: Some("ward-e2e-broad".into()),
                    ..Default::default()
                }]),
            },
        )
        .await
        .unwrap();
    let cfg = config(&[TestName::Rbac], "broad");
    let report = run(&env.cluster, &cfg).await.unwrap();
    let rbac = test_report(&report, "rbac");
    let step = rbac.failed_step().unwrap();
    assert_eq!(step.name, "denied", "{rbac:#?}");
    let error = step.error.as_deref().unwrap();
    assert!(
        error.contains("list secrets in ward-e2e-broad was allowed"),
        "{error}"
    );
    assert!(!error.contains("create configmaps"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_endpoints_fails_the_endpoints_step() {
    let env = prepare().await;
    let mut cfg = config(&[TestName::Networking], "noendpoints");
    cfg.node_selector = [("e2e.ward.dev/pool".to_string(), "none".to_string())].into();
    cfg.timeouts.network = Duration::from_secs(3);
    cfg.dns_server = Some("127.0.0.1:9".parse().unwrap());
    let report = run(&env.cluster, &cfg).await.unwrap();
    let net = test_report(&report, "networking");
    let step = net.failed_step().unwrap();
    assert_eq!(step.name, "endpoints");
    let error = step.error.as_deref().unwrap();
    assert!(
        error.contains("service ward-e2e-net has 0 ready endpoints of 2"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_one_readable_error() {
    let _env = prepare().await;
    let mut config = ward_testkit::kube::KubeCluster::shared().config();
    config.auth_info = kube::config::AuthInfo {
        token: Some("expired-or-forged-token".to_string().into()),
        ..Default::default()
    };
    let cluster = Cluster::from_config(config).unwrap();
    let err = run(&cluster, &config_for_unreachable()).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("401 Unauthorized"), "{err}");
}
