//! `ward load`'s output: the live progress line on stderr while the test
//! runs, then the k6-like summary (thresholds, HTTP, latency per phase,
//! network) or the summary as JSON.

use std::io::{self, Write};
use std::time::Duration;

use ward_load::run::Progress;
use ward_load::stats::{Distribution, FailureGroup, Summary};
use ward_load::threshold::{ThresholdResult, Unit};

use crate::render::{self, millis, Format, Table};

/// Writes the summary of a load test.
pub(crate) fn write(s: &Summary, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(s, out),
        Format::Text => text(s, out),
    }
}

/// Draws the live line (elapsed, VUs, requests, req/s, failures) on stderr
/// until the sender is dropped.
pub(crate) async fn progress(mut rx: tokio::sync::watch::Receiver<Progress>) {
    let bar = render::spinner();
    while rx.changed().await.is_ok() {
        let p = rx.borrow_and_update().clone();
        bar.set_message(format!(
            "{:.1}s/{:.0}s  vus {}  {} requests  {:.0} req/s  {} failed",
            p.elapsed.as_secs_f64(),
            p.planned.as_secs_f64(),
            p.vus,
            p.requests,
            p.rps,
            p.failed
        ));
        bar.tick();
    }
    bar.finish_and_clear();
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// A threshold's observed value in its metric's unit: latency in
/// milliseconds, the failure rate in percent, rates and counts as numbers.
fn observed(t: &ThresholdResult) -> String {
    match t.metric.unit() {
        Unit::Seconds => millis(Duration::from_secs_f64(t.observed.max(0.0))),
        Unit::Fraction => pct(t.observed),
        Unit::PerSecond | Unit::Count => format!("{:.1}", t.observed),
    }
}

/// One group of failures: `17 of 17 502s on reused connections idle
/// 19.8-20.0 s, open 20.1-95.3 s` or `3 of 5 reset errors on fresh connections`.
fn failure_group(g: &FailureGroup) -> String {
    let what = if g.is_status {
        format!("{}s", g.failure)
    } else {
        format!("{} errors", g.failure)
    };
    let mut line = format!(
        "{} of {} {what} on {} connections",
        g.count, g.of, g.connection
    );
    if let Some(idle) = g.idle_before {
        line.push_str(&format!(
            " idle {}",
            render::coarse_span(idle.min, idle.max)
        ));
    }
    if let Some(age) = g.connection_age {
        line.push_str(&format!(", open {}", render::coarse_span(age.min, age.max)));
    }
    line
}

/// The k6-like text summary.
fn text(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    let model = match s.target_rate {
        Some(rate) => format!("open model, {rate:.1} req/s target, {} workers", s.vus_max),
        None => format!("closed model, up to {} VUs", s.vus_max),
    };
    writeln!(
        out,
        "ward load {}  ({model}, {:.1}s{})",
        s.url,
        s.duration.as_secs_f64(),
        if s.interrupted { ", interrupted" } else { "" }
    )?;
    if !s.thresholds.is_empty() {
        writeln!(out, "\nTHRESHOLDS")?;
        for t in &s.thresholds {
            writeln!(
                out,
                "  {} {}  (observed {})",
                if t.passed { "✓" } else { "✗" },
                t.expression,
                observed(t)
            )?;
        }
    }
    writeln!(out, "\nHTTP")?;
    writeln!(
        out,
        "  requests    {}  {:.1}/s",
        s.requests, s.requests_per_second
    )?;
    writeln!(
        out,
        "  failed      {}  {} of {}  (on reused connections: {}, on fresh: {})",
        pct(s.failure_rate),
        s.failed,
        s.requests,
        s.failed_on_reused_connections,
        s.failed_on_fresh_connections
    )?;
    for (i, g) in s.failures_by_connection.iter().enumerate() {
        let label = if i == 0 {
            "  failures    "
        } else {
            "              "
        };
        writeln!(out, "{label}{}", failure_group(g))?;
    }
    writeln!(out, "  status      {}", render::counts(&s.status_codes))?;
    if !s.errors.is_empty() {
        writeln!(out, "  errors      {}", render::counts(&s.errors))?;
    }
    if let Some(n) = s.unsent_requests.filter(|n| *n > 0) {
        writeln!(
            out,
            "  unsent      {n} intended sends not made by the end (every worker busy, or the generator behind)"
        )?;
    }
    if s.interrupted_requests > 0 {
        writeln!(
            out,
            "  interrupted {} requests in flight at the end",
            s.interrupted_requests
        )?;
    }
    writeln!(out, "\nLATENCY")?;
    let mut table = Table::new(["", "avg", "min", "p50", "p90", "p95", "p99", "max"]);
    let row = |name: &str, d: &Distribution| {
        [
            name.to_string(),
            millis(d.avg),
            millis(d.min),
            millis(d.p50),
            millis(d.p90),
            millis(d.p95),
            millis(d.p99),
            millis(d.max),
        ]
    };
    table.row(row("  duration", &s.latency));
    for name in ward_load::stats::PHASES {
        if let Some(d) = s.phases.get(name) {
            table.row(row(&format!("  {name}"), d));
        }
    }
    if let Some(d) = &s.send_lateness {
        table.row(row("  send lateness", d));
    }
    table.write(out)?;
    if s.send_lateness.is_some() {
        writeln!(
            out,
            "  (send lateness: the generator's own delay after the intended send time, not in \
             duration; waiting for a busy target is in duration)"
        )?;
    }
    writeln!(out, "\nNETWORK")?;
    writeln!(
        out,
        "  connections {} opened   data received {} bytes",
        s.connections_opened, s.data_received_bytes
    )?;
    if let Some(e) = &s.last_error {
        writeln!(out, "  last error  {e}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ward_load::stats::Recorder;
    use ward_load::threshold::Threshold;

    use super::*;

    fn summary(thresholds: &[(&str, f64)]) -> Summary {
        let mut s = Summary::new(
            "http://127.0.0.1:8080/".into(),
            "closed",
            Duration::from_secs(2),
            &Recorder::default(),
        );
        s.vus_max = 2;
        s.thresholds = thresholds
            .iter()
            .map(|(expression, observed)| {
                let t: Threshold = expression.parse().unwrap();
                ThresholdResult {
                    expression: t.expression,
                    metric: t.metric,
                    observed: *observed,
                    passed: true,
                }
            })
            .collect();
        s
    }

    fn text_of(s: &Summary) -> String {
        let mut out = Vec::new();
        write(s, Format::Text, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Each observed value is printed in its metric's unit, whatever the
    /// expression looks like; a whole number of seconds is still a latency
    /// (it printed as `0.0` and `1.0` when the printer guessed from the value).
    #[test]
    fn thresholds_print_the_observed_value_in_the_metrics_unit() {
        let text = text_of(&summary(&[
            ("p95<200ms", 0.0),
            ("max<2s", 1.0),
            ("avg<1s", 0.0125),
            ("errors<1%", 0.005),
            ("http_req_failed<0.01", 0.25),
            ("rps>100", 250.0),
            ("throughput>100", 99.5),
            ("requests>=10", 500.0),
        ]));
        for line in [
            "  ✓ p95<200ms  (observed 0.000ms)",
            "  ✓ max<2s  (observed 1000.000ms)",
            "  ✓ avg<1s  (observed 12.500ms)",
            "  ✓ errors<1%  (observed 0.50%)",
            "  ✓ http_req_failed<0.01  (observed 25.00%)",
            "  ✓ rps>100  (observed 250.0)",
            "  ✓ throughput>100  (observed 99.5)",
            "  ✓ requests>=10  (observed 500.0)",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn the_summary_names_url_model_and_sections() {
        let text = text_of(&summary(&[]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "ward load http://127.0.0.1:8080/  (closed model, up to 2 VUs, 2.0s)"
        );
        assert!(!text.contains("THRESHOLDS"), "{text}");
        for section in ["HTTP", "LATENCY", "NETWORK"] {
            assert!(lines.contains(&section), "{section}: {text}");
        }
        assert!(
            text.contains("  requests    0  0.0/s\n  failed      0.00%  0 of 0"),
            "{text}"
        );
        let mut json = Vec::new();
        write(&summary(&[]), Format::Json, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["duration_seconds"], 2.0);
    }

    /// Failures are broken down by connection, and the open model's send
    /// lateness is a row of its own, kept apart from the latency.
    #[test]
    fn failures_by_connection_and_send_lateness() {
        use ward_probe::trace::Phases;
        use ward_probe::{ConnectionFacts, ErrorClass};
        let mut rec = Recorder::default();
        let ms = Duration::from_millis;
        for i in 0..17 {
            let facts = ConnectionFacts {
                reused: true,
                age: Some(ms(20_100 + i * 100)),
                idle: Some(ms(19_800 + i * 12)),
            };
            rec.response(502, ms(1), &Phases::default(), 0, facts);
        }
        for _ in 0..3 {
            rec.error(
                ErrorClass::Reset,
                "reset".into(),
                ConnectionFacts::default(),
            );
        }
        rec.late(ms(2));
        let mut s = Summary::new("http://127.0.0.1:8080/".into(), "open", ms(2000), &rec);
        s.send_lateness = Some(rec.send_lateness());
        s.unsent_requests = Some(4);
        let text = text_of(&s);
        assert!(
            text.contains(
                "\n  failures    17 of 17 502s on reused connections idle 19.8-20.0 s, open 20.1-21.7 s\n\
                 \x20             3 of 3 reset errors on fresh connections\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\n  unsent      4 intended sends not made by the end (every worker busy, or the generator behind)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n  send lateness  2.000ms  2.000ms  "),
            "{text}"
        );
        let mut json = Vec::new();
        write(&s, Format::Json, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            v["failures_by_connection"][0],
            serde_json::json!({
                "failure": "502", "is_status": true, "connection": "reused", "count": 17, "of": 17,
                "idle_before": {"min": 19.8, "max": 19.992},
                "connection_age": {"min": 20.1, "max": 21.7},
            })
        );
        assert_eq!(v["send_lateness"]["max"], 0.002, "{v}");
        assert_eq!(v["unsent_requests"], 4, "{v}");
        // A closed-model summary has none (no intended send times).
        let mut json = Vec::new();
        write(&summary(&[]), Format::Json, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["send_lateness"], serde_json::Value::Null, "{v}");
    }
}
