//! The load generator against real servers on loopback: stages drive the VU
//! count, totals add up, the open model measures from the intended send time,
//! stalls and cancellation stay bounded.

use std::net::TcpListener;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ward_load::plan::{Plan, Stage};
use ward_load::run::{run, LoadConfig, Model, Progress};
use ward_load::stats::Summary;
use ward_load::Error;
use ward_testkit::backend::Backend;

fn stage(ms: u64, target: u64) -> Stage {
    Stage {
        duration: Duration::from_millis(ms),
        target,
    }
}

fn backend() -> Backend {
    Backend::builder()
        .idle_timeout(Duration::from_secs(30))
        .start()
        .unwrap()
}

async fn run_collecting(config: LoadConfig) -> (Summary, Vec<Progress>) {
    let (tx, mut rx) = watch::channel(Progress::default());
    let collector = tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            seen.push(rx.borrow_and_update().clone());
        }
        seen
    });
    let summary = run(config, tx, CancellationToken::new()).await.unwrap();
    (summary, collector.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_drive_vus_and_totals_add_up() {
    let backend = backend();
    let plan = Plan {
        start_vus: 0,
        stages: vec![stage(1000, 4), stage(1000, 4), stage(1000, 0)],
        cycle_idle: None,
        repeat: 1,
    };
    let mut config =
        LoadConfig::new(backend.url("/").parse().unwrap(), Model::Closed(plan)).unwrap();
    config.thresholds = vec!["p99<5s".parse().unwrap(), "requests<1".parse().unwrap()];
    let started = Instant::now();
    let (s, progress) = run_collecting(config).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Sampled VU counts follow the ramp up, the plateau and the ramp down.
    let at = |lo: f64, hi: f64| -> Vec<u64> {
        progress
            .iter()
            .filter(|p| (lo..hi).contains(&p.elapsed.as_secs_f64()))
            .map(|p| p.vus)
            .collect()
    };
    let plateau = at(1.1, 1.9);
    assert!(
        !plateau.is_empty() && plateau.iter().all(|v| *v == 4),
        "{plateau:?}"
    );
    let ramp_up = at(0.3, 0.7);
    assert!(ramp_up.iter().all(|v| (1..=3).contains(v)), "{ramp_up:?}");
    let ramp_down = at(2.3, 2.7);
    assert!(
        ramp_down.iter().all(|v| (1..=3).contains(v)),
        "{ramp_down:?}"
    );
    assert_eq!(s.vus_max, 4);
    // Totals add up: summary, status counts and the backend's own count.
    let by_status: u64 = s.status_codes.values().sum();
    let by_error: u64 = s.errors.values().sum();
    assert_eq!(s.requests, by_status + by_error);
    assert_eq!(s.failed, 0, "{s:?}");
    assert_eq!(s.status_codes.get(&200).copied(), Some(backend.requests()));
    assert!(s.requests > 100, "{}", s.requests);
    assert_eq!(s.latency.count, s.requests);
    assert_eq!(s.connections_opened, 4, "one connection per VU, reused");
    assert_eq!(progress.last().map(|p| p.vus), Some(0));
    // Thresholds are evaluated in order.
    assert!(s.thresholds[0].passed);
    assert!(!s.thresholds[1].passed);
    assert!(!s.thresholds_passed());
}

#[tokio::test]
async fn no_reuse_opens_a_connection_per_request() {
    let backend = backend();
    let mut config = LoadConfig::new(
        backend.url("/").parse().unwrap(),
        Model::Closed(Plan::flat(2, Duration::from_millis(500))),
    )
    .unwrap();
    config.reuse = false;
    let (s, _) = run_collecting(config).await;
    assert!(s.requests > 10);
    assert_eq!(s.connections_opened, s.requests);
    assert_eq!(
        backend.connections(),
        s.requests + 1,
        "plus the preflight connection"
    );
    assert!(s.phases.contains_key("connecting"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_counts_latency_from_the_intended_send_time() {
    // One worker, 50 ms per request, 100 requests/s wanted: the worker falls
    // behind and latency must include the time requests waited to be sent.
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(30))
        .delay(Duration::from_millis(50))
        .start()
        .unwrap();
    let model = Model::Open {
        rate: 100.0,
        duration: Duration::from_secs(1),
        workers: 1,
    };
    let config = LoadConfig::new(backend.url("/").parse().unwrap(), model).unwrap();
    let (s, _) = run_collecting(config).await;
    assert!(s.requests >= 10 && s.requests <= 25, "{}", s.requests);
    let service = s.phases["waiting"].p50;
    assert!(service < Duration::from_millis(80), "{service:?}");
    assert!(
        s.latency.p50 > Duration::from_millis(200),
        "coordinated omission: p50 {:?} only",
        s.latency.p50
    );
    assert_eq!(s.target_rate, Some(100.0));

    // With enough workers the rate is met and latency is the service time.
    let model = Model::Open {
        rate: 100.0,
        duration: Duration::from_secs(1),
        workers: 20,
    };
    let config = LoadConfig::new(backend.url("/").parse().unwrap(), model).unwrap();
    let (s, _) = run_collecting(config).await;
    assert!((95..=101).contains(&s.requests), "{}", s.requests);
    assert!(
        s.latency.p50 < Duration::from_millis(80),
        "{:?}",
        s.latency.p50
    );
}

/// The generator's own delay is send lateness, not latency. Here its only
/// thread is kept busy for 300 ms (as other work on a loaded CPU would) after the
/// 5th request: the sends due meanwhile go out late, all at once, and their
/// latency is the exchange alone (it held the whole stall, up to 300 ms,
/// when latency counted from the intended time). Only a request in flight
/// during the stall may hold it, so p90 of 50 stays low.
#[tokio::test(flavor = "current_thread")]
async fn a_stalled_generator_reports_send_lateness_not_latency() {
    let backend = std::sync::Arc::new(backend());
    let model = Model::Open {
        rate: 50.0,
        duration: Duration::from_secs(1),
        workers: 20,
    };
    let config = LoadConfig::new(backend.url("/").parse().unwrap(), model).unwrap();
    let (fifth, stall) = tokio::sync::oneshot::channel();
    let requests = backend.clone();
    std::thread::spawn(move || {
        let seen = ward_testkit::wait::until(Duration::from_secs(10), || {
            (requests.requests() >= 5).then_some(())
        });
        let _ = fifth.send(seen);
    });
    let stall = tokio::spawn(async move {
        if let Ok(Some(())) = stall.await {
            // The fault: keep the runtime's only thread busy for 300 ms.
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
    });
    let (s, _) = run_collecting(config).await;
    stall.await.unwrap();
    assert_eq!((s.requests, s.unsent_requests), (50, Some(0)), "{s:?}");
    let late = s
        .send_lateness
        .expect("the open model reports send lateness");
    assert_eq!(late.count, 50);
    assert!(late.max >= Duration::from_millis(250), "{late:?}");
    assert!(
        s.latency.p90 < Duration::from_millis(100),
        "the stall counted as latency: {:?}",
        s.latency
    );
}

#[tokio::test]
async fn a_stalled_target_ends_at_plan_plus_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts (the kernel does) but never answers.
    let mut config = LoadConfig::new(
        format!("http://{addr}/").parse().unwrap(),
        Model::Closed(Plan::flat(3, Duration::from_millis(500))),
    )
    .unwrap();
    config.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let (s, _) = run_collecting(config).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500 + 700 + 600), "{took:?}");
    assert_eq!(s.errors.get("timeout_first_byte"), Some(&3), "{s:?}");
    assert_eq!(s.failed_on_fresh_connections, 3);
    drop(listener);
}

#[tokio::test]
async fn unreachable_target_is_an_error_before_the_run() {
    let port = ward_testkit::net::free_port();
    let config = LoadConfig::new(
        format!("http://127.0.0.1:{port}/").parse().unwrap(),
        Model::Closed(Plan::flat(1, Duration::from_secs(30))),
    )
    .unwrap();
    let (tx, _) = watch::channel(Progress::default());
    let started = Instant::now();
    let err = run(config, tx, CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains("connect_refused"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn cancelling_returns_the_summary_so_far() {
    let backend = backend();
    let config = LoadConfig::new(
        backend.url("/").parse().unwrap(),
        Model::Closed(Plan::flat(2, Duration::from_secs(60))),
    )
    .unwrap();
    let (tx, mut rx) = watch::channel(Progress::default());
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        // Cancel once some requests went through.
        let _ = rx.wait_for(|p| p.requests > 20).await;
        stopper.cancel();
    });
    let started = Instant::now();
    let s = run(config, tx, cancel).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(s.interrupted);
    assert!(s.requests > 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_with_idle_gaps_reuse_idle_connections() {
    let backend = backend();
    let plan = Plan {
        start_vus: 2,
        stages: vec![stage(300, 2)],
        cycle_idle: Some((Duration::from_millis(300), Duration::from_millis(300))),
        repeat: 3,
    };
    let config = LoadConfig::new(backend.url("/").parse().unwrap(), Model::Closed(plan)).unwrap();
    let (s, progress) = run_collecting(config).await;
    assert!(
        s.duration >= Duration::from_millis(1500),
        "{:?}",
        s.duration
    );
    let idle: Vec<u64> = progress
        .iter()
        .filter(|p| (0.4..0.55).contains(&p.elapsed.as_secs_f64()))
        .map(|p| p.vus)
        .collect();
    assert!(idle.iter().all(|v| *v == 0), "{idle:?}");
    assert_eq!(
        s.connections_opened, 2,
        "connections are kept across idle gaps"
    );
    assert_eq!(s.failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_h2_and_h1_records_tls_phase() {
    // nginx closes a keep-alive connection after `keepalive_requests` (1,000
    // by default, HTTP/1.1 and h2 alike): an idle machine makes more than that
    // per connection in 400 ms, and the reconnects would be counted.
    let nginx = ward_testkit::nginx::Nginx::builder()
        .http_config("keepalive_requests 1000000;")
        .location("/", "return 200 'ok';")
        .tls(true)
        .start()
        .expect("nginx starts");
    for version in [
        ward_probe::http::HttpVersion::Auto,
        ward_probe::http::HttpVersion::Http1,
    ] {
        let mut config = LoadConfig::new(
            nginx.https_url("/").parse().unwrap(),
            Model::Closed(Plan::flat(2, Duration::from_millis(400))),
        )
        .unwrap();
        config.tls.extra_ca = vec![nginx.ca_path().unwrap().to_path_buf()];
        config.http_version = version;
        let (s, _) = run_collecting(config).await;
        assert!(s.requests > 5, "{version:?}: {s:?}");
        assert_eq!(s.failed, 0, "{version:?}: {s:?}");
        assert_eq!(s.connections_opened, 2, "{version:?}");
        assert!(s.phases.contains_key("tls_handshaking"), "{version:?}");
    }
}
