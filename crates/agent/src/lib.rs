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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub use lifecycle::{Endpoint, Lifecycle};
pub use metrics::Registry;
pub use schedule::{every, RoundEnd, Schedule};

/// A router serving `GET /metrics`: the registry's series, then process metrics.
///
/// The body is sized from the previous scrape, so a large exposition is
/// written once instead of through repeated doubling copies.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    let last_len = Arc::new(AtomicUsize::new(16 * 1024));
    Router::new().route(
        "/metrics",
        get(move || {
            let registry = registry.clone();
            let last_len = last_len.clone();
            async move {
                let hint = last_len.load(Ordering::Relaxed);
                let mut body = String::with_capacity(hint + hint / 16);
                registry.encode(&mut body);
                process_metrics::encode(&mut body);
                last_len.store(body.len(), Ordering::Relaxed);
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    body,
                )
                    .into_response()
            }
        }),
    )
}
