//! `ward probe`'s output. One check: the target, what came back, a table of
//! phases (duration, and since the start the event that ends each), then OK
//! or FAILED. Repeated checks: a table of min/p50/p99/max per phase and the
//! failures by class; as JSON every outcome on its own line, then the summary,
//! written as the checks complete so memory does not grow with `--count`.

use std::io::{self, Write};
use std::time::Duration;

use ward_probe::summary::{Summary, Tally};
use ward_probe::{ConnectionFacts, Outcome, Phase, ProbeError, Target};

use crate::render::{self, millis, Format, Table};

/// Writes one check's outcome.
pub(crate) fn write_outcome(o: &Outcome, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(o, out),
        Format::Text => outcome_text(o, out),
    }
}

/// The report of repeated checks, written as they complete: [`Stream::add`]
/// each outcome, then [`Stream::finish`].
pub(crate) struct Stream {
    format: Format,
    single: bool,
    tally: Tally,
    last: Option<Outcome>,
    last_error: Option<ProbeError>,
}

/// How repeated checks went, for the exit code and the error line.
pub(crate) struct Ended {
    /// Checks run.
    pub(crate) checks: usize,
    /// Checks that failed.
    pub(crate) failed: usize,
    /// The last failure, if any.
    pub(crate) last_error: Option<ProbeError>,
}

impl Stream {
    /// A report of `count` checks (one check is printed in full).
    pub(crate) fn new(format: Format, count: u32) -> Self {
        Self {
            format,
            single: count == 1,
            tally: Tally::default(),
            last: None,
            last_error: None,
        }
    }

    /// Counts one outcome (for JSON of repeated checks, writes it).
    pub(crate) fn add(&mut self, outcome: Outcome, out: &mut impl Write) -> io::Result<()> {
        self.tally.add(&outcome);
        if let Some(e) = &outcome.error {
            self.last_error = Some(e.clone());
        }
        if self.format == Format::Json && !self.single {
            let sep = if self.tally.checks() == 1 {
                "{\n  \"outcomes\": [\n    "
            } else {
                ",\n    "
            };
            out.write_all(sep.as_bytes())?;
            serde_json::to_writer(&mut *out, &outcome)?;
        }
        self.last = Some(outcome);
        Ok(())
    }

    /// Writes the end of the report: the one outcome, or the summary.
    pub(crate) fn finish(self, target: &Target, out: &mut impl Write) -> io::Result<Ended> {
        let (checks, failed) = (self.tally.checks(), self.tally.failed());
        match (self.format, self.single, &self.last) {
            (format, true, Some(one)) => write_outcome(one, format, out)?,
            (Format::Json, _, _) => {
                out.write_all(b"\n  ],\n  \"summary\": ")?;
                serde_json::to_writer(&mut *out, &self.tally.summary())?;
                out.write_all(b"\n}\n")?;
            }
            (Format::Text, _, _) => {
                summary_text(target, &self.tally.summary(), self.last_error.as_ref(), out)?
            }
        }
        Ok(Ended {
            checks,
            failed,
            last_error: self.last_error,
        })
    }
}

fn cell(d: Option<Duration>) -> String {
    d.map(millis).unwrap_or_else(|| "-".into())
}

/// A reused connection's facts: `reused connection open 2.5 s, idle 350 ms`;
/// nothing for a fresh one (the phases show its connect) or none at all.
fn connection(c: &ConnectionFacts) -> Option<String> {
    if !c.reused {
        return None;
    }
    let mut text = format!("reused connection open {}", render::coarse(c.age?));
    if let Some(idle) = c.idle {
        text.push_str(&format!(", idle {}", render::coarse(idle)));
    }
    Some(text)
}

fn outcome_text(o: &Outcome, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", o.target)?;
    let mut facts = Vec::new();
    if let Some(addr) = o.remote_addr {
        facts.push(format!("connected to {addr}"));
    }
    if let Some(v) = &o.http_version {
        facts.push(v.clone());
    }
    if let Some(s) = o.status {
        facts.push(format!("status {s}"));
    }
    if let Some(tls) = &o.tls {
        facts.push(format!(
            "{}{}",
            tls.version,
            tls.alpn
                .as_ref()
                .map(|a| format!(" alpn={a}"))
                .unwrap_or_default()
        ));
    }
    facts.extend(connection(&o.connection));
    if let Some(dns) = &o.dns {
        facts.push(format!("{} {} answers", dns.rcode, dns.answers.len()));
    }
    if !facts.is_empty() {
        writeln!(out, "{}", facts.join(", "))?;
    }
    let mut table = Table::new(["phase", "duration", "since start"]);
    for phase in Phase::ALL {
        table.row([
            phase.as_str().to_string(),
            cell(o.phases.get(phase)),
            cell(o.events.get(phase.end())),
        ]);
    }
    table.row(["total".to_string(), String::new(), millis(o.total)]);
    table.write(out)?;
    if let Some(dns) = &o.dns {
        for answer in &dns.answers {
            writeln!(out, "{answer}")?;
        }
    }
    match &o.error {
        Some(e) => writeln!(out, "FAILED {e}"),
        None => writeln!(out, "OK"),
    }
}

fn summary_text(
    target: &Target,
    summary: &Summary,
    last_error: Option<&ProbeError>,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{target}: {}/{} checks succeeded",
        summary.successes, summary.checks
    )?;
    let mut table = Table::new(["phase", "min", "p50", "p99", "max", "n"]);
    let phases = Phase::ALL
        .into_iter()
        .filter_map(|p| Some((p.as_str(), summary.phases.get(p.as_str())?)));
    for (name, s) in phases.chain(summary.total.as_ref().map(|s| ("total", s))) {
        table.row([
            name.to_string(),
            millis(s.min),
            millis(s.p50),
            millis(s.p99),
            millis(s.max),
            s.count.to_string(),
        ]);
    }
    table.write(out)?;
    for (class, n) in &summary.failures {
        writeln!(out, "failed: {n} x {class}")?;
    }
    if let Some(e) = last_error {
        writeln!(out, "last error: {e}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ward_probe::{ErrorClass, Event, Trace};

    use super::*;

    /// An outcome of an HTTP check whose events fired 1 ms apart from `from`.
    fn outcome(from: Event, error: Option<ProbeError>) -> Outcome {
        let start = tokio::time::Instant::now();
        let mut trace = Trace::start_at(start);
        for (i, e) in Event::ALL.iter().enumerate().filter(|(_, e)| **e >= from) {
            trace.mark_at(*e, start + Duration::from_millis(i as u64 + 1));
        }
        let mut o = Outcome::new("http://127.0.0.1:8080/", trace).finish(trace, error);
        o.total = Duration::from_millis(10);
        o.status = Some(200);
        o.http_version = Some("HTTP/1.1".into());
        o
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Each phase row shows when its ending event fired: on a reused
    /// connection (no dns, connect, tls) the rows still line up with their
    /// events, which a positional zip of phases and events did not promise.
    #[test]
    fn one_check_shows_each_phase_and_the_event_that_ends_it() {
        let mut o = outcome(Event::GotConn, None);
        o.connection = ConnectionFacts {
            reused: true,
            age: Some(Duration::from_millis(2_480)),
            idle: Some(Duration::from_micros(350_400)),
        };
        assert_eq!(
            text(|out| write_outcome(&o, Format::Text, out)),
            "http://127.0.0.1:8080/\n\
             HTTP/1.1, status 200, reused connection open 2.5 s, idle 350 ms\n\
             phase    duration  since start\n\
             dns      -         -\n\
             connect  -         -\n\
             tls      -         -\n\
             send     1.000ms   8.000ms\n\
             wait     1.000ms   9.000ms\n\
             receive  1.000ms   10.000ms\n\
             total              10.000ms\n\
             OK\n"
        );
    }

    #[test]
    fn repeated_checks_end_with_a_summary_and_the_last_error() {
        let refused = ProbeError::new(
            ErrorClass::ConnectRefused,
            Some(Event::ConnectDone),
            "127.0.0.1:1: refused",
        );
        let target: Target = "http://127.0.0.1:8080/".parse().unwrap();
        let mut stream = Stream::new(Format::Text, 2);
        let mut out = Vec::new();
        stream
            .add(outcome(Event::DnsStart, None), &mut out)
            .unwrap();
        stream
            .add(outcome(Event::GotConn, Some(refused)), &mut out)
            .unwrap();
        let ended = stream.finish(&target, &mut out).unwrap();
        assert_eq!((ended.checks, ended.failed), (2, 1));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("http://127.0.0.1:8080/: 1/2 checks succeeded\nphase "),
            "{text}"
        );
        assert!(text.contains("\ndns      1.000ms"), "{text}");
        assert!(
            text.contains("\nwait     1.000ms   1.000ms   1.000ms   1.000ms   2\n"),
            "{text}"
        );
        assert!(
            text.ends_with(
                "failed: 1 x connect_refused\nlast error: connect_refused: 127.0.0.1:1: refused\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn repeated_checks_as_json_stream_outcomes_then_the_summary() {
        let target: Target = "http://127.0.0.1:8080/".parse().unwrap();
        let mut stream = Stream::new(Format::Json, 2);
        let mut out = Vec::new();
        for _ in 0..2 {
            stream.add(outcome(Event::GotConn, None), &mut out).unwrap();
        }
        stream.finish(&target, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["outcomes"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["summary"]["checks"], 2);
    }
}
