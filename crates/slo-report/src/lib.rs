//! `ward slo report`: the state of every SLO a Prometheus evaluates, read
//! from the recording rules `ward slo generate` (or sloth) wrote, never from
//! the SLIs' own queries: per SLO (`sloth_id`), the error budget remaining
//! over its period (`slo:period_error_budget_remaining:ratio`), the burn rate
//! of every window it records (`slo:sli_error:ratio_rate<window>` over
//! `slo:error_budget:ratio`, so custom window catalogs and per-SLO periods
//! come as they are), the time to exhaustion at the current burn rate
//! (`slo:current_burn_rate:ratio`), the state of the alerts in its group
//! `sloth-slo-alerts-<id>`, and the budget remaining over its period for a
//! chart. The binary renders the [`Report`]; nothing here prints.
//!
//! ```no_run
//! # async fn run() -> Result<(), ward_slo_report::Error> {
//! let request = ward_slo_report::Request::new("http://127.0.0.1:9090".parse().unwrap());
//! let report = ward_slo_report::report(&request).await?;
//! for slo in &report.slos {
//!     assert!(slo.objective > 0.0);
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod api;
mod file;
mod model;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use file::Reserved;
pub use model::{AlertState, AlertStatus, Exhaustion, Report, SloStatus, WindowBurn};
use url::Url;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Prometheus URL is not one the report can query.
    #[error("Prometheus URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No answer came (connection refused, timeout, TLS).
    #[error("Prometheus at {url} is unreachable: {reason}")]
    Unreachable {
        /// The Prometheus URL.
        url: String,
        /// The transport error.
        reason: String,
    },
    /// Prometheus answered with an error.
    #[error("Prometheus at {url}: {path} answered HTTP {status}: {message}")]
    Status {
        /// The Prometheus URL.
        url: String,
        /// The API path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// Prometheus' `error`, or the start of the body.
        message: String,
    },
    /// An answer is not what Prometheus' API answers.
    #[error("Prometheus at {url}: {path}: malformed answer: {what}")]
    Malformed {
        /// The Prometheus URL.
        url: String,
        /// The API path.
        path: String,
        /// The field at fault and what was expected.
        what: String,
    },
    /// Prometheus has no SLO recording rules at all.
    #[error("Prometheus at {url} has no SLO recording rules: no {OBJECTIVE} series with a sloth_id label (load the rules `ward slo generate` writes)")]
    NoRules {
        /// The Prometheus URL.
        url: String,
    },
    /// An SLO asked for is not in Prometheus.
    #[error("Prometheus at {url} has no SLO {id:?}: no {OBJECTIVE}{{sloth_id={id:?}}} series (its SLOs: {known})")]
    UnknownSlo {
        /// The Prometheus URL.
        url: String,
        /// The `sloth_id` asked for.
        id: String,
        /// The SLO ids Prometheus has, comma-separated.
        known: String,
    },
    /// A recorded series has a label the report cannot read.
    #[error("Prometheus at {url}: {series}: label {label}={value:?}: {reason}")]
    Label {
        /// The series (`slo:sli_error:ratio_rate5m{sloth_id="…"}`).
        series: String,
        /// The Prometheus URL.
        url: String,
        /// The label.
        label: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The output file cannot be written.
    #[error("writing {path:?}: {source}")]
    Output {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The recording rule every SLO of ward or sloth has (the report's list of SLOs).
pub const OBJECTIVE: &str = "slo:objective:ratio";

/// How many points the budget chart has over an SLO's period, at most.
pub const HISTORY_POINTS: u32 = 240;

/// What to report on.
#[derive(Debug, Clone)]
pub struct Request {
    /// The Prometheus (base URL of its HTTP API; a path prefix is kept).
    pub prometheus: Url,
    /// The SLOs (`sloth_id`) to report, in this order; empty: every SLO, by id.
    pub slos: Vec<String>,
    /// The deadline of each request to Prometheus.
    pub timeout: Duration,
}

impl Request {
    /// Every SLO of the Prometheus at `prometheus`, 10 s per request.
    pub fn new(prometheus: Url) -> Self {
        Self {
            prometheus,
            slos: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// The default deadline of one request to Prometheus.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads the state of the SLOs of `request` from its Prometheus, now.
pub async fn report(request: &Request) -> Result<Report> {
    let api = api::Api::new(&request.prometheus, request.timeout)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = (now.as_millis() as f64) / 1e3;
    let series = api
        .query(r#"{__name__=~"slo:.+", sloth_id!=""}"#, at)
        .await?;
    let rules = api.alert_rules().await?;
    let mut slos =
        model::slos(&series, &rules).map_err(|(series, label, value, reason)| Error::Label {
            series,
            url: api.url(),
            label,
            value,
            reason,
        })?;
    if slos.is_empty() {
        return Err(Error::NoRules { url: api.url() });
    }
    if !request.slos.is_empty() {
        slos = pick(slos, &request.slos).map_err(|id| Error::UnknownSlo {
            url: api.url(),
            known: known(&series),
            id,
        })?;
    }
    let longest = slos.iter().filter_map(|s| s.period).max();
    if let Some(period) = longest {
        let step = (period.as_secs_f64() / f64::from(HISTORY_POINTS)).max(60.0);
        let history = api
            .query_range(
                r#"slo:period_error_budget_remaining:ratio{sloth_id!=""}"#,
                at - period.as_secs_f64(),
                at,
                step,
            )
            .await?;
        model::add_history(&mut slos, &history);
    }
    Ok(Report {
        prometheus: api.url(),
        at,
        slos,
    })
}

/// The SLOs named by `ids`, in that order; the first unknown id otherwise.
fn pick(slos: Vec<SloStatus>, ids: &[String]) -> Result<Vec<SloStatus>, String> {
    ids.iter()
        .map(|id| {
            slos.iter()
                .find(|s| &s.id == id)
                .cloned()
                .ok_or_else(|| id.clone())
        })
        .collect()
}

/// The SLO ids of the objective series, comma-separated.
fn known(series: &[api::Sample]) -> String {
    let ids: std::collections::BTreeSet<&str> = series
        .iter()
        .filter(|s| s.labels.get("__name__").map(String::as_str) == Some(OBJECTIVE))
        .filter_map(|s| s.labels.get("sloth_id").map(String::as_str))
        .collect();
    ids.into_iter().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slo(id: &str) -> SloStatus {
        SloStatus {
            id: id.into(),
            service: String::new(),
            slo: String::new(),
            objective: 0.99,
            error_budget: 0.01,
            period: None,
            budget_remaining: None,
            current_burn_rate: None,
            period_burn_rate: None,
            windows: Vec::new(),
            exhaustion: Exhaustion::Unknown,
            alerts: Vec::new(),
            budget_history: Vec::new(),
        }
    }

    /// The SLOs asked for come in the order asked; the first unknown one is named.
    #[test]
    fn picked_slos_keep_the_order_asked() {
        let all = vec![slo("a"), slo("b"), slo("c")];
        let ids = |v: Vec<SloStatus>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(
            ids(pick(all.clone(), &["c".into(), "a".into()]).unwrap()),
            ["c", "a"]
        );
        assert_eq!(
            pick(all, &["a".into(), "x".into(), "y".into()]).unwrap_err(),
            "x"
        );
    }
}
