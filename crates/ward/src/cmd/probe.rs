//! `ward probe`: one traced HTTP(S), TCP or DNS check with a phase breakdown
//! (like httpstat or `curl -w`), optionally repeated with min/p50/p99 per phase.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use ward_probe::demo::Demo;
use ward_probe::http::AcceptStatus;
use ward_probe::{Check, Prober, ProberConfig, Target};

use crate::cmd::http_flags::{request_for, RequestArgs, TlsArgs};
use crate::render::{self, Format};
use crate::runtime::{runtime, Threads};

/// Arguments of `ward probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to check: `http(s)://host[:port]/path`, `tcp://host:port` or
    /// `dns://server[:port]/name[?type=AAAA&proto=tcp|tls]`.
    #[arg(required_unless_present = "demo")]
    pub(crate) target: Option<String>,
    /// Start a small HTTP server on loopback and probe it (no target needed): at least 5
    /// checks, 100 ms apart, summed up per phase.
    #[arg(long, conflicts_with = "target", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) demo: bool,
    /// Number of checks to run.
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) count: u32,
    /// Pause between checks.
    #[arg(long, short = 'i', default_value = "1s", value_parser = ward_duration::parse)]
    pub(crate) interval: Duration,
    /// Deadline of one check.
    #[arg(long, default_value = "10s", value_parser = ward_duration::parse_positive)]
    pub(crate) timeout: Duration,
    /// Reuse the connection between repeated checks (skips dns/connect/tls).
    #[arg(long, value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) reuse: bool,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    /// Accepted HTTP status codes, comma-separated (default: any 2xx).
    #[arg(long, value_delimiter = ',')]
    pub(crate) expect_status: Vec<u16>,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub(crate) output: Format,
}

/// The demo's checks: at least five, 100 ms apart.
const DEMO_COUNT: u32 = 5;
const DEMO_INTERVAL: Duration = Duration::from_millis(100);

impl Args {
    fn prober_config(&self) -> ProberConfig {
        ProberConfig {
            timeout: self.timeout,
            reuse: self.reuse,
            http_version: self.request.http_version(),
            tls: self.tls.config(),
            ..ProberConfig::default()
        }
    }

    /// What each check does: the HTTP request the flags describe, or the
    /// target's own check.
    fn check(&self, target: &Target) -> anyhow::Result<Check> {
        Ok(match target {
            Target::Http(url) => {
                let mut request = request_for(&self.request, url.clone(), "GET")?;
                if !self.expect_status.is_empty() {
                    request.accept = AcceptStatus::Exact(self.expect_status.clone());
                }
                Check::Request(request)
            }
            other => Check::Target(other.clone()),
        })
    }
}

/// Runs the probe(s) and prints the report; exit 1 when any check failed.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    runtime(Threads::One)?.block_on(async {
        let demo = match args.demo {
            true => Some(Demo::start().await.context("starting the demo server")?),
            false => None,
        };
        let (target, count, interval) = match (&args.target, &demo) {
            (Some(t), _) => (t.parse::<Target>()?, args.count, args.interval),
            (None, Some(demo)) => (
                demo.url().parse()?,
                args.count.max(DEMO_COUNT),
                DEMO_INTERVAL,
            ),
            (None, None) => anyhow::bail!("give a target, or --demo"),
        };
        let prober = Prober::new(args.prober_config()).context("TLS settings")?;
        let check = args.check(&target)?;
        let mut out = std::io::stdout().lock();
        let mut report = render::probe::Stream::new(args.output, count);
        prober
            .repeat(&check, count, interval, |o| report.add(o, &mut out))
            .await?;
        let ended = report.finish(&target, &mut out)?;
        std::io::Write::flush(&mut out)?;
        Ok(match ended.last_error {
            None => ExitCode::SUCCESS,
            Some(error) => {
                eprintln!(
                    "ward: probe failed ({}/{} checks): {error}",
                    ended.failed, ended.checks
                );
                ExitCode::from(1)
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        crate::cmd::try_parse("probe", argv)
    }

    #[test]
    fn defaults_and_the_demo() {
        let args = parse(&["https://example.test/"]).unwrap();
        assert_eq!((args.count, args.interval), (1, Duration::from_secs(1)));
        assert_eq!(args.timeout, Duration::from_secs(10));
        assert!(parse(&["--demo"]).is_ok());
        assert!(parse(&[]).is_err(), "a target or --demo");
        assert!(parse(&["--demo", "https://example.test/"]).is_err());
    }

    #[test]
    fn http_checks_take_the_request_flags() {
        let args = parse(&[
            "http://example.test/",
            "-X",
            "POST",
            "-H",
            "X-A: b",
            "--expect-status",
            "200,404",
        ])
        .unwrap();
        let target: Target = "http://example.test/".parse().unwrap();
        let Check::Request(request) = args.check(&target).unwrap() else {
            panic!("an HTTP request expected");
        };
        assert_eq!(request.method, http::Method::POST);
        assert_eq!(request.accept, AcceptStatus::Exact(vec![200, 404]));
        let tcp: Target = "tcp://example.test:22".parse().unwrap();
        assert!(matches!(args.check(&tcp).unwrap(), Check::Target(_)));
        let err = parse(&["http://example.test/", "-c", "0"]).unwrap_err();
        assert!(err.to_string().contains("--count"), "{err}");
    }
}
