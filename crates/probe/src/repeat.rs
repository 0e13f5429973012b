//! Repeated checks of one target, paced: what `ward probe --count N
//! --interval D` runs. Each outcome goes to the caller as it completes, so
//! memory does not grow with the count.

use std::time::Duration;

use crate::http::HttpRequest;
use crate::outcome::Outcome;
use crate::prober::Prober;
use crate::target::Target;

/// What each check of a repetition does.
#[derive(Debug, Clone)]
pub enum Check {
    /// Send this HTTP request (method, headers, body and accepted statuses as given).
    Request(HttpRequest),
    /// The target's default check ([`Prober::check`]).
    Target(Target),
}

impl Prober {
    /// Runs `check` `count` times, `interval` apart (from the end of one
    /// check to the start of the next), handing each outcome to `each`;
    /// stops at the first error `each` returns.
    pub async fn repeat<E>(
        &self,
        check: &Check,
        count: u32,
        interval: Duration,
        mut each: impl FnMut(Outcome) -> Result<(), E>,
    ) -> Result<(), E> {
        for i in 0..count {
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            let outcome = match check {
                Check::Request(request) => self.check_http(request).await,
                Check::Target(target) => self.check(target).await,
            };
            each(outcome)?;
        }
        Ok(())
    }
}
