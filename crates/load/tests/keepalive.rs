//! Keep-alive diagnosis against real servers on loopback: the idle-timeout
//! probe against the Rust test backend, and the race through real nginx.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use ward_load::idle::{self, CloseKind, IdleConfig};
use ward_load::race::{race, RaceConfig};
use ward_testkit::backend::{Backend, Close};
use ward_testkit::nginx::Nginx;

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

#[tokio::test]
async fn idle_probe_finds_a_3s_fin_timeout() {
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(3))
        .start()
        .unwrap();
    let mut config = IdleConfig::new(backend.url("/").parse().unwrap());
    config.max_wait = Duration::from_secs(10);
    let started = Instant::now();
    let report = idle::probe(&config).await.unwrap();
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
async fn idle_probe_tells_a_reset() {
    let backend = Backend::builder()
        .idle_timeout(Duration::from_millis(700))
        .close(Close::Reset)
        .start()
        .unwrap();
    let mut config = IdleConfig::new(backend.url("/").parse().unwrap());
    config.max_wait = Duration::from_secs(5);
    let report = idle::probe(&config).await.unwrap();
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
    let mut config = RaceConfig::new(nginx.http_url("/race").parse().unwrap());
    config.backend = Some(backend.url("/").parse().unwrap());
    config.max_time = Duration::from_secs(60);
    config.stop_after = 1;
    config.max_wait = Duration::from_secs(10);
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let report = race(&config, tx, CancellationToken::new()).await.unwrap();
    eprintln!("race: {}", serde_json::to_string(&report).unwrap());
    assert!(
        report.bad_gateway >= 1,
        "no 502 in {:?}: {report:?}",
        report.duration
    );
    assert!(report.duration < Duration::from_secs(75));
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
    let mut config = RaceConfig::new(nginx.http_url("/race").parse().unwrap());
    config.backend = Some(patient.url("/").parse().unwrap());
    config.max_time = Duration::from_secs(20);
    config.stop_after = 1;
    config.max_wait = Duration::from_secs(10);
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let report = race(&config, tx, CancellationToken::new()).await.unwrap();
    eprintln!("control: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(report.bad_gateway, 0, "{report:?}");
    assert!(report.waves >= 3, "{report:?}");
    let log = nginx.error_log_text();
    assert!(!RACE_LINES.iter().any(|l| log.contains(l)), "{log}");
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
    let mut config = RaceConfig::new(nginx.http_url("/index.txt").parse().unwrap());
    config.backend = Some(tomcat.url("/index.txt").parse().unwrap());
    config.max_time = Duration::from_secs(60);
    config.stop_after = 1;
    config.max_wait = Duration::from_secs(10);
    let (tx, _rx) = tokio::sync::watch::channel(Default::default());
    let report = race(&config, tx, CancellationToken::new()).await.unwrap();
    eprintln!("tomcat race: {}", serde_json::to_string(&report).unwrap());
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
