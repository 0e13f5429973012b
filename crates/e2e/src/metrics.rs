//! The suite's metrics, defined once: the names of the public reference suite
//! (clementnuss/e2e-tests: `test_duration_seconds`, `test_executed_total`,
//! `test_errors_total` with `test_name`) plus a `step` label, and last-run /
//! last-success timestamps. Whole-test series carry no `step` label; step
//! series carry `step`. Skips, which the reference suite does not count, are
//! ward's own counters (`ward_e2e_*`) with a stable `reason` label. Recorded into an agent [`Registry`] (`/metrics` of
//! `ward e2e serve`) and/or exported over OTLP/HTTP.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::metrics::{Counter, Gauge, Histogram, MeterProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use ward_agent::metrics::{HistogramKind, Registry};

use crate::config::TestName;
use crate::error::{Error, Result};
use crate::report::SkipReason;

/// Duration of a test or step, in seconds (histogram).
pub const DURATION: &str = "test_duration_seconds";
/// Runs of a test or step (counter).
pub const EXECUTED: &str = "test_executed_total";
/// Failed runs of a test or step (counter).
pub const ERRORS: &str = "test_errors_total";
/// Unix time of the last run of a test or step (gauge).
pub const LAST_RUN: &str = "test_last_run_timestamp_seconds";
/// Unix time of the last successful run of a test or step (gauge).
pub const LAST_SUCCESS: &str = "test_last_success_timestamp_seconds";
/// Duration of the last run of a test or step, in seconds (gauge): what the
/// "step slower than usual" alert compares with its own history, the same way
/// in serve mode (/metrics) and in CronJob mode (one OTLP push per run, where
/// the histogram restarts with every process).
pub const LAST_DURATION: &str = "ward_e2e_last_duration_seconds";
/// Runs skipped before they created anything, by `reason` (`lease_held`:
/// another runner holds the Lease) (counter).
pub const RUNS_SKIPPED: &str = "ward_e2e_runs_skipped_total";
/// Tests skipped within a run, by `test_name` and `reason` (`no_storage_class`,
/// `cancelled`) (counter).
pub const TESTS_SKIPPED: &str = "ward_e2e_tests_skipped_total";
/// Label naming the test.
pub const LABEL_TEST: &str = "test_name";
/// Label with the stable reason of a skip ([`SkipReason::as_str`]).
pub const LABEL_REASON: &str = "reason";
/// Label naming the step.
pub const LABEL_STEP: &str = "step";
/// The step every selected test fails when a run cannot start (API server
/// unreachable, credentials rejected, permissions missing, Lease or
/// namespace not created), so the failing-test alerts see a cluster that
/// cannot be tested.
pub const PREFLIGHT_STEP: &str = "preflight";
/// The OTel meter (and default service) name.
pub const METER: &str = "ward-e2e";

/// Histogram bounds in seconds: API calls (ms) up to rollouts (minutes).
pub const BUCKETS: [f64; 15] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// A registry configured for these metrics (Prometheus histograms, with metadata).
pub fn registry() -> Registry {
    Registry::new(HistogramKind::Prometheus(BUCKETS.to_vec()), true)
}

/// Where OTLP metrics go.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Full URL of the metrics endpoint (`…/v1/metrics`).
    pub endpoint: String,
    /// `service.name` resource attribute.
    pub service_name: String,
    /// Extra headers (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Vec<(String, String)>,
    /// Export interval in serve mode (a one-shot run flushes at its end).
    pub interval: Duration,
}

impl OtlpConfig {
    /// Resolves the standard variables: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`
    /// (used as is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/metrics`); `None`
    /// when neither is set. Only `http/protobuf` is supported.
    pub fn from_values(
        metrics_endpoint: Option<&str>,
        endpoint: Option<&str>,
        protocol: Option<&str>,
        headers: Option<&str>,
        service_name: Option<&str>,
    ) -> Result<Option<Self>> {
        let endpoint = match (
            metrics_endpoint.filter(|s| !s.is_empty()),
            endpoint.filter(|s| !s.is_empty()),
        ) {
            (Some(m), _) => m.to_string(),
            (None, Some(base)) => format!("{}/v1/metrics", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        match protocol.map(str::trim).filter(|p| !p.is_empty()) {
            None | Some("http/protobuf") => {}
            Some(other) => {
                return Err(Error::Config(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={other}: only http/protobuf is supported"
                )))
            }
        }
        url::Url::parse(&endpoint)
            .map_err(|e| Error::Config(format!("OTLP endpoint {endpoint:?}: {e}")))?;
        let mut parsed = Vec::new();
        for pair in headers
            .unwrap_or("")
            .split(',')
            .filter(|p| !p.trim().is_empty())
        {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::Config(format!(
                    "OTEL_EXPORTER_OTLP_HEADERS: {pair:?} is not key=value"
                ))
            })?;
            parsed.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Some(Self {
            endpoint,
            service_name: service_name
                .filter(|s| !s.is_empty())
                .unwrap_or(METER)
                .to_string(),
            headers: parsed,
            interval: Duration::from_secs(60),
        }))
    }
}

struct Otel {
    provider: SdkMeterProvider,
    duration: Histogram<f64>,
    executed: Counter<u64>,
    errors: Counter<u64>,
    last_run: Gauge<f64>,
    last_success: Gauge<f64>,
    last_duration: Gauge<f64>,
    runs_skipped: Counter<u64>,
    tests_skipped: Counter<u64>,
}

/// Records test and step results into the registry and/or OTLP.
#[derive(Clone, Default)]
pub struct Recorder {
    registry: Option<Arc<Registry>>,
    otel: Option<Arc<Otel>>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("registry", &self.registry.is_some())
            .field("otlp", &self.otel.is_some())
            .finish()
    }
}

impl Recorder {
    /// A recorder writing nowhere.
    pub fn none() -> Self {
        Self::default()
    }

    /// Also records into `registry`. The `lease_held` skip counter is there
    /// from the start (0), so rates and alerts on it work before the first skip.
    pub fn with_registry(mut self, registry: Arc<Registry>) -> Self {
        registry.counter(
            RUNS_SKIPPED,
            &[(LABEL_REASON, SkipReason::LeaseHeld.as_str())],
        );
        self.registry = Some(registry);
        self
    }

    /// Also exports over OTLP/HTTP (protobuf). Must be called inside a tokio runtime.
    pub fn with_otlp(mut self, config: &OtlpConfig) -> Result<Self> {
        let headers = config.headers.iter().cloned().collect();
        let exporter = MetricExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.endpoint.clone())
            .with_headers(headers)
            .with_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Otlp(format!("exporter for {}: {e}", config.endpoint)))?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(config.interval)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let meter = provider.meter(METER);
        let otel = Otel {
            duration: meter
                .f64_histogram(DURATION)
                .with_unit("s")
                .with_description("Duration of an e2e test or step")
                .with_boundaries(BUCKETS.to_vec())
                .build(),
            executed: meter
                .u64_counter(EXECUTED)
                .with_description("Runs of an e2e test or step")
                .build(),
            errors: meter
                .u64_counter(ERRORS)
                .with_description("Failed runs of an e2e test or step")
                .build(),
            last_run: meter
                .f64_gauge(LAST_RUN)
                .with_unit("s")
                .with_description("Unix time of the last run of an e2e test or step")
                .build(),
            last_success: meter
                .f64_gauge(LAST_SUCCESS)
                .with_unit("s")
                .with_description("Unix time of the last successful run of an e2e test or step")
                .build(),
            last_duration: meter
                .f64_gauge(LAST_DURATION)
                .with_unit("s")
                .with_description("Duration of the last run of an e2e test or step")
                .build(),
            runs_skipped: meter
                .u64_counter(RUNS_SKIPPED)
                .with_description("e2e runs skipped before they created anything, by reason")
                .build(),
            tests_skipped: meter
                .u64_counter(TESTS_SKIPPED)
                .with_description("e2e tests skipped within a run, by test and reason")
                .build(),
            provider,
        };
        // Present from the start (0), as with the registry.
        otel.runs_skipped.add(
            0,
            &[KeyValue::new(LABEL_REASON, SkipReason::LeaseHeld.as_str())],
        );
        self.otel = Some(Arc::new(otel));
        Ok(self)
    }

    /// Records one finished test (`step = None`) or step.
    pub fn record(&self, test: &str, step: Option<&str>, duration: Duration, ok: bool) {
        let now = unix_now();
        let mut labels = vec![(LABEL_TEST, test)];
        if let Some(step) = step {
            labels.push((LABEL_STEP, step));
        }
        if let Some(r) = &self.registry {
            r.histogram(DURATION, &labels)
                .observe(duration.as_secs_f64());
            r.counter(EXECUTED, &labels).inc();
            let errors = r.counter(ERRORS, &labels);
            if !ok {
                errors.inc();
            }
            r.gauge(LAST_RUN, &labels).set(now);
            let last_success = r.gauge(LAST_SUCCESS, &labels);
            if ok {
                last_success.set(now);
            }
            r.gauge(LAST_DURATION, &labels).set(duration.as_secs_f64());
        }
        if let Some(o) = &self.otel {
            let attrs: Vec<KeyValue> = labels
                .iter()
                .map(|(k, v)| KeyValue::new(*k, v.to_string()))
                .collect();
            o.duration.record(duration.as_secs_f64(), &attrs);
            o.executed.add(1, &attrs);
            // Always present (0 when it never failed), as in the reference suite's dashboards.
            o.errors.add(u64::from(!ok), &attrs);
            o.last_run.record(now, &attrs);
            if ok {
                o.last_success.record(now, &attrs);
            }
            o.last_duration.record(duration.as_secs_f64(), &attrs);
        }
    }

    /// Records a run that could not start: each test and its
    /// [`PREFLIGHT_STEP`] failed after `duration`.
    pub fn preflight_failed(&self, tests: &[TestName], duration: Duration) {
        for test in tests {
            self.record(test.as_str(), Some(PREFLIGHT_STEP), duration, false);
            self.record(test.as_str(), None, duration, false);
        }
    }

    /// Counts a run skipped before it created anything.
    pub fn run_skipped(&self, reason: SkipReason) {
        if let Some(r) = &self.registry {
            r.counter(RUNS_SKIPPED, &[(LABEL_REASON, reason.as_str())])
                .inc();
        }
        if let Some(o) = &self.otel {
            o.runs_skipped
                .add(1, &[KeyValue::new(LABEL_REASON, reason.as_str())]);
        }
    }

    /// Counts a test skipped within a run.
    pub fn test_skipped(&self, test: &str, reason: SkipReason) {
        let labels = [(LABEL_TEST, test), (LABEL_REASON, reason.as_str())];
        if let Some(r) = &self.registry {
            r.counter(TESTS_SKIPPED, &labels).inc();
        }
        if let Some(o) = &self.otel {
            let attrs: Vec<KeyValue> = labels
                .iter()
                .map(|(k, v)| KeyValue::new(*k, v.to_string()))
                .collect();
            o.tests_skipped.add(1, &attrs);
        }
    }

    /// Pushes everything recorded so far (OTLP); blocking, so call it off the async threads.
    pub fn flush(&self) -> Result<()> {
        if let Some(o) = &self.otel {
            o.provider
                .force_flush()
                .map_err(|e| Error::Otlp(e.to_string()))?;
        }
        Ok(())
    }

    /// Flushes and stops the OTLP exporter; blocking.
    pub fn shutdown(&self) -> Result<()> {
        if let Some(o) = &self.otel {
            o.provider
                .shutdown()
                .map_err(|e| Error::Otlp(e.to_string()))?;
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_endpoint_follows_the_standard_variables() {
        let c = OtlpConfig::from_values(
            None,
            Some("http://otel:4318/"),
            None,
            Some("a=b, c = d"),
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://otel:4318/v1/metrics");
        assert_eq!(
            c.headers,
            vec![("a".into(), "b".into()), ("c".into(), "d".into())]
        );
        assert_eq!(c.service_name, "ward-e2e");
        let c = OtlpConfig::from_values(
            Some("http://p:9090/api/v1/otlp/v1/metrics"),
            Some("http://x"),
            None,
            None,
            Some("e2e"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://p:9090/api/v1/otlp/v1/metrics");
        assert!(OtlpConfig::from_values(None, None, None, None, None)
            .unwrap()
            .is_none());
        let e =
            OtlpConfig::from_values(None, Some("http://x"), Some("grpc"), None, None).unwrap_err();
        assert!(e.to_string().contains("only http/protobuf"), "{e}");
    }

    #[test]
    fn registry_gets_reference_names_with_step_label() {
        let registry = Arc::new(registry());
        let rec = Recorder::none().with_registry(registry.clone());
        rec.record(
            "deployment",
            Some("rollout"),
            Duration::from_millis(1200),
            false,
        );
        rec.record("deployment", None, Duration::from_secs(3), true);
        let mut text = String::new();
        registry.encode(&mut text);
        assert!(
            text.contains("test_errors_total{test_name=\"deployment\",step=\"rollout\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_executed_total{test_name=\"deployment\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("test_errors_total{test_name=\"deployment\"} 0"),
            "{text}"
        );
        assert!(text.contains("test_duration_seconds_bucket{test_name=\"deployment\",step=\"rollout\",le=\"2.5\"} 1"), "{text}");
        assert!(
            text.contains(
                "test_last_success_timestamp_seconds{test_name=\"deployment\",step=\"rollout\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ward_e2e_last_duration_seconds{test_name=\"deployment\",step=\"rollout\"} 1.2"
            ),
            "{text}"
        );
    }

    #[test]
    fn skips_are_counted_by_reason_and_lease_held_starts_at_zero() {
        let registry = Arc::new(registry());
        let rec = Recorder::none().with_registry(registry.clone());
        let text = || {
            let mut text = String::new();
            registry.encode(&mut text);
            text
        };
        let before = text();
        assert!(
            before.contains("ward_e2e_runs_skipped_total{reason=\"lease_held\"} 0\n"),
            "{before}"
        );
        assert!(!before.contains("ward_e2e_tests_skipped_total"), "{before}");
        rec.run_skipped(SkipReason::LeaseHeld);
        rec.test_skipped("storage", SkipReason::NoStorageClass);
        let after = text();
        assert!(
            after.contains("# TYPE ward_e2e_runs_skipped_total counter\n"),
            "{after}"
        );
        assert!(
            after.contains("ward_e2e_runs_skipped_total{reason=\"lease_held\"} 1\n"),
            "{after}"
        );
        assert!(
            after.contains(
                "ward_e2e_tests_skipped_total{test_name=\"storage\",reason=\"no_storage_class\"} 1\n"
            ),
            "{after}"
        );
    }
}
