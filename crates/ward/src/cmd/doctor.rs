//! `ward doctor`: the causes behind "the cluster feels slow", found by
//! `ward-doctor` and printed worst first, each with its evidence and fix.
//! Exit code 0 when nothing is at warning or worse, 1 when something is,
//! 2 when a check could not read its input (and nothing is at warning or
//! worse) or on a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ward_doctor::{Check, Request, Verdict, DEFAULT_EXTERNAL_NAME, DEFAULT_RESOLV_CONF};
use ward_duration::GoDuration;
use ward_slo_report::DEFAULT_TIMEOUT;

use crate::render;
use crate::runtime::{runtime, Threads};

/// Arguments of `ward doctor`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The Prometheus that scrapes the cluster (base URL of its HTTP API); default: none, and the checks that read it are skipped.
    #[arg(long = "prometheus", env = "WARD_PROMETHEUS_URL")]
    pub(crate) prometheus: Option<url::Url>,
    /// The checks to run, comma-separated: api-balance, etcd, dns, slo (default: all).
    #[arg(long = "only", env = "WARD_DOCTOR_ONLY", value_name = "CHECK", value_delimiter = ',', value_parser = Check::parse)]
    pub(crate) only: Vec<Check>,
    /// The resolv.conf the DNS check reads (in a pod: the pod's).
    #[arg(long = "resolv-conf", env = "WARD_DOCTOR_RESOLV_CONF", default_value = DEFAULT_RESOLV_CONF)]
    pub(crate) resolv_conf: PathBuf,
    /// The external name whose lookup the DNS check counts queries for.
    #[arg(long = "external-name", env = "WARD_DOCTOR_EXTERNAL_NAME", default_value = DEFAULT_EXTERNAL_NAME)]
    pub(crate) external_name: String,
    /// Report format on stdout.
    #[arg(
        short = 'o',
        long = "output",
        env = "WARD_DOCTOR_OUTPUT",
        value_enum,
        default_value_t
    )]
    pub(crate) output: render::Format,
    /// Deadline of each request to Prometheus.
    #[arg(long = "timeout", env = "WARD_DOCTOR_TIMEOUT", default_value_t = GoDuration(DEFAULT_TIMEOUT), value_parser = super::positive_go_duration)]
    pub(crate) timeout: GoDuration,
}

/// Runs `ward doctor`.
pub(crate) fn run(a: Args) -> anyhow::Result<ExitCode> {
    let request = Request {
        checks: a.only,
        prometheus: a.prometheus,
        resolv_conf: a.resolv_conf,
        external_name: a.external_name,
        timeout: Duration::from(a.timeout),
    };
    let report = runtime(Threads::One)?.block_on(ward_doctor::run(&request));
    render::to_stdout(|out| render::doctor::write(&report, a.output, out))?;
    Ok(ExitCode::from(match report.verdict() {
        Verdict::Healthy => 0,
        Verdict::Findings => 1,
        Verdict::Incomplete => 2,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::try_parse;

    #[test]
    fn parses_the_doctor_flags() {
        let a: Args = try_parse("doctor", &[]).unwrap();
        assert_eq!(
            (
                a.prometheus,
                a.only,
                a.resolv_conf,
                a.external_name,
                a.output,
                a.timeout
            ),
            (
                None,
                vec![],
                PathBuf::from("/etc/resolv.conf"),
                "example.com".to_string(),
                render::Format::Text,
                GoDuration(DEFAULT_TIMEOUT)
            )
        );
        let a: Args = try_parse(
            "doctor",
            &[
                "--prometheus",
                "http://p:9090",
                "--only",
                "dns,etcd",
                "--resolv-conf",
                "r.conf",
                "-o",
                "json",
                "--timeout",
                "2s",
            ],
        )
        .unwrap();
        assert_eq!(a.prometheus.unwrap().as_str(), "http://p:9090/");
        assert_eq!(a.only, [Check::Dns, Check::Etcd]);
        assert_eq!(a.resolv_conf, PathBuf::from("r.conf"));
        assert_eq!(a.output, render::Format::Json);
        assert_eq!(a.timeout, GoDuration(Duration::from_secs(2)));
        let e = try_parse::<Args>("doctor", &["--only", "dns,keepalive"]).unwrap_err();
        assert_eq!(
            crate::compat::one_line(&e),
            "invalid value 'keepalive' for '--only <CHECK>': check \"keepalive\" is not yet available in this build (valid checks: api-balance, etcd, dns, slo)"
        );
    }
}
