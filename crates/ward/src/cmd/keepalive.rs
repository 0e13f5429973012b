//! `ward keepalive`: `probe` measures a server's idle keep-alive timeout from
//! the client side; `race` reproduces the proxy/backend keep-alive race that
//! causes sporadic 502s and ends with a diagnosis and the fix; `audit`
//! checks every Service behind an Ingress against ingress-nginx's upstream
//! keep-alive timeout.

use std::process::ExitCode;
use std::time::Duration;

use ward_agent::lifecycle::cancel_on_termination;
use ward_duration::GoDuration;
use ward_load::audit::{self, AuditConfig};
use ward_load::idle::IdleConfig;
use ward_load::race::{RaceConfig, RaceProgress};

use crate::cmd::http_flags::{request_from, RequestArgs, TlsArgs};
use crate::render::{self, Format};
use crate::runtime::{runtime, Threads};

/// Arguments of `ward keepalive`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `ward keepalive` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Measure a server's idle keep-alive timeout (waits for its FIN or RST after one request).
    Probe(ProbeArgs),
    /// Reproduce the proxy/backend keep-alive race (sporadic 502s) and diagnose it.
    Race(RaceArgs),
    /// Measure every Service behind an Ingress against ingress-nginx's upstream keep-alive timeout.
    Audit(AuditArgs),
}

/// Arguments of `ward keepalive audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// The ingress controller's ConfigMap, NAMESPACE/NAME (ingress-nginx only).
    #[arg(long, default_value = audit::DEFAULT_CONFIGMAP, value_parser = audit::parse_namespaced_name)]
    pub(crate) controller_configmap: (String, String),
    /// Only Ingresses of this namespace (default: all namespaces).
    #[arg(long, short = 'n')]
    pub(crate) namespace: Option<String>,
    /// Backends measured at the same time.
    #[arg(long, default_value_t = AuditConfig::default().concurrency, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) concurrency: u32,
    /// Longest wait for one backend to close an idle connection.
    #[arg(long, default_value_t = GoDuration(AuditConfig::default().max_wait), value_parser = |s: &str| ward_duration::parse_positive(s).map(GoDuration))]
    pub(crate) max_wait: GoDuration,
    /// Deadline of each request.
    #[arg(long, default_value_t = GoDuration(AuditConfig::default().timeout), value_parser = |s: &str| ward_duration::parse_positive(s).map(GoDuration))]
    pub(crate) timeout: GoDuration,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub(crate) output: Format,
}

/// Arguments of `ward keepalive probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// The server to measure (`http://` or `https://`).
    pub(crate) url: String,
    /// Connections measured in parallel; the result is their median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) samples: u32,
    /// Longest wait for the server to close an idle connection.
    #[arg(long, default_value = "2m", value_parser = ward_duration::parse_positive)]
    pub(crate) max_wait: Duration,
    /// Deadline of each request.
    #[arg(long, default_value = "10s", value_parser = ward_duration::parse_positive)]
    pub(crate) timeout: Duration,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub(crate) output: Format,
}

/// Arguments of `ward keepalive race`.
#[derive(Debug, clap::Args)]
pub(crate) struct RaceArgs {
    /// The proxy URL requests go through (e.g. nginx in front of the backend).
    #[arg(long)]
    pub(crate) proxy: String,
    /// The backend URL, reached directly, to measure its idle timeout.
    #[arg(long, required_unless_present = "backend_idle")]
    pub(crate) backend: Option<String>,
    /// The backend's idle timeout, when it cannot be reached directly.
    #[arg(long, value_parser = ward_duration::parse, conflicts_with = "backend")]
    pub(crate) backend_idle: Option<Duration>,
    /// The proxy's upstream keep-alive timeout, if known (nginx default: 60s), for the diagnosis.
    #[arg(long, value_parser = ward_duration::parse)]
    pub(crate) proxy_idle: Option<Duration>,
    /// Concurrent requests per wave.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) lanes: u32,
    /// Longest run, measuring included.
    #[arg(long, default_value = "60s", value_parser = ward_duration::parse_positive)]
    pub(crate) max_time: Duration,
    /// Stop after this many 502s (0: run for --max-time).
    #[arg(long, default_value_t = 3)]
    pub(crate) stop_after: u64,
    /// Deadline of each request.
    #[arg(long, default_value = "10s", value_parser = ward_duration::parse_positive)]
    pub(crate) timeout: Duration,
    /// Longest wait for the backend's idle close while measuring.
    #[arg(long, default_value = "2m", value_parser = ward_duration::parse_positive)]
    pub(crate) max_wait: Duration,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub(crate) output: Format,
}

/// Runs `ward keepalive probe|race`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::PerCore)?;
    let code = match args.command {
        Command::Probe(a) => runtime.block_on(probe(a)),
        Command::Race(a) => runtime.block_on(race(a)),
        Command::Audit(a) => runtime.block_on(run_audit(a)),
    };
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn probe(args: ProbeArgs) -> anyhow::Result<ExitCode> {
    let request = request_from(&args.request, &args.url, "GET")?;
    let mut config = IdleConfig::new(request.url.clone());
    config.request = request;
    config.tls = args.tls.config();
    config.samples = args.samples;
    config.max_wait = args.max_wait;
    config.timeout = args.timeout;
    let report = ward_load::idle::probe(&config).await?;
    render::to_stdout(|out| render::keepalive::write_probe(&report, args.output, out))?;
    Ok(ExitCode::SUCCESS)
}

async fn run_audit(args: AuditArgs) -> anyhow::Result<ExitCode> {
    let mut config = AuditConfig::new();
    (config.configmap_namespace, config.configmap_name) = args.controller_configmap;
    config.namespace = args.namespace;
    config.concurrency = args.concurrency;
    config.max_wait = args.max_wait.into();
    config.timeout = args.timeout.into();
    let report = audit::audit(&config).await?;
    render::to_stdout(|out| render::keepalive::write_audit(&report, args.output, out))?;
    Ok(if report.at_risk() {
        ExitCode::from(1)
    } else if report.incomplete() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn race(args: RaceArgs) -> anyhow::Result<ExitCode> {
    let request = request_from(&args.request, &args.proxy, "POST")?;
    let mut config = RaceConfig::new(request.url.clone());
    let body = config.request.body.clone();
    config.request = request;
    config.request.accept = ward_probe::http::AcceptStatus::Any;
    if args.request.data.is_none() && config.request.method == http::Method::POST {
        config.request.body = body;
    }
    config.backend = args
        .backend
        .as_deref()
        .map(|b| request_from(&args.request, b, "GET").map(|r| r.url))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--backend: {e}"))?;
    config.backend_idle = args.backend_idle;
    config.proxy_idle = args.proxy_idle;
    config.tls = args.tls.config();
    config.lanes = args.lanes;
    config.max_time = args.max_time;
    config.stop_after = args.stop_after;
    config.timeout = args.timeout;
    config.max_wait = args.max_wait;
    let cancel = cancel_on_termination();
    let (tx, rx) = tokio::sync::watch::channel(RaceProgress::default());
    let bar = (args.output == Format::Text).then(|| tokio::spawn(render::keepalive::progress(rx)));
    let report = ward_load::race::race(&config, tx, cancel).await;
    if let Some(bar) = bar {
        let _ = bar.await;
    }
    let report = report?;
    render::to_stdout(|out| render::keepalive::write_race(&report, args.output, out))?;
    Ok(if report.reproduced {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn audit_args(argv: &[&str]) -> Result<AuditArgs, clap::Error> {
        let argv = ["ward", "keepalive", "audit"].iter().chain(argv);
        crate::Cli::try_parse_from(argv).map(|c| match c.command {
            crate::Command::Keepalive(Args {
                command: Command::Audit(a),
            }) => a,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn audit_flags_default_to_the_library_and_check_the_configmap() {
        let a = audit_args(&[]).unwrap();
        let config = AuditConfig::default();
        assert_eq!(
            a.controller_configmap,
            (config.configmap_namespace, config.configmap_name)
        );
        assert_eq!(a.concurrency, config.concurrency);
        assert_eq!(Duration::from(a.max_wait), config.max_wait);
        assert_eq!(Duration::from(a.timeout), config.timeout);
        let a = audit_args(&[
            "--controller-configmap",
            "ops/nginx",
            "-n",
            "shop",
            "--max-wait",
            "90s",
        ])
        .unwrap();
        assert_eq!(a.controller_configmap, ("ops".into(), "nginx".into()));
        assert_eq!(a.namespace.as_deref(), Some("shop"));
        assert_eq!(Duration::from(a.max_wait), Duration::from_secs(90));
        let e = audit_args(&["--controller-configmap", "nginx"]).unwrap_err();
        assert!(
            e.to_string().contains(
                "invalid value 'nginx' for '--controller-configmap <CONTROLLER_CONFIGMAP>': \
                 invalid object reference \"nginx\": expected NAMESPACE/NAME"
            ),
            "{e}"
        );
    }
}
