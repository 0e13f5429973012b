//! `ward slo report`: each SLO's budget, burn rates, time to exhaustion and
//! alert state, read from a Prometheus by `ward-slo-report`; a table or JSON
//! on stdout, and with `--html` a static page. Exit code 0 when the report
//! is written, 2 when it cannot be (Prometheus unreachable, a malformed
//! answer, no SLO rules, an unknown SLO, an unwritable `--html` path, which
//! is found before Prometheus is asked).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ward_duration::GoDuration;
use ward_slo_report::{Request, Reserved, DEFAULT_TIMEOUT};

use crate::render;
use crate::runtime::{runtime, Threads};

/// Arguments of `ward slo report`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The Prometheus that evaluates the rules of `ward slo generate` (base URL of its HTTP API).
    #[arg(long = "prometheus", env = "WARD_PROMETHEUS_URL")]
    pub(crate) prometheus: url::Url,
    /// The SLOs to report, by sloth_id (default: every SLO the Prometheus has).
    #[arg(value_name = "SLO_ID")]
    pub(crate) slos: Vec<String>,
    /// Report format on stdout.
    #[arg(
        short = 'o',
        long = "output",
        env = "WARD_SLO_REPORT_OUTPUT",
        value_enum,
        default_value_t
    )]
    pub(crate) output: render::Format,
    /// Also write a static HTML page with charts to this file.
    #[arg(long = "html", env = "WARD_SLO_REPORT_HTML")]
    pub(crate) html: Option<PathBuf>,
    /// Deadline of each request to Prometheus.
    #[arg(long = "timeout", env = "WARD_SLO_REPORT_TIMEOUT", default_value_t = GoDuration(DEFAULT_TIMEOUT), value_parser = parse_timeout)]
    pub(crate) timeout: GoDuration,
}

fn parse_timeout(s: &str) -> Result<GoDuration, ward_duration::ParseError> {
    ward_duration::parse_positive(s).map(GoDuration)
}

/// Runs `ward slo report`.
pub(crate) fn run(a: Args) -> anyhow::Result<ExitCode> {
    let stderr = &mut std::io::stderr();
    let failed = |e: ward_slo_report::Error| {
        let _ = render::slo_report::failure(&e, &mut stderr.lock());
        Ok(ExitCode::from(2))
    };
    let html = match a.html.as_deref().map(Reserved::new).transpose() {
        Ok(html) => html,
        Err(e) => return failed(e),
    };
    let request = Request {
        prometheus: a.prometheus,
        slos: a.slos,
        timeout: Duration::from(a.timeout),
    };
    let report = match runtime(Threads::One)?.block_on(ward_slo_report::report(&request)) {
        Ok(report) => report,
        Err(e) => return failed(e),
    };
    if let Some(html) = html {
        if let Err(e) = html.commit(|w| render::slo_report::html(&report, w)) {
            return failed(e);
        }
    }
    render::to_stdout(|out| render::slo_report::write(&report, a.output, out))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn parses_the_report_flags() {
        let t = T::try_parse_from(["x", "--prometheus", "http://p:9090/prom", "a", "b"]).unwrap();
        let a = t.args;
        assert_eq!(a.prometheus.as_str(), "http://p:9090/prom");
        assert_eq!(a.slos, ["a", "b"]);
        assert_eq!(
            (a.output, a.html, a.timeout),
            (render::Format::Text, None, GoDuration(DEFAULT_TIMEOUT))
        );
        let t = T::try_parse_from([
            "x",
            "--prometheus",
            "http://p",
            "-o",
            "json",
            "--html",
            "r.html",
            "--timeout",
            "2s",
        ])
        .unwrap();
        assert_eq!(t.args.output, render::Format::Json);
        assert_eq!(t.args.html, Some(PathBuf::from("r.html")));
        assert_eq!(t.args.timeout, GoDuration(Duration::from_secs(2)));
        for bad in [
            &["x"][..],
            &["x", "--prometheus", "not a url"],
            &["x", "--prometheus", "http://p", "--timeout", "0s"],
            &["x", "--prometheus", "http://p", "-o", "html"],
        ] {
            assert!(T::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
