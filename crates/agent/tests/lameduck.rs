//! The lameduck sequence end to end over real sockets: `/ready` turns 503 at
//! once, other endpoints keep serving for the shutdown duration, then the
//! agent stops by itself.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tokio::time::Instant;
use ward_agent::{lifecycle, Endpoint, Lifecycle, Registry};
use ward_testkit::net::{accepts, http_get};
use ward_testkit::wait;

#[test]
fn ready_turns_503_then_the_agent_stops_after_the_shutdown_duration() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let life = Lifecycle::new();
    let registry = Arc::new(Registry::default());
    registry.counter("rounds_total", &[]).inc();
    let l = life.clone();
    let router = Router::new()
        .route(
            "/ready",
            get(move || {
                let l = l.clone();
                async move {
                    if l.is_lameduck() {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route("/alwayshappy", get(|| async { "ok" }))
        .merge(ward_agent::metrics_router(registry));
    let endpoint = runtime
        .block_on(Endpoint::bind("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let addr = endpoint.local_addr().unwrap();
    let stop = life.stopping();
    let rounds = async move { stop.cancelled().await };
    let agent = runtime.spawn(lifecycle::run(
        life.clone(),
        vec![endpoint],
        router,
        rounds,
        Duration::from_millis(1500),
    ));

    assert_eq!(http_get(addr, "/ready").unwrap().status, 200);
    let metrics = http_get(addr, "/metrics").unwrap().body;
    assert!(
        metrics.starts_with("rounds_total 1\nprocess_cpu_seconds_system_total "),
        "{metrics}"
    );

    let asked = Instant::now();
    life.request_shutdown();
    assert!(wait::until(Duration::from_secs(1), || {
        (http_get(addr, "/ready").map(|r| r.status) == Some(503)).then_some(())
    })
    .is_some());
    assert_eq!(
        http_get(addr, "/alwayshappy").unwrap().status,
        200,
        "still serving in lameduck"
    );
    let closed = wait::until(Duration::from_secs(10), || (!accepts(addr)).then_some(()));
    assert!(closed.is_some(), "agent still listening 10s after shutdown");
    assert!(
        asked.elapsed() >= Duration::from_millis(1500),
        "stopped before the shutdown duration"
    );
    runtime.block_on(agent).unwrap();
}
