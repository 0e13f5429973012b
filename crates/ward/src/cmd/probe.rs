//! `ward probe`: one traced HTTP(S), TCP or DNS check with a phase breakdown
//! (like httpstat or `curl -w`), optionally repeated with min/p50/p99 per phase.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use ward_probe::http::{AcceptStatus, HttpRequest, HttpVersion};
use ward_probe::summary::Summary;
use ward_probe::tls::{Roots, TlsConfig};
use ward_probe::{Outcome, Prober, ProberConfig, Target};

use crate::cmd::values::go_duration;
use crate::render::{self, millis, Format, Table};

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
    #[arg(long, short = 'i', default_value = "1s", value_parser = go_duration)]
    pub interval: Duration,
    /// Deadline of one check.
    #[arg(long, default_value = "10s", value_parser = go_duration)]
    pub timeout: Duration,
    /// Reuse the connection between repeated checks (skips dns/connect/tls).
    #[arg(long)]
    pub reuse: bool,
    /// HTTP method.
    #[arg(long, short = 'X', default_value = "GET")]
    pub method: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(long, short = 'd')]
    pub data: Option<String>,
    /// Accepted HTTP status codes, comma-separated (default: any 2xx).
    #[arg(long, value_delimiter = ',')]
    pub expect_status: Vec<u16>,
    /// Speak HTTP/1.1 only.
    #[arg(long, conflicts_with = "http2")]
    pub http1: bool,
    /// Speak HTTP/2 only (prior knowledge on plain HTTP).
    #[arg(long)]
    pub http2: bool,
    /// Skip TLS certificate verification.
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// Extra CA certificate file (PEM) to trust (repeatable).
    #[arg(long = "cacert")]
    pub ca_files: Vec<PathBuf>,
    /// Built-in roots to trust.
    #[arg(long, value_enum, default_value = "system")]
    pub roots: RootsArg,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// `--roots` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RootsArg {
    /// The operating system's trust store.
    System,
    /// Mozilla's roots built into ward.
    Webpki,
    /// Only `--cacert` files.
    None,
}

/// Runs the probe(s) and prints the report; exit 1 when any check failed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
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
    let prober = Prober::new(prober_config(&args)).context("configuring TLS")?;
    let request = match &target {
        Target::Http(url) => Some(http_request(&args, url.clone())?),
        _ => None,
    };
    let mut outcomes = Vec::with_capacity(count as usize);
    for i in 0..count {
        if i > 0 {
            tokio::time::sleep(if args.demo {
                Duration::from_millis(100)
            } else {
                args.interval
            })
            .await;
        }
        outcomes.push(match &request {
            Some(r) => prober.check_http(r).await,
            None => prober.check(&target).await,
        });
    }
    let mut out = std::io::stdout().lock();
    match (args.output, outcomes.as_slice()) {
        (Format::Json, [one]) => render::json(one, &mut out)?,
        (Format::Json, all) => render::json(
            &serde_json::json!({ "summary": Summary::of(all), "outcomes": all }),
            &mut out,
        )?,
        (Format::Text, [one]) => write_outcome(one, &mut out)?,
        (Format::Text, all) => write_summary(&target, all, &mut out)?,
    }
    out.flush()?;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.success).collect();
    match failed.last().and_then(|o| o.error.as_ref()) {
        None => Ok(ExitCode::SUCCESS),
        Some(error) => {
            eprintln!(
                "ward: probe failed ({}/{} checks): {error}",
                failed.len(),
                outcomes.len()
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn prober_config(args: &Args) -> ProberConfig {
    ProberConfig {
        timeout: args.timeout,
        reuse: args.reuse,
        http_version: if args.http1 {
            HttpVersion::Http1
        } else if args.http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Auto
        },
        tls: TlsConfig {
            roots: match args.roots {
                RootsArg::System => Roots::System,
                RootsArg::Webpki => Roots::Webpki,
                RootsArg::None => Roots::None,
            },
            extra_ca: args.ca_files.clone(),
            insecure: args.insecure,
            client_cert: args.cert.clone().zip(args.key.clone()),
            alpn: None,
        },
        ..ProberConfig::default()
    }
}

fn http_request(args: &Args, url: url::Url) -> anyhow::Result<HttpRequest> {
    let mut request = HttpRequest::get(url);
    request.method = args
        .method
        .parse()
        .with_context(|| format!("--method {:?}: not an HTTP method", args.method))?;
    for header in &args.headers {
        request.headers.push(crate::cmd::values::header(header)?);
    }
    if let Some(data) = &args.data {
        request.body = data.clone().into();
    }
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

fn write_summary(target: &Target, all: &[Outcome], out: &mut impl Write) -> std::io::Result<()> {
    let summary = Summary::of(all);
    writeln!(
        out,
        "{target}: {}/{} checks succeeded",
        summary.successes, summary.checks
    )?;
    let mut table = Table::new(["phase", "min", "p50", "p99", "max", "n"]);
    let rows = summary.phases.iter().map(|(n, s)| (n.to_string(), s));
    let order = ["dns", "connect", "tls", "send", "wait", "receive"];
    let mut rows: Vec<_> = rows.collect();
    rows.sort_by_key(|(n, _)| order.iter().position(|o| o == n));
    for (name, s) in rows
        .into_iter()
        .chain(summary.total.as_ref().map(|s| ("total".to_string(), s)))
    {
        table.row([
            name,
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
    if let Some(e) = all.iter().rev().find_map(|o| o.error.as_ref()) {
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
