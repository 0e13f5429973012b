//! Statistics over repeated checks of one target: min/p50/p99/max per phase,
//! successes, and failures by class.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::outcome::Outcome;

/// Distribution of one phase over the checks where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Number of samples.
    pub count: usize,
    /// Smallest.
    #[serde(serialize_with = "secs")]
    pub min: Duration,
    /// Median (nearest rank).
    #[serde(serialize_with = "secs")]
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    #[serde(serialize_with = "secs")]
    pub p99: Duration,
    /// Largest.
    #[serde(serialize_with = "secs")]
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
        let mut failures = BTreeMap::new();
        for o in outcomes {
            if let Some(e) = &o.error {
                *failures.entry(e.class.as_str()).or_insert(0) += 1;
            }
        }
        let mut phases = BTreeMap::new();
        for (i, name) in ["dns", "connect", "tls", "send", "wait", "receive"]
            .into_iter()
            .enumerate()
        {
            let samples = outcomes
                .iter()
                .filter_map(|o| o.phases.named()[i].1)
                .collect();
            if let Some(stats) = Stats::of(samples) {
                phases.insert(name, stats);
            }
        }
        Self {
            checks: outcomes.len(),
            successes: outcomes.iter().filter(|o| o.success).count(),
            failures,
            phases,
            total: Stats::of(outcomes.iter().map(|o| o.total).collect()),
        }
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
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
