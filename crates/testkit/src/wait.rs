//! Waiting for a condition with a deadline, the only way tests synchronise.

use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or `None` once `timeout` has passed.
///
/// Polls quickly at first, backing off to every 50 ms.
pub fn until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        #[allow(clippy::disallowed_methods)] // the poll interval of a deadline-bounded wait
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Polls `check` like [`until`] until it is true, and returns how long that took.
///
/// # Panics
/// Naming `what`, when `check` is still false after `timeout`.
pub fn expect(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    expect_value(what, timeout, || check().then_some(()));
    start.elapsed()
}

/// Polls `check` like [`until`] and returns its first `Some`.
///
/// # Panics
/// Naming `what`, when `check` still returns `None` after `timeout`.
pub fn expect_value<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    until(timeout, check).unwrap_or_else(|| panic!("{what}: not within {timeout:?}"))
}

/// [`until`] inside an async test: polls `check` with the same back-off,
/// yielding to the runtime (so the code under test runs on the same
/// thread) instead of blocking it.
pub async fn until_async<T, F>(timeout: Duration, mut check: impl FnMut() -> F) -> Option<T>
where
    F: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
