//! Periodic rounds with jitter and a deadline per round, stopped by a
//! cancellation token. Agents supply the round; this owns the clock.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The shortest time between round starts: a smaller interval (zero
/// included) runs at this one. The one floor every agent and the lab share.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// How rounds are timed.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Time between round starts (at least [`MIN_INTERVAL`]).
    pub interval: Duration,
    /// Fraction of the interval (0.0–1.0) by which the first round is randomly
    /// delayed, so many agents started together do not fire at the same instant.
    pub jitter: f64,
    /// Deadline of one round; a round that overruns is cancelled.
    pub round_timeout: Duration,
}

/// What happened to one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundEnd {
    /// The round finished in time.
    Completed,
    /// The round was cancelled at its deadline.
    TimedOut,
}

impl Schedule {
    /// The interval rounds really run at: the configured one, at least [`MIN_INTERVAL`].
    pub fn effective_interval(&self) -> Duration {
        self.interval.max(MIN_INTERVAL)
    }
}

/// Runs `round(n)` every `schedule.interval` until `stop` is cancelled; the first
/// round starts at once unless jitter delays it. Rounds never overlap: a round
/// longer than the interval delays the next one. A round running when `stop`
/// is cancelled is dropped where it waits. Returns the number of rounds run.
pub async fn every<F, Fut>(schedule: Schedule, stop: CancellationToken, mut round: F) -> u64
where
    F: FnMut(u64, RoundEnd) -> Fut,
    Fut: Future<Output = ()>,
{
    let interval = schedule.effective_interval();
    let offset = interval.mul_f64(schedule.jitter.clamp(0.0, 1.0) * rand::random::<f64>());
    let mut ticker = tokio::time::interval_at(Instant::now() + offset, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut n = 0u64;
    let mut last = RoundEnd::Completed;
    loop {
        // `biased`: once `stop` is cancelled no round starts or completes.
        tokio::select! {
            biased;
            _ = stop.cancelled() => return n,
            _ = ticker.tick() => {}
        }
        let run = tokio::time::timeout(schedule.round_timeout, round(n, last));
        last = tokio::select! {
            biased;
            _ = stop.cancelled() => return n + 1,
            r = run => if r.is_ok() { RoundEnd::Completed } else { RoundEnd::TimedOut },
        };
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn rounds_follow_the_interval_and_stop_on_cancel() {
        let stop = CancellationToken::new();
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let s = stop.clone();
        let schedule = Schedule {
            interval: Duration::from_secs(5),
            jitter: 0.0,
            round_timeout: Duration::from_secs(4),
        };
        let task = tokio::spawn(every(schedule, s, move |_, _| {
            c.fetch_add(1, Ordering::SeqCst);
            async {}
        }));
        tokio::time::sleep(Duration::from_millis(12_500)).await;
        stop.cancel();
        assert_eq!(task.await.unwrap(), 3, "rounds at 0s, 5s, 10s");
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_delays_only_the_first_round_within_one_interval() {
        let interval = Duration::from_secs(5);
        let mut firsts = Vec::new();
        for _ in 0..20 {
            let stop = CancellationToken::new();
            let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (s, begin) = (starts.clone(), Instant::now());
            let schedule = Schedule {
                interval,
                jitter: 1.0,
                round_timeout: Duration::from_secs(1),
            };
            let task = tokio::spawn(every(schedule, stop.clone(), move |_, _| {
                s.lock().unwrap().push(begin.elapsed());
                async {}
            }));
            tokio::time::sleep(interval * 3).await;
            stop.cancel();
            task.await.unwrap();
            let starts = starts.lock().unwrap().clone();
            // Within one interval: tokio's timer rounds an offset just under
            // the interval up to the next millisecond, i.e. to the interval.
            assert!(starts[0] <= interval, "{starts:?}");
            assert!(
                starts.windows(2).all(|w| w[1] - w[0] == interval),
                "then every interval: {starts:?}"
            );
            firsts.push(starts[0]);
        }
        firsts.sort();
        firsts.dedup();
        assert!(firsts.len() > 1, "random offsets: {firsts:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_below_the_floor_runs_at_the_floor() {
        let stop = CancellationToken::new();
        let schedule = Schedule {
            interval: Duration::ZERO,
            jitter: 0.0,
            round_timeout: Duration::from_secs(1),
        };
        assert_eq!(schedule.effective_interval(), MIN_INTERVAL);
        let task = tokio::spawn(every(schedule, stop.clone(), |_, _| async {}));
        tokio::time::sleep(MIN_INTERVAL * 3 + MIN_INTERVAL / 2).await;
        stop.cancel();
        assert_eq!(task.await.unwrap(), 4, "rounds at 0, 1, 2 and 3 floors");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_round_is_cut_at_its_deadline() {
        let stop = CancellationToken::new();
        let ends = Arc::new(std::sync::Mutex::new(Vec::new()));
        let e = ends.clone();
        let schedule = Schedule {
            interval: Duration::from_secs(1),
            jitter: 0.0,
            round_timeout: Duration::from_millis(500),
        };
        let s = stop.clone();
        let task = tokio::spawn(every(schedule, s, move |n, last| {
            e.lock().unwrap().push(last);
            async move {
                if n == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
            }
        }));
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        stop.cancel();
        task.await.unwrap();
        assert_eq!(
            *ends.lock().unwrap(),
            vec![RoundEnd::Completed, RoundEnd::TimedOut]
        );
    }
}
