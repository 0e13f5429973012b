//! Running a started lab until it should end: `--duration`, or a
//! cancellation (SIGTERM or Ctrl-C for `ward lab`), with the live state
//! handed out every check interval.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use ward_agent::schedule::MIN_INTERVAL;

use crate::{Lab, Summary};

impl Lab {
    /// Runs until `duration` has passed (without one, until `stop` is
    /// cancelled) or `stop` is cancelled, calling `live` with the state
    /// every `every` (at least the agents' interval floor); then stops the
    /// lab and returns its summary.
    pub async fn run_until(
        self,
        duration: Option<Duration>,
        every: Duration,
        stop: CancellationToken,
        mut live: impl FnMut(&Summary),
    ) -> Summary {
        let deadline = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(every.max(MIN_INTERVAL));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = stop.cancelled() => break,
                _ = tick.tick() => live(&self.live()),
            }
        }
        self.stop().await
    }
}
