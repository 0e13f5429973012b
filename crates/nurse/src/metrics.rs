//! Every metric the nurse writes, in one place: kubenurse's families with its
//! names, labels and label order, and ward's additions (last-check phase
//! gauges, success, failure classes, certificate expiry).

use ward_agent::metrics::{label_text, Registry};
use ward_probe::{ErrorClass, Event, Outcome, Trace};

/// Histogram of request durations (to the response head), by `type`.
pub const REQUEST_DURATION: &str = "kubenurse_httpclient_request_duration_seconds";
/// Histogram of time since request start per trace event, by `type`, `event`.
pub const TRACE_DURATION: &str = "kubenurse_httpclient_trace_request_duration_seconds";
/// Counter of requests by `type`, `code` (status, or `round_trip_error`).
pub const REQUESTS_TOTAL: &str = "kubenurse_httpclient_requests_total";
/// Counter of errors by `type`, `event`.
pub const ERRORS_TOTAL: &str = "kubenurse_errors_total";
/// Gauge: distinct neighbours that checked this nurse in the last 60 s.
pub const INCOMING_CHECKS: &str = "kubenurse_neighbourhood_incoming_checks";
/// Gauge: duration of each phase of the last check, by `type`, `phase` (blackbox style).
pub const PHASE_SECONDS: &str = "ward_nurse_check_phase_seconds";
/// Gauge: 1 when the last check of `type` passed, else 0.
pub const CHECK_SUCCESS: &str = "ward_nurse_check_success";
/// Counter of failed checks by `type`, `class` (probe error class).
pub const FAILURES_TOTAL: &str = "ward_nurse_check_failures_total";
/// Gauge: `notAfter` of the server certificate of an HTTPS target, Unix seconds, by `type`.
pub const CERT_EXPIRY: &str = "ward_nurse_tls_cert_expiry_timestamp_seconds";

/// Counter of HTTP/2 GOAWAY frames received, by `type` (and `endpoint` for
/// API-server instances); written from a check's first HTTP/2 answer on.
pub const GOAWAYS_TOTAL: &str = "ward_nurse_http2_goaways_received_total";

/// The `type` of the per-instance API-server checks.
pub const API_SERVER_INSTANCE: &str = "api_server_instance";

/// Every family carrying a `type` label (used to expire a departed neighbour's series).
const TYPED: [&str; 9] = [
    REQUEST_DURATION,
    TRACE_DURATION,
    REQUESTS_TOTAL,
    ERRORS_TOTAL,
    PHASE_SECONDS,
    CHECK_SUCCESS,
    FAILURES_TOTAL,
    CERT_EXPIRY,
    GOAWAYS_TOTAL,
];

/// The `code` label for a check without an HTTP status (TCP and DNS extra checks).
fn non_http_code(o: &Outcome) -> String {
    match (&o.dns, &o.error) {
        (Some(answer), _) => answer.rcode.clone(),
        (None, None) => "connected".to_string(),
        (None, Some(_)) => "round_trip_error".to_string(),
    }
}

/// A check's identifying labels (`type`, and `endpoint` for an API-server
/// instance) followed by `more`.
fn labels<'a>(id: &[(&'a str, &'a str)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    id.iter().chain(more).copied().collect()
}

/// The trace events of one request, as kubenurse's httptrace hooks observe them.
fn record_events(registry: &Registry, id: &[(&str, &str)], events: &Trace) {
    for (event, at) in events.events() {
        if event != Event::BodyDone {
            registry
                .histogram(TRACE_DURATION, &labels(id, &[("event", event.as_str())]))
                .observe(at.as_secs_f64());
        }
    }
}

/// One answered request: its duration to the response head and its code.
fn record_response(registry: &Registry, id: &[(&str, &str)], events: &Trace, status: u16) {
    if let Some(head) = events.get(Event::GotFirstRespByte) {
        registry
            .histogram(REQUEST_DURATION, id)
            .observe(head.as_secs_f64());
    }
    registry
        .counter(
            REQUESTS_TOTAL,
            &labels(id, &[("code", &status.to_string())]),
        )
        .inc();
}

/// Records one check's outcome under `check` (the `type` label), as
/// kubenurse's transport does: each followed redirect is a request of its
/// own, counted with its 3xx code (not as an error).
pub fn record(registry: &Registry, check: &str, o: &Outcome) {
    record_as(registry, &[("type", check)], o);
}

/// Records one API-server instance check: `type="api_server_instance"` and
/// `endpoint` (the address checked, `ip:port`) on every series.
pub fn record_instance(registry: &Registry, endpoint: &str, o: &Outcome) {
    record_as(registry, &instance_labels(endpoint), o);
}

fn instance_labels(endpoint: &str) -> [(&str, &str); 2] {
    [("type", API_SERVER_INSTANCE), ("endpoint", endpoint)]
}

/// [`record`] with any identifying labels.
fn record_as(registry: &Registry, id: &[(&str, &str)], o: &Outcome) {
    for hop in &o.redirects {
        record_events(registry, id, &hop.events);
        record_response(registry, id, &hop.events, hop.status);
    }
    record_events(registry, id, &o.events);
    let error_event = |event: &str| {
        registry
            .counter(ERRORS_TOTAL, &labels(id, &[("event", event)]))
            .inc()
    };
    match (o.status, &o.error) {
        (Some(status), error) => {
            record_response(registry, id, &o.events, status);
            if status != 200 && !(300..400).contains(&status) {
                error_event(&format!("status_code_{status}"));
            } else if error
                .as_ref()
                .is_some_and(|e| e.class != ErrorClass::HttpStatus)
            {
                // The response started but failed later (e.g. a reset mid-body).
                error_event("round_trip_error");
            }
        }
        (None, Some(error)) if o.dns.is_none() => {
            registry
                .counter(REQUESTS_TOTAL, &labels(id, &[("code", "round_trip_error")]))
                .inc();
            error_event(error.event.map_or("round_trip_error", Event::as_str));
        }
        (None, error) => {
            registry
                .histogram(REQUEST_DURATION, id)
                .observe(o.total.as_secs_f64());
            registry
                .counter(REQUESTS_TOTAL, &labels(id, &[("code", &non_http_code(o))]))
                .inc();
            if let Some(error) = error {
                error_event(error.event.map_or("round_trip_error", Event::as_str));
            }
        }
    }
    for (phase, d) in o.phases.iter() {
        registry
            .gauge(PHASE_SECONDS, &labels(id, &[("phase", phase.as_str())]))
            .set(d.as_secs_f64());
    }
    registry
        .gauge(CHECK_SUCCESS, id)
        .set(if o.success { 1.0 } else { 0.0 });
    if let Some(error) = &o.error {
        registry
            .counter(
                FAILURES_TOTAL,
                &labels(id, &[("class", error.class.as_str())]),
            )
            .inc();
    }
    if let Some(expiry) = o.tls.as_ref().and_then(|t| t.cert_not_after) {
        registry.gauge(CERT_EXPIRY, id).set(expiry as f64);
    }
    // From a check's first HTTP/2 answer on, so that a rate sees the first GOAWAY.
    if o.goaways > 0 || o.http_version.as_deref() == Some("HTTP/2.0") {
        registry.counter(GOAWAYS_TOTAL, id).add(o.goaways);
    }
}

/// Removes every series of check `check` (a neighbour that left the selection).
pub fn expire(registry: &Registry, check: &str) -> usize {
    expire_as(registry, &[("type", check)])
}

/// Removes every series of the API-server instance at `endpoint` (gone from the endpoints).
pub fn expire_instance(registry: &Registry, endpoint: &str) -> usize {
    expire_as(registry, &instance_labels(endpoint))
}

fn expire_as(registry: &Registry, id: &[(&str, &str)]) -> usize {
    let prefix = label_text(id);
    let with_more = format!("{prefix},");
    registry.remove_where(|name, labels| {
        TYPED.contains(&name) && (labels == prefix || labels.starts_with(&with_more))
    })
}

#[cfg(test)]
mod tests {
    use ward_agent::metrics::HistogramKind;
    use ward_probe::{ProbeError, Trace};

    use super::*;

    fn encoded(r: &Registry) -> String {
        let mut s = String::new();
        r.encode(&mut s);
        s
    }

    #[test]
    fn transport_errors_count_under_their_trace_event() {
        let r = Registry::new(HistogramKind::default(), false);
        let refused = Outcome::new("http://10.0.0.7:8080/alwayshappy", Trace::start()).finish(
            Trace::start(),
            Some(ProbeError::new(
                ErrorClass::ConnectRefused,
                Some(Event::ConnectDone),
                "refused",
            )),
        );
        record(&r, "path_node-2", &refused);
        let timeout = Outcome::new("x", Trace::start()).finish(
            Trace::start(),
            Some(ProbeError::new(ErrorClass::TimeoutFirstByte, None, "slow")),
        );
        record(&r, "path_node-2", &timeout);
        let text = encoded(&r);
        assert!(
            text.contains(
                "kubenurse_errors_total{type=\"path_node-2\",event=\"connect_done\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "kubenurse_errors_total{type=\"path_node-2\",event=\"round_trip_error\"} 1\n"
        ));
        assert!(text.contains("kubenurse_httpclient_requests_total{type=\"path_node-2\",code=\"round_trip_error\"} 2\n"));
        assert!(
            !text.contains("kubenurse_httpclient_request_duration_seconds"),
            "no duration for failed round trips"
        );
        assert!(text.contains(
            "ward_nurse_check_failures_total{type=\"path_node-2\",class=\"connect_refused\"} 1\n"
        ));
    }

    #[test]
    fn redirects_are_recorded_with_their_code_not_as_errors() {
        let r = Registry::new(HistogramKind::default(), false);
        // Followed: each answer is a request of its own, as kubenurse's transport sees it.
        let mut hop_events = Trace::start();
        hop_events.mark(Event::GotFirstRespByte);
        let mut followed = Outcome::new("x", Trace::start());
        followed.status = Some(200);
        followed.redirects.push(ward_probe::outcome::Hop {
            target: "http://a/".into(),
            status: 302,
            events: hop_events,
        });
        record(&r, "me_ingress", &followed.finish(Trace::start(), None));
        // Not followed (no Location): the 301 is the answer, still not an error.
        let mut o = Outcome::new("x", Trace::start());
        o.status = Some(301);
        let o = o.finish(
            Trace::start(),
            Some(ProbeError::new(ErrorClass::HttpStatus, None, "301")),
        );
        record(&r, "me_service", &o);
        let text = encoded(&r);
        for series in [
            "kubenurse_httpclient_requests_total{type=\"me_ingress\",code=\"302\"} 1\n",
            "kubenurse_httpclient_requests_total{type=\"me_ingress\",code=\"200\"} 1\n",
            "kubenurse_httpclient_request_duration_seconds_count{type=\"me_ingress\"} 1\n",
            "kubenurse_httpclient_trace_request_duration_seconds_count{type=\"me_ingress\",event=\"got_first_resp_byte\"} 1\n",
            "kubenurse_httpclient_requests_total{type=\"me_service\",code=\"301\"} 1\n",
        ] {
            assert!(text.contains(series), "{series} not in {text}");
        }
        assert!(!text.contains("kubenurse_errors_total"), "{text}");
    }

    #[test]
    fn expiring_a_neighbour_drops_only_its_series() {
        let r = Registry::new(HistogramKind::default(), false);
        r.counter(REQUESTS_TOTAL, &[("type", "path_a"), ("code", "200")])
            .inc();
        r.counter(REQUESTS_TOTAL, &[("type", "path_ab"), ("code", "200")])
            .inc();
        r.gauge(CHECK_SUCCESS, &[("type", "path_a")]).set(1.0);
        assert_eq!(expire(&r, "path_a"), 2);
        assert_eq!(
            encoded(&r),
            "kubenurse_httpclient_requests_total{type=\"path_ab\",code=\"200\"} 1\n"
        );
    }
}
