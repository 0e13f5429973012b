//! The runtime every long-running ward subcommand shares (nurse, lookup, e2e
//! serve, lab): periodic rounds with jitter and a deadline per round
//! ([`schedule`]), HTTP(S) endpoints with readiness and lameduck shutdown
//! ([`lifecycle`]), and a metrics registry that writes the exposition format
//! of the Go tools ward replaces ([`metrics`], [`process_metrics`]).
//!
//! A new agent is a round function plus its metrics and routes; it never
//! writes its own server loop or signal handling.
#![deny(missing_docs)]

pub mod lifecycle;
pub mod metrics;
pub mod process_metrics;
pub mod schedule;

use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub use lifecycle::{Endpoint, Lifecycle};
pub use metrics::Registry;
pub use schedule::{every, RoundEnd, Schedule};

/// A router serving `GET /metrics`: the registry's series, then process metrics.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            async move {
                let mut body = String::with_capacity(16 * 1024);
                registry.encode(&mut body);
                process_metrics::encode(&mut body);
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    body,
                )
                    .into_response()
            }
        }),
    )
}
