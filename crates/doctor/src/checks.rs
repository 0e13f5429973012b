//! Each check: what it reads, the rule it applies, the findings it returns.
//! The rules are pure functions of the numbers read, tested on their own.

use std::collections::BTreeMap;

use ward_lookup::ResolvConf;
use ward_slo_report::api::{Api, Sample};
use ward_slo_report::{Error as PrometheusError, SloStatus};

use crate::{now, Check, Finding, Request, Severity};

/// Request rate per API-server instance.
pub(crate) const API_REQUESTS: &str = "sum by (instance) (rate(apiserver_request_total[5m]))";

/// The nurse's per-instance checks: the worst result of the last check of
/// each API-server instance over every nurse (1 passed, 0 failed).
pub(crate) const NURSE_SUCCESS: &str =
    r#"min by (endpoint) (ward_nurse_check_success{type="api_server_instance"})"#;

/// HTTP/2 GOAWAY frames the nurses received from each instance in the last hour.
pub(crate) const NURSE_GOAWAYS: &str = r#"sum by (endpoint) (increase(ward_nurse_http2_goaways_received_total{type="api_server_instance"}[1h]))"#;

/// An instance is flagged above this many times its fair share (1/N).
pub(crate) const FAIR_SHARE_FACTOR: f64 = 1.5;

/// 1 on the etcd member that leads, 0 on the others.
pub(crate) const ETCD_LEADER: &str = "etcd_server_is_leader";

/// Leader changes each etcd member saw in the last 24 h (the doctor takes
/// the most any member saw, floored: `increase` extrapolates to the window's
/// edges, so 3 changes can read 3.01, never less than 3).
pub(crate) const ETCD_LEADER_CHANGES: &str = "increase(etcd_server_leader_changes_seen_total[24h])";

/// SERVFAIL answers and all answers of CoreDNS, per second.
const COREDNS_SERVFAIL: &str = r#"sum(rate(coredns_dns_responses_total{rcode="SERVFAIL"}[5m]))"#;
const COREDNS_RESPONSES: &str = "sum(rate(coredns_dns_responses_total[5m]))";

/// The finding of a check that reads Prometheus when none was given.
pub(crate) fn needs_prometheus(check: Check) -> Finding {
    Finding {
        check: check.name(),
        severity: Severity::Skipped,
        evidence: "needs --prometheus".into(),
        fix: None,
    }
}

/// The finding of a check that could not read `what`.
fn unreadable(check: Check, what: &str, cause: impl std::fmt::Display) -> Finding {
    Finding {
        check: check.name(),
        severity: Severity::Unknown,
        evidence: format!("could not read {what}: {cause}"),
        fix: None,
    }
}

/// The samples of `expr` now; an empty answer is a finding too (no such series).
async fn read(api: &Api, check: Check, expr: &str) -> Result<Vec<Sample>, Finding> {
    match api.query(expr, now()).await {
        Ok(samples) if samples.is_empty() => Err(unreadable(
            check,
            expr,
            format!("Prometheus at {} has no such series", api.url()),
        )),
        Ok(samples) => Ok(samples),
        Err(e) => Err(unreadable(check, expr, e)),
    }
}

/// `label` of a sample, or `?`.
fn label<'a>(sample: &'a Sample, label: &str) -> &'a str {
    sample.labels.get(label).map_or("?", String::as_str)
}

/// A share as a percentage, to at most two decimals.
fn percent(share: f64) -> String {
    format!("{}%", round(share * 100.0))
}

/// API-server balance: the request share of each instance, and what the
/// nurse's per-instance checks saw of each.
pub(crate) async fn api_balance(api: &Api) -> Vec<Finding> {
    let share = match read(api, Check::ApiBalance, API_REQUESTS).await {
        Ok(samples) => balance(&by_label(&samples, "instance")),
        Err(finding) => finding,
    };
    vec![share, nurse_instances(api).await]
}

/// Values by one label's value (`?` when a series has none).
fn by_label(samples: &[Sample], name: &str) -> BTreeMap<String, f64> {
    samples
        .iter()
        .map(|s| (label(s, name).to_string(), s.value))
        .collect()
}

/// The nurse's per-instance checks, when Prometheus has them.
async fn nurse_instances(api: &Api) -> Finding {
    let success = match api.query(NURSE_SUCCESS, now()).await {
        Ok(samples) if samples.is_empty() => {
            return Finding {
                check: Check::ApiBalance.name(),
                severity: Severity::Skipped,
                evidence: "no per-instance checks of ward nurse in Prometheus (ward_nurse_check_success{type=\"api_server_instance\"})".into(),
                fix: None,
            }
        }
        Ok(samples) => by_label(&samples, "endpoint"),
        Err(e) => return unreadable(Check::ApiBalance, NURSE_SUCCESS, e),
    };
    match api.query(NURSE_GOAWAYS, now()).await {
        Ok(samples) => instances(&success, &by_label(&samples, "endpoint")),
        Err(e) => unreadable(Check::ApiBalance, NURSE_GOAWAYS, e),
    }
}

/// The per-instance rule: an instance failing the nurse's check is a
/// warning; otherwise the GOAWAYs received say whether clients are moved.
pub(crate) fn instances(
    success: &BTreeMap<String, f64>,
    goaways: &BTreeMap<String, f64>,
) -> Finding {
    let failing: Vec<&str> = success
        .iter()
        .filter(|(_, ok)| **ok < 1.0)
        .map(|(endpoint, _)| endpoint.as_str())
        .collect();
    let n = success.len();
    if !failing.is_empty() {
        return Finding {
            check: Check::ApiBalance.name(),
            severity: Severity::Warning,
            evidence: format!(
                "{} of {n} API-server instances fail the nurse's direct check: {}",
                failing.len(),
                failing.join(", ")
            ),
            fix: Some("read that kube-apiserver's /readyz and logs; the nurse's kubenurse_errors_total{type=\"api_server_instance\"} names the failing phase".into()),
        };
    }
    let received: Vec<String> = goaways
        .iter()
        .filter(|(_, n)| **n >= 1.0)
        .map(|(endpoint, n)| format!("{endpoint} {}", n.floor()))
        .collect();
    let goaways = match received.as_slice() {
        [] => "no GOAWAY from any instance in the last 1h (--goaway-chance unset?)".to_string(),
        some => format!("GOAWAYs in the last 1h: {}", some.join(", ")),
    };
    Finding {
        check: Check::ApiBalance.name(),
        severity: Severity::Ok,
        evidence: format!("the nurse reaches each of {n} API-server instances directly; {goaways}"),
        fix: None,
    }
}

/// The balance rule over requests per second by instance: with N ≥ 2
/// instances, the busiest is flagged above 1.5 × 1/N of all requests.
pub(crate) fn balance(rates: &BTreeMap<String, f64>) -> Finding {
    let total: f64 = rates.values().filter(|r| r.is_finite()).sum();
    let busiest = rates
        .iter()
        .filter(|(_, r)| r.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1));
    let n = rates.len();
    let finding = |severity, evidence: String, fix: Option<&str>| Finding {
        check: Check::ApiBalance.name(),
        severity,
        evidence,
        fix: fix.map(str::to_string),
    };
    let Some((instance, rate)) = busiest.filter(|_| total > 0.0) else {
        return finding(
            Severity::Ok,
            format!("{n} API-server instances, no requests in the last 5m"),
            None,
        );
    };
    if n < 2 {
        return finding(
            Severity::Ok,
            format!("1 API-server instance ({instance}): nothing to balance"),
            None,
        );
    }
    let share = rate / total;
    let fair = 1.0 / n as f64;
    let limit = FAIR_SHARE_FACTOR * fair;
    let numbers = format!(
        "{n} instances, fair share {}, flagged above {} ({FAIR_SHARE_FACTOR}x fair)",
        percent(fair),
        percent(limit)
    );
    if share > limit {
        finding(
            Severity::Warning,
            format!("{instance} serves {} of API requests: {numbers}", percent(share)),
            Some("start kube-apiserver with --goaway-chance=0.001 so that HTTP/2 clients reconnect now and then and spread over the instances"),
        )
    } else {
        finding(
            Severity::Ok,
            format!(
                "busiest {instance} serves {} of API requests: {numbers}",
                percent(share)
            ),
            None,
        )
    }
}

/// etcd: the leader now and the leader changes of the last 24 h.
pub(crate) async fn etcd(api: &Api) -> Vec<Finding> {
    let leaders = match read(api, Check::Etcd, ETCD_LEADER).await {
        Ok(samples) => samples,
        Err(finding) => return vec![finding],
    };
    let changes = match read(api, Check::Etcd, ETCD_LEADER_CHANGES).await {
        Ok(samples) => samples,
        Err(finding) => return vec![finding],
    };
    let members = leaders.len();
    let leader: Vec<&str> = leaders
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| label(s, "instance"))
        .collect();
    let changes = changes
        .iter()
        .map(|s| s.value)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
        .floor() as u64;
    vec![leadership(members, &leader, changes)]
}

/// The etcd rule: no leader is critical, a leader change in 24 h a warning.
pub(crate) fn leadership(members: usize, leaders: &[&str], changes: u64) -> Finding {
    let finding = |severity, evidence: String, fix: Option<&str>| Finding {
        check: Check::Etcd.name(),
        severity,
        evidence,
        fix: fix.map(str::to_string),
    };
    let [leader] = leaders else {
        return finding(
            Severity::Critical,
            format!(
                "{} of {members} etcd members report {ETCD_LEADER} 1 (expected exactly one)",
                leaders.len()
            ),
            Some("see etcdctl endpoint status --cluster: the members disagree or have lost quorum"),
        );
    };
    let times = if changes == 1 { "time" } else { "times" };
    match changes {
        0 => finding(
            Severity::Ok,
            format!("leader {leader} (of {members} members), no leader change in the last 24h"),
            None,
        ),
        _ => finding(
            Severity::Warning,
            format!(
                "the etcd leader changed {changes} {times} in the last 24h; leader now {leader} (of {members} members)"
            ),
            Some("before maintenance on a node that runs the etcd leader, hand the leadership over first: etcdctl move-leader <ID of a member staying up>"),
        ),
    }
}

/// DNS: the queries an external lookup costs under the resolv.conf, and
/// CoreDNS' SERVFAIL share when Prometheus has it.
pub(crate) async fn dns(request: &Request, api: Option<&Api>) -> Vec<Finding> {
    let path = request.resolv_conf.display().to_string();
    let mut findings = vec![match std::fs::read_to_string(&request.resolv_conf) {
        Ok(text) => amplification(&path, &ResolvConf::parse(&text), &request.external_name),
        Err(e) => unreadable(Check::Dns, &path, e),
    }];
    if let Some(api) = api {
        findings.push(coredns(api).await);
    }
    findings
}

/// The amplification rule: a lookup of `name` that goes through the search
/// list first costs (search domains + 1) × (A + AAAA) queries.
pub(crate) fn amplification(path: &str, conf: &ResolvConf, name: &str) -> Finding {
    let candidates = conf.candidates(name);
    let tried = candidates
        .iter()
        .position(|c| c == name.trim_end_matches('.'))
        .map_or(candidates.len(), |i| i + 1);
    let queries = 2 * tried;
    let dots = name.trim_end_matches('.').matches('.').count();
    let search = match conf.search.as_slice() {
        [] => "no search list".to_string(),
        domains => format!("search {}", domains.join(" ")),
    };
    let settings = format!("{path}: ndots:{}, {search}", conf.ndots);
    let dot_s = if dots == 1 { "dot" } else { "dots" };
    if tried > 1 {
        Finding {
            check: Check::Dns.name(),
            severity: Severity::Warning,
            evidence: format!(
                "an external name like {name} ({dots} {dot_s}, fewer than ndots:{}) costs {queries} queries: {} search domains x (A+AAAA) + the name itself (A+AAAA) ({settings})",
                conf.ndots,
                tried - 1
            ),
            fix: Some(format!(
                "set ndots:1 in the pod's dnsConfig (options: [{{name: ndots, value: \"1\"}}]), or write external names as FQDNs with a trailing dot ({}.)",
                name.trim_end_matches('.')
            )),
        }
    } else {
        Finding {
            check: Check::Dns.name(),
            severity: Severity::Ok,
            evidence: format!(
                "an external name like {name} costs {queries} queries (A+AAAA) ({settings})"
            ),
            fix: None,
        }
    }
}

/// CoreDNS' SERVFAIL answers over the last 5 minutes; skipped when
/// Prometheus has no CoreDNS metrics.
async fn coredns(api: &Api) -> Finding {
    let total = match api.query(COREDNS_RESPONSES, now()).await {
        Ok(samples) if samples.is_empty() => {
            return Finding {
                check: Check::Dns.name(),
                severity: Severity::Skipped,
                evidence:
                    "no coredns_dns_responses_total in Prometheus: CoreDNS errors not checked"
                        .into(),
                fix: None,
            }
        }
        Ok(samples) => samples.iter().map(|s| s.value).sum::<f64>(),
        Err(e) => return unreadable(Check::Dns, COREDNS_RESPONSES, e),
    };
    match api.query(COREDNS_SERVFAIL, now()).await {
        Ok(samples) => servfails(samples.iter().map(|s| s.value).sum(), total),
        Err(e) => unreadable(Check::Dns, COREDNS_SERVFAIL, e),
    }
}

/// The CoreDNS rule: any SERVFAIL answer in the last 5 minutes is a warning.
pub(crate) fn servfails(servfail: f64, total: f64) -> Finding {
    let share = if total > 0.0 { servfail / total } else { 0.0 };
    let numbers = format!(
        "CoreDNS answered SERVFAIL to {} of its queries over the last 5m",
        percent(share)
    );
    let (severity, fix) = if servfail > 0.0 {
        (Severity::Warning, Some("CoreDNS could not get answers from its upstream: check the forward plugin's servers and CoreDNS' logs".to_string()))
    } else {
        (Severity::Ok, None)
    };
    Finding {
        check: Check::Dns.name(),
        severity,
        evidence: numbers,
        fix,
    }
}

/// SLO budgets: through `ward-slo-report`, the SLOs spent or burning above 1x.
pub(crate) async fn slo(request: &Request, api: &Api) -> Vec<Finding> {
    let Ok(prometheus) = api.url().parse() else {
        return vec![unreadable(
            Check::Slo,
            "the SLO report",
            "bad Prometheus URL",
        )];
    };
    let report = ward_slo_report::Request {
        timeout: request.timeout,
        ..ward_slo_report::Request::new(prometheus)
    };
    match ward_slo_report::report(&report).await {
        Ok(report) => budgets(&report.slos, &report.prometheus),
        Err(PrometheusError::NoRules { .. }) => vec![Finding {
            check: Check::Slo.name(),
            severity: Severity::Skipped,
            evidence: "no SLO recording rules in Prometheus (ward slo generate writes them)".into(),
            fix: None,
        }],
        Err(e) => vec![unreadable(Check::Slo, "the SLO report", e)],
    }
}

/// The budget rule: spent (none left) is critical, burning above 1x a warning.
pub(crate) fn budgets(slos: &[SloStatus], prometheus: &str) -> Vec<Finding> {
    let fix = |s: &SloStatus| {
        Some(format!(
            "find what fails in {}'s SLI (ward slo report --prometheus {prometheus} {} shows each window) and hold risky changes until the budget recovers",
            s.service, s.id
        ))
    };
    let burn = |s: &SloStatus| {
        s.current_burn_rate
            .map_or("?".into(), |b| format!("{}x", round(b)))
    };
    let mut findings: Vec<Finding> = slos
        .iter()
        .filter_map(|s| {
            let (severity, what) = if s.budget_remaining.is_some_and(|l| l <= 0.0) {
                (Severity::Critical, "error budget spent")
            } else if s.current_burn_rate.is_some_and(|b| b > 1.0) {
                (Severity::Warning, "burning its error budget faster than 1x")
            } else {
                return None;
            };
            Some(Finding {
                check: Check::Slo.name(),
                severity,
                evidence: format!(
                    "SLO {}: {what}: {} left, burn rate now {}",
                    s.id,
                    s.budget_remaining.map_or("?".into(), percent),
                    burn(s)
                ),
                fix: fix(s),
            })
        })
        .collect();
    if findings.is_empty() {
        findings.push(Finding {
            check: Check::Slo.name(),
            severity: Severity::Ok,
            evidence: match slos.len() {
                1 => "1 SLO, not spent nor burning above 1x".into(),
                n => format!("{n} SLOs, none spent or burning above 1x"),
            },
            fix: None,
        });
    }
    findings
}

/// `x` to at most two decimals, without trailing zeros.
fn round(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(i, r)| (i.to_string(), *r)).collect()
    }

    #[test]
    fn the_busiest_instance_is_flagged_above_one_and_a_half_times_its_fair_share() {
        let f = balance(&rates(&[("a:6443", 8.0), ("b:6443", 1.0), ("c:6443", 1.0)]));
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            f.evidence,
            "a:6443 serves 80% of API requests: 3 instances, fair share 33.33%, flagged above 50% (1.5x fair)"
        );
        // 50% of 3 is exactly the limit: not above it.
        let f = balance(&rates(&[("a:6443", 5.0), ("b:6443", 3.0), ("c:6443", 2.0)]));
        assert_eq!(f.severity, Severity::Ok);
        let f = balance(&rates(&[("a:6443", 5.0)]));
        assert_eq!(
            (f.severity, f.evidence.as_str()),
            (
                Severity::Ok,
                "1 API-server instance (a:6443): nothing to balance"
            )
        );
        let f = balance(&rates(&[("a:6443", 0.0), ("b:6443", 0.0)]));
        assert_eq!(
            f.evidence,
            "2 API-server instances, no requests in the last 5m"
        );
    }

    #[test]
    fn an_instance_failing_the_nurse_check_is_a_warning_else_goaways_are_counted() {
        let success = rates(&[("a:6443", 1.0), ("b:6443", 0.0), ("c:6443", 1.0)]);
        let f = instances(&success, &rates(&[]));
        assert_eq!(
            (f.severity, f.evidence.as_str()),
            (
                Severity::Warning,
                "1 of 3 API-server instances fail the nurse's direct check: b:6443"
            )
        );
        let success = rates(&[("a:6443", 1.0), ("b:6443", 1.0)]);
        let f = instances(&success, &rates(&[("a:6443", 12.2), ("b:6443", 0.0)]));
        assert_eq!(
            (f.severity, f.evidence.as_str()),
            (
                Severity::Ok,
                "the nurse reaches each of 2 API-server instances directly; GOAWAYs in the last 1h: a:6443 12"
            )
        );
        assert_eq!(
            instances(&success, &rates(&[])).evidence,
            "the nurse reaches each of 2 API-server instances directly; no GOAWAY from any instance in the last 1h (--goaway-chance unset?)"
        );
    }

    #[test]
    fn etcd_without_one_leader_is_critical_and_a_leader_change_a_warning() {
        assert_eq!(leadership(3, &["e1:2379"], 0).severity, Severity::Ok);
        let f = leadership(3, &["e1:2379"], 1);
        assert_eq!(
            (f.severity, f.evidence.as_str()),
            (
                Severity::Warning,
                "the etcd leader changed 1 time in the last 24h; leader now e1:2379 (of 3 members)"
            )
        );
        let f = leadership(3, &[], 0);
        assert_eq!(
            (f.severity, f.evidence.as_str()),
            (
                Severity::Critical,
                "0 of 3 etcd members report etcd_server_is_leader 1 (expected exactly one)"
            )
        );
    }

    #[test]
    fn ndots_5_with_three_search_domains_costs_eight_queries_per_external_name() {
        let conf = ResolvConf::parse(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        );
        let f = amplification("resolv.conf", &conf, "example.com");
        assert_eq!(f.severity, Severity::Warning);
        assert_eq!(
            f.evidence,
            "an external name like example.com (1 dot, fewer than ndots:5) costs 8 queries: 3 search domains x (A+AAAA) + the name itself (A+AAAA) (resolv.conf: ndots:5, search default.svc.cluster.local svc.cluster.local cluster.local)"
        );
        // A trailing dot, or a name with ndots dots, is tried as is first.
        for name in ["example.com.", "a.b.c.d.example.com"] {
            let f = amplification("resolv.conf", &conf, name);
            assert_eq!(f.severity, Severity::Ok, "{name}");
        }
        let f = amplification(
            "r",
            &ResolvConf::parse("nameserver 10.96.0.10\n"),
            "example.com",
        );
        assert_eq!(
            f.evidence,
            "an external name like example.com costs 2 queries (A+AAAA) (r: ndots:1, no search list)"
        );
    }

    fn slo(id: &str, budget_remaining: Option<f64>, burn: Option<f64>) -> SloStatus {
        SloStatus {
            id: id.into(),
            service: "shop".into(),
            slo: id.into(),
            objective: 0.99,
            error_budget: 0.01,
            period: None,
            budget_remaining,
            current_burn_rate: burn,
            period_burn_rate: None,
            windows: Vec::new(),
            exhaustion: ward_slo_report::Exhaustion::Unknown,
            alerts: Vec::new(),
            budget_history: Vec::new(),
        }
    }

    #[test]
    fn a_spent_budget_is_critical_and_burning_above_1x_a_warning() {
        let slos = [
            slo("a", Some(0.5), Some(0.5)),
            slo("b", Some(0.25), Some(2.5)),
            slo("c", Some(-0.5), None),
            slo("d", None, Some(9.0)),
        ];
        let found: Vec<(Severity, String)> = budgets(&slos, "http://p")
            .into_iter()
            .map(|f| (f.severity, f.evidence))
            .collect();
        assert_eq!(
            found,
            [
                (
                    Severity::Warning,
                    "SLO b: burning its error budget faster than 1x: 25% left, burn rate now 2.5x"
                        .into()
                ),
                (
                    Severity::Critical,
                    "SLO c: error budget spent: -50% left, burn rate now ?".into()
                ),
                (
                    Severity::Warning,
                    "SLO d: burning its error budget faster than 1x: ? left, burn rate now 9x"
                        .into()
                ),
            ]
        );
        assert_eq!(
            budgets(&slos[..1], "http://p")[0].evidence,
            "1 SLO, not spent nor burning above 1x"
        );
    }

    #[test]
    fn any_servfail_is_a_warning() {
        assert_eq!(servfails(0.0, 10.0).severity, Severity::Ok);
        let f = servfails(0.5, 10.0);
        assert_eq!(
            (f.severity, f.evidence.as_str()),
            (
                Severity::Warning,
                "CoreDNS answered SERVFAIL to 5% of its queries over the last 5m"
            )
        );
    }
}
