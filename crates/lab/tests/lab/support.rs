//! Shared by the lab's tests: a 6-node lab (k = 3, 500 ms rounds, 1 s check
//! timeout) run one at a time on a runtime of its own, waiting for rounds
//! (from the lab's round stream) and DNS rounds, and reading every node's
//! checks as red, slow or fine.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::time::Instant;
use ward_lab::{Fault, Lab, LabConfig, LabStatus, Round};

pub(crate) const NODES: usize = 6;
pub(crate) const K: usize = 3;
pub(crate) const INTERVAL: Duration = Duration::from_millis(500);
pub(crate) const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a test waits for what should take a few rounds.
pub(crate) const LIMIT: Duration = Duration::from_secs(30);

/// `node-i`, 1-based.
pub(crate) fn node(i: usize) -> String {
    format!("node-{i}")
}

/// A lab of `nodes` nodes (k = 3, 500 ms rounds, 1 s check timeout) with `faults` from the start.
pub(crate) fn config(nodes: usize, faults: &[&str]) -> LabConfig {
    LabConfig {
        nodes,
        nurse_port: 0,
        listen: "127.0.0.1:0".parse().unwrap(),
        check_interval: INTERVAL,
        check_timeout: TIMEOUT,
        neighbour_limit: K as i64,
        faults: faults.iter().map(|f| f.parse::<Fault>().unwrap()).collect(),
    }
}

/// Runs `test` on a runtime of its own (2 workers, as `ward lab` has), one
/// test at a time: each starts a lab, and they share 2 cores.
pub(crate) fn serial(test: impl Future<Output = ()>) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(test);
}

/// The next round from `rounds`, panicking after `limit` or when rounds were lost.
pub(crate) async fn next_round(rounds: &mut Receiver<Round>, limit: Duration) -> Round {
    match tokio::time::timeout(limit, rounds.recv()).await {
        Ok(Ok(round)) => round,
        Ok(Err(RecvError::Lagged(n))) => panic!("{n} rounds lost: the test fell behind"),
        Ok(Err(RecvError::Closed)) => panic!("the lab stopped"),
        Err(_) => panic!("no round within {limit:?}"),
    }
}

/// Waits until each of `nodes` has recorded `n` rounds more, and returns every round seen meanwhile.
pub(crate) async fn rounds_of(
    rounds: &mut Receiver<Round>,
    nodes: &[String],
    n: usize,
) -> Vec<Round> {
    let mut seen = Vec::new();
    let mut count: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.as_str(), 0)).collect();
    while count.values().any(|c| *c < n) {
        let round = next_round(rounds, LIMIT).await;
        if let Some(c) = count.get_mut(round.node.as_str()) {
            *c += 1;
        }
        seen.push(round);
    }
    seen
}

/// DNS lookups made so far, over every node and name.
fn lookups(lab: &Lab) -> u64 {
    lab.live().dns_checks.iter().map(|d| d.ok + d.failed).sum()
}

/// Waits until every `running` node has done two rounds and two DNS rounds
/// that started after this call: what they show then is what the lab is now.
pub(crate) async fn settle(lab: &Lab, rounds: &mut Receiver<Round>, running: &[String]) {
    // Two DNS rounds of 2 names per running node after the one in flight.
    let want = lookups(lab) + 3 * 2 * running.len() as u64;
    // Round r + 1 may have started before now; r + 2 did not.
    rounds_of(rounds, running, 2).await;
    let deadline = Instant::now() + LIMIT;
    while lookups(lab) < want {
        assert!(Instant::now() < deadline, "no DNS rounds within {LIMIT:?}");
        // Polled: the DNS probers publish no stream.
        tokio::time::sleep(INTERVAL / 10).await;
    }
}

/// One check of one node: `(node, check)`.
pub(crate) type Check = (String, String);

/// Every node's last checks as `/status` shows them, sorted by what they show.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Failed, with their error class.
    pub(crate) red: BTreeMap<Check, String>,
    /// Passed, but took `slow` or longer.
    pub(crate) slow: BTreeSet<Check>,
    /// Passed in less than `slow`.
    pub(crate) fine: BTreeSet<Check>,
}

/// Sorts the checks of every node in `status`; `slow` is the latency from which a passed check counts as slow.
pub(crate) fn seen(status: &LabStatus, slow: Duration) -> Seen {
    let mut seen = Seen::default();
    for (node, s) in &status.page.nodes {
        for (check, cell) in &s.checks {
            let key = (node.clone(), check.clone());
            if !cell.ok {
                seen.red
                    .insert(key, cell.class.unwrap_or("error").to_string());
            } else if cell.seconds >= slow.as_secs_f64() {
                seen.slow.insert(key);
            } else {
                seen.fine.insert(key);
            }
        }
    }
    seen
}

/// The checks of every node's last round that went to `to`: the paths into it, and the
/// ingress and service checks whose request it answered (the last backend), or that
/// it was tried for (`tried`).
pub(crate) fn into(status: &LabStatus, to: &str, tried: bool) -> BTreeSet<Check> {
    let mut checks = BTreeSet::new();
    for (node, s) in &status.page.nodes {
        let path = format!("path_{to}");
        if s.checks.contains_key(&path) {
            checks.insert((node.clone(), path));
        }
        for (check, via) in status.via.get(node).into_iter().flatten() {
            let went = if tried {
                via.iter().any(|b| b == to)
            } else {
                via.last().is_some_and(|b| b == to)
            };
            if went {
                checks.insert((node.clone(), check.clone()));
            }
        }
    }
    checks
}

/// `checks` with every check's node and name, as the red ones are keyed.
pub(crate) fn with_class(checks: &BTreeSet<Check>, class: &str) -> BTreeMap<Check, String> {
    checks
        .iter()
        .map(|c| (c.clone(), class.to_string()))
        .collect()
}

/// Every node of a 6-node lab.
pub(crate) fn all_nodes() -> Vec<String> {
    (1..=NODES).map(node).collect()
}

/// A clean 6-node lab, subscribed to, its every node done with two rounds
/// and two DNS rounds, none of them failed.
pub(crate) async fn started() -> (Lab, Receiver<Round>) {
    let lab = Lab::start(config(NODES, &[])).await.unwrap();
    let mut rounds = lab.subscribe();
    settle(&lab, &mut rounds, &all_nodes()).await;
    let clean = seen(&lab.status(), Duration::MAX);
    assert_eq!(clean.red, BTreeMap::new(), "a clean lab");
    (lab, rounds)
}
