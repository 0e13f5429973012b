//! Recording and summarising: each worker fills its own [`Recorder`] (HDR
//! histograms for latency and per phase, counts by status and error class),
//! recorders are merged at the end, and [`Summary`] is the serialisable,
//! k6-like result.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;
use ward_probe::trace::Phases;
use ward_probe::{ConnectionFacts, ErrorClass};

use crate::threshold::ThresholdResult;

/// Highest latency the histograms track (1 hour), in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("constant histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

/// What failed: an HTTP status of 400 or above, or a transport error class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// A response with this status.
    Status(u16),
    /// A transport failure of this class.
    Error(ErrorClass),
}

impl Failure {
    /// The key in `status_codes` or `errors` (`502`, `reset`).
    pub fn key(&self) -> String {
        match self {
            Failure::Status(s) => s.to_string(),
            Failure::Error(c) => c.as_str().to_string(),
        }
    }
}

/// The smallest and largest of some durations, serialised in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Smallest.
    #[serde(with = "ward_duration::seconds")]
    pub min: Duration,
    /// Largest.
    #[serde(with = "ward_duration::seconds")]
    pub max: Duration,
}

impl Span {
    /// The span covering both.
    fn join(a: Option<Span>, b: Option<Span>) -> Option<Span> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Span {
                min: a.min.min(b.min),
                max: a.max.max(b.max),
            }),
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// The span covering `span` and `d`.
    fn widen(span: Option<Span>, d: Option<Duration>) -> Option<Span> {
        Span::join(span, d.map(|d| Span { min: d, max: d }))
    }
}

/// The connections that failures of one kind happened on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct OnConnections {
    count: u64,
    idle: Option<Span>,
    age: Option<Span>,
}

impl OnConnections {
    fn add(&mut self, other: &OnConnections) {
        self.count += other.count;
        self.idle = Span::join(self.idle, other.idle);
        self.age = Span::join(self.age, other.age);
    }
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
    /// Failures by kind and whether the connection was reused.
    failures: BTreeMap<(Failure, bool), OnConnections>,
    /// Open model: how late the generator sent each request after its intended time.
    send_lateness: Histogram<u64>,
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
            failures: BTreeMap::new(),
            send_lateness: histogram(),
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
        connection: ConnectionFacts,
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
            self.failure(Failure::Status(status), connection);
        }
    }

    /// Records a transport failure on a connection (default facts when none was made).
    pub fn error(&mut self, class: ErrorClass, message: String, connection: ConnectionFacts) {
        self.requests += 1;
        *self.errors.entry(class.as_str()).or_default() += 1;
        self.last_error = Some(message);
        self.failure(Failure::Error(class), connection);
    }

    fn failure(&mut self, failure: Failure, connection: ConnectionFacts) {
        self.failed += 1;
        let on = self
            .failures
            .entry((failure, connection.reused))
            .or_default();
        on.count += 1;
        if connection.reused {
            on.idle = Span::widen(on.idle, connection.idle);
            on.age = Span::widen(on.age, connection.age);
        }
    }

    /// Records how late the generator sent a request after its intended time.
    pub fn late(&mut self, lateness: Duration) {
        let _ = self
            .send_lateness
            .record((lateness.as_micros() as u64).min(MAX_MICROS));
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
        for (k, v) in &other.failures {
            self.failures.entry(*k).or_default().add(v);
        }
        let _ = self.send_lateness.add(&other.send_lateness);
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

    /// How late the generator sent requests (empty in the closed model).
    pub fn send_lateness(&self) -> Distribution {
        Distribution::of(&self.send_lateness)
    }

    fn failed_on(&self, reused: bool) -> u64 {
        self.failures
            .iter()
            .filter(|((_, r), _)| *r == reused)
            .map(|(_, on)| on.count)
            .sum()
    }

    /// The failures grouped by kind, then fresh before reused connections.
    fn failure_groups(&self) -> Vec<FailureGroup> {
        self.failures
            .iter()
            .map(|((failure, reused), on)| FailureGroup {
                failure: failure.key(),
                is_status: matches!(failure, Failure::Status(_)),
                connection: if *reused { "reused" } else { "fresh" },
                count: on.count,
                of: self
                    .failures
                    .iter()
                    .filter(|((f, _), _)| f == failure)
                    .map(|(_, on)| on.count)
                    .sum(),
                idle_before: on.idle,
                connection_age: on.age,
            })
            .collect()
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

/// Failures of one kind on one sort of connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureGroup {
    /// The status code (`502`) or transport error class (`reset`).
    pub failure: String,
    /// True when `failure` is a status code.
    pub is_status: bool,
    /// `fresh` or `reused`.
    pub connection: &'static str,
    /// Failures of this kind on this sort of connection.
    pub count: u64,
    /// Failures of this kind in all.
    pub of: u64,
    /// Reused connections: the shortest and longest idle time before the request.
    pub idle_before: Option<Span>,
    /// Reused connections: the youngest and oldest connection.
    pub connection_age: Option<Span>,
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
    /// Failures by kind and connection: fresh or reused, and for reused
    /// ones the idle time before the request and the connection's age.
    pub failures_by_connection: Vec<FailureGroup>,
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
    /// Open model: how late the generator itself sent requests after their
    /// intended time (its timer, a busy CPU), not counted in `latency`; a
    /// delay the target caused by holding every worker is counted there.
    pub send_lateness: Option<Distribution>,
    /// Open model: intended sends still waiting when the run ended.
    pub unsent_requests: Option<u64>,
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
            failed_on_reused_connections: rec.failed_on(true),
            failed_on_fresh_connections: rec.failed_on(false),
            failures_by_connection: rec.failure_groups(),
            interrupted_requests: rec.interrupted,
            connections_opened: rec.connections,
            vus_max: 0,
            target_rate: None,
            data_received_bytes: rec.bytes,
            latency: rec.latency(),
            phases: rec.phases(),
            send_lateness: None,
            unsent_requests: None,
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

    fn reused(idle_ms: u64, age_ms: u64) -> ConnectionFacts {
        ConnectionFacts {
            reused: true,
            age: Some(Duration::from_millis(age_ms)),
            idle: Some(Duration::from_millis(idle_ms)),
        }
    }

    #[test]
    fn merges_and_summarises() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        let phases = Phases::default();
        for ms in 1..=100 {
            a.response(200, Duration::from_millis(ms), &phases, 10, reused(1, ms));
        }
        a.response(
            502,
            Duration::from_millis(5),
            &phases,
            0,
            reused(19_800, 30_000),
        );
        b.response(
            502,
            Duration::from_millis(5),
            &phases,
            0,
            reused(20_000, 25_000),
        );
        b.error(
            ErrorClass::Reset,
            "reset".into(),
            ConnectionFacts::default(),
        );
        a.merge(&b);
        let s = Summary::new("u".into(), "closed", Duration::from_secs(2), &a);
        assert_eq!(s.requests, 103);
        assert_eq!(s.failed, 3);
        assert_eq!(s.succeeded, 100);
        assert_eq!(s.failed_on_reused_connections, 2);
        assert_eq!(s.failed_on_fresh_connections, 1);
        assert_eq!(s.status_codes.get(&200), Some(&100));
        assert_eq!(s.status_codes.get(&502), Some(&2));
        assert_eq!(s.errors.get("reset"), Some(&1));
        assert_eq!(s.requests_per_second, 51.5);
        let p95 = s.latency.p95.as_secs_f64();
        assert!((0.094..0.097).contains(&p95), "{p95}");
        assert_eq!(s.latency.count, 102);
        let span = |a, b| {
            Some(Span {
                min: Duration::from_millis(a),
                max: Duration::from_millis(b),
            })
        };
        assert_eq!(
            s.failures_by_connection,
            [
                FailureGroup {
                    failure: "502".into(),
                    is_status: true,
                    connection: "reused",
                    count: 2,
                    of: 2,
                    idle_before: span(19_800, 20_000),
                    connection_age: span(25_000, 30_000),
                },
                FailureGroup {
                    failure: "reset".into(),
                    is_status: false,
                    connection: "fresh",
                    count: 1,
                    of: 1,
                    idle_before: None,
                    connection_age: None,
                },
            ]
        );
    }

    #[test]
    fn send_lateness_keeps_zero() {
        let mut r = Recorder::default();
        r.late(Duration::ZERO);
        r.late(Duration::from_micros(700));
        let d = r.send_lateness();
        assert_eq!(
            (d.count, d.min, d.max),
            (2, Duration::ZERO, Duration::from_micros(700))
        );
    }
}
