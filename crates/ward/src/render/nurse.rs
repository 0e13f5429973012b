//! `ward nurse ring`'s output: the node with its ring position, the nodes it
//! checks and the nodes that check it; or the same as JSON.

use std::io::{self, Write};

use ward_nurse::ring::RingReport;

use crate::render::{self, Format};

/// Writes who checks whom around one node.
pub(crate) fn write_ring(r: &RingReport, format: Format, out: &mut impl Write) -> io::Result<()> {
    if format == Format::Json {
        return render::json(r, out);
    }
    writeln!(out, "{} (ring position {:016x})", r.node, r.position)?;
    writeln!(
        out,
        "checks ({}):     {}",
        r.checks.len(),
        r.checks.join(" ")
    )?;
    writeln!(
        out,
        "checked by ({}): {}",
        r.checked_by.len(),
        r.checked_by.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_in_three_lines_or_json() {
        let r = RingReport {
            node: "node-a".into(),
            position: 0xab,
            checks: vec!["node-b".into(), "node-c".into()],
            checked_by: vec!["node-c".into()],
        };
        let mut out = Vec::new();
        write_ring(&r, Format::Text, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "node-a (ring position 00000000000000ab)\n\
             checks (2):     node-b node-c\n\
             checked by (1): node-c\n"
        );
        let mut out = Vec::new();
        write_ring(&r, Format::Json, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"node": "node-a", "checks": ["node-b", "node-c"], "checked_by": ["node-c"]})
        );
    }
}
