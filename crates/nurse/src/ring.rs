//! The neighbour ring: node names hashed onto a 64-bit ring (first 8 bytes of
//! SHA-256, big-endian); each node checks the `k` nodes that follow it
//! clockwise (smallest wrapping distance). Every node is therefore checked by
//! exactly its `k` predecessors, and a node leaving moves only `k` checks.

use sha2::{Digest, Sha256};

/// Position of a node name on the ring: the first 8 bytes of SHA-256, big-endian.
pub fn position(node: &str) -> u64 {
    let digest = Sha256::digest(node.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Clockwise distance from `from` to `to` on the ring (wrapping subtraction).
pub fn distance(from: u64, to: u64) -> u64 {
    to.wrapping_sub(from)
}

/// The nodes `node` checks: the `limit` nearest clockwise among `nodes` (itself
/// excluded), nearest first. `limit <= 0` means all of them. Ties (equal
/// positions) are broken by name, so the result is deterministic.
pub fn checks<'a>(node: &str, nodes: &'a [String], limit: i64) -> Vec<&'a str> {
    let placed = nodes.iter().map(|n| (position(n), n.as_str()));
    nearest(position(node), node, placed, limit)
}

/// The ring selection from positions already known: the `limit` entries of
/// `placed` nearest clockwise from `from` (the entry named `me` excluded,
/// duplicates of a name counted once), nearest first; `limit <= 0` means all.
pub fn nearest<'a>(
    from: u64,
    me: &str,
    placed: impl Iterator<Item = (u64, &'a str)>,
    limit: i64,
) -> Vec<&'a str> {
    let mut others: Vec<(u64, &str)> = placed
        .filter(|(_, n)| *n != me)
        .map(|(at, n)| (distance(from, at), n))
        .collect();
    others.sort_unstable();
    others.dedup_by(|a, b| a.1 == b.1);
    let keep = if limit <= 0 {
        others.len()
    } else {
        usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(others.len())
    };
    others.into_iter().take(keep).map(|(_, n)| n).collect()
}

/// The nodes that check `node`: those whose selection contains it, nearest predecessor first.
pub fn checked_by<'a>(node: &str, nodes: &'a [String], limit: i64) -> Vec<&'a str> {
    let me = position(node);
    let mut by: Vec<(u64, &str)> = nodes
        .iter()
        .filter(|n| n.as_str() != node && checks(n, nodes, limit).contains(&node))
        .map(|n| (distance(position(n), me), n.as_str()))
        .collect();
    by.sort_unstable();
    by.into_iter().map(|(_, n)| n).collect()
}

/// Who checks whom around one node: what `ward nurse ring` shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RingReport {
    /// The node shown.
    pub node: String,
    /// Its position on the ring.
    #[serde(skip)]
    pub position: u64,
    /// The nodes it checks, nearest first.
    pub checks: Vec<String>,
    /// The nodes that check it.
    pub checked_by: Vec<String>,
}

/// Why a ring cannot be shown.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{node:?}: not among the {nodes} nodes")]
pub struct UnknownNode {
    /// The node asked for.
    pub node: String,
    /// How many nodes there are.
    pub nodes: usize,
}

/// The ring around `node` among `nodes` with `limit` neighbours per node (0: all).
pub fn report(node: &str, mut nodes: Vec<String>, limit: i64) -> Result<RingReport, UnknownNode> {
    if !nodes.iter().any(|n| n == node) {
        return Err(UnknownNode {
            node: node.to_string(),
            nodes: nodes.len(),
        });
    }
    nodes.sort();
    let owned = |v: Vec<&str>| v.into_iter().map(String::from).collect();
    Ok(RingReport {
        node: node.to_string(),
        position: position(node),
        checks: owned(checks(node, &nodes, limit)),
        checked_by: owned(checked_by(node, &nodes, limit)),
    })
}

/// Node names from a file's text: one per line, blank lines and `#` comments skipped.
pub fn node_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn six() -> Vec<String> {
        (1..=6).map(|i| format!("node-{i}")).collect()
    }

    #[test]
    fn positions_match_the_reference_vectors() {
        assert_eq!(position(""), 0xe3b0c44298fc1c14);
        let want = [
            0x35971be6e9bb024a,
            0x1779f59f4df251f6,
            0xa84cfe8a8631a26c,
            0x9bc63dae6e565eb2,
            0xaac5cbd0a0796f9e,
            0x6b8cc1547544e44f,
        ];
        for (i, w) in want.iter().enumerate() {
            assert_eq!(position(&format!("node-{}", i + 1)), *w, "node-{}", i + 1);
        }
    }

    #[test]
    fn selections_match_the_reference_vectors() {
        let nodes = six();
        let want: [(&str, [&str; 3]); 6] = [
            ("node-1", ["node-6", "node-4", "node-3"]),
            ("node-2", ["node-1", "node-6", "node-4"]),
            ("node-3", ["node-5", "node-2", "node-1"]),
            ("node-4", ["node-3", "node-5", "node-2"]),
            ("node-5", ["node-2", "node-1", "node-6"]),
            ("node-6", ["node-4", "node-3", "node-5"]),
        ];
        for (node, expected) in want {
            assert_eq!(checks(node, &nodes, 3), expected, "{node}");
            assert_eq!(checked_by(node, &nodes, 3).len(), 3, "incoming of {node}");
        }
        assert_eq!(
            checked_by("node-1", &nodes, 3),
            ["node-2", "node-5", "node-3"]
        );
    }

    #[test]
    fn every_node_is_checked_exactly_k_times_at_scale() {
        let nodes: Vec<String> = (0..1000).map(|i| format!("worker-{i}")).collect();
        let mut incoming = std::collections::HashMap::new();
        for n in &nodes {
            let picked = checks(n, &nodes, 10);
            assert_eq!(picked.len(), 10);
            for p in picked {
                *incoming.entry(p).or_insert(0) += 1;
            }
        }
        assert!(incoming.values().all(|v| *v == 10));
        assert_eq!(incoming.len(), 1000);
    }

    #[test]
    fn limit_zero_or_small_clusters_check_everyone_else() {
        let nodes = six();
        assert_eq!(checks("node-1", &nodes, 0).len(), 5);
        assert_eq!(checks("node-1", &nodes, -1).len(), 5);
        assert_eq!(checks("node-1", &nodes, 10).len(), 5);
        assert_eq!(checks("node-1", &nodes[..1], 10), Vec::<&str>::new());
    }

    #[test]
    fn a_report_names_who_checks_whom_and_refuses_unknown_nodes() {
        let nodes = node_list("# nodes\nnode-c\n\n  node-a  \nnode-b\n");
        assert_eq!(nodes, ["node-c", "node-a", "node-b"]);
        let r = report("node-a", nodes.clone(), 0).unwrap();
        assert_eq!(r.checks.len(), 2);
        assert_eq!(r.checked_by.len(), 2);
        assert_eq!(r.position, position("node-a"));
        assert_eq!(
            report("node-x", nodes, 1).unwrap_err().to_string(),
            "\"node-x\": not among the 3 nodes"
        );
    }
}
