//! `ward doctor`: looks for the causes behind "the cluster feels slow" and
//! returns them as [`Finding`]s, worst first, each with its evidence (the
//! numbers read) and its fix in plain words. Checks ([`Check`]):
//! API-server balance (with the nurse's per-instance checks) and etcd
//! leadership from a Prometheus, DNS search-path
//! amplification from a resolv.conf, and spent SLO budgets through
//! `ward-slo-report`. A check that cannot read its input says so in a
//! finding of severity [`Severity::Unknown`]; the others still run. The
//! binary renders the [`Report`]; nothing here prints.
//!
//! The keepalive audit (`ward keepalive audit`) is not a check of this
//! build yet: it joins [`Check`] by calling `ward_load::audit::audit`.
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod checks;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use url::Url;
use ward_slo_report::api::Api;

/// One check `ward doctor` can run (`--only` takes their names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// Request share per kube-apiserver instance (`apiserver_request_total`),
    /// and the nurse's direct check of each.
    ApiBalance,
    /// etcd leader changes in the last 24 h and the current leader.
    Etcd,
    /// ndots and search list of a resolv.conf: queries per external lookup.
    Dns,
    /// SLOs whose error budget is spent or burning faster than 1x.
    Slo,
}

/// The keepalive audit's check name, reserved until the check calls `ward_load::audit::audit`.
const KEEPALIVE: &str = "keepalive";

impl Check {
    /// Every check, in the order they run.
    pub const ALL: [Check; 4] = [Check::ApiBalance, Check::Etcd, Check::Dns, Check::Slo];

    /// The name `--only` takes and the report shows.
    pub fn name(self) -> &'static str {
        match self {
            Check::ApiBalance => "api-balance",
            Check::Etcd => "etcd",
            Check::Dns => "dns",
            Check::Slo => "slo",
        }
    }

    /// The check named `name`; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Check, String> {
        Check::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Check::ALL.iter().map(|c| c.name()).collect();
                let what = match name {
                    KEEPALIVE => "is not yet available in this build",
                    _ => "is unknown",
                };
                format!("check {name:?} {what} (valid checks: {})", names.join(", "))
            })
    }
}

/// How bad a finding is; ordered from harmless to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Checked, nothing wrong.
    Ok,
    /// Not checked: an input it needs was not given.
    Skipped,
    /// Could not check: its input could not be read.
    Unknown,
    /// Something to fix before it hurts.
    Warning,
    /// Hurting now.
    Critical,
}

impl Severity {
    /// Its name as the report shows it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Skipped => "skipped",
            Severity::Unknown => "unknown",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One thing the doctor found (or checked and found fine).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The check's name, or `prometheus` for the Prometheus every such check reads.
    pub check: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// What was found, with the numbers it rests on.
    pub evidence: String,
    /// What to do about it, in plain words (none when nothing is wrong).
    pub fix: Option<String>,
}

/// What to examine.
#[derive(Debug, Clone)]
pub struct Request {
    /// The checks to run (every one when empty).
    pub checks: Vec<Check>,
    /// The Prometheus holding the cluster's metrics (base URL of its HTTP API).
    pub prometheus: Option<Url>,
    /// The resolv.conf the DNS check reads (inside a pod: the pod's).
    pub resolv_conf: PathBuf,
    /// The external name whose lookup the DNS check counts queries for.
    pub external_name: String,
    /// The deadline of each request to Prometheus.
    pub timeout: Duration,
}

/// The resolv.conf read when none is named.
pub const DEFAULT_RESOLV_CONF: &str = "/etc/resolv.conf";

/// The external name the DNS check counts queries for, unless told otherwise.
pub const DEFAULT_EXTERNAL_NAME: &str = "example.com";

impl Default for Request {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            prometheus: None,
            resolv_conf: PathBuf::from(DEFAULT_RESOLV_CONF),
            external_name: DEFAULT_EXTERNAL_NAME.into(),
            timeout: ward_slo_report::DEFAULT_TIMEOUT,
        }
    }
}

/// Every finding, worst first (checks in [`Check::ALL`] order within a severity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

/// The report's outcome for an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every check ran and found nothing at warning or worse.
    Healthy,
    /// At least one finding at warning or critical.
    Findings,
    /// Nothing at warning or worse, but a check could not read its input.
    Incomplete,
}

impl Report {
    /// The worst that was found.
    pub fn verdict(&self) -> Verdict {
        let worst = self.findings.iter().map(|f| f.severity).max();
        match worst {
            Some(Severity::Warning | Severity::Critical) => Verdict::Findings,
            Some(Severity::Unknown) => Verdict::Incomplete,
            _ => Verdict::Healthy,
        }
    }
}

/// Runs the checks of `request` and returns their findings, worst first.
pub async fn run(request: &Request) -> Report {
    let checks = if request.checks.is_empty() {
        Check::ALL.to_vec()
    } else {
        request.checks.clone()
    };
    let mut findings = Vec::new();
    let prometheus = match &request.prometheus {
        Some(url) => match prometheus(url, request.timeout, &checks).await {
            Ok(api) => Some(api),
            Err(finding) => {
                findings.push(finding);
                None
            }
        },
        None => None,
    };
    let unreachable = request.prometheus.is_some() && prometheus.is_none();
    for check in checks {
        let found = match (check, &prometheus) {
            (Check::Dns, _) => checks::dns(request, prometheus.as_ref()).await,
            (_, None) if unreachable => continue,
            (_, None) => vec![checks::needs_prometheus(check)],
            (Check::ApiBalance, Some(api)) => checks::api_balance(api).await,
            (Check::Etcd, Some(api)) => checks::etcd(api).await,
            (Check::Slo, Some(api)) => checks::slo(request, api).await,
        };
        findings.extend(found);
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Report { findings }
}

/// A client of the Prometheus at `url` once it answered a query; else the
/// finding that says why not and which checks did not run.
async fn prometheus(url: &Url, timeout: Duration, checks: &[Check]) -> Result<Api, Finding> {
    let answered = match Api::new(url, timeout) {
        Ok(api) => api.query("vector(1)", now()).await.map(|_| api),
        Err(e) => Err(e),
    };
    answered.map_err(|e| {
        let not_run: Vec<&str> = checks
            .iter()
            .map(|c| match c {
                Check::Dns => "dns (CoreDNS errors)",
                other => other.name(),
            })
            .collect();
        Finding {
            check: "prometheus",
            severity: Severity::Unknown,
            evidence: format!("{e}; not checked: {}", not_run.join(", ")),
            fix: Some(
                "give --prometheus the base URL of a Prometheus that scrapes the cluster, reachable from where ward runs".into(),
            ),
        }
    })
}

/// Now, in Unix seconds.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_parse_by_name_and_an_unknown_name_lists_the_valid_ones() {
        for check in Check::ALL {
            assert_eq!(Check::parse(check.name()), Ok(check));
        }
        assert_eq!(
            Check::parse("dsn").unwrap_err(),
            "check \"dsn\" is unknown (valid checks: api-balance, etcd, dns, slo)"
        );
        assert_eq!(
            Check::parse("keepalive").unwrap_err(),
            "check \"keepalive\" is not yet available in this build (valid checks: api-balance, etcd, dns, slo)"
        );
    }

    #[test]
    fn the_verdict_is_the_worst_severity() {
        let report = |severities: &[Severity]| Report {
            findings: severities
                .iter()
                .map(|&severity| Finding {
                    check: "dns",
                    severity,
                    evidence: String::new(),
                    fix: None,
                })
                .collect(),
        };
        assert_eq!(report(&[]).verdict(), Verdict::Healthy);
        assert_eq!(
            report(&[Severity::Ok, Severity::Skipped]).verdict(),
            Verdict::Healthy
        );
        assert_eq!(
            report(&[Severity::Ok, Severity::Unknown]).verdict(),
            Verdict::Incomplete
        );
        assert_eq!(
            report(&[Severity::Unknown, Severity::Warning]).verdict(),
            Verdict::Findings
        );
        assert_eq!(report(&[Severity::Critical]).verdict(), Verdict::Findings);
    }
}
