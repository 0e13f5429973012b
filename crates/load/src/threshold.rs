//! Pass/fail thresholds on a summary, written like k6's: `p95<200ms`,
//! `p(99)<=1s`, `max<2s`, `errors<0.1%`, `rps>1000`, `requests>=500`.
//! Parsing names the expression on error; evaluation records the observed value.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::stats::Summary;

/// A latency statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Smallest latency.
    Min,
    /// Largest latency.
    Max,
    /// Mean latency.
    Avg,
    /// A percentile, 0–100.
    Percentile(f64),
}

/// What a threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency statistic, compared with a duration.
    Latency(Stat),
    /// The failure rate, a fraction 0–1.
    ErrorRate,
    /// Requests per second.
    Rps,
    /// Total requests.
    Requests,
}

/// The unit a metric's values are in (limits and observed values alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds (latency).
    Seconds,
    /// A fraction from 0 to 1 (the failure rate).
    Fraction,
    /// Per second (throughput).
    PerSecond,
    /// A count (requests).
    Count,
}

impl Metric {
    /// The unit of this metric's values.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Latency(_) => Unit::Seconds,
            Metric::ErrorRate => Unit::Fraction,
            Metric::Rps => Unit::PerSecond,
            Metric::Requests => Unit::Count,
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
        }
    }
}

/// One parsed threshold expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as given.
    pub expression: String,
    /// What it measures.
    pub metric: Metric,
    /// How it compares.
    pub op: Op,
    /// The limit, in the metric's unit (seconds, fraction, per second, count).
    pub limit: f64,
}

/// The outcome of one threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdResult {
    /// The expression as given.
    pub expression: String,
    /// What the threshold measured (its unit is `metric.unit()`).
    #[serde(skip)]
    pub metric: Metric,
    /// The observed value, in the metric's unit.
    pub observed: f64,
    /// Whether it held.
    pub passed: bool,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

impl FromStr for Threshold {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Threshold {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let text: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let at = text.find(['<', '>']).ok_or_else(|| {
            bad("expected METRIC<VALUE or METRIC>VALUE, e.g. p95<200ms or errors<0.1%")
        })?;
        let (name, rest) = text.split_at(at);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else {
            return Err(bad("expected an operator: <, <=, > or >="));
        };
        let metric = parse_metric(&name.to_ascii_lowercase()).ok_or_else(|| {
            bad("unknown metric (expected p50, p90, p95, p99, p99.9, p(N), min, max, avg, med, errors, rps or requests)")
        })?;
        let limit = match metric {
            Metric::Latency(_) => parse_duration(value)
                .ok_or_else(|| {
                    bad("expected a duration such as 200ms, 1.5s or 250 (milliseconds)")
                })?
                .as_secs_f64(),
            Metric::ErrorRate => {
                parse_rate(value).ok_or_else(|| bad("expected a rate such as 0.1% or 0.001"))?
            }
            Metric::Rps | Metric::Requests => value
                .trim_end_matches("/s")
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| bad("expected a number"))?,
        };
        Ok(Threshold {
            expression: input.trim().to_string(),
            metric,
            op,
            limit,
        })
    }
}

fn parse_metric(name: &str) -> Option<Metric> {
    Some(match name {
        "min" => Metric::Latency(Stat::Min),
        "max" => Metric::Latency(Stat::Max),
        "avg" | "mean" => Metric::Latency(Stat::Avg),
        "med" | "median" => Metric::Latency(Stat::Percentile(50.0)),
        "errors" | "error_rate" | "failed" | "failures" | "http_req_failed" => Metric::ErrorRate,
        "rps" | "rate" | "throughput" => Metric::Rps,
        "requests" | "count" | "reqs" => Metric::Requests,
        p => {
            let digits = p.strip_prefix('p')?;
            let digits = digits
                .strip_prefix('(')
                .and_then(|d| d.strip_suffix(')'))
                .unwrap_or(digits);
            let pct: f64 = digits.parse().ok()?;
            if !(0.0..=100.0).contains(&pct) {
                return None;
            }
            Metric::Latency(Stat::Percentile(pct))
        }
    })
}

/// A latency limit: a Go duration (`200ms`, `1.5s`, `1m`), or a bare number
/// of milliseconds as k6 writes them (`250`).
fn parse_duration(v: &str) -> Option<Duration> {
    match v.parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms >= 0.0 => Some(Duration::from_secs_f64(ms / 1e3)),
        Ok(_) => None,
        Err(_) => ward_duration::parse(v).ok(),
    }
}

fn parse_rate(v: &str) -> Option<f64> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (v, 1.0),
    };
    let r = num.parse::<f64>().ok()? * scale;
    (r.is_finite() && (0.0..=1.0).contains(&r)).then_some(r)
}

impl Threshold {
    /// Evaluates the threshold against a summary.
    pub fn evaluate(&self, s: &Summary) -> ThresholdResult {
        let observed = match &self.metric {
            Metric::Latency(stat) => s.latency.get(stat).as_secs_f64(),
            Metric::ErrorRate => s.failure_rate,
            Metric::Rps => s.requests_per_second,
            Metric::Requests => s.requests as f64,
        };
        // A latency threshold over no samples cannot pass.
        let passed = match self.metric {
            Metric::Latency(_) if s.latency.count == 0 => false,
            _ => self.op.holds(observed, self.limit),
        };
        ThresholdResult {
            expression: self.expression.clone(),
            metric: self.metric,
            observed,
            passed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_style_expressions() {
        let t: Threshold = "p95<200ms".parse().unwrap();
        assert_eq!(t.metric, Metric::Latency(Stat::Percentile(95.0)));
        assert_eq!(t.op, Op::Lt);
        assert!((t.limit - 0.2).abs() < 1e-9);
        let t: Threshold = "p(99) <= 1.5s".parse().unwrap();
        assert_eq!(t.metric, Metric::Latency(Stat::Percentile(99.0)));
        assert_eq!(t.op, Op::Le);
        assert!((t.limit - 1.5).abs() < 1e-9);
        let t: Threshold = "errors<0.1%".parse().unwrap();
        assert_eq!(t.metric, Metric::ErrorRate);
        assert!((t.limit - 0.001).abs() < 1e-12);
        let t: Threshold = "rps>=1000".parse().unwrap();
        assert_eq!((t.metric, t.op, t.limit), (Metric::Rps, Op::Ge, 1000.0));
        let t: Threshold = "max<250".parse().unwrap();
        assert!((t.limit - 0.25).abs() < 1e-9);
        // The one duration syntax (Go's), as in every flag.
        let t: Threshold = "p99<1m30s".parse().unwrap();
        assert!((t.limit - 90.0).abs() < 1e-9);
        let t: Threshold = "avg<500us".parse().unwrap();
        assert!((t.limit - 0.0005).abs() < 1e-12);
    }

    #[test]
    fn rejects_nonsense_naming_the_input() {
        for bad in [
            "p95",
            "p95<fast",
            "latency<1s",
            "errors<200%",
            "p101<1s",
            "p95=1s",
            "",
        ] {
            let err = bad.parse::<Threshold>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
    }
}
