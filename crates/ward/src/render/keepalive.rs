//! `ward keepalive`'s output: the idle timeout a probe measured (how the
//! server closed, the samples, the silent-drop bracket), and a race's
//! result with its diagnosis and the fix for nginx and Tomcat; the race's
//! live line; an audit's table of Ingress backends with the fix for each one
//! at risk; JSON for all three.

use std::io::{self, Write};

use ward_load::audit::{AuditReport, Status, TimeoutSource};
use ward_load::idle::{CloseKind, IdleMethod, IdleReport};
use ward_load::race::{GapBucket, RaceProgress, RaceReport};

use crate::render::{self, millis, Format, Table};

/// Writes what `keepalive probe` measured.
pub(crate) fn write_probe(r: &IdleReport, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(r, out),
        Format::Text => probe_text(r, out),
    }
}

/// Writes a race's result, diagnosis and fix.
pub(crate) fn write_race(r: &RaceReport, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(r, out),
        Format::Text => race_text(r, out),
    }
}

/// Writes an audit: the proxy's timeout, what could not be read, a row per
/// backend endpoint, and the fix for each one at risk.
pub(crate) fn write_audit(r: &AuditReport, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(r, out),
        Format::Text => audit_text(r, out),
    }
}

fn status_words(status: Status) -> &'static str {
    match status {
        Status::AtRisk => "AT RISK",
        Status::Ok => "ok",
        Status::NoClose => "no close",
        Status::NoKeepAlive => "no keep-alive",
        Status::NoAnswer => "no answer",
    }
}

fn audit_text(r: &AuditReport, out: &mut impl Write) -> io::Result<()> {
    let upstream = seconds(r.upstream_timeout.as_secs_f64());
    let source = match r.upstream_timeout_source {
        TimeoutSource::Configmap => format!("ConfigMap {}", r.configmap),
        TimeoutSource::Default => format!(
            "{}'s default: ConfigMap {} does not set it",
            r.controller, r.configmap
        ),
        TimeoutSource::Assumed => format!("{}'s default, assumed", r.controller),
    };
    writeln!(
        out,
        "{} upstream-keepalive-timeout: {upstream} ({source})",
        r.controller
    )?;
    for p in &r.problems {
        writeln!(out, "could not read {}: {}", p.what, p.reason)?;
    }
    if r.backends.is_empty() {
        writeln!(out, "no Service endpoints behind an Ingress to measure")?;
    } else {
        let mut table = Table::new([
            "STATUS",
            "SERVICE",
            "PORT",
            "ENDPOINT",
            "IDLE TIMEOUT",
            "INGRESSES",
        ]);
        for b in &r.backends {
            let idle = match (b.idle_timeout, b.close) {
                (Some(t), Some(close)) => format!("{} {}", millis(t), close_short(close)),
                (None, Some(CloseKind::None)) => {
                    format!("> {}", ward_duration::GoDuration(r.max_wait))
                }
                _ => "-".into(),
            };
            table.row([
                status_words(b.status).to_string(),
                b.service.clone(),
                b.port.clone(),
                b.url.clone(),
                idle,
                b.ingresses.join(","),
            ]);
        }
        table.write(out)?;
    }
    for b in &r.backends {
        match (b.status, b.idle_timeout, &b.error) {
            (Status::AtRisk, Some(t), _) => writeln!(
                out,
                "fix {} ({}): it closes idle connections after {}, no later than {} reuses them ({upstream}), \
                 so requests race its close and get 502s; raise its keep-alive timeout above {upstream} \
                 (Tomcat keepAliveTimeout, Spring Boot server.tomcat.keep-alive-timeout, Node.js server.keepAliveTimeout), \
                 or {}",
                b.service,
                b.url,
                millis(t),
                r.controller,
                lower_advice(&r.configmap, t)
            )?,
            (Status::NoAnswer, _, Some(e)) => {
                writeln!(out, "no answer from {} ({}): {e}", b.service, b.url)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// How to lower ingress-nginx's `upstream-keepalive-timeout` (whole
/// seconds) below a backend's `t`, with a second's margin, if it can be.
fn lower_advice(configmap: &str, t: std::time::Duration) -> String {
    let below = seconds(t.as_millis() as f64 / 1e3);
    match t.as_secs().saturating_sub(1) {
        0 => format!(
            "lower upstream-keepalive-timeout in ConfigMap {configmap} below {below}, \
             which its whole seconds cannot do: raise the backend's"
        ),
        n => format!(
            "lower upstream-keepalive-timeout in ConfigMap {configmap} below {below} (e.g. \"{n}\")"
        ),
    }
}

fn close_words(kind: CloseKind) -> &'static str {
    match kind {
        CloseKind::Fin => "a clean close (FIN)",
        CloseKind::Reset => "a reset (RST)",
        CloseKind::Other => {
            "the connection ending without FIN or RST (e.g. an unsolicited response)"
        }
        CloseKind::None => "no close",
        CloseKind::SilentDrop => "a silent drop (no FIN or RST; later requests fail)",
        CloseKind::NoKeepAlive => "no keep-alive (closed after each response)",
    }
}

/// A sample's close in a word or two (`FIN`, `RST`, `silent drop`).
fn close_short(kind: CloseKind) -> &'static str {
    match kind {
        CloseKind::Fin => "FIN",
        CloseKind::Reset => "RST",
        CloseKind::Other => "ended",
        CloseKind::None => "open",
        CloseKind::SilentDrop => "silent drop",
        CloseKind::NoKeepAlive => "no keep-alive",
    }
}

fn probe_text(r: &IdleReport, out: &mut impl Write) -> io::Result<()> {
    if r.close == CloseKind::NoKeepAlive {
        writeln!(
            out,
            "{}: the server does not keep connections alive: its {} response ends the connection \
             (HTTP/1.0 without `Connection: keep-alive`, or `Connection: close`), so there is no idle timeout to measure",
            r.url, r.http_version
        )?;
        return proxy_note(r, out);
    }
    match r.timeout {
        Some(t) => writeln!(
            out,
            "{}: idle keep-alive timeout {} ({}, {})",
            r.url,
            millis(t),
            close_words(r.close),
            match r.method {
                IdleMethod::Passive => "observed",
                IdleMethod::Bisect => "bracketed by send-after-wait probes",
            }
        )?,
        None => writeln!(
            out,
            "{}: no idle close within {}; a request after the wait still worked (no idle timeout below it)",
            r.url,
            ward_duration::GoDuration(r.max_wait)
        )?,
    }
    if let Some(b) = r.bracket {
        writeln!(
            out,
            "silent drop: a request after {} idle still worked, one after {} failed, and nothing sent a FIN or RST while the connection sat idle; \
             so something on the path (NAT, firewall, load balancer) forgets idle connections in between, not the server",
            millis(b.lower),
            millis(b.upper)
        )?;
    }
    let samples: Vec<String> = r
        .samples
        .iter()
        .map(|s| match s.idle {
            Some(d) => format!("{} {}", millis(d), close_short(s.close)),
            None => format!("- {}", close_short(s.close)),
        })
        .collect();
    writeln!(out, "samples: {}", samples.join(", "))?;
    proxy_note(r, out)
}

/// When the response named a proxy: what was measured is its client-side
/// timeout, not its backend's.
fn proxy_note(r: &IdleReport, out: &mut impl Write) -> io::Result<()> {
    match &r.proxy {
        Some(proxy) => writeln!(
            out,
            "note: the server is a proxy ({proxy}): if it passes requests to a backend, this \
             is its client-side timeout (nginx keepalive_timeout, 75s by default), not the \
             backend's; measure each hop directly."
        ),
        None => Ok(()),
    }
}

/// Draws the race's live line (elapsed, waves, requests, 502s) on stderr
/// until the sender is dropped.
pub(crate) async fn progress(mut rx: tokio::sync::watch::Receiver<RaceProgress>) {
    let bar = render::spinner();
    while rx.changed().await.is_ok() {
        let p = rx.borrow_and_update().clone();
        bar.set_message(format!(
            "{:.1}s  wave {}  {} requests  {} x 502",
            p.elapsed.as_secs_f64(),
            p.waves,
            p.requests,
            p.bad_gateway
        ));
        bar.tick();
    }
    bar.finish_and_clear();
}

/// Seconds as an nginx or Spring setting is written: `60s`, `1.5s`, `700ms`.
fn seconds(s: f64) -> String {
    if s >= 10.0 && s.fract() == 0.0 {
        format!("{s:.0}s")
    } else if s >= 1.0 {
        format!("{s}s")
    } else {
        format!("{:.0}ms", s * 1e3)
    }
}

/// Where the 502s fell by idle gap, naming at most `GAP_HITS_SHOWN` gaps (JSON has them all).
fn gap_line(by_gap: &[GapBucket]) -> Option<String> {
    const GAP_HITS_SHOWN: usize = 6;
    let (first, last) = (by_gap.first()?, by_gap.last()?);
    let tried = format!("{}-{} ms", first.gap_ms, last.gap_ms + 1);
    let hits: Vec<&GapBucket> = by_gap.iter().filter(|b| b.bad_gateway > 0).collect();
    let mut named: Vec<String> = hits
        .iter()
        .take(GAP_HITS_SHOWN)
        .map(|b| {
            format!(
                "{} ms {} of {} requests",
                b.gap_ms, b.bad_gateway, b.requests
            )
        })
        .collect();
    if hits.len() > GAP_HITS_SHOWN {
        named.push(format!("{} more gaps", hits.len() - GAP_HITS_SHOWN));
    }
    if hits.len() < by_gap.len() {
        let other = if hits.is_empty() { "" } else { " other" };
        named.push(format!("none at the{other} gaps tried ({tried})"));
    }
    Some(format!(
        "502s by idle gap (previous response end to send): {}",
        named.join(", ")
    ))
}

fn race_text(r: &RaceReport, out: &mut impl Write) -> io::Result<()> {
    let idle = r.backend_idle.as_secs_f64();
    match (&r.backend, r.backend_close) {
        (Some(b), Some(close)) => writeln!(
            out,
            "backend {b} closes idle connections after {} with {} (measured; spread {})",
            millis(r.backend_idle),
            close_words(close),
            millis(r.backend_spread)
        )?,
        _ => writeln!(
            out,
            "backend idle timeout {} (given)",
            millis(r.backend_idle)
        )?,
    }
    writeln!(
        out,
        "raced {} {}: waves of concurrent requests, each sent {} after the previous wave ended, less 3/4 of the time the proxy adds to the backend's response time (± a few ms)",
        r.method,
        r.proxy,
        millis(r.backend_idle)
    )?;
    writeln!(
        out,
        "result: {} x 502 in {} requests over {} waves, {:.1}s{}   status {}",
        r.bad_gateway,
        r.requests,
        r.waves,
        r.duration.as_secs_f64(),
        r.first_502
            .map(|d| format!(" (first 502 after {:.1}s)", d.as_secs_f64()))
            .unwrap_or_default(),
        render::counts(&r.status_codes)
    )?;
    if !r.errors.is_empty() {
        writeln!(out, "client-side errors: {}", render::counts(&r.errors))?;
    }
    if let Some(line) = gap_line(&r.by_gap) {
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    let retried = matches!(
        r.method.as_str(),
        "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS"
    );
    let retry = "nginx retries a request that failed on a pooled upstream connection once for GET, HEAD, PUT and DELETE \
         (the client sees 200; the access log shows $upstream_status \"502, 200\"), so with those methods the race only shows \
         in the error log. POST, PATCH and LOCK are not retried (unless `proxy_next_upstream ... non_idempotent`) and reach the client as 502.";
    if retried {
        writeln!(
            out,
            "Note on {}: {retry} Use POST (the default) to see the 502s.",
            r.method
        )?;
    } else {
        writeln!(out, "Why {}: {retry}", r.method)?;
    }
    writeln!(out)?;
    let proxy = r
        .proxy_idle
        .map(millis)
        .unwrap_or_else(|| "60s by default in nginx".into());
    if r.reproduced {
        writeln!(
            out,
            "Diagnosis: the proxy keeps idle upstream connections longer than the backend ({}) does (proxy: {proxy}). \
             When the proxy reuses a pooled connection just as the backend closes it, the request fails: nginx logs \
             \"upstream prematurely closed connection while reading response header from upstream\" (FIN) or \
             \"recv() failed (104: Connection reset by peer) while reading response header from upstream\" (RST) and answers 502.",
            seconds(idle)
        )?;
    } else {
        writeln!(
            out,
            "Diagnosis: no 502 in this run. Either the proxy drops idle upstream connections before the backend ({}) does \
             (the safe setup), or the race was not hit in the time given (raise --max-time, or check the proxy has \
             `keepalive` in its upstream block and `proxy_http_version 1.1`).",
            seconds(idle)
        )?;
    }
    writeln!(
        out,
        "Fix (either one; the hop closer to the client must time out first):"
    )?;
    writeln!(
        out,
        "  proxy below backend   nginx:  upstream backend {{ server ...; keepalive 32; keepalive_timeout {}; }}",
        seconds(r.fix.proxy_keepalive_timeout_max_seconds)
    )?;
    writeln!(
        out,
        "  backend above proxy   Tomcat: <Connector port=\"8080\" protocol=\"HTTP/1.1\" keepAliveTimeout=\"{:.0}\" ... />  (milliseconds; Spring Boot: server.tomcat.keep-alive-timeout={})",
        r.fix.backend_keepalive_timeout_min_seconds * 1e3,
        seconds(r.fix.backend_keepalive_timeout_min_seconds)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(gap_ms: u64, bad_gateway: u64) -> GapBucket {
        GapBucket {
            gap_ms,
            waves: 2,
            requests: 32,
            bad_gateway,
        }
    }

    #[test]
    fn a_probe_names_the_timeout_the_close_and_the_samples() {
        use std::time::Duration;
        use ward_load::idle::IdleSample;
        let report = IdleReport {
            url: "http://127.0.0.1:8080/".into(),
            timeout: Some(Duration::from_secs(5)),
            close: CloseKind::Fin,
            method: IdleMethod::Passive,
            max_wait: Duration::from_secs(120),
            http_version: "HTTP/1.1".into(),
            bracket: None,
            proxy: None,
            samples: vec![IdleSample {
                idle: Some(Duration::from_millis(5_002)),
                close: CloseKind::Fin,
            }],
        };
        let mut out = Vec::new();
        write_probe(&report, Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "http://127.0.0.1:8080/: idle keep-alive timeout 5000.000ms (a clean close (FIN), observed)",
                "samples: 5002.000ms FIN",
            ],
            "a backend measured directly: no note about proxies"
        );
        let through = IdleReport {
            proxy: Some("Server: nginx/1.26.3".into()),
            ..report.clone()
        };
        let mut out = Vec::new();
        write_probe(&through, Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .last()
                .unwrap_or_default()
                .starts_with("note: the server is a proxy (Server: nginx/1.26.3): if it passes"),
            "{text}"
        );
        let closing = IdleReport {
            close: CloseKind::NoKeepAlive,
            timeout: None,
            samples: vec![],
            http_version: "HTTP/1.0".into(),
            ..report
        };
        let mut out = Vec::new();
        write_probe(&closing, Format::Text, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "http://127.0.0.1:8080/: the server does not keep connections alive: its HTTP/1.0 \
             response ends the connection (HTTP/1.0 without `Connection: keep-alive`, or \
             `Connection: close`), so there is no idle timeout to measure\n"
        );
    }

    #[test]
    fn gap_line_names_the_gaps_with_502s_and_the_range_tried() {
        assert_eq!(gap_line(&[]), None);
        assert_eq!(
            gap_line(&[bucket(1018, 0), bucket(1019, 3), bucket(1021, 16)]).unwrap(),
            "502s by idle gap (previous response end to send): 1019 ms 3 of 32 requests, \
             1021 ms 16 of 32 requests, none at the other gaps tried (1018-1022 ms)"
        );
        assert_eq!(
            gap_line(&[bucket(998, 0), bucket(1003, 0)]).unwrap(),
            "502s by idle gap (previous response end to send): none at the gaps tried (998-1004 ms)"
        );
        let many: Vec<GapBucket> = (0..8).map(|i| bucket(1000 + i, 1)).collect();
        assert!(gap_line(&many)
            .unwrap()
            .ends_with("1005 ms 1 of 32 requests, 2 more gaps"));
    }

    fn audit_report() -> AuditReport {
        use std::time::Duration;
        use ward_load::audit::{Backend, Problem};
        let backend = |service: &str, url: &str, status, idle: Option<u64>, close| Backend {
            service: service.into(),
            port: "80".into(),
            ingresses: vec!["shop/web".into()],
            url: url.into(),
            status,
            idle_timeout: idle.map(Duration::from_millis),
            close,
            error: (status == Status::NoAnswer).then(|| "connection refused".into()),
        };
        AuditReport {
            controller: "ingress-nginx",
            configmap: "ingress-nginx/ingress-nginx-controller".into(),
            upstream_timeout: Duration::from_secs(60),
            upstream_timeout_source: TimeoutSource::Assumed,
            max_wait: Duration::from_secs(90),
            backends: vec![
                backend(
                    "shop/api",
                    "http://10.0.3.17:8080/",
                    Status::AtRisk,
                    Some(20_001),
                    Some(CloseKind::Fin),
                ),
                backend(
                    "shop/cache",
                    "http://10.0.3.9:80/",
                    Status::NoClose,
                    None,
                    Some(CloseKind::None),
                ),
                backend(
                    "shop/gone",
                    "http://10.0.3.4:80/",
                    Status::NoAnswer,
                    None,
                    None,
                ),
                backend(
                    "shop/tiny",
                    "http://10.0.3.5:80/",
                    Status::AtRisk,
                    Some(900),
                    Some(CloseKind::Reset),
                ),
            ],
            problems: vec![Problem {
                what: "ConfigMap ingress-nginx/ingress-nginx-controller".into(),
                reason: "forbidden (HTTP 403)".into(),
            }],
        }
    }

    #[test]
    fn an_audit_lists_each_backend_and_the_fix_for_those_at_risk() {
        let mut out = Vec::new();
        write_audit(&audit_report(), Format::Text, &mut out).unwrap();
        let fix = "so requests race its close and get 502s; raise its keep-alive timeout above 60s \
                   (Tomcat keepAliveTimeout, Spring Boot server.tomcat.keep-alive-timeout, Node.js server.keepAliveTimeout), \
                   or lower upstream-keepalive-timeout in ConfigMap ingress-nginx/ingress-nginx-controller below";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "ingress-nginx upstream-keepalive-timeout: 60s (ingress-nginx's default, assumed)
could not read ConfigMap ingress-nginx/ingress-nginx-controller: forbidden (HTTP 403)
STATUS     SERVICE     PORT  ENDPOINT                IDLE TIMEOUT     INGRESSES
AT RISK    shop/api    80    http://10.0.3.17:8080/  20001.000ms FIN  shop/web
no close   shop/cache  80    http://10.0.3.9:80/     > 1m30s          shop/web
no answer  shop/gone   80    http://10.0.3.4:80/     -                shop/web
AT RISK    shop/tiny   80    http://10.0.3.5:80/     900.000ms RST    shop/web
fix shop/api (http://10.0.3.17:8080/): it closes idle connections after 20001.000ms, no later than ingress-nginx reuses them (60s), {fix} 20.001s (e.g. \"19\")
no answer from shop/gone (http://10.0.3.4:80/): connection refused
fix shop/tiny (http://10.0.3.5:80/): it closes idle connections after 900.000ms, no later than ingress-nginx reuses them (60s), {fix} 900ms, which its whole seconds cannot do: raise the backend's
"
            )
        );
    }

    #[test]
    fn an_audit_in_json_is_the_document_alone() {
        let mut out = Vec::new();
        write_audit(&audit_report(), Format::Json, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["upstream_keepalive_timeout_seconds"], 60.0);
        assert_eq!(doc["upstream_timeout_source"], "assumed");
        assert_eq!(doc["backends"][0]["status"], "at_risk");
        assert_eq!(doc["backends"][0]["idle_timeout_seconds"], 20.001);
        assert_eq!(doc["backends"][1]["status"], "no_close");
        assert_eq!(doc["backends"][2]["error"], "connection refused");
        assert_eq!(doc["problems"][0]["reason"], "forbidden (HTTP 403)");
    }
}
