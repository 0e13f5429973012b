//! The lab's HTTP side: the dashboard (`/ui`) with the lab-wide `/status` and
//! `/check_all` (built from every nurse's last round, no extra checks), the
//! ingress and service paths the nurses check (`/ingress/alwayshappy`,
//! `/service/alwayshappy`, and the same under `/from/NODE/` naming the
//! caller; see `route`), the fault controls (`POST /lab/fault?spec=…`,
//! `POST /lab/clear?spec=…`), the SLO and API-server panel's figures
//! (`/lab/slo`, see `slo`), and `/metrics` with the cluster DNS probers'
//! series (hostlookuper's names).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header::LOCATION;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ward_agent::Endpoint;

use crate::route::Route;
use crate::{Fault, Inner};

/// Serves the lab's router until `stop`.
pub(crate) async fn serve(listener: TcpListener, inner: Arc<Inner>, stop: CancellationToken) {
    let mut router = Router::new()
        .route("/ui", get(ward_nurse::ui::dashboard))
        .route("/status", get(status))
        .route("/check_all", get(check_all));
    for route in Route::ALL {
        let path = format!("{}/alwayshappy", route.segment());
        router = router
            .route(
                &format!("/{path}"),
                any(
                    move |State(inner): State<Arc<Inner>>, method: Method| async move {
                        inner.forward(route, "", &method).await
                    },
                ),
            )
            .route(
                &format!("/from/{{caller}}/{path}"),
                any(
                    move |State(inner): State<Arc<Inner>>,
                          Path(caller): Path<String>,
                          method: Method| async move {
                        inner.forward(route, &caller, &method).await
                    },
                ),
            );
    }
    let router = router
        .route("/lab/fault", post(apply))
        .route("/lab/clear", post(clear))
        .route("/lab/summary", get(summary))
        .route("/lab/slo", get(slo))
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

async fn slo(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.slo_panel()).into_response()
}

fn fault_from(q: &BTreeMap<String, String>) -> Result<Fault, crate::Error> {
    let spec = q.get("spec").map(String::as_str).unwrap_or_default();
    Ok(spec.parse::<Fault>()?)
}

/// 204, or 400 with what was wrong: a fault is named as given, `spec "…": reason`.
fn answer(result: Result<(), crate::Error>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(crate::Error::Fault(e)) => (
            StatusCode::BAD_REQUEST,
            format!("spec {:?}: {}", e.spec, e.reason),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn apply(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    answer(fault_from(&q).and_then(|f| inner.apply(&f)))
}

async fn clear(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    answer(fault_from(&q).and_then(|f| inner.clear(&f)))
}
