//! Shared by the lab's tests: a 6-node lab (k = 3, 500 ms rounds, 1 s check
//! timeout) run one at a time on a runtime of its own, waiting for rounds
//! (from the lab's round stream) and DNS rounds, and reading every node's
//! checks as red or slow.

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

/// Waits until every `running` node has done `n` more rounds and the DNS
/// probers `n` more rounds after the one in flight.
async fn after_rounds(lab: &Lab, rounds: &mut Receiver<Round>, running: &[String], n: usize) {
    // 2 names per running node and DNS round.
    let want = lookups(lab) + (n as u64 + 1) * 2 * running.len() as u64;
    rounds_of(rounds, running, n).await;
    let deadline = Instant::now() + LIMIT;
    while lookups(lab) < want {
        assert!(Instant::now() < deadline, "no DNS rounds within {LIMIT:?}");
        // Polled: the DNS probers publish no stream.
        tokio::time::sleep(INTERVAL / 10).await;
    }
}

/// Waits until every `running` node has done two rounds and two DNS rounds
/// that started after this call: what they show then is what the lab is now.
pub(crate) async fn settle(lab: &Lab, rounds: &mut Receiver<Round>, running: &[String]) {
    // Round r + 1 may have started before now; r + 2 did not.
    after_rounds(lab, rounds, running, 2).await;
}

/// `n` statuses of the lab, each after one more round of every `running`
/// node and of the DNS probers.
pub(crate) async fn samples(
    lab: &Lab,
    rounds: &mut Receiver<Round>,
    running: &[String],
    n: usize,
) -> Vec<LabStatus> {
    let mut samples = Vec::new();
    for _ in 0..n {
        after_rounds(lab, rounds, running, 1).await;
        samples.push(lab.status());
    }
    samples
}

/// Asserts that in every sample nothing failed and the checks `delayed`
/// names took `delay` or longer, and that every other check was faster
/// than `delay` in at least one sample where it was not delayed: a busy
/// machine may stall any one round, not the same check in each.
pub(crate) fn assert_delayed(
    samples: &[LabStatus],
    delay: Duration,
    delayed: impl Fn(&LabStatus) -> BTreeSet<Check>,
) {
    let mut fastest: BTreeMap<Check, f64> = BTreeMap::new();
    for status in samples {
        let seen = seen(status, delay);
        assert_eq!(seen.red, BTreeMap::new(), "{}", table(status));
        let delayed = delayed(status);
        for check in &delayed {
            assert!(
                seen.slow.contains(check),
                "{check:?} delayed: {}",
                table(status)
            );
        }
        for (node, s) in &status.page.nodes {
            for (check, cell) in &s.checks {
                let key = (node.clone(), check.clone());
                if !delayed.contains(&key) {
                    let f = fastest.entry(key).or_insert(f64::MAX);
                    *f = f.min(cell.seconds);
                }
            }
        }
    }
    let slow: BTreeMap<&Check, &f64> = fastest
        .iter()
        .filter(|(_, s)| **s >= delay.as_secs_f64())
        .collect();
    assert_eq!(
        slow,
        BTreeMap::new(),
        "slow although not delayed (fastest seconds)"
    );
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
            }
        }
    }
    seen
}

/// Every node's last checks, one line per node (`check ✓ms`, `check ✗class`,
/// with ` via a,b` for the ingress and service checks), for failure messages.
pub(crate) fn table(status: &LabStatus) -> String {
    let mut out = String::new();
    for (node, s) in &status.page.nodes {
        out.push_str(&format!("\n{node} (round {}):", s.round));
        for (check, cell) in &s.checks {
            let result = if cell.ok {
                format!("✓{:.0}ms", cell.seconds * 1000.0)
            } else {
                format!("✗{}", cell.class.unwrap_or("error"))
            };
            let via = status
                .via
                .get(node)
                .and_then(|v| v.get(check))
                .map(|v| format!(" via {}", v.join(",")))
                .unwrap_or_default();
            out.push_str(&format!(" {check} {result}{via};"));
        }
    }
    out
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
