//! The runtime every long-running ward subcommand shares (nurse, lookup, e2e
//! serve, lab): periodic rounds with jitter and a deadline per round
//! ([`schedule`]), HTTP(S) endpoints with readiness and lameduck shutdown
//! ([`lifecycle`]), and a metrics registry that writes the exposition format
//! of the Go tools ward replaces ([`metrics`], [`process_metrics`]).
//!
//! A new agent is a round function plus its metrics and routes; it never
//! writes its own server loop or signal handling.
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod idle;
pub mod lifecycle;
pub mod metrics;
pub mod process_metrics;
pub mod schedule;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::any;
use axum::Router;

pub use lifecycle::{Endpoint, Lifecycle};
pub use metrics::Registry;
pub use schedule::{every, RoundEnd, Schedule};

/// This host's name, from `HOSTNAME` or /etc/hostname (in Kubernetes, the
/// pod's name): how an agent names itself when the downward API's
/// `POD_NAME` is not set.
pub fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
}

/// The size a `/metrics` response chunk is filled to before it is sent.
const METRICS_CHUNK: usize = 16 * 1024;

/// A router serving `/metrics` (for any method, as Go's `ServeMux` does):
/// the registry's series, then process metrics.
///
/// The text is written and sent in chunks of about 16 KiB as the client reads
/// it, so a large exposition (hundreds of histograms) never sits in memory
/// whole.
pub fn metrics_router(registry: Arc<Registry>) -> Router {
    let process = process_metrics::ProcessMetrics::new();
    Router::new().route(
        "/metrics",
        any(move || {
            let mut exposition = registry.exposition();
            let metadata = registry.metadata();
            let process = process.clone();
            let mut done = false;
            let chunks = std::iter::from_fn(move || {
                if done {
                    return None;
                }
                let mut chunk = String::with_capacity(METRICS_CHUNK + METRICS_CHUNK / 4);
                if !exposition.write(&mut chunk, METRICS_CHUNK) {
                    process.encode(&mut chunk, metadata);
                    done = true;
                }
                Some(Ok::<_, Infallible>(chunk))
            });
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    Body::from_stream(futures::stream::iter(chunks)),
                )
                    .into_response()
            }
        }),
    )
}
