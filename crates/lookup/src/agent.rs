//! `ward lookup` as a long-running agent on `ward_agent`: each host x server
//! pair looked up every interval on its own cadence, `/metrics`, `/healthz`
//! (always 200) and `/readyz` (200 once every pair completed a lookup, 503
//! before and during shutdown), each for any method as Go's mux serves them.
//! Signals, server loop and exposition belong to `ward_agent`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::any;
use axum::Router;
use ward_agent::{lifecycle, metrics_router, Registry};
pub use ward_agent::{Endpoint, Lifecycle};

use crate::config::{parse_listen, Config};
use crate::error::{Error, Result};
use crate::metrics;
use crate::round::Lookuper;

/// The longest time over which the pairs' first lookups are started
/// (hostlookuper starts each host x server pair at a random offset in
/// [0, 500 ms)); at most half the interval.
const MAX_SPREAD: Duration = Duration::from_millis(500);

/// `/metrics`, `/healthz` and `/readyz`, for any method.
pub fn router(lifecycle: Arc<Lifecycle>, registry: Arc<Registry>) -> Router {
    metrics_router(registry)
        .route("/healthz", any(|| async { "ok" }))
        .route(
            "/readyz",
            any(move || {
                let ready = lifecycle.has_completed_round() && !lifecycle.is_lameduck();
                async move {
                    if ready {
                        (StatusCode::OK, "ok")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                    }
                }
            }),
        )
}

/// Binds a Go-style listen address (`:9090` = every interface, IPv6 first, IPv4 if that fails).
pub async fn bind(listen: &str) -> Result<Endpoint> {
    Endpoint::bind_first(&parse_listen(listen)?)
        .await
        .map_err(|source| Error::Bind {
            listen: listen.to_string(),
            source,
        })
}

/// Runs the agent until SIGTERM/SIGINT or [`Lifecycle::request_shutdown`].
///
/// Each host x server pair keeps its own cadence ([`Lookuper::run`]): the
/// pairs start spread over half the interval, at most 500 ms, and a server
/// that does not answer slows no other. `/readyz` turns 200 once every pair
/// completed a lookup.
///
/// Hosts that do not resolve are reported in the metrics; the agent keeps running.
pub async fn run(
    config: Config,
    endpoints: Vec<Endpoint>,
    lifecycle: Arc<Lifecycle>,
) -> Result<()> {
    let registry = metrics::registry(config.prom_histogram);
    let lookuper = Arc::new(Lookuper::new(config, &registry)?);
    let interval = lookuper.config().interval;
    let spread = (interval / 2).min(MAX_SPREAD);
    let stop = lifecycle.stopping();
    let lc = lifecycle.clone();
    let rounds = async move {
        lookuper
            .run(interval, spread, stop, || lc.round_completed())
            .await;
    };
    let router = router(lifecycle.clone(), registry);
    lifecycle::run(lifecycle, endpoints, router, rounds, Duration::ZERO).await;
    Ok(())
}
