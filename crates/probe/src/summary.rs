//! Statistics over repeated checks of one target: min/p50/p99/max per phase,
//! successes, and failures by class.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::outcome::Outcome;
use crate::trace::Phase;

/// Distribution of one phase over the checks where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Number of samples.
    pub count: usize,
    /// Smallest.
    #[serde(with = "ward_duration::seconds")]
    pub min: Duration,
    /// Median (nearest rank).
    #[serde(with = "ward_duration::seconds")]
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    #[serde(with = "ward_duration::seconds")]
    pub p99: Duration,
    /// Largest.
    #[serde(with = "ward_duration::seconds")]
    pub max: Duration,
}

impl Stats {
    /// Stats of `samples`, or `None` when empty.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = |q: f64| {
            samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1]
        };
        Some(Self {
            count: samples.len(),
            min: samples[0],
            p50: rank(0.50),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

/// Summary of repeated checks.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Checks run.
    pub checks: usize,
    /// Checks that passed.
    pub successes: usize,
    /// Failures by error class.
    pub failures: BTreeMap<&'static str, usize>,
    /// Per-phase stats (dns, connect, tls, send, wait, receive), phases that never happened omitted.
    pub phases: BTreeMap<&'static str, Stats>,
    /// Stats of the total time.
    pub total: Option<Stats>,
}

impl Summary {
    /// Summarises `outcomes`.
    pub fn of(outcomes: &[Outcome]) -> Self {
        let mut tally = Tally::default();
        outcomes.iter().for_each(|o| tally.add(o));
        tally.summary()
    }
}

/// A running [`Summary`] of repeated checks that keeps only the phase
/// durations (a few bytes per check), so a long run needs no outcomes kept.
#[derive(Debug, Default)]
pub struct Tally {
    checks: usize,
    successes: usize,
    failures: BTreeMap<&'static str, usize>,
    phases: [Vec<Duration>; Phase::ALL.len()],
    total: Vec<Duration>,
}

impl Tally {
    /// Counts one check.
    pub fn add(&mut self, outcome: &Outcome) {
        self.checks += 1;
        if outcome.success {
            self.successes += 1;
        }
        if let Some(e) = &outcome.error {
            *self.failures.entry(e.class.as_str()).or_insert(0) += 1;
        }
        for (phase, d) in outcome.phases.iter() {
            self.phases[phase as usize].push(d);
        }
        self.total.push(outcome.total);
    }

    /// Checks counted so far.
    pub fn checks(&self) -> usize {
        self.checks
    }

    /// Checks that failed so far.
    pub fn failed(&self) -> usize {
        self.checks - self.successes
    }

    /// The summary of every check counted.
    pub fn summary(self) -> Summary {
        let phases = Phase::ALL
            .into_iter()
            .zip(self.phases)
            .filter_map(|(phase, samples)| Some((phase.as_str(), Stats::of(samples)?)))
            .collect();
        Summary {
            checks: self.checks,
            successes: self.successes,
            failures: self.failures,
            phases,
            total: Stats::of(self.total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms = |v: u64| Duration::from_millis(v);
        let s = Stats::of((1..=100).map(ms).collect()).unwrap();
        assert_eq!(
            (s.min, s.p50, s.p99, s.max),
            (ms(1), ms(50), ms(99), ms(100))
        );
        let one = Stats::of(vec![ms(7)]).unwrap();
        assert_eq!((one.p50, one.p99), (ms(7), ms(7)));
        assert!(Stats::of(vec![]).is_none());
    }
}
