//! Every metric `ward lookup` exports, in one place: hostlookuper's three
//! families with its exact names, labels and label order, and ward's
//! additions. Series are created exactly when hostlookuper creates them:
//! `hostlookuper_dns_errors_total` at zero for every host × server at start,
//! the duration histogram and `rcode` counters on the first answer, the
//! rcode-less lookup counter on the first transport error.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `hostlookuper_dns_lookup_duration_seconds` | histogram (`vmrange`, or `le` .005..10 with `-prom-histogram`) | host, dns_server | round trip of answered lookups (through resolv.conf: the whole search walk) |
//! | `hostlookuper_dns_lookup_total` | counter | host, dns_server, rcode | answered lookups by response code |
//! | `hostlookuper_dns_lookup_total` | counter | host, dns_server | lookups without an answer |
//! | `hostlookuper_dns_errors_total` | counter | host, dns_server | lookups without an answer (timeout, refused, network) |
//! | `ward_lookup_errors_total` | counter | host, dns_server, class | failed lookups by class: timeout, refused, truncated, servfail, nxdomain, network |
//! | `ward_lookup_resolver_queries_total` | counter | host | queries sent by resolv.conf lookups (search-path amplification) |
//! | `ward_lookup_resolver_queries_per_lookup` | gauge | host | queries the last resolv.conf lookup sent |
//! | `ward_lookup_resolver_last_lookup_seconds` | gauge | host | time the last resolv.conf lookup took |

use std::sync::{Arc, Mutex, OnceLock};

use ward_agent::metrics::{Counter, Gauge, Histogram, HistogramKind, Registry, DEFAULT_BUCKETS};

use crate::report::Lookup;

/// hostlookuper: lookup round trip, seconds.
pub const DNS_LOOKUP_DURATION: &str = "hostlookuper_dns_lookup_duration_seconds";
/// hostlookuper: lookups, with `rcode` when answered.
pub const DNS_LOOKUP_TOTAL: &str = "hostlookuper_dns_lookup_total";
/// hostlookuper: lookups that got no answer.
pub const DNS_ERRORS_TOTAL: &str = "hostlookuper_dns_errors_total";
/// ward: failed lookups by stable class.
pub const ERRORS_BY_CLASS: &str = "ward_lookup_errors_total";
/// ward: queries sent by resolv.conf lookups.
pub const RESOLVER_QUERIES_TOTAL: &str = "ward_lookup_resolver_queries_total";
/// ward: queries the last resolv.conf lookup sent.
pub const RESOLVER_QUERIES_PER_LOOKUP: &str = "ward_lookup_resolver_queries_per_lookup";
/// ward: duration of the last resolv.conf lookup.
pub const RESOLVER_LAST_LOOKUP_SECONDS: &str = "ward_lookup_resolver_last_lookup_seconds";

/// Label `host`.
pub const LABEL_HOST: &str = "host";
/// Label `dns_server`.
pub const LABEL_DNS_SERVER: &str = "dns_server";
/// Label `rcode`.
pub const LABEL_RCODE: &str = "rcode";
/// Label `class`.
pub const LABEL_CLASS: &str = "class";

/// A registry writing hostlookuper's exposition (`vmrange`, or `le` buckets .005..10).
pub fn registry(prom_histogram: bool) -> Arc<Registry> {
    let kind = if prom_histogram {
        HistogramKind::Prometheus(DEFAULT_BUCKETS.to_vec())
    } else {
        HistogramKind::VictoriaMetrics
    };
    Arc::new(Registry::new(kind, false))
}

/// The series of one host × server pair, created once and updated every round.
#[derive(Debug)]
pub struct PairMetrics {
    registry: Arc<Registry>,
    host: String,
    server: String,
    errors: Arc<Counter>,
    duration: OnceLock<Arc<Histogram>>,
    failed: OnceLock<Arc<Counter>>,
    rcodes: Mutex<Vec<(String, Arc<Counter>)>>,
    classes: Mutex<Vec<(&'static str, Arc<Counter>)>>,
    resolver: Option<ResolverMetrics>,
}

#[derive(Debug)]
struct ResolverMetrics {
    queries: Arc<Counter>,
    per_lookup: Arc<Gauge>,
    last_seconds: Arc<Gauge>,
}

impl PairMetrics {
    /// The series of `host` × `server`; creates `hostlookuper_dns_errors_total` at 0.
    pub fn new(registry: &Arc<Registry>, host: &str, server: &str) -> Self {
        let labels = [(LABEL_HOST, host), (LABEL_DNS_SERVER, server)];
        Self {
            errors: registry.counter(DNS_ERRORS_TOTAL, &labels),
            registry: registry.clone(),
            host: host.to_string(),
            server: server.to_string(),
            duration: OnceLock::new(),
            failed: OnceLock::new(),
            rcodes: Mutex::new(Vec::new()),
            classes: Mutex::new(Vec::new()),
            resolver: None,
        }
    }

    /// Also keeps the search-path amplification series of `host` (resolv.conf lookups).
    pub fn with_resolver(mut self) -> Self {
        let host = [(LABEL_HOST, self.host.as_str())];
        self.resolver = Some(ResolverMetrics {
            queries: self.registry.counter(RESOLVER_QUERIES_TOTAL, &host),
            per_lookup: self.registry.gauge(RESOLVER_QUERIES_PER_LOOKUP, &host),
            last_seconds: self.registry.gauge(RESOLVER_LAST_LOOKUP_SECONDS, &host),
        });
        self
    }

    fn labels(&self) -> [(&str, &str); 2] {
        [(LABEL_HOST, &self.host), (LABEL_DNS_SERVER, &self.server)]
    }

    /// Records one lookup as hostlookuper does, plus ward's class and resolver series.
    pub fn record(&self, lookup: &Lookup) {
        if lookup.transport_error {
            self.failed
                .get_or_init(|| self.registry.counter(DNS_LOOKUP_TOTAL, &self.labels()))
                .inc();
            self.errors.inc();
        } else {
            self.duration
                .get_or_init(|| self.registry.histogram(DNS_LOOKUP_DURATION, &self.labels()))
                .observe(lookup.duration.as_secs_f64());
            self.rcode(lookup.rcode.as_deref().unwrap_or("NOERROR"))
                .inc();
        }
        if let Some(class) = lookup.failure {
            self.class(class.as_str()).inc();
        }
        if let Some(r) = &self.resolver {
            let n = lookup.queries_sent() as u64;
            r.queries.add(n);
            r.per_lookup.set(n as f64);
            r.last_seconds.set(lookup.duration.as_secs_f64());
        }
    }

    fn rcode(&self, rcode: &str) -> Arc<Counter> {
        let mut rcodes = self.rcodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = rcodes.iter().find(|(r, _)| r == rcode) {
            return c.clone();
        }
        let [h, s] = self.labels();
        let c = self
            .registry
            .counter(DNS_LOOKUP_TOTAL, &[h, s, (LABEL_RCODE, rcode)]);
        rcodes.push((rcode.to_string(), c.clone()));
        c
    }

    fn class(&self, class: &'static str) -> Arc<Counter> {
        let mut classes = self.classes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = classes.iter().find(|(k, _)| *k == class) {
            return c.clone();
        }
        let [h, s] = self.labels();
        let c = self
            .registry
            .counter(ERRORS_BY_CLASS, &[h, s, (LABEL_CLASS, class)]);
        classes.push((class, c.clone()));
        c
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ward_probe::dns::DnsFailure;

    use super::*;

    fn lookup(rcode: Option<&str>, failure: Option<DnsFailure>) -> Lookup {
        Lookup {
            host: "a.test".into(),
            server: "udp://127.0.0.1:53".into(),
            duration: Duration::from_millis(22),
            rcode: rcode.map(str::to_string),
            failure,
            transport_error: rcode.is_none(),
            answers: vec![],
            queries: vec![],
            message: None,
        }
    }

    fn text(r: &Registry) -> String {
        let mut s = String::new();
        r.encode(&mut s);
        s
    }

    #[test]
    fn series_appear_when_hostlookuper_creates_them() {
        let r = registry(false);
        let m = PairMetrics::new(&r, "a.test", "udp://127.0.0.1:53");
        assert_eq!(
            text(&r),
            "hostlookuper_dns_errors_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\"} 0\n"
        );
        m.record(&lookup(Some("NOERROR"), None));
        m.record(&lookup(Some("NXDOMAIN"), Some(DnsFailure::Nxdomain)));
        m.record(&lookup(None, Some(DnsFailure::Timeout)));
        assert_eq!(
            text(&r),
            "hostlookuper_dns_errors_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\"} 1\n\
             hostlookuper_dns_lookup_duration_seconds_bucket{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\",vmrange=\"2.154e-02...2.448e-02\"} 2\n\
             hostlookuper_dns_lookup_duration_seconds_sum{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\"} 0.044\n\
             hostlookuper_dns_lookup_duration_seconds_count{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\"} 2\n\
             hostlookuper_dns_lookup_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\",rcode=\"NOERROR\"} 1\n\
             hostlookuper_dns_lookup_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\",rcode=\"NXDOMAIN\"} 1\n\
             hostlookuper_dns_lookup_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\"} 1\n\
             ward_lookup_errors_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\",class=\"nxdomain\"} 1\n\
             ward_lookup_errors_total{host=\"a.test\",dns_server=\"udp://127.0.0.1:53\",class=\"timeout\"} 1\n"
        );
    }

    #[test]
    fn prom_histogram_uses_le_buckets() {
        let r = registry(true);
        PairMetrics::new(&r, "h", "s").record(&lookup(Some("NOERROR"), None));
        let t = text(&r);
        assert!(t.contains("hostlookuper_dns_lookup_duration_seconds_bucket{host=\"h\",dns_server=\"s\",le=\"0.005\"} 0\n"), "{t}");
        assert!(
            t.contains("le=\"0.025\"} 1\n")
                && t.contains("le=\"10\"} 1\n")
                && t.contains("le=\"+Inf\"} 1\n"),
            "{t}"
        );
    }
}
