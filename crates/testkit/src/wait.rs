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
