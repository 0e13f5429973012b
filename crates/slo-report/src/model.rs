//! The report and how it is built from the recorded series: grouped by
//! `sloth_id`, one [`SloStatus`] per `slo:objective:ratio` series.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::api::{AlertRule, Sample, Series};
use crate::OBJECTIVE;

/// The state of every SLO reported on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The Prometheus read.
    pub prometheus: String,
    /// When the SLOs were evaluated (Unix seconds).
    pub at: f64,
    /// One entry per SLO.
    pub slos: Vec<SloStatus>,
}

/// One SLO's budget, burn rates and alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// `sloth_id`.
    pub id: String,
    /// `sloth_service`.
    pub service: String,
    /// `sloth_slo`.
    pub slo: String,
    /// `slo:objective:ratio` (0.999 for 99.9%).
    pub objective: f64,
    /// `slo:error_budget:ratio`, or 1 - objective when not recorded.
    pub error_budget: f64,
    /// `slo:time_period:days`, in seconds.
    #[serde(with = "ward_duration::seconds::option")]
    pub period: Option<Duration>,
    /// Share of the period's error budget left
    /// (`slo:period_error_budget_remaining:ratio`; negative: overspent).
    pub budget_remaining: Option<f64>,
    /// `slo:current_burn_rate:ratio`: the shortest window's burn rate.
    pub current_burn_rate: Option<f64>,
    /// `slo:period_burn_rate:ratio`: the burn rate over the period.
    pub period_burn_rate: Option<f64>,
    /// Every recorded SLI window, shortest first.
    pub windows: Vec<WindowBurn>,
    /// When the budget runs out at the current burn rate.
    pub exhaustion: Exhaustion,
    /// The alerting rules of its group `sloth-slo-alerts-<id>`, in rule order.
    pub alerts: Vec<AlertStatus>,
    /// The budget remaining over the period: (Unix seconds, share) points.
    pub budget_history: Vec<(f64, f64)>,
}

/// One SLI window (`sloth_window`) and how fast it spends the budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowBurn {
    /// The window as recorded (`5m`, `30d`, `4w`).
    pub window: String,
    /// Its length, in seconds.
    #[serde(with = "ward_duration::seconds")]
    pub length: Duration,
    /// `slo:sli_error:ratio_rate<window>`; `None` without traffic (0/0).
    pub error_ratio: Option<f64>,
    /// The error ratio over the error budget (1: spends it exactly over the period).
    pub burn_rate: Option<f64>,
}

/// When the error budget runs out if the current burn rate holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Exhaustion {
    /// Nothing is left.
    Exhausted,
    /// After this long: remaining share × period / current burn rate.
    In {
        /// The time left, whole seconds.
        #[serde(with = "ward_duration::seconds")]
        seconds: Duration,
    },
    /// The current burn rate is zero.
    Never,
    /// The budget, the burn rate or the period is not recorded.
    Unknown,
}

/// One alerting rule of the SLO and its state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertStatus {
    /// The alert name.
    pub name: String,
    /// Its `sloth_severity` (`page`, `ticket`), if it has one.
    pub severity: Option<String>,
    /// Its state.
    pub state: AlertState,
}

/// An alerting rule's state, as Prometheus reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Its condition does not hold.
    Inactive,
    /// Its condition holds, for less than its `for:`.
    Pending,
    /// It fires.
    Firing,
}

/// The recording rule of an SLI window (`slo:sli_error:ratio_rate5m`).
const SLI_PREFIX: &str = "slo:sli_error:ratio_rate";

/// (series, label, value, reason) of a label the report cannot read.
pub(crate) type LabelError = (String, &'static str, String, String);

/// The SLOs of the recorded `series`, by id, with the alerting `rules` of their groups.
pub(crate) fn slos(series: &[Sample], rules: &[AlertRule]) -> Result<Vec<SloStatus>, LabelError> {
    let mut by_id: BTreeMap<&str, BTreeMap<&str, Vec<&Sample>>> = BTreeMap::new();
    for s in series {
        if let (Some(id), Some(name)) = (s.labels.get("sloth_id"), s.labels.get("__name__")) {
            by_id
                .entry(id)
                .or_default()
                .entry(name)
                .or_default()
                .push(s);
        }
    }
    let mut out = Vec::new();
    for (id, metrics) in by_id {
        let Some(objective) = metrics.get(OBJECTIVE).and_then(|v| v.first()) else {
            continue;
        };
        let value = |name: &str| {
            metrics
                .get(name)
                .and_then(|v| v.first())
                .map(|s| s.value)
                .filter(|v| v.is_finite())
        };
        let label = |name: &str| objective.labels.get(name).cloned().unwrap_or_default();
        let error_budget = value("slo:error_budget:ratio").unwrap_or(1.0 - objective.value);
        let period = value("slo:time_period:days")
            .and_then(|days| Duration::try_from_secs_f64(days * 86_400.0).ok());
        let windows = windows(id, &metrics, error_budget)?;
        let budget_remaining = value("slo:period_error_budget_remaining:ratio");
        let current_burn_rate = value("slo:current_burn_rate:ratio");
        out.push(SloStatus {
            id: id.to_string(),
            service: label("sloth_service"),
            slo: label("sloth_slo"),
            objective: objective.value,
            error_budget,
            period,
            budget_remaining,
            current_burn_rate,
            period_burn_rate: value("slo:period_burn_rate:ratio"),
            windows,
            exhaustion: exhaustion(budget_remaining, current_burn_rate, period),
            alerts: alerts(id, rules),
            budget_history: Vec::new(),
        });
    }
    Ok(out)
}

/// The SLI windows recorded for `id`, shortest first.
fn windows(
    id: &str,
    metrics: &BTreeMap<&str, Vec<&Sample>>,
    error_budget: f64,
) -> Result<Vec<WindowBurn>, LabelError> {
    let mut out = Vec::new();
    for (name, samples) in metrics.iter().filter(|(n, _)| n.starts_with(SLI_PREFIX)) {
        let Some(s) = samples.first() else { continue };
        let bad = |value: String, reason: String| {
            (
                format!("{name}{{sloth_id={id:?}}}"),
                "sloth_window",
                value,
                reason,
            )
        };
        let window = s
            .labels
            .get("sloth_window")
            .ok_or_else(|| bad(String::new(), "missing".into()))?;
        let length = ward_slo::duration::parse_prom(window)
            .map_err(|e| bad(window.clone(), e))
            .and_then(|d| {
                u64::try_from(d.0)
                    .map(Duration::from_nanos)
                    .map_err(|_| bad(window.clone(), "negative".into()))
            })?;
        let error_ratio = Some(s.value).filter(|v| v.is_finite());
        out.push(WindowBurn {
            window: window.clone(),
            length,
            error_ratio,
            burn_rate: error_ratio.map(|r| r / error_budget),
        });
    }
    out.sort_by_key(|w| w.length);
    Ok(out)
}

/// When `remaining` of the budget runs out at burn rate `burn` over `period`.
fn exhaustion(remaining: Option<f64>, burn: Option<f64>, period: Option<Duration>) -> Exhaustion {
    match (remaining, burn, period) {
        (Some(r), _, _) if r <= 0.0 => Exhaustion::Exhausted,
        (Some(_), Some(b), Some(_)) if b <= 0.0 => Exhaustion::Never,
        (Some(r), Some(b), Some(p)) => {
            Duration::try_from_secs_f64((r * p.as_secs_f64() / b).round())
                .map_or(Exhaustion::Never, |seconds| Exhaustion::In { seconds })
        }
        _ => Exhaustion::Unknown,
    }
}

/// The alerting rules of the SLO's group, `sloth-slo-alerts-<id>`.
fn alerts(id: &str, rules: &[AlertRule]) -> Vec<AlertStatus> {
    let group = format!("sloth-slo-alerts-{id}");
    rules
        .iter()
        .filter(|r| r.group == group)
        .map(|r| AlertStatus {
            name: r.name.clone(),
            severity: r.severity.clone(),
            state: match r.state.as_str() {
                "firing" => AlertState::Firing,
                "pending" => AlertState::Pending,
                _ => AlertState::Inactive,
            },
        })
        .collect()
}

/// Adds each SLO's budget-remaining points within its own period.
pub(crate) fn add_history(slos: &mut [SloStatus], history: &[Series]) {
    for slo in slos {
        let Some(series) = history
            .iter()
            .find(|s| s.labels.get("sloth_id") == Some(&slo.id))
        else {
            continue;
        };
        let (Some(period), Some(&(end, _))) = (slo.period, series.points.last()) else {
            continue;
        };
        let start = end - period.as_secs_f64();
        slo.budget_history = series
            .points
            .iter()
            .filter(|(t, v)| *t >= start && v.is_finite())
            .copied()
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str, id: &str, extra: &[(&str, &str)], value: f64) -> Sample {
        let labels = [
            ("__name__", name),
            ("sloth_id", id),
            ("sloth_service", "svc"),
            ("sloth_slo", "avail"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Sample { labels, value }
    }

    #[test]
    fn an_slo_is_built_from_its_recordings() {
        let series = [
            sample("slo:objective:ratio", "svc-avail", &[], 0.99),
            sample("slo:error_budget:ratio", "svc-avail", &[], 0.01),
            sample("slo:time_period:days", "svc-avail", &[], 28.0),
            sample(
                "slo:period_error_budget_remaining:ratio",
                "svc-avail",
                &[],
                0.5,
            ),
            sample("slo:current_burn_rate:ratio", "svc-avail", &[], 4.0),
            sample(
                "slo:sli_error:ratio_rate4w",
                "svc-avail",
                &[("sloth_window", "4w")],
                0.005,
            ),
            sample(
                "slo:sli_error:ratio_rate5m",
                "svc-avail",
                &[("sloth_window", "5m")],
                0.04,
            ),
            sample(
                "slo:sli_error:ratio_rate1h",
                "svc-avail",
                &[("sloth_window", "1h")],
                f64::NAN,
            ),
            // An SLO without its objective recording is not one.
            sample("slo:error_budget:ratio", "other", &[], 0.01),
        ];
        let rules = [
            AlertRule {
                group: "sloth-slo-alerts-svc-avail".into(),
                name: "Avail".into(),
                severity: Some("page".into()),
                state: "firing".into(),
            },
            AlertRule {
                group: "sloth-slo-alerts-svc-avail-2".into(),
                name: "Other".into(),
                severity: None,
                state: "inactive".into(),
            },
        ];
        let slos = slos(&series, &rules).unwrap();
        assert_eq!(slos.len(), 1);
        let s = &slos[0];
        assert_eq!((s.service.as_str(), s.slo.as_str()), ("svc", "avail"));
        assert_eq!(s.period, Some(Duration::from_secs(28 * 86_400)));
        let windows: Vec<_> = s
            .windows
            .iter()
            .map(|w| (w.window.as_str(), w.length.as_secs(), w.burn_rate))
            .collect();
        assert_eq!(
            windows,
            [
                ("5m", 300, Some(4.0)),
                ("1h", 3600, None),
                ("4w", 28 * 86_400, Some(0.5))
            ]
        );
        // Half the budget left at 4x: 28d / 2 / 4 = 3.5d.
        assert_eq!(
            s.exhaustion,
            Exhaustion::In {
                seconds: Duration::from_secs(302_400)
            }
        );
        assert_eq!(
            s.alerts,
            [AlertStatus {
                name: "Avail".into(),
                severity: Some("page".into()),
                state: AlertState::Firing
            }]
        );
        let bad = [
            sample("slo:objective:ratio", "x", &[], 0.99),
            sample(
                "slo:sli_error:ratio_rate5m",
                "x",
                &[("sloth_window", "5 minutes")],
                0.1,
            ),
        ];
        let (series, label, value, _) = super::slos(&bad, &[]).unwrap_err();
        assert_eq!(
            (series.as_str(), label, value.as_str()),
            (
                "slo:sli_error:ratio_rate5m{sloth_id=\"x\"}",
                "sloth_window",
                "5 minutes"
            )
        );
    }

    #[test]
    fn exhaustion_follows_the_budget_and_the_burn_rate() {
        let day = Some(Duration::from_secs(86_400));
        assert_eq!(
            exhaustion(Some(-0.1), Some(2.0), day),
            Exhaustion::Exhausted
        );
        assert_eq!(exhaustion(Some(0.0), None, None), Exhaustion::Exhausted);
        assert_eq!(exhaustion(Some(0.5), Some(0.0), day), Exhaustion::Never);
        assert_eq!(exhaustion(Some(0.5), None, day), Exhaustion::Unknown);
        assert_eq!(exhaustion(None, Some(1.0), day), Exhaustion::Unknown);
        assert_eq!(
            exhaustion(Some(0.5), Some(2.0), day),
            Exhaustion::In {
                seconds: Duration::from_secs(21_600)
            }
        );
        assert_eq!(
            exhaustion(Some(0.5), Some(f64::MIN_POSITIVE), day),
            Exhaustion::Never
        );
    }
}
