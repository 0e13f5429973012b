//! The dashboard's SLO and API-server panel (`/lab/slo`): the SLOs of
//! `examples/slo/ward-nurse-lookup.yaml` (the spec `ward slo generate` turns
//! into rules), each computed from the lab's own series the way Prometheus
//! would compute it from the rules: the lab scrapes every nurse's `/metrics`
//! and its DNS probers' series each interval ([`Inner::sample_series`]) and
//! evaluates each SLI's error and total queries on them ([`crate::promql`]).
//!
//! A lab runs for minutes, not for an SLO's 30 days, so the panel's windows
//! are the lab's: burn rates over the last 1 and 5 minutes, and the budget
//! remaining over the run so far as the period. "fast burn" is both windows
//! above 14.4 (the page alert's factor for 2% of a 30-day budget in 1 hour),
//! "burning" the 5-minute window above 1 (spending faster than the period
//! allows).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use ward_probe::http::HttpRequest;
use ward_probe::{Prober, ProberConfig};

use crate::promql::{eval, Range};
use crate::series::{parse_exposition, History};
use crate::{lock, Inner};

/// The SLO spec the panel computes: the one the README's `ward slo generate`
/// example uses.
pub const SPEC: &str = include_str!("../../../examples/slo/ward-nurse-lookup.yaml");

/// The panel's burn-rate windows, shortest first.
const WINDOWS: [(&str, Duration); 2] = [
    ("1m", Duration::from_secs(60)),
    ("5m", Duration::from_secs(300)),
];

/// The burn rate of the page alert's short windows (2% of a 30-day budget in 1 hour).
const FAST_BURN: f64 = 14.4;

/// The API-server checks the panel shows.
const API_SERVER_CHECKS: [&str; 2] = ["api_server_direct", "api_server_dns"];

/// sloth's default SLO period (the spec names none), in nanoseconds.
const THIRTY_DAYS: ward_slo::duration::Duration =
    ward_slo::duration::Duration(30 * 86_400 * 1_000_000_000);

/// How much of a nurse's `/metrics` one scrape reads.
const MAX_SCRAPE: u64 = 16 << 20;

/// The SLO and API-server panel.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloPanel {
    /// Seconds of series the lab has (from its first scrape to its last).
    pub covered_seconds: f64,
    /// The burn-rate windows, shortest first.
    pub windows: Vec<&'static str>,
    /// One row per SLO of [`SPEC`], in its order.
    pub slos: Vec<SloRow>,
    /// One row per API-server check (direct, via DNS).
    pub api_server: Vec<ApiServerRow>,
}

/// One SLO, computed from the lab's series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloRow {
    /// The spec's service.
    pub service: String,
    /// The SLO's name.
    pub name: String,
    /// Objective in percent.
    pub objective: f64,
    /// Error ratio over the run; `None` with no traffic.
    pub error_ratio: Option<f64>,
    /// Share of the error budget left over the run (negative: overspent).
    pub budget_remaining: Option<f64>,
    /// Burn rate per window of [`SloPanel::windows`]; `None` with no traffic.
    pub burn_rates: BTreeMap<&'static str, Option<f64>>,
    /// `ok`, `burning`, `fast burn`, `no data`, or `not computable`.
    pub state: &'static str,
    /// Why it is not computable: the query and what the lab cannot evaluate.
    pub error: Option<String>,
}

/// One API-server check over the last minute, from every nurse.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiServerRow {
    /// The check (`api_server_direct`, `api_server_dns`).
    pub check: &'static str,
    /// Checks per second.
    pub requests_per_second: Option<f64>,
    /// Share of checks that did not answer 200.
    pub error_ratio: Option<f64>,
    /// Mean time to the answer, in seconds.
    pub mean_seconds: Option<f64>,
}

/// What the panel needs of one SLO of [`SPEC`].
pub(crate) struct Slo {
    service: String,
    name: String,
    objective: f64,
    /// The events SLI's error and total queries (`None`: a raw SLI).
    events: Option<(String, String)>,
}

/// The SLOs of [`SPEC`].
fn slos() -> Vec<Slo> {
    ward_slo::spec::documents(SPEC)
        .iter()
        .flat_map(|doc| {
            ward_slo::spec::load(doc, THIRTY_DAYS, &mut Vec::new())
                .expect("examples/slo/ward-nurse-lookup.yaml loads (tested)")
                .slos
        })
        .map(|s| Slo {
            service: s.service,
            name: s.name,
            objective: s.objective,
            events: s.sli.events.map(|e| (e.error_query, e.total_query)),
        })
        .collect()
}

/// `query` with its `{{.window}}` as `window`.
fn render(query: &str, window: &str) -> Result<String, String> {
    ward_slo::template::render(query, &[("window", window)], true)
}

/// The ratio of two queries' single values; `None` without traffic.
fn ratio(history: &History, error: &str, total: &str, range: Range) -> Result<Option<f64>, String> {
    let error = eval(error, history, range)?.single();
    let total = eval(total, history, range)?.single();
    Ok(match (error, total) {
        (_, None) => None,
        (_, Some(t)) if t <= 0.0 => None,
        (e, Some(t)) => Some(e.unwrap_or(0.0) / t),
    })
}

fn row(slo: &Slo, history: &History) -> SloRow {
    let budget = 1.0 - slo.objective / 100.0;
    let mut out = SloRow {
        service: slo.service.clone(),
        name: slo.name.clone(),
        objective: slo.objective,
        error_ratio: None,
        budget_remaining: None,
        burn_rates: BTreeMap::new(),
        state: "no data",
        error: None,
    };
    let Some((error_query, total_query)) = &slo.events else {
        out.state = "not computable";
        out.error = Some("a raw SLI: the lab computes events SLIs".into());
        return out;
    };
    let computed = (|| -> Result<(), String> {
        for (name, _) in WINDOWS {
            let r = ratio(
                history,
                &render(error_query, name)?,
                &render(total_query, name)?,
                Range::AsWritten,
            )?;
            out.burn_rates.insert(name, r.map(|r| r / budget));
        }
        let (error, total) = (
            render(error_query, WINDOWS[0].0)?,
            render(total_query, WINDOWS[0].0)?,
        );
        out.error_ratio = ratio(history, &error, &total, Range::Run)?;
        Ok(())
    })();
    if let Err(e) = computed {
        out.state = "not computable";
        out.error = Some(e);
        return out;
    }
    out.budget_remaining = out.error_ratio.map(|r| 1.0 - r / budget);
    let burn = |w: &str| out.burn_rates.get(w).copied().flatten();
    out.state = match (burn("1m"), burn("5m")) {
        (Some(short), Some(long)) if short > FAST_BURN && long > FAST_BURN => "fast burn",
        (_, Some(long)) if long > 1.0 => "burning",
        (_, Some(_)) => "ok",
        _ if out.error_ratio.is_some() => "ok",
        _ => "no data",
    };
    out
}

fn api_server_row(check: &'static str, history: &History) -> ApiServerRow {
    let value = |q: String| {
        eval(&q, history, Range::AsWritten)
            .ok()
            .and_then(|v| v.single())
    };
    let requests =
        format!(r#"sum(rate(kubenurse_httpclient_requests_total{{type="{check}"}}[1m]))"#);
    let errors = format!(
        r#"sum(rate(kubenurse_httpclient_requests_total{{type="{check}",code!="200"}}[1m]))"#
    );
    let duration = |part: &str| {
        format!(
            r#"sum(rate(kubenurse_httpclient_request_duration_seconds_{part}{{type="{check}"}}[1m]))"#
        )
    };
    let per_second = value(requests);
    ApiServerRow {
        check,
        requests_per_second: per_second,
        error_ratio: per_second
            .filter(|r| *r > 0.0)
            .map(|r| value(errors).unwrap_or(0.0) / r),
        mean_seconds: value(format!("{} / {}", duration("sum"), duration("count"))),
    }
}

/// The panel for what `history` holds.
pub(crate) fn panel(history: &History, slos: &[Slo]) -> SloPanel {
    SloPanel {
        covered_seconds: history.span().as_secs_f64(),
        windows: WINDOWS.iter().map(|(name, _)| *name).collect(),
        slos: slos.iter().map(|s| row(s, history)).collect(),
        api_server: API_SERVER_CHECKS
            .into_iter()
            .map(|c| api_server_row(c, history))
            .collect(),
    }
}

/// The lab's series and the SLOs computed from them.
pub(crate) struct SloState {
    slos: Vec<Slo>,
    history: std::sync::Mutex<History>,
}

impl SloState {
    pub(crate) fn new() -> Self {
        let keep = WINDOWS[WINDOWS.len() - 1].1;
        SloState {
            slos: slos(),
            history: std::sync::Mutex::new(History::new(keep)),
        }
    }
}

impl Inner {
    /// The panel as the lab's series stand now.
    pub(crate) fn slo_panel(&self) -> SloPanel {
        panel(&lock(&self.slo.history), &self.slo.slos)
    }

    /// Scrapes every running nurse's `/metrics` and the DNS probers' series
    /// each check interval until `stop`; a nurse that does not answer (killed,
    /// cut) is missing from that sample, as a failed scrape in Prometheus.
    pub(crate) async fn sample_series(self: Arc<Self>, stop: CancellationToken) {
        let prober = match Prober::new(ProberConfig {
            timeout: self.config.check_timeout,
            max_body: MAX_SCRAPE,
            ..Default::default()
        }) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                tracing::error!(error = %e, "the SLO panel cannot scrape the nurses");
                return;
            }
        };
        let schedule = ward_agent::Schedule {
            interval: self.config.check_interval,
            jitter: 0.0,
            round_timeout: self.config.check_timeout,
        };
        ward_agent::every(schedule, stop, |_, _| {
            let me = self.clone();
            let prober = prober.clone();
            async move {
                let nurses: Vec<(String, std::net::SocketAddr)> = lock(&me.nodes)
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.lifecycle.is_some())
                    .map(|(i, n)| (n.name.clone(), me.nurse_addr(i)))
                    .collect();
                let scrapes = nurses.into_iter().map(|(node, addr)| {
                    let prober = prober.clone();
                    async move {
                        let url = format!("http://{addr}/metrics").parse().ok()?;
                        let (outcome, body) = prober.fetch_http(&HttpRequest::get(url)).await;
                        outcome
                            .error
                            .is_none()
                            .then(|| parse_exposition(&String::from_utf8_lossy(&body), &node))
                    }
                });
                let mut series: Vec<_> = futures::future::join_all(scrapes)
                    .await
                    .into_iter()
                    .flatten()
                    .flatten()
                    .collect();
                let mut dns = String::new();
                me.dns_metrics.encode(&mut dns);
                series.extend(parse_exposition(&dns, "lab"));
                lock(&me.slo.history).push(Instant::now(), series);
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slo_of_the_spec_is_an_events_sli_the_lab_evaluates() {
        let slos = slos();
        let names: Vec<_> = slos.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "api-server-checks",
                "ingress-service-checks",
                "neighbour-checks",
                "check-latency",
                "dns-availability"
            ]
        );
        let history = History::new(Duration::from_secs(300));
        for row in panel(&history, &slos).slos {
            assert_eq!((row.state, row.error), ("no data", None), "{}", row.name);
        }
    }

    #[test]
    fn burn_rates_budget_and_state_follow_the_error_ratio() {
        let slos = slos();
        let t0 = Instant::now();
        let mut history = History::new(Duration::from_secs(300));
        // api-server-checks (99.9%): 2% of checks fail: burn rate 20, budget overspent 19x.
        for (s, ok, bad) in [(0, 0, 0), (30, 98, 2), (60, 196, 4)] {
            let text = format!(
                "kubenurse_httpclient_requests_total{{type=\"api_server_direct\",code=\"200\"}} {ok}\n\
                 kubenurse_httpclient_requests_total{{type=\"api_server_direct\",code=\"round_trip_error\"}} {bad}\n\
                 kubenurse_httpclient_request_duration_seconds_sum{{type=\"api_server_direct\"}} {}\n\
                 kubenurse_httpclient_request_duration_seconds_count{{type=\"api_server_direct\"}} {}\n",
                (ok + bad) as f64 * 0.002,
                ok + bad
            );
            history.push(
                t0 + Duration::from_secs(s),
                parse_exposition(&text, "node-0"),
            );
        }
        let p = panel(&history, &slos);
        let api = &p.slos[0];
        assert_eq!(api.name, "api-server-checks");
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-9;
        assert!(close(api.error_ratio, 0.02), "{api:?}");
        assert!(close(api.burn_rates["1m"], 20.0), "{api:?}");
        assert!(close(api.budget_remaining, -19.0), "{api:?}");
        assert_eq!(api.state, "fast burn");
        assert_eq!(p.slos[1].state, "no data");
        assert_eq!(p.covered_seconds, 60.0);
        let direct = &p.api_server[0];
        assert_eq!(direct.check, "api_server_direct");
        assert!(
            close(direct.requests_per_second, 200.0 / 60.0),
            "{direct:?}"
        );
        assert!(close(direct.error_ratio, 0.02), "{direct:?}");
        assert!(close(direct.mean_seconds, 0.002), "{direct:?}");
        assert_eq!(p.api_server[1].requests_per_second, None);
    }
}
