//! `ward probe`: one traced HTTP(S), TCP or DNS check with a phase breakdown
//! (like httpstat or `curl -w`), optionally repeated with min/p50/p99 per phase.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ward_probe::http::{AcceptStatus, HttpRequest};
use ward_probe::summary::{Summary, Tally};
use ward_probe::trace::Phases;
use ward_probe::{Outcome, Prober, ProberConfig, Target};

use crate::cmd::http_flags::{request_for, RequestArgs, TlsArgs};
use crate::render::{self, millis, Format, Table};
use crate::runtime::{runtime, Threads};

/// Arguments of `ward probe`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to check: `http(s)://host[:port]/path`, `tcp://host:port` or
    /// `dns://server[:port]/name[?type=AAAA&proto=tcp|tls]`.
    #[arg(required_unless_present = "demo")]
    pub target: Option<String>,
    /// Start a small HTTP server on loopback and probe it (no target needed).
    #[arg(long, conflicts_with = "target")]
    pub demo: bool,
    /// Number of checks to run.
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    /// Pause between checks.
    #[arg(long, short = 'i', default_value = "1s", value_parser = ward_duration::parse)]
    pub interval: Duration,
    /// Deadline of one check.
    #[arg(long, default_value = "10s", value_parser = ward_duration::parse)]
    pub timeout: Duration,
    /// Reuse the connection between repeated checks (skips dns/connect/tls).
    #[arg(long)]
    pub reuse: bool,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Accepted HTTP status codes, comma-separated (default: any 2xx).
    #[arg(long, value_delimiter = ',')]
    pub expect_status: Vec<u16>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Runs the probe(s) and prints the report; exit 1 when any check failed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::One)?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let (target, count, _demo) = match (&args.target, args.demo) {
        (Some(t), _) => (t.parse::<Target>()?, args.count, None),
        (None, _) => {
            let (addr, server) = demo::serve().await.context("starting the demo server")?;
            let target = format!("http://{addr}/").parse::<Target>()?;
            (target, args.count.max(5), Some(server))
        }
    };
    let prober = Prober::new(prober_config(&args)).context("TLS settings")?;
    let request = match &target {
        Target::Http(url) => Some(http_request(&args, url.clone())?),
        _ => None,
    };
    let mut out = std::io::stdout().lock();
    let mut report = Report::new(args.output, count);
    for i in 0..count {
        if i > 0 {
            tokio::time::sleep(if args.demo {
                Duration::from_millis(100)
            } else {
                args.interval
            })
            .await;
        }
        let outcome = match &request {
            Some(r) => prober.check_http(r).await,
            None => prober.check(&target).await,
        };
        report.add(outcome, &mut out)?;
    }
    let (checks, failed, last_error) = report.finish(&target, &mut out)?;
    out.flush()?;
    match last_error {
        None => Ok(ExitCode::SUCCESS),
        Some(error) => {
            eprintln!("ward: probe failed ({failed}/{checks} checks): {error}");
            Ok(ExitCode::from(1))
        }
    }
}

/// What `ward probe` prints, written as the checks complete: one outcome in
/// full, or for repeated checks a running tally (JSON: every outcome on its
/// own line, then the summary), so memory does not grow with `--count`.
struct Report {
    format: Format,
    single: bool,
    tally: Tally,
    last: Option<Outcome>,
    last_error: Option<ward_probe::ProbeError>,
}

impl Report {
    fn new(format: Format, count: u32) -> Self {
        Self {
            format,
            single: count == 1,
            tally: Tally::default(),
            last: None,
            last_error: None,
        }
    }

    fn add(&mut self, outcome: Outcome, out: &mut impl Write) -> anyhow::Result<()> {
        self.tally.add(&outcome);
        if let Some(e) = &outcome.error {
            self.last_error = Some(e.clone());
        }
        if matches!(self.format, Format::Json) && !self.single {
            let sep = if self.tally.checks() == 1 {
                "{\n  \"outcomes\": [\n    "
            } else {
                ",\n    "
            };
            out.write_all(sep.as_bytes())?;
            serde_json::to_writer(&mut *out, &outcome).map_err(std::io::Error::from)?;
        }
        self.last = Some(outcome);
        Ok(())
    }

    /// Writes the end of the report; returns checks, failed checks and the last error.
    fn finish(
        self,
        target: &Target,
        out: &mut impl Write,
    ) -> anyhow::Result<(usize, usize, Option<ward_probe::ProbeError>)> {
        let (checks, failed) = (self.tally.checks(), self.tally.failed());
        match (self.format, self.single, &self.last) {
            (Format::Json, true, Some(one)) => render::json(one, out)?,
            (Format::Text, true, Some(one)) => write_outcome(one, out)?,
            (Format::Json, _, _) => {
                out.write_all(b"\n  ],\n  \"summary\": ")?;
                serde_json::to_writer(&mut *out, &self.tally.summary())
                    .map_err(std::io::Error::from)?;
                out.write_all(b"\n}\n")?;
            }
            (Format::Text, _, _) => {
                write_summary(target, &self.tally.summary(), self.last_error.as_ref(), out)?
            }
        }
        Ok((checks, failed, self.last_error))
    }
}

fn prober_config(args: &Args) -> ProberConfig {
    ProberConfig {
        timeout: args.timeout,
        reuse: args.reuse,
        http_version: args.request.http_version(),
        tls: args.tls.config(),
        ..ProberConfig::default()
    }
}

fn http_request(args: &Args, url: url::Url) -> anyhow::Result<HttpRequest> {
    let mut request = request_for(&args.request, url, "GET")?;
    if !args.expect_status.is_empty() {
        request.accept = AcceptStatus::Exact(args.expect_status.clone());
    }
    Ok(request)
}

fn cell(d: Option<Duration>) -> String {
    d.map(millis).unwrap_or_else(|| "-".into())
}

fn write_outcome(o: &Outcome, out: &mut impl Write) -> std::io::Result<()> {
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
    if o.reused {
        facts.push("reused connection".into());
    }
    if let Some(dns) = &o.dns {
        facts.push(format!("{} {} answers", dns.rcode, dns.answers.len()));
    }
    if !facts.is_empty() {
        writeln!(out, "{}", facts.join(", "))?;
    }
    let mut table = Table::new(["phase", "duration", "since start"]);
    let ends = [
        ward_probe::Event::DnsDone,
        ward_probe::Event::ConnectDone,
        ward_probe::Event::TlsHandshakeDone,
        ward_probe::Event::WroteRequest,
        ward_probe::Event::GotFirstRespByte,
        ward_probe::Event::BodyDone,
    ];
    for ((name, d), end) in o.phases.named().into_iter().zip(ends) {
        table.row([name.to_string(), cell(d), cell(o.events.get(end))]);
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

fn write_summary(
    target: &Target,
    summary: &Summary,
    last_error: Option<&ward_probe::ProbeError>,
    out: &mut impl Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{target}: {}/{} checks succeeded",
        summary.successes, summary.checks
    )?;
    let mut table = Table::new(["phase", "min", "p50", "p99", "max", "n"]);
    let phases = Phases::NAMES
        .into_iter()
        .filter_map(|n| Some((n, summary.phases.get(n)?)));
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

mod demo {
    //! The demo target of `ward probe --demo`: a tiny HTTP server on 127.0.0.1.

    use std::convert::Infallible;
    use std::net::SocketAddr;

    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    /// Serves `hello from ward` on a free loopback port until dropped with the runtime.
    pub async fn serve() -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            b"hello from ward\n",
                        ))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((addr, task))
    }
}
