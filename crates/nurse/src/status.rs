//! The status API behind the dashboard: what one nurse saw in its last round
//! (every check with latency, error class and message, whom it checks) and
//! the ring (every node with its SHA-256 position). The same [`StatusPage`]
//! shape serves one nurse (`/status`) and the lab (all nodes at once).

use std::collections::BTreeMap;

use serde::Serialize;
use ward_probe::Outcome;

use crate::ring;
use crate::round::RoundResult;

/// A check that passed but took this long or longer is slow (the
/// dashboard's `!`, the lab's slow paths and checks).
pub const SLOW: std::time::Duration = std::time::Duration::from_millis(100);

/// One check result, as the matrix and the status API show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cell {
    /// The check passed.
    pub ok: bool,
    /// HTTP status, when one was received.
    pub status: Option<u16>,
    /// Total time of the check.
    pub seconds: f64,
    /// Error class (stable, low cardinality), when it failed.
    pub class: Option<&'static str>,
    /// Error message, when it failed.
    pub error: Option<String>,
}

impl Cell {
    /// It passed, in [`SLOW`] or more.
    pub fn slow(&self) -> bool {
        self.ok && self.seconds >= SLOW.as_secs_f64()
    }
}

impl From<&Outcome> for Cell {
    fn from(o: &Outcome) -> Self {
        Self {
            ok: o.success,
            status: o.status,
            seconds: o.total.as_secs_f64(),
            class: o.error.as_ref().map(|e| e.class.as_str()),
            error: o.error.as_ref().map(|e| e.message.clone()),
        }
    }
}

/// One node on the ring.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RingEntry {
    /// Node name.
    pub node: String,
    /// Ring position, 16 hex digits.
    pub position: String,
}

/// What one nurse saw in its last completed round.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeStatus {
    /// The nurse's pod.
    pub pod: String,
    /// Rounds completed so far.
    pub round: u64,
    /// Unix time (ms) when the round finished.
    pub at_ms: u64,
    /// The nodes it checks, nearest first.
    pub selected: Vec<String>,
    /// Every check that ran or was skipped: `path_<node>`, `api_server_direct`, …
    pub checks: BTreeMap<String, Cell>,
    /// Checks that did not run and why (`skipped`, or an error before the check).
    pub not_run: BTreeMap<String, String>,
    /// `ok`, `skipped`, or the discovery error.
    pub neighbourhood_state: String,
}

/// The body of `/status`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusPage {
    /// `nurse` or `lab`.
    pub source: &'static str,
    /// Time between rounds.
    pub interval_seconds: f64,
    /// Neighbours per node (`<= 0`: all).
    pub neighbour_limit: i64,
    /// Every known node, in ring order.
    pub ring: Vec<RingEntry>,
    /// The last round of each node reported.
    pub nodes: BTreeMap<String, NodeStatus>,
    /// Active faults (lab only).
    pub faults: Vec<String>,
    /// Lab only: whether the simulated API server is up.
    pub api_server_up: Option<bool>,
}

/// The ring entries of `nodes`, in ring order.
pub fn ring_entries<'a>(nodes: impl IntoIterator<Item = &'a String>) -> Vec<RingEntry> {
    let mut entries: Vec<RingEntry> = nodes
        .into_iter()
        .map(|n| RingEntry {
            node: n.clone(),
            position: format!("{:016x}", ring::position(n)),
        })
        .collect();
    entries.sort_by(|a, b| a.position.cmp(&b.position).then(a.node.cmp(&b.node)));
    entries.dedup();
    entries
}

impl NodeStatus {
    /// The status of a finished round.
    pub fn from_round(
        pod: &str,
        round: u64,
        at_ms: u64,
        result: &RoundResult,
    ) -> (Option<String>, Self) {
        let (node, selected) = match &result.ring {
            Some((node, selected)) => (
                Some(node.clone()).filter(|n| !n.is_empty()),
                selected.iter().map(|n| n.node_name.clone()).collect(),
            ),
            None => (None, Vec::new()),
        };
        let checks = result
            .outcomes
            .iter()
            .map(|(k, o)| (k.clone(), Cell::from(o)))
            .collect();
        let not_run = result
            .checks
            .iter()
            .filter(|(k, _)| !result.outcomes.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (
            node,
            Self {
                pod: pod.to_string(),
                round,
                at_ms,
                selected,
                checks,
                not_run,
                neighbourhood_state: result.neighbourhood_state.clone(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_entries_are_in_ring_order() {
        let nodes: Vec<String> = (1..=6).map(|i| format!("node-{i}")).collect();
        let order: Vec<String> = ring_entries(&nodes).into_iter().map(|e| e.node).collect();
        assert_eq!(
            order,
            ["node-2", "node-1", "node-6", "node-4", "node-3", "node-5"]
        );
        assert_eq!(ring_entries(&nodes)[0].position, "1779f59f4df251f6");
    }

    #[test]
    fn a_round_becomes_a_node_status() {
        let mut result = RoundResult::default();
        result.checks.insert("me_ingress".into(), "skipped".into());
        result.neighbourhood_state = "ok".into();
        result.ring = Some(("node-1".into(), Vec::new()));
        let (node, status) = NodeStatus::from_round("pod-1", 3, 7, &result);
        assert_eq!(node.as_deref(), Some("node-1"));
        assert_eq!(
            status.not_run.get("me_ingress").map(String::as_str),
            Some("skipped")
        );
        assert_eq!(status.round, 3);
    }
}
