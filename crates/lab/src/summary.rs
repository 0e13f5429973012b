//! What the lab saw: each check's counts over the run ([`Tally`]), the
//! summary the binary renders ([`Summary`], live and at the end, with notes
//! on what its figures alone do not say), and the dashboard's lab-wide
//! `/status` ([`LabStatus`]) and `/check_all`, built from every nurse's last
//! round.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Serialize, Serializer};
use serde_json::json;
use ward_nurse::status::{Cell, StatusPage};

use crate::cluster::node_name;
use crate::{lock, Fault, Inner, DNS_CHECK_PREFIX};

/// Counts of one check (a path `from → to`, or a node's own check) over the run.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tally {
    /// Passed.
    pub ok: u64,
    /// Failed.
    pub failed: u64,
    /// Error class of the last failure.
    pub last_class: Option<String>,
    /// Message of the last failure.
    pub last_error: Option<String>,
    /// Whether the last result failed.
    pub failing_now: bool,
    /// Passed, but slow (`ward_nurse::status::SLOW`, 100 ms, or more).
    pub slow: u64,
    /// Whether the last result was slow.
    pub slow_now: bool,
    /// Time of the last result, in seconds.
    pub last_seconds: f64,
}

impl Tally {
    /// Counts one result.
    pub(crate) fn count(&mut self, cell: &Cell) {
        self.failing_now = !cell.ok;
        self.slow_now = cell.slow();
        self.slow += u64::from(self.slow_now);
        self.last_seconds = cell.seconds;
        if cell.ok {
            self.ok += 1;
        } else {
            self.failed += 1;
            self.last_class = cell.class.map(String::from);
            self.last_error = cell.error.clone();
        }
    }
}

/// A check that failed (or, in the slow lists, was slow) at least once.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failing {
    /// The checking node.
    pub from: String,
    /// The checked node (for paths) or the check's name.
    pub to: String,
    /// Counts.
    #[serde(flatten)]
    pub tally: Tally,
}

/// One DNS check (a name the lab's lookup probers resolve), over all nodes.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DnsCheck {
    /// The check, `dns:NAME`.
    pub check: String,
    /// Lookups that resolved.
    pub ok: u64,
    /// Lookups that failed.
    pub failed: u64,
    /// Nodes whose last lookup failed.
    pub nodes_failing_now: usize,
}

/// What the lab saw, for the live line and the final summary. As JSON it
/// also carries its [`Summary::notes`] (`"notes"`, after the fields).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(remote = "Self")]
pub struct Summary {
    /// Nodes.
    pub nodes: usize,
    /// Time since the start.
    pub elapsed_seconds: f64,
    /// Rounds completed by all nurses together.
    pub rounds: u64,
    /// Path checks run.
    pub path_checks: u64,
    /// Path checks failed.
    pub path_failures: u64,
    /// Path checks that passed slowly (100 ms or more).
    pub path_slow: u64,
    /// Distinct paths checked in the latest rounds (n × k when all is well).
    pub paths_now: usize,
    /// Paths failing in the latest rounds.
    pub paths_failing_now: usize,
    /// Paths slow in the latest rounds.
    pub paths_slow_now: usize,
    /// Paths that failed at least once.
    pub failing_paths: Vec<Failing>,
    /// Other checks (API server, ingress, service, DNS) that failed at least once.
    pub failing_checks: Vec<Failing>,
    /// Paths that were slow at least once (a delay shows here, not as a failure).
    pub slow_paths: Vec<Failing>,
    /// Other checks that were slow at least once.
    pub slow_checks: Vec<Failing>,
    /// The DNS checks run (every node's lookup prober resolves each name).
    pub dns_checks: Vec<DnsCheck>,
    /// Faults active now.
    pub faults: Vec<String>,
    /// Faults applied during the run.
    pub faults_applied: Vec<String>,
    /// Requests the simulated API server received so far (the nurses' lists
    /// and watches and their API server checks): grows at a steady rate when
    /// nothing leaks.
    pub api_requests: u64,
}

impl Summary {
    /// What the figures alone do not say: a fault of one kind active on
    /// every node at once (allowed; e.g. "cut on every node (6 of 6): …"),
    /// and what that leaves.
    pub fn notes(&self) -> Vec<String> {
        let mut by_kind: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for fault in self.faults.iter().filter_map(|f| f.parse::<Fault>().ok()) {
            if let Some(node) = fault.node() {
                let nodes = by_kind.entry(fault.kind()).or_default();
                nodes.insert(node.to_string());
            }
        }
        let every: BTreeSet<String> = (0..self.nodes).map(node_name).collect();
        by_kind
            .into_iter()
            .filter(|(_, nodes)| *nodes == every)
            .map(|(kind, _)| {
                let leaves = match kind {
                    "cut" => "no nurse answers: every path, ingress and service check fails",
                    "delay" => {
                        "every nurse answers late: every path, ingress and service check is slow"
                    }
                    "cordon" => "no node is schedulable: the nurses check no neighbours",
                    _ => "no nurse runs: no node checks anything",
                };
                format!(
                    "{kind} on every node ({n} of {n}): {leaves}",
                    n = self.nodes
                )
            })
            .collect()
    }
}

impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The derived fields of a summary.
        struct Fields<'a>(&'a Summary);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                Summary::serialize(self.0, serializer)
            }
        }
        #[derive(Serialize)]
        struct WithNotes<'a> {
            #[serde(flatten)]
            fields: Fields<'a>,
            notes: Vec<String>,
        }
        WithNotes {
            fields: Fields(self),
            notes: self.notes(),
        }
        .serialize(serializer)
    }
}

/// The lab's `/status`: every node's last round and DNS checks (the
/// dashboard's [`StatusPage`]), with where the ingress and service checks went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabStatus {
    /// Every node's last round, its DNS checks among its checks.
    #[serde(flatten)]
    pub page: StatusPage,
    /// Per node, per check (`me_ingress`, `me_service`): the nurses its last
    /// request went to, in order; the last one answered, or did not.
    pub via: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The nurses the ingress skips now (each failed within its fail_timeout).
    pub ingress_skips: Vec<String>,
}

impl Inner {
    pub(crate) fn summary(&self) -> Summary {
        let state = lock(&self.state);
        let mut s = Summary {
            nodes: self.config.nodes,
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
            rounds: state.rounds,
            path_checks: 0,
            path_failures: 0,
            path_slow: 0,
            paths_now: 0,
            paths_failing_now: 0,
            paths_slow_now: 0,
            failing_paths: Vec::new(),
            failing_checks: Vec::new(),
            slow_paths: Vec::new(),
            slow_checks: Vec::new(),
            dns_checks: Vec::new(),
            faults: state.active.iter().map(|f| f.to_string()).collect(),
            faults_applied: state.applied.clone(),
            api_requests: self.sim.requests(),
        };
        for status in state.statuses.values() {
            for (k, c) in &status.checks {
                if k.starts_with("path_") {
                    s.paths_now += 1;
                    s.paths_failing_now += usize::from(!c.ok);
                    s.paths_slow_now += usize::from(c.slow());
                }
            }
        }
        let mut dns: BTreeMap<&str, DnsCheck> = BTreeMap::new();
        for ((from, to), t) in &state.tallies {
            if let Some(check) = to
                .strip_prefix('#')
                .filter(|c| c.starts_with(DNS_CHECK_PREFIX))
            {
                let d = dns.entry(check).or_insert_with(|| DnsCheck {
                    check: check.to_string(),
                    ok: 0,
                    failed: 0,
                    nodes_failing_now: 0,
                });
                d.ok += t.ok;
                d.failed += t.failed;
                d.nodes_failing_now += usize::from(t.failing_now);
            }
            let is_path = !to.starts_with('#');
            if is_path {
                s.path_checks += t.ok + t.failed;
                s.path_failures += t.failed;
                s.path_slow += t.slow;
            }
            let listed = || Failing {
                from: from.clone(),
                to: to.trim_start_matches('#').to_string(),
                tally: t.clone(),
            };
            let (failing, slow) = if is_path {
                (&mut s.failing_paths, &mut s.slow_paths)
            } else {
                (&mut s.failing_checks, &mut s.slow_checks)
            };
            if t.failed > 0 {
                failing.push(listed());
            }
            if t.slow > 0 {
                slow.push(listed());
            }
        }
        s.dns_checks = dns.into_values().collect();
        s
    }

    pub(crate) fn status_page(&self) -> LabStatus {
        let state = lock(&self.state);
        let names: Vec<String> = lock(&self.nodes).iter().map(|n| n.name.clone()).collect();
        let page = StatusPage {
            source: "lab",
            interval_seconds: self.config.check_interval.as_secs_f64(),
            neighbour_limit: self.config.neighbour_limit,
            ring: ward_nurse::status::ring_entries(&names),
            nodes: state
                .statuses
                .iter()
                .map(|(k, v)| {
                    let mut status = (**v).clone();
                    if let Some(dns) = state.dns.get(k) {
                        status
                            .checks
                            .extend(dns.iter().map(|(c, cell)| (c.clone(), cell.clone())));
                    }
                    (k.clone(), status)
                })
                .collect(),
            faults: state.active.iter().map(|f| f.to_string()).collect(),
            api_server_up: Some(self.sim.is_available()),
        };
        LabStatus {
            page,
            via: state.via.clone(),
            ingress_skips: self.router.ingress_skips(),
        }
    }

    pub(crate) fn check_all(&self) -> serde_json::Value {
        let state = lock(&self.state);
        let mut nodes = serde_json::Map::new();
        let killed: HashMap<String, bool> = lock(&self.nodes)
            .iter()
            .map(|n| (n.name.clone(), n.lifecycle.is_none()))
            .collect();
        for (name, dead) in &killed {
            if *dead {
                nodes.insert(name.clone(), json!({"error": "agent killed (lab fault)"}));
            }
        }
        for (node, status) in &state.statuses {
            let checks: serde_json::Map<String, serde_json::Value> = status
                .checks
                .iter()
                .filter_map(|(k, c)| {
                    Some((
                        k.strip_prefix("path_")?.to_string(),
                        serde_json::to_value(c).ok()?,
                    ))
                })
                .collect();
            nodes.insert(node.clone(), json!({"node": node, "checks": checks}));
        }
        json!({ "nodes": nodes })
    }
}
