//! Keep-alive diagnosis against real servers on loopback: the idle-timeout
//! probe against the Rust test backend, and the race through real nginx.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ward_load::idle::{self, CloseKind, IdleConfig, IdleMethod, IdleReport, BISECT_ROUNDS};
use ward_load::race::{race, RaceConfig, RaceReport};
use ward_testkit::backend::{Backend, Close, IdleTimer};
use ward_testkit::nginx::Nginx;
use ward_testkit::tcp_proxy::TcpProxy;

fn proxy_to(backend: &Backend, upstream_keepalive: &str) -> Nginx {
    Nginx::builder()
        .http_config(format!(
            "upstream backend {{ server {}; keepalive 32; keepalive_timeout {upstream_keepalive}; }}",
            backend.addr()
        ))
        .location(
            "/",
            "proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";",
        )
        .start()
        .expect("nginx starts")
}

/// The idle probe of `backend`, waiting at most `max_wait` for its close.
async fn probe_waiting(backend: &Backend, max_wait: Duration) -> IdleReport {
    let mut config = IdleConfig::new(backend.url("/").parse().unwrap());
    config.max_wait = max_wait;
    idle::probe(&config).await.unwrap()
}

#[tokio::test]
async fn idle_probe_finds_a_3s_fin_timeout() {
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(3))
        .start()
        .unwrap();
    let started = Instant::now();
    let report = probe_waiting(&backend, Duration::from_secs(10)).await;
    let t = report
        .timeout
        .expect("a timeout was measured")
        .as_secs_f64();
    assert!(
        (t - 3.0).abs() < 0.5,
        "measured {t}s, want 3s ± 0.5s: {report:?}"
    );
    assert_eq!(report.close, CloseKind::Fin, "{report:?}");
    assert_eq!(report.samples.len(), 3);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn idle_probe_spread_shows_a_coarse_idle_clock() {
    // A socket read timeout ends on the kernel's timer wheel: a 1 s timeout on the
    // next slot (32 ms at HZ=250, 64 ms at HZ=1000). The staggered samples fall on
    // different phases of it, at least 20 ms apart from the first to the last.
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(1))
        .idle_timer(IdleTimer::ReadTimeout)
        .start()
        .unwrap();
    let report = probe_waiting(&backend, Duration::from_secs(5)).await;
    let idles: Vec<Duration> = report.samples.iter().filter_map(|s| s.idle).collect();
    assert_eq!(idles.len(), 3, "{report:?}");
    let spread = *idles.iter().max().unwrap() - *idles.iter().min().unwrap();
    assert!(spread >= Duration::from_millis(5), "{idles:?}");
}

#[tokio::test]
async fn idle_probe_tells_a_reset() {
    let backend = Backend::builder()
        .idle_timeout(Duration::from_millis(700))
        .close(Close::Reset)
        .start()
        .unwrap();
    let report = probe_waiting(&backend, Duration::from_secs(5)).await;
    let t = report.timeout.unwrap().as_secs_f64();
    assert!((t - 0.7).abs() < 0.2, "measured {t}s: {report:?}");
    assert_eq!(report.close, CloseKind::Reset, "{report:?}");
}

#[tokio::test]
async fn idle_probe_of_unreachable_target_is_an_error() {
    let port = ward_testkit::net::free_port();
    let config = IdleConfig::new(format!("http://127.0.0.1:{port}/").parse().unwrap());
    let err = idle::probe(&config).await.unwrap_err().to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("connect_refused"), "{err}");
}

/// Races `proxy` (its backend measured at `backend`) until the first 502 or
/// `max_time`; prints the report as JSON after `label`.
async fn race_until_a_502(
    proxy: &str,
    backend: &str,
    max_time: Duration,
    label: &str,
) -> RaceReport {
    let mut config = RaceConfig::new(proxy.parse().unwrap());
    config.backend = Some(backend.parse().unwrap());
    config.max_time = max_time;
    config.stop_after = 1;
    config.max_wait = Duration::from_secs(10);
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let report = race(&config, tx, CancellationToken::new()).await.unwrap();
    eprintln!("{label}: {}", serde_json::to_string(&report).unwrap());
    report
}

const RACE_LINES: [&str; 2] = [
    "upstream prematurely closed connection while reading response header from upstream",
    "recv() failed (104: Connection reset by peer) while reading response header from upstream",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_through_nginx_causes_502s_only_when_backend_times_out_first() {
    // nginx keeps idle upstream connections 2s; the backend closes them after 1s: racy.
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(1))
        .start()
        .unwrap();
    let nginx = proxy_to(&backend, "2s");
    let report = race_until_a_502(
        &nginx.http_url("/race"),
        &backend.url("/"),
        Duration::from_secs(60),
        "race",
    )
    .await;
    assert!(
        report.bad_gateway >= 1,
        "no 502 in {:?}: {report:?}",
        report.duration
    );
    assert!(report.duration < Duration::from_secs(75));
    // Every wave after the setup one is in its idle-gap bucket, near the backend's timeout.
    let gaps = &report.by_gap;
    assert_eq!(gaps.iter().map(|b| b.waves).sum::<u64>(), report.waves);
    assert_eq!(
        gaps.iter().map(|b| b.bad_gateway).sum::<u64>(),
        report.bad_gateway
    );
    let idle_ms = report.backend_idle.as_millis() as u64;
    assert!(
        gaps.iter()
            .all(|b| b.gap_ms + 100 > idle_ms && b.gap_ms < idle_ms + 100),
        "{gaps:?}"
    );
    let log = nginx.error_log_text();
    assert!(
        RACE_LINES.iter().any(|l| log.contains(l)),
        "nginx error log lacks the race line:\n{log}"
    );

    // Backend idle 3s, above nginx's 2s: nginx drops its idle connections first, no 502.
    let patient = Backend::builder()
        .idle_timeout(Duration::from_secs(3))
        .start()
        .unwrap();
    let nginx = proxy_to(&patient, "2s");
    let report = race_until_a_502(
        &nginx.http_url("/race"),
        &patient.url("/"),
        Duration::from_secs(20),
        "control",
    )
    .await;
    assert_eq!(report.bad_gateway, 0, "{report:?}");
    assert!(report.waves >= 3, "{report:?}");
    assert_eq!(
        report.by_gap.iter().map(|b| b.waves).sum::<u64>(),
        report.waves
    );
    let log = nginx.error_log_text();
    assert!(!RACE_LINES.iter().any(|l| log.contains(l)), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_against_a_slow_backend_aims_without_its_response_time() {
    // Each response takes the backend 100 ms: the proxy's round trip is that much
    // longer, but the idle clock starts after it, so the aim must not move.
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(1))
        .delay(Duration::from_millis(100))
        .start()
        .unwrap();
    let nginx = proxy_to(&backend, "60s");
    let report = race_until_a_502(
        &nginx.http_url("/race"),
        &backend.url("/"),
        Duration::from_secs(40),
        "slow race",
    )
    .await;
    assert!(report.bad_gateway >= 1, "no 502: {report:?}");
    let idle_ms = report.backend_idle.as_millis() as u64;
    assert!(
        report.by_gap.iter().all(|b| b.gap_ms + 20 > idle_ms),
        "{:?}",
        report.by_gap
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_through_nginx_to_tomcat_causes_a_502() {
    // Tomcat closes idle connections after 1s (its poller checks timeouts about once a second).
    let tomcat = ward_testkit::tomcat::Tomcat::builder()
        .keep_alive_timeout(Duration::from_secs(1))
        .start()
        .expect("tomcat starts");
    let nginx = Nginx::builder()
        .http_config(format!(
            "upstream backend {{ server {}; keepalive 32; keepalive_timeout 60s; }}",
            tomcat.addr()
        ))
        .location(
            "/",
            "proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";",
        )
        .start()
        .expect("nginx starts");
    let report = race_until_a_502(
        &nginx.http_url("/index.txt"),
        &tomcat.url("/index.txt"),
        Duration::from_secs(60),
        "tomcat race",
    )
    .await;
    assert_eq!(
        report.status_codes.get(&405),
        None,
        "Tomcat must accept POST to the static file: {report:?}"
    );
    assert!(
        report.bad_gateway >= 1,
        "no 502 in {:?}: {report:?}\n{}",
        report.duration,
        tomcat.log_tail(20)
    );
    let log = nginx.error_log_text();
    assert!(
        RACE_LINES.iter().any(|l| log.contains(l)),
        "nginx error log lacks the race line:\n{log}"
    );
}

#[tokio::test]
async fn idle_probe_through_nginx_measures_its_client_side_timeout() {
    let nginx = Nginx::builder()
        .http_config("keepalive_timeout 2s;")
        .location("/", "return 200 'ok';")
        .start()
        .expect("nginx starts");
    let mut config = IdleConfig::new(nginx.http_url("/").parse().unwrap());
    config.max_wait = Duration::from_secs(10);
    config.samples = 2;
    let report = idle::probe(&config).await.unwrap();
    let t = report.timeout.unwrap().as_secs_f64();
    assert!((t - 2.0).abs() < 0.5, "measured {t}s: {report:?}");
    assert_eq!(report.close, CloseKind::Fin, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_probe_bisects_a_silent_drop_by_a_middlebox() {
    // The backend keeps idle connections for a minute; the middlebox in front of it
    // forgets them after 1.5s without a FIN or RST, so the passive wait sees nothing.
    const DROP: Duration = Duration::from_millis(1500);
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(60))
        .start()
        .unwrap();
    let proxy = TcpProxy::with_idle_drop(backend.addr(), DROP).unwrap();
    let mut config = IdleConfig::new(format!("http://{}/", proxy.addr()).parse().unwrap());
    config.max_wait = Duration::from_secs(2);
    config.timeout = Duration::from_millis(300);
    config.samples = 2;
    let started = Instant::now();
    let report = idle::probe(&config).await.unwrap();
    let took = started.elapsed();
    eprintln!(
        "silent drop ({took:?}): {}",
        serde_json::to_string(&report).unwrap()
    );
    assert_eq!(report.method, IdleMethod::Bisect, "{report:?}");
    assert_eq!(report.close, CloseKind::SilentDrop, "{report:?}");
    let b = report.bracket.expect("a bracket");
    // A success proves the drop came later; a failure may come a timer tick early.
    assert!(b.lower <= DROP, "{b:?}");
    assert!(DROP <= b.upper + Duration::from_millis(20), "{b:?}");
    assert!(
        b.upper - b.lower <= idle::resolution(config.max_wait),
        "{b:?} wider than {:?}",
        idle::resolution(config.max_wait)
    );
    assert_eq!(report.timeout, Some(b.upper), "{report:?}");
    // Passive wait + one check, then each round: its upper bound + connect/request + check.
    let bound =
        config.max_wait + config.timeout + (config.max_wait + config.timeout * 2) * BISECT_ROUNDS;
    assert!(took <= bound, "took {took:?}, bound {bound:?}");
    assert_eq!(backend.idle_closes(), 0, "the backend never closed first");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["method"], "bisect");
    assert_eq!(json["bracket"]["upper_seconds"], b.upper.as_secs_f64());
}
