//! Recording and summarising: each worker fills its own [`Recorder`] (HDR
//! histograms for latency and per phase, counts by status and error class),
//! recorders are merged at the end, and [`Summary`] is the serialisable,
//! k6-like result.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use ward_probe::trace::Phases;
use ward_probe::ErrorClass;

use crate::threshold::ThresholdResult;

/// Highest latency the histograms track (1 hour), in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// The timed phases of a request, in summary order.
pub const PHASES: [&str; 5] = [
    "connecting",
    "tls_handshaking",
    "sending",
    "waiting",
    "receiving",
];

/// What one worker saw: fed per request, merged at the end.
#[derive(Debug, Clone)]
pub struct Recorder {
    latency: Histogram<u64>,
    phases: [Histogram<u64>; 5],
    /// Responses by status code.
    pub status: BTreeMap<u16, u64>,
    /// Transport failures by error class.
    pub errors: BTreeMap<&'static str, u64>,
    /// Requests that completed with a response or failed.
    pub requests: u64,
    /// Requests that failed (transport error or status >= 400).
    pub failed: u64,
    /// Failures on connections that had carried a request before.
    pub failed_reused: u64,
    /// Failures on fresh connections (including failed connects).
    pub failed_fresh: u64,
    /// Connections opened.
    pub connections: u64,
    /// Response body bytes received.
    pub bytes: u64,
    /// Requests cut off by the end of the run or by cancellation.
    pub interrupted: u64,
    /// A message of the last transport failure.
    pub last_error: Option<String>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency: histogram(),
            phases: std::array::from_fn(|_| histogram()),
            status: BTreeMap::new(),
            errors: BTreeMap::new(),
            requests: 0,
            failed: 0,
            failed_reused: 0,
            failed_fresh: 0,
            connections: 0,
            bytes: 0,
            interrupted: 0,
            last_error: None,
        }
    }
}

impl Recorder {
    /// Records a response with `status` that took `latency`, with its phases.
    pub fn response(
        &mut self,
        status: u16,
        latency: Duration,
        phases: &Phases,
        bytes: u64,
        reused: bool,
    ) {
        self.requests += 1;
        *self.status.entry(status).or_default() += 1;
        let _ = self.latency.record(micros(latency));
        let spans = [
            phases.connect,
            phases.tls,
            phases.send,
            phases.wait,
            phases.receive,
        ];
        for (h, d) in self.phases.iter_mut().zip(spans) {
            if let Some(d) = d {
                let _ = h.record(micros(d));
            }
        }
        self.bytes += bytes;
        if status >= 400 {
            self.failure(reused);
        }
    }

    /// Records a transport failure.
    pub fn error(&mut self, class: ErrorClass, message: String, reused: bool) {
        self.requests += 1;
        *self.errors.entry(class.as_str()).or_default() += 1;
        self.last_error = Some(message);
        self.failure(reused);
    }

    fn failure(&mut self, reused: bool) {
        self.failed += 1;
        if reused {
            self.failed_reused += 1;
        } else {
            self.failed_fresh += 1;
        }
    }

    /// Adds `other`'s counts and histograms to this one.
    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.latency.add(&other.latency);
        for (a, b) in self.phases.iter_mut().zip(&other.phases) {
            let _ = a.add(b);
        }
        for (k, v) in &other.status {
            *self.status.entry(*k).or_default() += v;
        }
        for (k, v) in &other.errors {
            *self.errors.entry(*k).or_default() += v;
        }
        self.requests += other.requests;
        self.failed += other.failed;
        self.failed_reused += other.failed_reused;
        self.failed_fresh += other.failed_fresh;
        self.connections += other.connections;
        self.bytes += other.bytes;
        self.interrupted += other.interrupted;
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }

    /// The latency distribution of completed responses.
    pub fn latency(&self) -> Distribution {
        Distribution::of(&self.latency)
    }

    /// The distribution of each phase, named as in [`PHASES`].
    pub fn phases(&self) -> BTreeMap<&'static str, Distribution> {
        PHASES
            .iter()
            .zip(&self.phases)
            .filter(|(_, h)| !h.is_empty())
            .map(|(name, h)| (*name, Distribution::of(h)))
            .collect()
    }
}

/// Percentiles of a latency histogram; serialised in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Distribution {
    /// Samples.
    pub count: u64,
    /// Smallest.
    #[serde(with = "ward_duration::seconds")]
    pub min: Duration,
    /// Mean.
    #[serde(with = "ward_duration::seconds")]
    pub avg: Duration,
    /// Median.
    #[serde(with = "ward_duration::seconds")]
    pub p50: Duration,
    /// 90th percentile.
    #[serde(with = "ward_duration::seconds")]
    pub p90: Duration,
    /// 95th percentile.
    #[serde(with = "ward_duration::seconds")]
    pub p95: Duration,
    /// 99th percentile.
    #[serde(with = "ward_duration::seconds")]
    pub p99: Duration,
    /// 99.9th percentile.
    #[serde(with = "ward_duration::seconds", rename = "p99_9")]
    pub p999: Duration,
    /// Largest.
    #[serde(with = "ward_duration::seconds")]
    pub max: Duration,
}

impl Distribution {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Distribution::default();
        }
        let us = Duration::from_micros;
        Distribution {
            count: h.len(),
            min: us(h.min()),
            avg: Duration::from_secs_f64(h.mean() / 1e6),
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p95: us(h.value_at_quantile(0.95)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }

    /// A percentile between 0 and 100 from the named fields (p50, p90, p95, p99, p99.9), or min/max/avg.
    pub fn get(&self, stat: &crate::threshold::Stat) -> Duration {
        use crate::threshold::Stat;
        match stat {
            Stat::Min => self.min,
            Stat::Max => self.max,
            Stat::Avg => self.avg,
            Stat::Percentile(p) => match *p {
                p if p <= 50.0 => self.p50,
                p if p <= 90.0 => self.p90,
                p if p <= 95.0 => self.p95,
                p if p <= 99.0 => self.p99,
                p if p < 100.0 => self.p999,
                _ => self.max,
            },
        }
    }
}

/// The result of a load test, like k6's end-of-test summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The URL loaded.
    pub url: String,
    /// `closed` (VUs) or `open` (arrival rate).
    pub model: &'static str,
    /// Wall time of the run.
    #[serde(rename = "duration_seconds", with = "ward_duration::seconds")]
    pub duration: Duration,
    /// True when the run was cancelled (Ctrl-C) before its plan ended.
    pub interrupted: bool,
    /// Requests completed (with a response or a failure).
    pub requests: u64,
    /// Requests per second over the run.
    pub requests_per_second: f64,
    /// Requests that got a status below 400.
    pub succeeded: u64,
    /// Requests that failed (transport error or status >= 400).
    pub failed: u64,
    /// `failed / requests` (0 when nothing ran).
    pub failure_rate: f64,
    /// Responses by status code.
    pub status_codes: BTreeMap<u16, u64>,
    /// Transport failures by class (`reset`, `timeout_first_byte`, …).
    pub errors: BTreeMap<String, u64>,
    /// Failures on connections that had carried requests before.
    pub failed_on_reused_connections: u64,
    /// Failures on fresh connections.
    pub failed_on_fresh_connections: u64,
    /// Requests still in flight when the run ended (not counted in `requests`).
    pub interrupted_requests: u64,
    /// Connections opened.
    pub connections_opened: u64,
    /// Most VUs (closed) or workers (open) running at once.
    pub vus_max: u64,
    /// Target arrival rate (open model).
    pub target_rate: Option<f64>,
    /// Response body bytes received.
    pub data_received_bytes: u64,
    /// Latency of completed responses: from the (intended) start of the request to the last body byte.
    pub latency: Distribution,
    /// Per-phase timings (`connecting`, `tls_handshaking`, `sending`, `waiting`, `receiving`).
    pub phases: BTreeMap<&'static str, Distribution>,
    /// The last transport failure, for context.
    pub last_error: Option<String>,
    /// Threshold results, in the order given.
    pub thresholds: Vec<ThresholdResult>,
}

impl Summary {
    /// Builds the summary from merged recorders.
    pub fn new(url: String, model: &'static str, duration: Duration, rec: &Recorder) -> Self {
        let secs = duration.as_secs_f64();
        Summary {
            url,
            model,
            duration,
            interrupted: false,
            requests: rec.requests,
            requests_per_second: if secs > 0.0 {
                rec.requests as f64 / secs
            } else {
                0.0
            },
            succeeded: rec.requests - rec.failed,
            failed: rec.failed,
            failure_rate: if rec.requests > 0 {
                rec.failed as f64 / rec.requests as f64
            } else {
                0.0
            },
            status_codes: rec.status.clone(),
            errors: rec
                .errors
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            failed_on_reused_connections: rec.failed_reused,
            failed_on_fresh_connections: rec.failed_fresh,
            interrupted_requests: rec.interrupted,
            connections_opened: rec.connections,
            vus_max: 0,
            target_rate: None,
            data_received_bytes: rec.bytes,
            latency: rec.latency(),
            phases: rec.phases(),
            last_error: rec.last_error.clone(),
            thresholds: Vec::new(),
        }
    }

    /// True when every threshold passed.
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_and_summarises() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        let phases = Phases::default();
        for ms in 1..=100 {
            a.response(200, Duration::from_millis(ms), &phases, 10, true);
        }
        b.response(502, Duration::from_millis(5), &phases, 0, true);
        b.error(ErrorClass::Reset, "reset".into(), false);
        a.merge(&b);
        let s = Summary::new("u".into(), "closed", Duration::from_secs(2), &a);
        assert_eq!(s.requests, 102);
        assert_eq!(s.failed, 2);
        assert_eq!(s.succeeded, 100);
        assert_eq!(s.failed_on_reused_connections, 1);
        assert_eq!(s.failed_on_fresh_connections, 1);
        assert_eq!(s.status_codes.get(&200), Some(&100));
        assert_eq!(s.status_codes.get(&502), Some(&1));
        assert_eq!(s.errors.get("reset"), Some(&1));
        assert_eq!(s.requests_per_second, 51.0);
        let p95 = s.latency.p95.as_secs_f64();
        assert!((0.094..0.097).contains(&p95), "{p95}");
        assert_eq!(s.latency.count, 101);
    }
}
