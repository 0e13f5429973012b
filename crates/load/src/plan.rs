//! The closed-model schedule: stages of virtual users (k6's ramping-vus),
//! optionally repeated with random idle gaps between cycles. Pure arithmetic:
//! how many VUs should run at a given moment and when the plan ends.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One stage: ramp linearly from the previous target to `target` VUs over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage {
    /// How long the stage lasts (zero = a step change).
    pub duration: Duration,
    /// VUs at the end of the stage.
    pub target: u64,
}

/// A VU schedule: stages run as one cycle, repeated with idle gaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// VUs at the start of each cycle (the first stage ramps from here).
    pub start_vus: u64,
    /// The stages of one cycle.
    pub stages: Vec<Stage>,
    /// Idle gap between cycles: a random duration in `min..=max` (0 VUs, connections kept).
    pub cycle_idle: Option<(Duration, Duration)>,
    /// How many cycles to run (at least 1).
    pub repeat: u32,
}

/// VUs of a flat run unless told otherwise (k6's default).
pub const DEFAULT_VUS: u64 = 1;
/// Length of a flat run unless told otherwise (k6's default).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl Default for Plan {
    fn default() -> Self {
        Plan::flat(DEFAULT_VUS, DEFAULT_DURATION)
    }
}

/// The upper bound on VUs, to keep a typo from exhausting file descriptors.
pub const MAX_VUS: u64 = 100_000;

/// The upper bound on cycles, to keep a typo from laying out billions of them.
pub const MAX_REPEAT: u32 = 100_000;

/// The upper bound on a run's length (every cycle, without idle gaps): a year.
pub const MAX_RUN: Duration = Duration::from_secs(365 * 86_400);

impl Plan {
    /// `vus` VUs for `duration` (k6's `--vus N --duration D`).
    pub fn flat(vus: u64, duration: Duration) -> Self {
        Plan {
            start_vus: vus,
            stages: vec![Stage {
                duration,
                target: vus,
            }],
            cycle_idle: None,
            repeat: 1,
        }
    }

    /// Checks the plan can run: at least one stage, some VUs, sane bounds.
    pub fn validate(&self) -> Result<()> {
        if self.stages.is_empty() {
            return Err(Error::config("stages", "at least one stage is needed"));
        }
        if self.max_vus() == 0 {
            return Err(Error::config(
                "stages",
                "every stage targets 0 VUs: nothing would run",
            ));
        }
        if self.max_vus() > MAX_VUS {
            return Err(Error::config(
                "stages",
                format!("{} VUs exceeds the limit of {MAX_VUS}", self.max_vus()),
            ));
        }
        if self.repeat == 0 {
            return Err(Error::config("repeat", "must be at least 1"));
        }
        if self.repeat > MAX_REPEAT {
            return Err(Error::config(
                "repeat",
                format!("{} cycles exceeds the limit of {MAX_REPEAT}", self.repeat),
            ));
        }
        if self.cycle_duration().saturating_mul(self.repeat) > MAX_RUN {
            return Err(Error::config(
                "stages",
                format!(
                    "{} cycles of {:?} run longer than the limit of a year",
                    self.repeat,
                    self.cycle_duration()
                ),
            ));
        }
        if self.cycle_duration().is_zero() {
            return Err(Error::config("stages", "the stages last 0s in total"));
        }
        if let Some((min, max)) = self.cycle_idle {
            if min > max {
                return Err(Error::config(
                    "cycle-idle",
                    format!("minimum {min:?} is above maximum {max:?}"),
                ));
            }
        }
        Ok(())
    }

    /// The most VUs the plan ever asks for.
    pub fn max_vus(&self) -> u64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .chain([self.start_vus])
            .max()
            .unwrap_or(0)
    }

    /// Length of one cycle (the sum of the stages).
    pub fn cycle_duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// VUs `t` into a cycle: linear interpolation within the current stage,
    /// rounded down; 0 after the cycle ends.
    pub fn vus_at(&self, t: Duration) -> u64 {
        let mut from = self.start_vus;
        let mut start = Duration::ZERO;
        for stage in &self.stages {
            let end = start + stage.duration;
            if t < end {
                let into = (t - start).as_secs_f64() / stage.duration.as_secs_f64();
                let vus = from as f64 + (stage.target as f64 - from as f64) * into;
                return vus.floor().max(0.0) as u64;
            }
            from = stage.target;
            start = end;
        }
        0
    }

    /// Lays out the cycles on a timeline, drawing each idle gap at random.
    pub fn schedule(&self) -> Schedule {
        let mut rng = rand::rng();
        let cycle = self.cycle_duration();
        let mut starts = Vec::with_capacity(self.repeat as usize);
        let mut t = Duration::ZERO;
        for i in 0..self.repeat {
            if i > 0 {
                if let Some((min, max)) = self.cycle_idle {
                    t += if max > min {
                        Duration::from_secs_f64(
                            rng.random_range(min.as_secs_f64()..=max.as_secs_f64()),
                        )
                    } else {
                        min
                    };
                }
            }
            starts.push(t);
            t += cycle;
        }
        Schedule {
            plan: self.clone(),
            starts,
            total: t,
        }
    }
}

/// A plan laid out in time: when each cycle starts and when the whole run ends.
#[derive(Debug, Clone)]
pub struct Schedule {
    plan: Plan,
    starts: Vec<Duration>,
    total: Duration,
}

impl Schedule {
    /// When the last cycle ends.
    pub fn total(&self) -> Duration {
        self.total
    }

    /// When each cycle starts.
    pub fn cycle_starts(&self) -> &[Duration] {
        &self.starts
    }

    /// VUs wanted `t` after the run started (0 in idle gaps and after the end).
    pub fn vus_at(&self, t: Duration) -> u64 {
        let cycle = self.plan.cycle_duration();
        match self.starts.iter().rev().find(|s| **s <= t) {
            Some(start) if t - *start < cycle => self.plan.vus_at(t - *start),
            _ => 0,
        }
    }

    /// The next moment after `t` where the VU count may change: the next
    /// stage boundary, cycle start, or `t + step` inside a ramp.
    pub fn next_change(&self, t: Duration, step: Duration) -> Duration {
        let cycle = self.plan.cycle_duration();
        let start = self.starts.iter().rev().find(|s| **s <= t).copied();
        let next_start = self.starts.iter().find(|s| **s > t).copied();
        let next = match start {
            Some(s) if t - s < cycle => {
                let into = t - s;
                let mut from = self.plan.start_vus;
                let mut at = Duration::ZERO;
                let mut next = s + cycle;
                for stage in &self.plan.stages {
                    let end = at + stage.duration;
                    if into < end {
                        next = if stage.target == from {
                            s + end
                        } else {
                            (t + step).min(s + end)
                        };
                        break;
                    }
                    from = stage.target;
                    at = end;
                }
                next
            }
            _ => next_start.unwrap_or(self.total),
        };
        next.max(t + Duration::from_millis(1))
            .min(self.total.max(t + Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, target: u64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn a_huge_repeat_or_run_is_refused_before_it_is_laid_out() {
        let plan = |secs, repeat| Plan {
            start_vus: 0,
            stages: vec![s(secs, 1)],
            cycle_idle: None,
            repeat,
        };
        assert_eq!(
            plan(1, 4_000_000_000).validate().unwrap_err().to_string(),
            "repeat: 4000000000 cycles exceeds the limit of 100000"
        );
        assert_eq!(
            plan(400 * 86_400, 1).validate().unwrap_err().to_string(),
            "stages: 1 cycles of 34560000s run longer than the limit of a year"
        );
        assert!(plan(1, MAX_REPEAT).validate().is_ok());
    }

    #[test]
    fn ramps_linearly_like_k6() {
        let plan = Plan {
            start_vus: 0,
            stages: vec![s(10, 100), s(10, 100), s(10, 0)],
            cycle_idle: None,
            repeat: 1,
        };
        assert_eq!(plan.vus_at(Duration::ZERO), 0);
        assert_eq!(plan.vus_at(Duration::from_secs(5)), 50);
        assert_eq!(plan.vus_at(Duration::from_secs(15)), 100);
        assert_eq!(plan.vus_at(Duration::from_secs(25)), 50);
        assert_eq!(plan.vus_at(Duration::from_secs(30)), 0);
        assert_eq!(plan.max_vus(), 100);
        assert_eq!(plan.cycle_duration(), Duration::from_secs(30));
    }

    #[test]
    fn repeats_with_idle_gaps() {
        let plan = Plan {
            start_vus: 5,
            stages: vec![s(2, 5)],
            cycle_idle: Some((Duration::from_secs(3), Duration::from_secs(3))),
            repeat: 3,
        };
        let sched = plan.schedule();
        assert_eq!(sched.total(), Duration::from_secs(2 + 3 + 2 + 3 + 2));
        assert_eq!(sched.vus_at(Duration::from_secs(1)), 5);
        assert_eq!(sched.vus_at(Duration::from_secs(3)), 0);
        assert_eq!(sched.vus_at(Duration::from_secs(6)), 5);
        assert_eq!(sched.vus_at(Duration::from_secs(12)), 0);
        assert_eq!(
            sched.next_change(Duration::from_secs(1), Duration::from_millis(10)),
            Duration::from_secs(2)
        );
        assert_eq!(
            sched.next_change(Duration::from_secs(3), Duration::from_millis(10)),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn random_idle_stays_in_range() {
        let plan = Plan {
            start_vus: 1,
            stages: vec![s(1, 1)],
            cycle_idle: Some((Duration::from_secs(4), Duration::from_secs(11))),
            repeat: 5,
        };
        for _ in 0..20 {
            let sched = plan.schedule();
            for pair in sched.cycle_starts().windows(2) {
                let gap = pair[1] - pair[0] - Duration::from_secs(1);
                assert!(
                    gap >= Duration::from_secs(4) && gap <= Duration::from_secs(11),
                    "{gap:?}"
                );
            }
        }
    }

    #[test]
    fn rejects_empty_and_zero_plans() {
        let mut plan = Plan::flat(0, Duration::from_secs(1));
        assert!(plan.validate().is_err());
        plan.stages.clear();
        assert!(plan.validate().is_err());
        assert!(Plan::flat(3, Duration::ZERO).validate().is_err());
        assert!(Plan::flat(3, Duration::from_secs(1)).validate().is_ok());
    }
}
