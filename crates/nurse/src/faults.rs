//! Faults a caller (the lab) can inject into a running nurse without root:
//! `cut` makes every endpoint stop answering (requests hang until the caller
//! gives up, as with dropped packets), `delay` adds latency before each
//! answer. They act on the nurse's own HTTP endpoints through one axum
//! middleware; outgoing checks are unaffected.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Switches for the faults of one nurse (all off by default).
#[derive(Debug, Default)]
pub struct Faults {
    cut: AtomicBool,
    delay_micros: AtomicU64,
}

impl Faults {
    /// No faults.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Cut (true) or reconnect (false) the nurse's endpoints.
    pub fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::Relaxed);
    }

    /// True while cut.
    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    /// Latency added before every answer (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_micros.store(
            u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The latency added now.
    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_micros.load(Ordering::Relaxed))
    }
}

/// The middleware applying `faults` to every request.
pub async fn apply(State(faults): State<Arc<Faults>>, request: Request, next: Next) -> Response {
    while faults.is_cut() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delay = faults.delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tokio::time::Instant;

    async fn call(router: Router) -> Option<u16> {
        use tower::ServiceExt;
        let request = Request::builder()
            .uri("/")
            .body(axum::body::Body::empty())
            .ok()?;
        let fut = router.oneshot(request);
        tokio::time::timeout(Duration::from_secs(1), fut)
            .await
            .ok()?
            .ok()
            .map(|r| r.status().as_u16())
    }

    #[tokio::test(start_paused = true)]
    async fn cut_hangs_delay_delays_and_clearing_restores() {
        let faults = Faults::new();
        let router = Router::new()
            .route("/", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(faults.clone(), apply));
        assert_eq!(call(router.clone()).await, Some(200));
        faults.set_cut(true);
        assert_eq!(
            call(router.clone()).await,
            None,
            "a cut nurse does not answer"
        );
        faults.set_cut(false);
        faults.set_delay(Duration::from_millis(200));
        let start = Instant::now();
        assert_eq!(call(router.clone()).await, Some(200));
        assert!(start.elapsed() >= Duration::from_millis(200));
        faults.set_delay(Duration::ZERO);
        let start = Instant::now();
        assert_eq!(call(router).await, Some(200));
        // Under the 200 ms delay just cleared: the fault is gone (a tighter
        // bound would time the machine, not the fault).
        assert!(start.elapsed() < Duration::from_millis(200));
    }
}
