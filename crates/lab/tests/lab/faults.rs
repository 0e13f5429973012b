//! Every fault kind applied to a running clean lab (6 nodes, k = 3): two
//! rounds later, exactly these checks of these nodes are red (with this
//! error class), and every other check passes; for the delays, in each of
//! three rounds exactly these checks take the delay or longer, and every
//! other one is faster in at least one of them (a busy machine may stall
//! any one round). Checks through the ingress and the service are expected
//! red or slow by the backend the lab sent them to. Each fault is then
//! cleared and the lab recovers within two rounds: nothing red, and nothing
//! slow in every one of the three rounds after. Then bad input: an
//! unknown node is refused at start and through the fault API; a fault on
//! every node at once is allowed and the summary says so.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::Method;
use tokio::sync::broadcast::Receiver;
use ward_lab::{Fault, Lab, LabConfig, Round};
use ward_probe::http::{AcceptStatus, HttpRequest};
use ward_probe::{Prober, ProberConfig};

use crate::support::{
    all_nodes, assert_delayed, config, into, node, samples, seen, serial, settle, started, table,
    with_class, Check, K, NODES,
};

/// The delay of `delay`, `api-delay` and `dns-delay`: what is slower than this was delayed.
const DELAY: Duration = Duration::from_millis(300);

/// Applies `spec` to a clean lab and waits until every node still running
/// has shown two rounds with it; returns the lab and its round stream.
async fn with_fault(spec: &str) -> (Lab, Receiver<Round>) {
    let (lab, mut rounds) = started().await;
    let fault: Fault = spec.parse().unwrap();
    lab.apply(&fault).unwrap();
    let running: Vec<String> = all_nodes()
        .into_iter()
        .filter(|n| !matches!(&fault, Fault::Kill(k) if k == n))
        .collect();
    settle(&lab, &mut rounds, &running).await;
    (lab, rounds)
}

/// Clears `spec` and asserts that the lab recovers within two rounds: two
/// rounds of every node after the clear nothing is red, and in the three
/// rounds after that no check is slow in all three.
async fn assert_recovers(lab: &Lab, rounds: &mut Receiver<Round>, spec: &str) {
    lab.clear(&spec.parse().unwrap()).unwrap();
    settle(lab, rounds, &all_nodes()).await;
    let status = lab.status();
    assert_eq!(
        seen(&status, Duration::MAX).red,
        BTreeMap::new(),
        "two rounds after clearing {spec}: {}",
        table(&status)
    );
    let samples = samples(lab, rounds, &all_nodes(), 3).await;
    assert_delayed(&samples, DELAY, |_| BTreeSet::new());
}

/// The API server checks of every node (kube-sim is also the one address
/// of the kubernetes EndpointSlice).
fn api_checks(lab: &Lab) -> BTreeSet<Check> {
    let instance = format!(
        "api_server_instance_{}",
        lab.api_url().trim_start_matches("https://")
    );
    on_every_node(&["api_server_direct", "api_server_dns", &instance])
}

/// `check` on every node.
fn on_every_node(checks: &[&str]) -> BTreeSet<Check> {
    all_nodes()
        .into_iter()
        .flat_map(|n| checks.iter().map(move |c| (n.clone(), c.to_string())))
        .collect()
}

/// The DNS checks (one per name the probers resolve).
const DNS: [&str; 2] = [
    "dns:kubernetes.default.svc.cluster.local",
    "dns:ward-nurse.ward-lab.svc.cluster.local",
];

#[test]
fn cut_fails_the_paths_into_the_node_and_the_service_checks_it_served() {
    serial(async {
        let (lab, mut rounds) = with_fault("cut:node-3").await;
        let status = lab.status();
        let into3 = into(&status, "node-3", false);
        let seen = seen(&status, Duration::MAX);
        assert_eq!(
            seen.red,
            with_class(&into3, "timeout_first_byte"),
            "{}",
            table(&status)
        );
        let paths = into3.iter().filter(|(_, c)| c.starts_with("path_")).count();
        assert_eq!(paths, K, "k nodes check node-3: {into3:?}");
        // The ingress never leaves a caller waiting on node-3: it moves on.
        assert!(!into3.iter().any(|(_, c)| c == "me_ingress"), "{into3:?}");
        assert_recovers(&lab, &mut rounds, "cut:node-3").await;
    });
}

#[test]
fn delay_slows_the_paths_into_the_node_and_the_checks_sent_to_it() {
    serial(async {
        let (lab, mut rounds) = with_fault("delay:node-2:300ms").await;
        let samples = samples(&lab, &mut rounds, &all_nodes(), 3).await;
        assert_delayed(&samples, DELAY, |status| into(status, "node-2", true));
        for status in &samples {
            let paths = into(status, "node-2", true)
                .into_iter()
                .filter(|(_, c)| c.starts_with("path_"))
                .count();
            assert_eq!(paths, K, "k nodes check node-2: {}", table(status));
        }
        assert_recovers(&lab, &mut rounds, "delay:node-2:300ms").await;
    });
}

#[test]
fn cordon_takes_the_node_out_of_every_ring_and_fails_nothing() {
    serial(async {
        let (lab, mut rounds) = with_fault("cordon:node-1").await;
        let status = lab.status();
        assert_eq!(
            seen(&status, Duration::MAX).red,
            BTreeMap::new(),
            "{}",
            table(&status)
        );
        assert_eq!(status.page.nodes.len(), NODES);
        for (name, s) in &status.page.nodes {
            let paths: Vec<&String> = s.checks.keys().filter(|c| c.starts_with("path_")).collect();
            assert_eq!(paths.len(), K, "{name} checks k of the 5 others: {paths:?}");
            assert!(!s.checks.contains_key("path_node-1"), "{name}: {paths:?}");
        }
        assert_recovers(&lab, &mut rounds, "cordon:node-1").await;
    });
}

#[test]
fn kill_refuses_the_paths_into_the_node_and_takes_it_out_of_the_service() {
    serial(async {
        let (lab, mut rounds) = with_fault("kill:node-4").await;
        let status = lab.status();
        assert!(
            !status.page.nodes.contains_key("node-4"),
            "a killed agent reports no round (nor DNS checks)"
        );
        let into4 = into(&status, "node-4", true);
        assert_eq!(
            seen(&status, Duration::MAX).red,
            with_class(&into4, "connect_refused"),
            "{}",
            table(&status)
        );
        // Its Pod stays Running (no kubelet), so the rings keep it; the
        // ingress and the service have no endpoint there any more.
        assert!(
            into4.iter().all(|(_, c)| c.starts_with("path_")),
            "{into4:?}"
        );
        assert_eq!(into4.len(), K, "{into4:?}");
        assert_recovers(&lab, &mut rounds, "kill:node-4").await;
    });
}

#[test]
fn api_down_fails_the_api_server_checks_of_every_node_and_nothing_else() {
    serial(async {
        let (lab, mut rounds) = with_fault("api-down").await;
        let status = lab.status();
        assert_eq!(
            seen(&status, Duration::MAX).red,
            with_class(&api_checks(&lab), "connect_refused"),
            "{}",
            table(&status)
        );
        assert_eq!(status.page.api_server_up, Some(false));
        assert_recovers(&lab, &mut rounds, "api-down").await;
    });
}

#[test]
fn api_delay_slows_the_api_server_checks_of_every_node_and_nothing_else() {
    serial(async {
        let (lab, mut rounds) = with_fault("api-delay:300ms").await;
        let samples = samples(&lab, &mut rounds, &all_nodes(), 3).await;
        assert_delayed(&samples, DELAY, |_| api_checks(&lab));
        assert_recovers(&lab, &mut rounds, "api-delay:300ms").await;
    });
}

/// Applies `spec`; two rounds later exactly the DNS checks of every node
/// are red, with `class`; then clears it and asserts recovery.
async fn fails_the_dns_checks(spec: &str, class: &str) {
    let (lab, mut rounds) = with_fault(spec).await;
    let status = lab.status();
    assert_eq!(
        seen(&status, Duration::MAX).red,
        with_class(&on_every_node(&DNS), class),
        "{}",
        table(&status)
    );
    assert_recovers(&lab, &mut rounds, spec).await;
}

#[test]
fn dns_down_fails_the_dns_checks_of_every_node_and_nothing_else() {
    serial(fails_the_dns_checks("dns-down", "timeout"));
}

#[test]
fn dns_servfail_fails_the_dns_checks_of_every_node_and_nothing_else() {
    serial(fails_the_dns_checks("dns-servfail", "servfail"));
}

#[test]
fn dns_delay_slows_the_dns_checks_of_every_node_and_nothing_else() {
    serial(async {
        let (lab, mut rounds) = with_fault("dns-delay:300ms").await;
        let samples = samples(&lab, &mut rounds, &all_nodes(), 3).await;
        assert_delayed(&samples, DELAY, |_| on_every_node(&DNS));
        assert_recovers(&lab, &mut rounds, "dns-delay:300ms").await;
    });
}

/// POSTs `path` to the lab's HTTP API: the status and the body.
async fn post(lab: &Lab, path: &str) -> (u16, String) {
    let url = lab.dashboard_url().replace("/ui", path);
    let mut request = HttpRequest::get(url.parse().unwrap());
    request.method = Method::POST;
    request.accept = AcceptStatus::Any;
    let prober = Prober::new(ProberConfig::default()).unwrap();
    let (outcome, body) = prober.fetch_http(&request).await;
    (
        outcome.status.unwrap_or_default(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[test]
fn an_unknown_node_is_refused_at_start_and_through_the_fault_api() {
    serial(async {
        let refused = Lab::start(config(NODES, &["cut:node-9"])).await.err();
        assert_eq!(
            refused.map(|e| e.to_string()).as_deref(),
            Some("--fault \"cut:node-9\": no node \"node-9\"; the lab has node-1 to node-6")
        );
        let zero = LabConfig {
            check_interval: Duration::ZERO,
            ..config(NODES, &[])
        };
        assert_eq!(
            Lab::start(zero)
                .await
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("--check-interval 0s: must be greater than zero"),
            "named as the lab's own setting, not its DNS prober's -interval"
        );
        let lab = Lab::start(config(NODES, &[])).await.unwrap();
        let refused = lab.apply(&"kill:node-7".parse().unwrap()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "--fault \"kill:node-7\": no node \"node-7\"; the lab has node-1 to node-6"
        );
        for (path, answer) in [
            (
                "/lab/fault?spec=kill:node-7",
                "spec \"kill:node-7\": no node \"node-7\"; the lab has node-1 to node-6",
            ),
            (
                "/lab/clear?spec=delay:node-0:1s",
                "spec \"delay:node-0:1s\": no node \"node-0\"; the lab has node-1 to node-6",
            ),
            (
                "/lab/fault?spec=melt:node-1",
                "spec \"melt:node-1\": expected cut:NODE, delay:NODE:DURATION, cordon:NODE, \
                 kill:NODE, api-down, api-delay:DURATION, dns-down, dns-servfail or \
                 dns-delay:DURATION",
            ),
        ] {
            assert_eq!(post(&lab, path).await, (400, answer.to_string()), "{path}");
        }
        assert_eq!(lab.status().page.faults, Vec::<String>::new());
        assert_eq!(post(&lab, "/lab/fault?spec=cut:node-6").await.0, 204);
        assert_eq!(lab.status().page.faults, ["cut:node-6"]);
    });
}

#[test]
fn a_fault_on_every_node_is_allowed_and_the_summary_says_so() {
    serial(async {
        let nodes = 3;
        let cut: Vec<String> = (1..=nodes).map(|i| format!("cut:{}", node(i))).collect();
        let cut: Vec<&str> = cut.iter().map(String::as_str).collect();
        let lab = Lab::start(config(nodes, &cut)).await.unwrap();
        let note = "cut on every node (3 of 3): no nurse answers: every path, ingress and service check fails";
        assert_eq!(lab.live().notes(), [note]);
        let json = serde_json::to_value(lab.live()).unwrap();
        assert_eq!(json["notes"], serde_json::json!([note]), "{json:#}");
        assert_eq!(json["faults"], serde_json::json!(cut), "{json:#}");
        // Every check into a nurse fails; the API server and DNS checks do not.
        let mut rounds = lab.subscribe();
        let running: Vec<String> = (1..=nodes).map(node).collect();
        settle(&lab, &mut rounds, &running).await;
        let status = lab.status();
        let seen = seen(&status, Duration::MAX);
        let mut into_nurses: BTreeSet<Check> = running
            .iter()
            .flat_map(|n| {
                (1..=nodes)
                    .map(node)
                    .filter(move |to| to != n)
                    .map(move |to| (n.clone(), format!("path_{to}")))
            })
            .collect();
        for n in &running {
            into_nurses.insert((n.clone(), "me_ingress".into()));
            into_nurses.insert((n.clone(), "me_service".into()));
        }
        assert_eq!(
            seen.red.keys().cloned().collect::<BTreeSet<Check>>(),
            into_nurses,
            "{}",
            table(&status)
        );
        // No nurse answers in time; the ingress, once it has marked every
        // nurse, answers 502 at once ("no live upstreams") and forgets the marks.
        for ((node, check), class) in &seen.red {
            let classes: &[&str] = if check == "me_ingress" {
                &["timeout_first_byte", "http_status"]
            } else {
                &["timeout_first_byte"]
            };
            assert!(classes.contains(&class.as_str()), "{node} {check}: {class}");
        }
        // One note per kind on every node; one node short of every is no note.
        lab.clear(&"cut:node-2".parse().unwrap()).unwrap();
        assert_eq!(lab.live().notes(), Vec::<String>::new());
    });
}
