//! OTLP export: a run's metrics arrive at a real OTLP receiver (Prometheus 3.14
//! built from its Go module, `--web.enable-otlp-receiver`) with the reference
//! names, `test_name` and `step` labels, and the service name as `job`; a run
//! skipped because the Lease is held arrives as `ward_e2e_runs_skipped_total`.

mod support;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use ward_e2e::config::LeaseConfig;
use ward_e2e::metrics::OtlpConfig;
use ward_e2e::{Recorder, TestName};

#[test]
fn metrics_arrive_at_a_real_otlp_receiver() {
    let receiver = ward_testkit::otlp::receiver().unwrap();
    let endpoint = ward_testkit::otlp::metrics_endpoint(&receiver);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let env = support::prepare().await;
        let otlp =
            OtlpConfig::from_values(Some(&endpoint), None, None, None, Some("ward-e2e-test"))
                .unwrap()
                .unwrap();
        let recorder = Recorder::none().with_otlp(&otlp).unwrap();
        let cfg = support::config(&[TestName::Api], "otlp");
        let report = ward_e2e::run(&env.cluster, &cfg, &recorder, CancellationToken::new())
            .await
            .unwrap();
        assert!(report.passed(), "{report:#?}");
        // A second runner finds the Lease held: the skip is exported too.
        let lease = LeaseConfig {
            namespace: "default".into(),
            name: "ward-e2e-otlp".into(),
            holder: "other-runner".into(),
            duration: Duration::from_secs(60),
        };
        let held = ward_e2e::cluster::acquire_lease(&env.cluster.client, &lease)
            .await
            .unwrap();
        let mut cfg = support::config(&[TestName::Api], "otlpskip");
        cfg.lease = Some(LeaseConfig {
            holder: "this-runner".into(),
            ..lease
        });
        let report = ward_e2e::run(&env.cluster, &cfg, &recorder, CancellationToken::new())
            .await
            .unwrap();
        assert!(report.skipped.is_some(), "{report:#?}");
        held.release().await.unwrap();
        tokio::task::spawn_blocking(move || recorder.shutdown())
            .await
            .unwrap()
            .unwrap();
    });
    let wait = Duration::from_secs(20);
    let series = receiver
        .wait_for_series(r#"test_executed_total{test_name="api",step="patch"}"#, wait)
        .unwrap();
    assert_eq!(series[0]["value"][1], "1", "{series:?}");
    assert_eq!(series[0]["metric"]["job"], "ward-e2e-test", "{series:?}");
    let whole = receiver
        .wait_for_series(r#"test_executed_total{test_name="api",step=""}"#, wait)
        .unwrap();
    assert_eq!(whole.len(), 1, "{whole:?}");
    let errors = receiver
        .wait_for_series(r#"test_errors_total{test_name="api"}"#, wait)
        .unwrap();
    assert!(errors.iter().all(|s| s["value"][1] == "0"), "{errors:?}");
    // One series per step and one for the whole test.
    assert_eq!(errors.len(), 6, "{errors:?}");
    let buckets = receiver
        .wait_for_series(
            r#"test_duration_seconds_bucket{test_name="api",step="create",le="+Inf"}"#,
            wait,
        )
        .unwrap();
    assert_eq!(buckets[0]["value"][1], "1", "{buckets:?}");
    for name in [
        "test_last_run_timestamp_seconds",
        "test_last_success_timestamp_seconds",
    ] {
        let s = receiver
            .wait_for_series(&format!(r#"{name}{{test_name="api",step="delete"}}"#), wait)
            .unwrap();
        let value: f64 = s[0]["value"][1].as_str().unwrap().parse().unwrap();
        assert!(value > 1.7e9, "{name}: {s:?}");
    }
    let last = receiver
        .wait_for_series(
            r#"ward_e2e_last_duration_seconds{test_name="api",step="create"}"#,
            wait,
        )
        .unwrap();
    let seconds: f64 = last[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(seconds > 0.0 && seconds < 60.0, "{last:?}");
    let skipped = receiver
        .wait_for_series(r#"ward_e2e_runs_skipped_total{reason="lease_held"}"#, wait)
        .unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0]["value"][1], "1", "{skipped:?}");
    // The run's cleanup is measured too.
    receiver
        .wait_for_series(
            r#"test_duration_seconds_count{test_name="cleanup",step="delete-namespace"}"#,
            wait,
        )
        .unwrap();
}
