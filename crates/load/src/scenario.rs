//! How a load is written down: `--stage 30s:100` (k6's stages), `--cycle-idle
//! 4s..11s`, `--rate 100/s`, and scenario files (YAML or JSON) holding a
//! whole [`Plan`]. Every duration is Go syntax ([`ward_duration::parse`]).

use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::plan::{Plan, Stage};

impl FromStr for Stage {
    type Err = Error;

    /// Parses `DURATION:TARGET_VUS`, e.g. `30s:100`.
    fn from_str(input: &str) -> Result<Self> {
        let bad = |reason: String| Error::value("stage", input, reason);
        let (d, t) = input
            .split_once(':')
            .ok_or_else(|| bad("expected DURATION:TARGET, e.g. 30s:100".into()))?;
        let duration = ward_duration::parse(d).map_err(|e| bad(e.to_string()))?;
        let target = t
            .trim()
            .parse::<u64>()
            .map_err(|_| bad(format!("target {t:?} is not a VU count")))?;
        Ok(Stage { duration, target })
    }
}

/// Parses an idle gap, `4s`, or a random one, `4s..11s`.
pub fn idle_range(input: &str) -> Result<(Duration, Duration)> {
    let bad = |reason: String| Error::value("range", input, reason);
    let (a, b) = input.split_once("..").unwrap_or((input, input));
    let min = ward_duration::parse(a).map_err(|e| bad(e.to_string()))?;
    let max = ward_duration::parse(b).map_err(|e| bad(e.to_string()))?;
    if min > max {
        return Err(bad(format!("{a} is above {b}")));
    }
    Ok((min, max))
}

/// Parses an arrival rate, `100/s`, `100` (per second), `6000/m` or
/// `N/DURATION`, into requests per second.
pub fn rate(input: &str) -> Result<f64> {
    let bad = || Error::value("rate", input, "expected e.g. 100/s or 6000/m");
    let (n, per) = input.split_once('/').unwrap_or((input, "s"));
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let per = match per.trim() {
        "s" | "1s" => 1.0,
        "m" | "1m" => 60.0,
        "h" | "1h" => 3600.0,
        other => ward_duration::parse(other)
            .map_err(|_| bad())?
            .as_secs_f64(),
    };
    let rate = n / per;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(bad());
    }
    Ok(rate)
}

/// A scenario file: one cycle of stages and how to repeat it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// VUs at the start of each cycle.
    #[serde(default, alias = "startVUs")]
    start_vus: u64,
    stages: Vec<ScenarioStage>,
    #[serde(default, alias = "cycleIdle")]
    cycle_idle: Option<String>,
    #[serde(default)]
    repeat: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioStage {
    duration: String,
    target: u64,
}

/// Reads a scenario (YAML or JSON): `stages` (each `duration` and
/// `target`), `start_vus`, `cycle_idle`, `repeat`; unknown keys are errors.
pub fn from_yaml(text: &str) -> Result<Plan> {
    let scenario: Scenario = serde_yaml_ng::from_str(text)?;
    let stages = scenario
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let duration = ward_duration::parse(&s.duration)
                .map_err(|e| Error::config(format!("stages[{i}].duration"), e.to_string()))?;
            Ok(Stage {
                duration,
                target: s.target,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let cycle_idle = scenario
        .cycle_idle
        .as_deref()
        .map(idle_range)
        .transpose()
        .map_err(|e| Error::config("cycle_idle", e.to_string()))?;
    Ok(Plan {
        start_vus: scenario.start_vus,
        stages,
        cycle_idle,
        repeat: scenario.repeat.unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_error_is_one_line_even_when_a_key_holds_a_line_break() {
        // Found by the bounded fuzz run (crates/fuzz, load_scenario).
        let err = from_yaml("stages:\n  - \"a\\nb\": 1s\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "stages[0]: unknown field `a\\nb`, expected `duration` or `target` at line 2 column 5"
        );
    }

    #[test]
    fn stages_parse_like_k6() {
        let stage: Stage = "1m:0".parse().unwrap();
        assert_eq!(stage.duration, Duration::from_secs(60));
        for bad in ["5s", "5x:10", "5s:many"] {
            let err = bad.parse::<Stage>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid stage {bad:?}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn rates_and_idle_ranges() {
        assert_eq!(rate("100/s").unwrap(), 100.0);
        assert_eq!(rate("600/m").unwrap(), 10.0);
        assert_eq!(rate("30/2s").unwrap(), 15.0);
        assert!(rate("fast").is_err());
        assert_eq!(
            idle_range("4s..11s").unwrap(),
            (Duration::from_secs(4), Duration::from_secs(11))
        );
        assert!(idle_range("11s..4s").is_err());
    }

    #[test]
    fn scenarios_read_yaml_and_json_and_refuse_unknown_keys() {
        let err = from_yaml("stages:\n  - duration: 1s\n    target: 2\nvus_max: 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("vus_max"), "{err}");
        let plan = from_yaml(
            "{\"startVUs\": 1, \"stages\": [{\"duration\": \"1s\", \"target\": 2}], \"cycle_idle\": \"1s..2s\", \"repeat\": 2}",
        )
        .unwrap();
        assert_eq!(plan.repeat, 2);
        assert_eq!(plan.start_vus, 1);
        assert_eq!(
            plan.cycle_idle,
            Some((Duration::from_secs(1), Duration::from_secs(2)))
        );
        let err = from_yaml("stages:\n  - duration: soon\n    target: 2\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("stages[0].duration: invalid duration"),
            "{err}"
        );
    }
}
