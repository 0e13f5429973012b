//! The ingress and the service with node-3 cut from the start (6 nodes,
//! service choices seeded, the ingress's fail_timeout shortened to 2 s so
//! that node-3 is tried again every few rounds): once the ingress has marked
//! node-3, no healthy node's `me_ingress` fails; every `me_service` failure
//! is a connection the service sent to node-3 and every such connection
//! fails, and each caller's share of them is that of a uniform random
//! choice, within a statistical bound.

use std::collections::BTreeMap;
use std::time::Duration;

use ward_lab::{IngressConfig, Lab, Routing};

use crate::support::{all_nodes, config, next_round, rounds_of, serial, LIMIT, NODES, TIMEOUT};

const CUT: &str = "node-3";
/// Rounds of every node after the ingress marked node-3.
const AFTER: usize = 12;

#[test]
fn with_a_node_cut_the_ingress_goes_around_it_and_the_service_fails_in_proportion() {
    serial(async {
        let routing = Routing {
            ingress: IngressConfig {
                fail_timeout: Duration::from_secs(2),
                ..IngressConfig::for_checks(TIMEOUT)
            },
            seed: Some(24),
        };
        let lab = Lab::start_with(config(NODES, &["cut:node-3"]), routing)
            .await
            .unwrap();
        let mut rounds = lab.subscribe();
        // Every round until the ingress has marked node-3, and each node's round then.
        let mut seen = Vec::new();
        let marked: BTreeMap<String, u64> = loop {
            seen.push(next_round(&mut rounds, LIMIT).await);
            let status = lab.status();
            if status.ingress_skips.iter().any(|n| n == CUT) {
                break status
                    .page
                    .nodes
                    .iter()
                    .map(|(n, s)| (n.clone(), s.round))
                    .collect();
            }
        };
        seen.extend(rounds_of(&mut rounds, &all_nodes(), AFTER).await);

        // The ingress: a round numbered r + 2 or more started after the mark.
        let (mut after, mut around, mut before_failed) = (0, 0, 0);
        for round in seen.iter().filter(|r| r.node != CUT) {
            let Some(cell) = round.status.checks.get("me_ingress") else {
                continue;
            };
            let via = round.via.get("me_ingress").cloned().unwrap_or_default();
            if round.status.round < marked.get(&round.node).copied().unwrap_or(0) + 2 {
                before_failed += usize::from(!cell.ok);
                continue;
            }
            after += 1;
            assert!(
                cell.ok,
                "{} round {}: me_ingress failed via {via:?} after node-3 was marked: {cell:?}",
                round.node, round.status.round
            );
            assert_ne!(via.last().map(String::as_str), Some(CUT), "{via:?}");
            around += usize::from(via.first().map(String::as_str) == Some(CUT));
        }
        eprintln!(
            "me_ingress: {before_failed} failed on healthy nodes before the mark; \
             {after} after it, none failed, {around} of them tried node-3 first (fail_timeout over) and moved on"
        );
        assert!(
            after >= (NODES - 1) * (AFTER - 1),
            "{after} rounds after the mark"
        );
        assert!(
            around >= 1,
            "node-3 tried again once its fail_timeout was over"
        );

        // The service: failures are exactly the connections sent to node-3.
        let mut per_caller: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for round in &seen {
            let Some(cell) = round.status.checks.get("me_service") else {
                continue;
            };
            let via = round.via.get("me_service").cloned().unwrap_or_default();
            assert_eq!(
                via.len(),
                1,
                "one endpoint per connection, no retry: {via:?}"
            );
            let to_cut = via[0] == CUT;
            assert_eq!(
                cell.ok, !to_cut,
                "{} round {}: me_service via {via:?}: {cell:?}",
                round.node, round.status.round
            );
            let c = per_caller.entry(round.node.as_str()).or_default();
            c.0 += 1;
            c.1 += u64::from(to_cut);
        }
        // Each connection goes to node-3 with p = 1/6: each caller's count of
        // them within 3 standard deviations of n·p (+1 for the discreteness),
        // and all callers' together within 3.
        let p = 1.0 / NODES as f64;
        let bound = |n: u64| 3.0 * (n as f64 * p * (1.0 - p)).sqrt();
        for (caller, (n, to_cut)) in &per_caller {
            let expected = *n as f64 * p;
            eprintln!("{caller}: {to_cut} of {n} service connections to node-3 (expected {expected:.1} ± {:.1})", bound(*n));
            assert!(
                (*to_cut as f64 - expected).abs() <= bound(*n) + 1.0,
                "{caller}: {to_cut} of {n}"
            );
        }
        let (n, to_cut) = per_caller
            .values()
            .fold((0, 0), |(a, b), (n, c)| (a + n, b + c));
        eprintln!(
            "all: {to_cut} of {n} to node-3 (expected {:.1} ± {:.1})",
            n as f64 * p,
            bound(n)
        );
        assert_eq!(per_caller.len(), NODES, "every node checks the service");
        assert!(
            (to_cut as f64 - n as f64 * p).abs() <= bound(n),
            "{to_cut} of {n}"
        );
    });
}
