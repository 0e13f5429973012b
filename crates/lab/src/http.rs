//! The lab's HTTP side: the dashboard (`/ui`) with the lab-wide `/status` and
//! `/check_all` (built from every nurse's last round, no extra checks), the
//! ingress and service paths the nurses check (`/ingress/alwayshappy`,
//! `/service/alwayshappy`, forwarded round-robin to a live nurse), and the
//! fault controls (`POST /lab/fault?spec=…`, `POST /lab/clear?spec=…`), and
//! `/metrics` with the cluster DNS probers' series (hostlookuper's names).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_agent::Endpoint;
use ward_probe::http::{AcceptStatus, HttpRequest};

use crate::{Fault, Inner};

/// Serves the lab's router until `stop`.
pub(crate) async fn serve(listener: TcpListener, inner: Arc<Inner>, stop: CancellationToken) {
    let router = Router::new()
        .route("/ui", get(ward_nurse::ui::dashboard))
        .route("/status", get(status))
        .route("/check_all", get(check_all))
        .route("/ingress/alwayshappy", any(forward))
        .route("/service/alwayshappy", any(forward))
        .route("/lab/fault", post(apply))
        .route("/lab/clear", post(clear))
        .route("/lab/summary", get(summary))
        .fallback(|| async { (StatusCode::FOUND, [(LOCATION, "/ui")]) })
        .with_state(inner.clone())
        .merge(ward_agent::metrics_router(inner.dns_metrics.clone()));
    ward_agent::lifecycle::serve(Endpoint::from_listener(listener, None), router, stop).await;
}

async fn status(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.status_page()).into_response()
}

async fn check_all(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.check_all()).into_response()
}

async fn summary(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.summary()).into_response()
}

/// Forwards to the next live nurse's `/alwayshappy` (200, or 502 when it fails).
async fn forward(State(inner): State<Arc<Inner>>) -> StatusCode {
    let targets: Vec<String> = crate::lock(&inner.nodes)
        .iter()
        .filter(|n| n.lifecycle.is_some())
        .map(|n| format!("http://{}:{}/alwayshappy", n.ip, inner.nurse_port))
        .collect();
    if targets.is_empty() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let i = inner.next_backend.fetch_add(1, Ordering::Relaxed) % targets.len();
    let Ok(url) = url::Url::parse(&targets[i]) else {
        return StatusCode::BAD_GATEWAY;
    };
    let mut request = HttpRequest::get(url);
    request.accept = AcceptStatus::Exact(vec![200]);
    if inner.prober.check_http(&request).await.success {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    }
}

fn fault_from(q: &BTreeMap<String, String>) -> Result<Fault, String> {
    let spec = q.get("spec").map(String::as_str).unwrap_or_default();
    spec.parse::<Fault>().map_err(|e| e.to_string())
}

fn answer(result: Result<Result<(), crate::Error>, String>) -> Response {
    match result {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn apply(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    answer(fault_from(&q).map(|f| inner.apply(&f)))
}

async fn clear(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    answer(fault_from(&q).map(|f| inner.clear(&f)))
}
