//! `promtool test rules` unit tests that prove an SLO's multi-window
//! multi-burn-rate alerts, made from the rules ward generated for it.
//!
//! For each enabled alert (page, ticket) and each of its two window pairs
//! (quick, slow) there are two cases: the error budget burns [`MARGIN`]
//! faster than the pair's threshold, and the pair's alert must fire once the
//! pair's share of the budget is spent (default catalog: page 2% in 1h and
//! 5% in 6h, ticket 10% in 1d and 10% in 3d); or it burns [`MARGIN`] slower,
//! and nothing may fire. Thresholds, windows and shares come from the SLO's
//! own window catalog, so custom catalogs and periods are tested as generated.
//!
//! The input series of these cases are the SLI recordings
//! `slo:sli_error:ratio_rate<w>` (with the labels of ward's recording rule
//! for `w`): those of a steady error ratio starting at time 0, over a
//! window `w` ramping up linearly for `w`, then staying. That proves the
//! alerting half (thresholds, window pairs, label matching, `max without
//! (sloth_window)`, `for:`) for any SLI, given recordings that say what the
//! SLI says.
//!
//! Where the SLI can be inverted ([`crate::raw_series`]: an `events` SLI
//! reading one counter per query under `sum`, or ward's `latency` SLI:
//! the threshold's bucket and the count), two more cases feed raw
//! counters to the SLO's whole rule file (recording rules and alerts, in
//! order): the first enabled alert's quick pair, above and below its
//! threshold, after a clean history as long as the longest window. They
//! prove the SLI half too: the user's queries select the counters, divide
//! into the ratio, and the recordings carry the labels the alerts match.
//! An `events` or `raw` SLI that is arbitrary PromQL (subqueries, several
//! selectors, histogram buckets, `by`) has no such cases, and the suite
//! says why: which label values make an error query select errors and
//! not successes cannot be derived from it in general.
//!
//! The rule file is ward's own output for the SLO's alert group (written by
//! [`crate::output::write_std`]) without annotations, which are text and
//! need Prometheus' template engine to compare. Pure: the caller writes the
//! files and runs promtool.

use crate::duration::{parse_prom, Duration};
use crate::model::{merge, GroupResult, Labels, Rule, RuleGroup, SloResult, SloRules};
use crate::output::write_std;
use crate::raw_series::{synthesize, synthesize_latency, Counts};
use crate::rules::{label_filter, sli_metric};
use crate::windows::MwmbAlert;
use crate::yaml::emit::Emitter;

/// How far above or below a pair's threshold each case burns (1%).
pub const MARGIN: f64 = 0.01;

/// The name of the rule file the test files on SLI recordings load.
pub const RULES_FILE: &str = "rules.yaml";

/// The name of the rule file the raw-traffic test files load.
pub const ALL_RULES_FILE: &str = "all-rules.yaml";

/// One promtool unit test: a steady burn rate, and which alerts fire after
/// the pair's long window (plus the alert's `for:`).
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The alert the case is about: `page` or `ticket`.
    pub severity: &'static str,
    /// The window pair: `quick` or `slow`.
    pub pair: &'static str,
    /// The pair's short window.
    pub short: Duration,
    /// The pair's long window.
    pub long: Duration,
    /// Share of the error budget, in percent, spent over the long window at the threshold.
    pub budget_percent: f64,
    /// The pair's burn-rate threshold (its factor).
    pub threshold: f64,
    /// The burn rate of the case: [`MARGIN`] above or below the threshold.
    pub burn_rate: f64,
    /// When the alerts are checked: the long window plus the alert's `for:`.
    pub at: Duration,
    /// The alerts expected to fire then (`page`, `ticket`), computed from the windows.
    pub expected: Vec<&'static str>,
    /// With `for:` and a burn above the threshold: the last evaluation
    /// before the alert may fire (its condition has held one step less
    /// than `for`), and the alerts expected to fire then (not this one).
    pub pending: Option<(Duration, Vec<&'static str>)>,
    /// The inputs are raw counters read by the whole rule file (see
    /// [`crate::raw_series`]); else the SLI recordings the alerts read.
    pub raw: bool,
    /// The promtool test file (loads [`RULES_FILE`], or [`ALL_RULES_FILE`] when raw).
    pub test_file: String,
}

impl Case {
    /// True for the case that burns above the threshold.
    pub fn above(&self) -> bool {
        self.burn_rate > self.threshold
    }
}

/// Every case of one SLO, with the rule file they test.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The SLO id (`sloth_id`).
    pub id: String,
    /// The SLO's period (its own, or the default one).
    pub period: Duration,
    /// The SLO's objective, in percent.
    pub objective: f64,
    /// The SLO's alert rules as ward writes them (annotations left out;
    /// empty when both alerts are disabled).
    pub rules: String,
    /// All the SLO's rules (recordings and alerts, annotations left out),
    /// for the raw-traffic cases; empty when there are none.
    pub all_rules: String,
    /// Why there are no raw-traffic cases, when alerts are enabled but the
    /// SLI cannot be inverted (see [`crate::raw_series`]).
    pub raw_skipped: Option<String>,
    /// The cases: per enabled alert, quick pair above and below, then slow.
    pub cases: Vec<Case>,
}

/// One enabled alert of an SLO: its severity, windows and rule.
struct Alert<'r> {
    severity: &'static str,
    pairs: [(&'static str, MwmbAlert); 2],
    for_: Duration,
    rule: &'r Rule,
}

impl Alert<'_> {
    /// True when the alert's condition holds at `t` with the SLI of `ratio`
    /// (a steady error ratio since time 0): one pair's windows both over
    /// the pair's threshold.
    fn holds(&self, ratio: f64, t: i64) -> bool {
        t >= 0
            && self.pairs.iter().any(|(_, p)| {
                let threshold = p.burn_rate_factor * p.error_budget / 100.0;
                [p.short, p.long]
                    .iter()
                    .all(|w| ratio * t.min(w.0) as f64 / w.0 as f64 > threshold)
            })
    }

    /// True when the alert fires at `at`: its condition has held since
    /// `at - for` (it only grows with time here).
    fn fires(&self, ratio: f64, at: Duration) -> bool {
        self.holds(ratio, at.0 - self.for_.0)
    }
}

/// The alerts (severities) firing at `at`.
fn firing(alerts: &[Alert<'_>], ratio: f64, at: Duration) -> Vec<&'static str> {
    alerts
        .iter()
        .filter(|a| a.fires(ratio, at))
        .map(|a| a.severity)
        .collect()
}

/// The test suite of one generated SLO.
pub fn suite(res: &SloResult) -> Result<Suite, String> {
    let slo = &res.slo;
    let enabled: Vec<(&'static str, [(&'static str, MwmbAlert); 2])> = [
        (
            "page",
            slo.page.disable,
            [
                ("quick", res.alerts.page_quick),
                ("slow", res.alerts.page_slow),
            ],
        ),
        (
            "ticket",
            slo.ticket.disable,
            [
                ("quick", res.alerts.ticket_quick),
                ("slow", res.alerts.ticket_slow),
            ],
        ),
    ]
    .into_iter()
    .filter(|(_, disabled, _)| !disabled)
    .map(|(severity, _, pairs)| (severity, pairs))
    .collect();
    let alerts = enabled
        .into_iter()
        .map(|(severity, pairs)| {
            // The rule sloth's alert plugin made (plugins may add others
            // to the group, such as ErrorBudgetExhausted).
            let meta = if severity == "page" { &slo.page } else { &slo.ticket };
            let rule = res
                .rules
                .alerts
                .rules
                .iter()
                .find(|r| {
                    r.alert == meta.name
                        && r.labels.get("sloth_severity").map(|v| &**v) == Some(severity)
                })
                .ok_or_else(|| {
                    format!(
                        "no {severity} alert rule {:?} with label sloth_severity={severity} (a plugin or an alert label changed it)",
                        meta.name
                    )
                })?;
            let for_ = match rule.for_.as_str() {
                "" => Ok(Duration(0)),
                f => parse_prom(f).map_err(|e| format!("{severity} alert: for: {e}")),
            }?;
            Ok(Alert {
                severity,
                pairs,
                for_,
                rule,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if alerts.is_empty() {
        return Ok(Suite {
            id: slo.id.clone(),
            period: slo.period,
            objective: slo.objective,
            rules: String::new(),
            all_rules: String::new(),
            raw_skipped: None,
            cases: Vec::new(),
        });
    }
    let rules = rule_file(res, false)?;
    let series = input_series(res)?;
    let recorded = series
        .first()
        .map(|(_, _, l)| l)
        .ok_or("no alert windows")?;
    let mut cases = Vec::new();
    for alert in &alerts {
        for (pair, p) in alert.pairs {
            for burn_rate in [
                p.burn_rate_factor * (1.0 + MARGIN),
                p.burn_rate_factor * (1.0 - MARGIN),
            ] {
                let at = Duration(p.long.0 + alert.for_.0);
                let ratio = burn_rate * p.error_budget / 100.0;
                let step = match res.rules.alerts.interval {
                    // The group's own interval (rule_intervals plugin) is
                    // when promtool evaluates it.
                    Duration(0) => interval(at, &alerts),
                    group => group,
                };
                // With `for:`, the last evaluation before the alert may fire:
                // its condition has held for one step less than `for`.
                let above = burn_rate > p.burn_rate_factor;
                let pending = (above && alert.for_.0 > 0)
                    .then(|| {
                        (0..=at.0 / step.0)
                            .map(|k| k * step.0)
                            .find(|&t| alert.holds(ratio, t))
                            .map(|held| Duration(held + alert.for_.0 - step.0))
                    })
                    .flatten()
                    .filter(|t| t.0 < at.0)
                    .map(|t| (t, firing(&alerts, ratio, t)));
                let expected = firing(&alerts, ratio, at);
                let checks: Vec<(Duration, Vec<&'static str>)> = pending
                    .iter()
                    .cloned()
                    .chain([(at, expected.clone())])
                    .collect();
                let inputs = TestInputs {
                    rule_file: RULES_FILE,
                    group_order: &[],
                    step,
                    sample: step,
                    series: series
                        .iter()
                        .map(|(w, metric, labels)| {
                            (
                                format!("{metric}{}", label_filter(labels)),
                                ramp(ratio, *w, step, at),
                            )
                        })
                        .collect(),
                    recorded,
                };
                let test_file = test_file(&inputs, &alerts, &checks)
                    .map_err(|e| format!("writing the promtool test: {e}"))?;
                cases.push(Case {
                    severity: alert.severity,
                    pair,
                    short: p.short,
                    long: p.long,
                    budget_percent: p.budget_percent,
                    threshold: p.burn_rate_factor,
                    burn_rate,
                    at,
                    expected,
                    pending,
                    raw: false,
                    test_file,
                });
            }
        }
    }
    let (all_rules, raw_skipped) = match raw_cases(res, &alerts, recorded) {
        Ok((all_rules, raw)) => {
            cases.extend(raw);
            (all_rules, None)
        }
        Err(why) => (String::new(), Some(why)),
    };
    Ok(Suite {
        id: slo.id.clone(),
        period: slo.period,
        objective: slo.objective,
        rules,
        all_rules,
        raw_skipped,
        cases,
    })
}

/// The SLO's alert group as ward writes it, or with `all` every group of
/// the SLO, without annotations.
fn rule_file(res: &SloResult, all: bool) -> Result<String, String> {
    let mut rules = if all {
        res.rules.clone()
    } else {
        SloRules {
            alerts: res.rules.alerts.clone(),
            ..SloRules::default()
        }
    };
    for r in &mut rules.alerts.rules {
        r.annotations.clear();
    }
    let one_slo = GroupResult {
        kind: crate::model::SpecKind::PrometheusV1,
        k8s: None,
        slos: vec![SloResult {
            slo: res.slo.clone(),
            rules,
            alerts: res.alerts,
        }],
    };
    let out = write_std(
        &one_slo,
        "# ward slo test: the rules under test",
        Vec::new(),
    )
    .map_err(|_| "no rules to test".to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The raw-traffic cases of an SLO whose SLI [`synthesize`] (or
/// [`synthesize_latency`]) can invert:
/// the first enabled alert's quick pair, above and below its threshold,
/// on raw counters read by the whole rule file (returned with them),
/// after a clean history as long as the longest window.
fn raw_cases(
    res: &SloResult,
    alerts: &[Alert<'_>],
    recorded: &Labels,
) -> Result<(String, Vec<Case>), String> {
    let sli = &res.slo.sli;
    let events = sli.events.as_ref().ok_or("the SLI is not an events SLI")?;
    let raw = match &sli.latency {
        Some(latency) => synthesize_latency(latency, events)?,
        None => synthesize(events)?,
    };
    let r = &res.rules;
    let groups: Vec<&RuleGroup> = [&r.sli, &r.meta, &r.alerts]
        .into_iter()
        .chain(&r.extra)
        .filter(|g| !g.rules.is_empty())
        .collect();
    if groups.iter().any(|g| g.interval.0 != 0) {
        return Err("rule groups have their own evaluation intervals".into());
    }
    let group_order: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
    let all_rules = rule_file(res, true)?;
    let alert = alerts.first().ok_or("no alert enabled")?;
    let (pair, p) = alert.pairs[0];
    let windows = res.alerts.windows();
    let history = windows.iter().max().copied().unwrap_or(Duration(0));
    let shortest = windows.iter().min().copied().unwrap_or(Duration(0));
    // Samples at a fifth of the shortest window, so every rate has several;
    // on every step of the history and of the check.
    const SECOND: i64 = 1_000_000_000;
    let sample = [history.0, p.long.0 + alert.for_.0]
        .into_iter()
        .fold(shortest.0 / 5 / SECOND * SECOND, gcd);
    if sample < SECOND {
        return Err("the windows leave no whole-second sample interval".into());
    }
    let since = Duration(p.long.0 + alert.for_.0);
    let at = Duration(history.0 + since.0);
    let step = interval(at, alerts);
    let (before, after) = (history.0 / sample, since.0 / sample);
    let mut cases = Vec::new();
    for burn_rate in [
        p.burn_rate_factor * (1.0 + MARGIN),
        p.burn_rate_factor * (1.0 - MARGIN),
    ] {
        let ratio = burn_rate * p.error_budget / 100.0;
        // 100 requests a sample, `ratio` of them errors after the history.
        let errors = ratio * 100.0;
        let good = 100.0 - errors;
        let values = |counts: Counts| match counts {
            Counts::Errors => format!("0x{before} {errors}+{errors}x{}", after - 1),
            Counts::Good => format!(
                "0+100x{before} {}+{good}x{}",
                100.0 * before as f64 + good,
                after - 1
            ),
            Counts::Total => format!("0+100x{}", before + after),
        };
        let expected = firing(alerts, ratio, since);
        let inputs = TestInputs {
            rule_file: ALL_RULES_FILE,
            group_order: &group_order,
            step,
            sample: Duration(sample),
            series: raw
                .counters
                .iter()
                .map(|(series, counts)| (series.clone(), values(*counts)))
                .collect(),
            recorded,
        };
        let test_file = test_file(&inputs, alerts, &[(at, expected.clone())])
            .map_err(|e| format!("writing the promtool test: {e}"))?;
        cases.push(Case {
            severity: alert.severity,
            pair,
            short: p.short,
            long: p.long,
            budget_percent: p.budget_percent,
            threshold: p.burn_rate_factor,
            burn_rate,
            at: since,
            expected,
            pending: None,
            raw: true,
            test_file,
        });
    }
    Ok((all_rules, cases))
}

/// The SLI recording of each alert window: (window, metric name, labels),
/// the labels those of ward's recording rule for the window.
fn input_series(res: &SloResult) -> Result<Vec<(Duration, String, Labels)>, String> {
    res.alerts
        .windows()
        .into_iter()
        .map(|w| {
            let metric = sli_metric(w);
            let rule = res
                .rules
                .sli
                .rules
                .iter()
                .find(|r| r.record == metric)
                .ok_or_else(|| format!("no SLI recording rule {metric} for the alerts to read"))?;
            Ok((w, metric, Labels::clone(&rule.labels)))
        })
        .collect()
}

/// The greatest common divisor.
fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The most evaluations a case takes (promtool evaluates every step up to
/// the case's time: a 3d case at 5m steps would take 864).
const MAX_STEPS: i64 = 120;

/// The evaluation interval of a case checked at `at`: it divides `at` and
/// every alert's `for:` (so the alerts are evaluated exactly when their
/// condition must have started to hold), in whole milliseconds, with at
/// most [`MAX_STEPS`] steps. Recordings need not fall on it: a window
/// shorter than a step is at its full ratio from the first step on.
fn interval(at: Duration, alerts: &[Alert<'_>]) -> Duration {
    const MS: i64 = 1_000_000;
    let base = alerts.iter().map(|a| a.for_.0).fold(at.0, gcd) / MS;
    let k = (1..=MAX_STEPS)
        .rev()
        .find(|k| base % k == 0 && at.0 / MS / (base / k) <= MAX_STEPS)
        .unwrap_or(1);
    Duration(base / k * MS)
}

/// promtool's expanding notation for the recording of window `w` sampled
/// every `step` up to `at`: at step `k`, `ratio * min(k * step, w) / w` (a
/// linear ramp from 0 over `w`, then `ratio`).
fn ramp(ratio: f64, w: Duration, step: Duration, at: Duration) -> String {
    let samples = at.0 / step.0;
    // Steps strictly inside the window (the ramp's samples after 0).
    let inside = (w.0 - 1) / step.0;
    let inc = ratio * step.0 as f64 / w.0 as f64;
    if inside >= samples {
        format!("0+{inc}x{samples}")
    } else {
        format!("0+{inc}x{inside} {ratio}x{}", samples - inside - 1)
    }
}

/// What one promtool test file holds besides the alert checks.
struct TestInputs<'a> {
    /// The rule file it loads.
    rule_file: &'a str,
    /// Rule groups in evaluation order (all of the rule file's, or none).
    group_order: &'a [String],
    /// Rule evaluation interval.
    step: Duration,
    /// Input sample interval.
    sample: Duration,
    /// Input series: (selector, values in promtool's notation).
    series: Vec<(String, String)>,
    /// Labels of the SLI recordings (the alerts keep all but `sloth_window`).
    recorded: &'a Labels,
}

/// The promtool test file of one case: `inputs`, then the alerts expected
/// at each of `checks`.
fn test_file(
    inputs: &TestInputs<'_>,
    alerts: &[Alert<'_>],
    checks: &[(Duration, Vec<&'static str>)],
) -> std::io::Result<String> {
    let mut e = Emitter::new(Vec::new());
    e.map_start();
    e.key("rule_files")?;
    e.seq_start();
    e.str(inputs.rule_file)?;
    e.seq_end();
    e.kv("evaluation_interval", &inputs.step.prom())?;
    if !inputs.group_order.is_empty() {
        e.key("group_eval_order")?;
        e.seq_start();
        for g in inputs.group_order {
            e.str(g)?;
        }
        e.seq_end();
    }
    e.key("tests")?;
    e.seq_start();
    e.map_start();
    e.kv("interval", &inputs.sample.prom())?;
    e.key("input_series")?;
    e.seq_start();
    for (series, values) in &inputs.series {
        e.map_start();
        e.kv("series", series)?;
        e.kv("values", values)?;
        e.map_end();
    }
    e.seq_end();
    e.key("alert_rule_test")?;
    e.seq_start();
    // Page and ticket share a name in sloth's specs: one check per name.
    let mut names: Vec<&str> = alerts.iter().map(|a| a.rule.alert.as_str()).collect();
    names.dedup();
    for (name, (t, expected)) in checks
        .iter()
        .flat_map(|check| names.iter().map(move |n| (*n, check)))
    {
        e.map_start();
        e.kv("eval_time", &t.prom())?;
        e.kv("alertname", name)?;
        e.key("exp_alerts")?;
        let firing: Vec<&Alert<'_>> = alerts
            .iter()
            .filter(|a| a.rule.alert == name && expected.contains(&a.severity))
            .collect();
        if firing.is_empty() {
            e.empty_seq();
        } else {
            e.seq_start();
            for a in firing {
                e.map_start();
                e.key("exp_labels")?;
                e.string_map(
                    alert_labels(inputs.recorded, a.rule)
                        .iter()
                        .map(|(k, v)| (&**k, &**v)),
                )?;
                e.map_end();
            }
            e.seq_end();
        }
        e.map_end();
    }
    e.seq_end();
    e.map_end();
    e.seq_end();
    e.map_end();
    String::from_utf8(e.finish()?).map_err(std::io::Error::other)
}

/// The labels a firing alert carries: the recordings' (without
/// `sloth_window`, which the rule aggregates away), then the rule's.
fn alert_labels(recorded: &Labels, rule: &Rule) -> Labels {
    let mut labels = Labels::clone(recorded);
    labels.remove("sloth_window");
    merge(&[&labels, &rule.labels])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Generator};

    const SPEC: &str = "version: prometheus/v1\nservice: svc\nslos:\n  - name: avail\n    objective: 99.9\n    labels: {team: a}\n    sli: {events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}}\n    alerting: {name: High, page_alert: {labels: {to: pager}}, ticket_alert: {disable: false}}\n";

    fn generated(spec: &str) -> SloResult {
        let gen = Generator::new(Config::default()).unwrap();
        let mut res = gen.generate_doc("s.yaml", spec, &mut Vec::new()).unwrap();
        res.slos.remove(0)
    }

    #[test]
    fn cases_follow_the_catalog() {
        let s = suite(&generated(SPEC)).unwrap();
        assert_eq!(s.id, "svc-avail");
        let got: Vec<String> = s
            .cases
            .iter()
            .map(|c| {
                format!(
                    "{}{} {} {}/{} {}% at {} {} {:?}",
                    if c.raw { "raw " } else { "" },
                    c.severity,
                    c.pair,
                    c.short.prom(),
                    c.long.prom(),
                    c.budget_percent,
                    c.at.prom(),
                    if c.above() { "above" } else { "below" },
                    c.expected
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                r#"page quick 5m/1h 2% at 1h above ["page"]"#,
                r#"page quick 5m/1h 2% at 1h below []"#,
                r#"page slow 30m/6h 5% at 6h above ["page"]"#,
                r#"page slow 30m/6h 5% at 6h below []"#,
                r#"ticket quick 2h/1d 10% at 1d above ["ticket"]"#,
                r#"ticket quick 2h/1d 10% at 1d below []"#,
                r#"ticket slow 6h/3d 10% at 3d above ["ticket"]"#,
                r#"ticket slow 6h/3d 10% at 3d below []"#,
                r#"raw page quick 5m/1h 2% at 1h above ["page"]"#,
                r#"raw page quick 5m/1h 2% at 1h below []"#,
            ]
        );
        assert!(!s.rules.contains("annotations"), "{}", s.rules);
        assert!(s.rules.contains("alert: High"), "{}", s.rules);
        assert_eq!(s.raw_skipped, None);
    }

    #[test]
    fn the_raw_test_feeds_counters_to_every_rule_after_3d_of_history() {
        let s = suite(&generated(SPEC)).unwrap();
        assert!(s.all_rules.contains("record: slo:sli_error:ratio_rate3d"));
        assert!(!s.all_rules.contains("annotations"), "{}", s.all_rules);
        let raw = &s.cases[8].test_file;
        // 1m samples (a fifth of 5m); 3d of history then 1h of errors: 100
        // requests a minute, 14.544x the budget's 0.1% of them errors.
        let errors = 14.4 * 1.01 * (100.0 - 99.9) / 100.0 * 100.0;
        for line in [
            "rule_files:\n- all-rules.yaml\nevaluation_interval: 36m30s\ngroup_eval_order:\n- sloth-slo-sli-recordings-svc-avail\n- sloth-slo-meta-recordings-svc-avail\n- sloth-slo-alerts-svc-avail\n",
            "tests:\n- interval: 1m\n",
            &format!("  - series: e{{}}\n    values: 0x4320 {errors}+{errors}x59\n"),
            "  - series: t{}\n    values: 0+100x4380\n",
            "  - eval_time: 3d1h\n",
        ] {
            assert!(raw.contains(line), "{line}\n{raw}");
        }
    }

    #[test]
    fn the_test_file_ramps_each_window_and_names_the_alert_labels() {
        let s = suite(&generated(SPEC)).unwrap();
        let first = &s.cases[0].test_file;
        assert!(
            first.starts_with("rule_files:\n- rules.yaml\nevaluation_interval: 30s\n"),
            "{first}"
        );
        // 1h in 120 steps of 30s: the 5m window is at its ratio from the
        // 10th step on, the 1h window at the last, the 2h one half way.
        let ratio = 14.4 * 1.01 * (100.0 - 99.9) / 100.0;
        for (window, values) in [
            ("5m", format!("0+{}x9 {ratio}x110", ratio * 30e9 / 300e9)),
            ("1h", format!("0+{}x119 {ratio}x0", ratio * 30e9 / 3600e9)),
            ("2h", format!("0+{}x120", ratio * 30e9 / 7200e9)),
        ] {
            let series = format!("sloth_window=\"{window}\", team=\"a\"}}\n    values: {values}\n");
            assert!(first.contains(&series), "{series}\n{first}");
        }
        assert!(first.contains("    exp_alerts:\n    - exp_labels:\n        sloth_id: svc-avail\n        sloth_service: svc\n        sloth_severity: page\n        sloth_slo: avail\n        team: a\n        to: pager\n"), "{first}");
        assert!(s.cases[1].test_file.contains("exp_alerts: []"));
    }

    #[test]
    fn an_alert_with_for_is_checked_before_it_may_fire() {
        let spec = SPEC.replace("{labels: {to: pager}}", "{labels: {to: pager}, for: 5m}");
        let s = suite(&generated(&spec)).unwrap();
        assert!(s.rules.contains("    for: 5m\n"), "{}", s.rules);
        let above = &s.cases[0];
        assert_eq!(above.at.prom(), "1h5m");
        // 37.5s steps: the 1h window first holds the ratio at 1h; the alert
        // may fire from 1h5m, so it is pending one step before.
        let pending = above.pending.as_ref().map(|(t, f)| (t.prom(), f.clone()));
        assert_eq!(pending, Some(("1h4m22s500ms".to_string(), vec![])));
        assert!(above.test_file.contains("- eval_time: 1h4m22s500ms\n"));
        assert!(above.test_file.contains("- eval_time: 1h5m\n"));
        // Only the page's cases above the threshold: not below, not the
        // ticket (no `for:`).
        let with_pending: Vec<usize> = (0..s.cases.len())
            .filter(|&i| s.cases[i].pending.is_some())
            .collect();
        assert_eq!(with_pending, [0, 2]);
    }

    #[test]
    fn disabled_alerts_have_no_cases() {
        let spec = SPEC.replace(
            "ticket_alert: {disable: false}",
            "ticket_alert: {disable: true}",
        );
        let s = suite(&generated(&spec)).unwrap();
        assert_eq!(s.cases.len(), 6);
        assert!(s.cases.iter().all(|c| c.severity == "page"));
    }
}
