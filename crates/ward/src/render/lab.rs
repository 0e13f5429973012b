//! `ward lab`'s output: the live line on stderr every check interval, and
//! the summary at the end (failing paths and checks, DNS checks, faults) as
//! text or JSON.

use std::io::{self, Write};

use ward_lab::Summary;

use crate::render::{self, Format, Table};

/// Writes the lab's summary.
pub(crate) fn write(s: &Summary, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(s, out),
        Format::Text => summary_text(s, out),
    }
}

/// Writes the live line: elapsed time, rounds, paths ok, what is failing now.
pub(crate) fn write_live(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", live_line(s))
}

fn live_line(s: &Summary) -> String {
    let mut line = format!(
        "{:>6.1}s  rounds {:>5}  paths {}/{} ok",
        s.elapsed_seconds,
        s.rounds,
        s.paths_now - s.paths_failing_now,
        s.paths_now
    );
    let failing: Vec<String> = s
        .failing_paths
        .iter()
        .filter(|f| f.tally.failing_now)
        .map(|f| {
            format!(
                "{}→{} ({})",
                f.from,
                f.to,
                f.tally.last_class.as_deref().unwrap_or("error")
            )
        })
        .collect();
    if !failing.is_empty() {
        line.push_str(&format!("  failing: {}", failing.join(", ")));
    }
    // Other checks (API server, ingress, service, DNS): per check, on how many nodes.
    let mut checks: std::collections::BTreeMap<&str, (usize, &str)> = Default::default();
    for f in s.failing_checks.iter().filter(|f| f.tally.failing_now) {
        let e = checks.entry(&f.to).or_insert((0, "error"));
        e.0 += 1;
        e.1 = f.tally.last_class.as_deref().unwrap_or("error");
    }
    if !checks.is_empty() {
        let list: Vec<String> = checks
            .iter()
            .map(|(check, (nodes, class))| format!("{check} ({class}) on {nodes} nodes"))
            .collect();
        line.push_str(&format!("  checks failing: {}", list.join(", ")));
    }
    if !s.faults.is_empty() {
        line.push_str(&format!("  faults: {}", s.faults.join(" ")));
    }
    line
}
fn summary_text(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "ward lab summary: {} nodes, {:.1}s, {} rounds, {} path checks, {} failed",
        s.nodes, s.elapsed_seconds, s.rounds, s.path_checks, s.path_failures
    )?;
    if !s.faults_applied.is_empty() {
        writeln!(out, "faults applied: {}", s.faults_applied.join(" "))?;
    }
    if !s.dns_checks.is_empty() {
        let list: Vec<String> = s
            .dns_checks
            .iter()
            .map(|d| format!("{} {} ok, {} failed", d.check, d.ok, d.failed))
            .collect();
        writeln!(out, "dns checks: {}", list.join("; "))?;
    }
    if s.failing_paths.is_empty() {
        writeln!(out, "failing paths: none")?;
    } else {
        writeln!(out, "failing paths:")?;
        failing_table(["from", "to"], &s.failing_paths, out)?;
    }
    if !s.failing_checks.is_empty() {
        writeln!(out, "failing checks:")?;
        failing_table(["node", "check"], &s.failing_checks, out)?;
    }
    for note in s.notes() {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}
/// The table of failing paths or checks, `first` naming the two key columns.
fn failing_table(
    first: [&str; 2],
    failing: &[ward_lab::Failing],
    out: &mut impl Write,
) -> io::Result<()> {
    let [a, b] = first;
    let mut t = Table::new([a, b, "failed", "checks", "failing now", "last error"]);
    for f in failing {
        t.row(failing_row(f));
    }
    t.write(out)
}
fn failing_row(f: &ward_lab::Failing) -> Vec<String> {
    let mut error = format!(
        "{}: {}",
        f.tally.last_class.as_deref().unwrap_or("error"),
        f.tally.last_error.as_deref().unwrap_or("")
    );
    if error.len() > 100 {
        let mut cut = 100;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
        error.push('…');
    }
    vec![
        f.from.clone(),
        f.to.clone(),
        f.tally.failed.to_string(),
        (f.tally.ok + f.tally.failed).to_string(),
        if f.tally.failing_now { "yes" } else { "no" }.to_string(),
        error,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns_down_summary() -> Summary {
        let failing = |node: &str, check: &str| ward_lab::Failing {
            from: node.into(),
            to: check.into(),
            tally: ward_lab::Tally {
                ok: 1,
                failed: 2,
                last_class: Some("timeout".into()),
                last_error: Some("no answer within 1s".into()),
                failing_now: true,
            },
        };
        let check = "dns:kubernetes.default.svc.cluster.local";
        Summary {
            nodes: 2,
            elapsed_seconds: 3.0,
            rounds: 6,
            path_checks: 6,
            path_failures: 0,
            paths_now: 2,
            paths_failing_now: 0,
            failing_paths: vec![],
            failing_checks: vec![failing("node-1", check), failing("node-2", check)],
            dns_checks: vec![ward_lab::DnsCheck {
                check: check.into(),
                ok: 2,
                failed: 4,
                nodes_failing_now: 2,
            }],
            faults: vec!["dns-down".into()],
            faults_applied: vec!["dns-down".into()],
        }
    }

    #[test]
    fn dns_checks_in_the_live_line_and_the_summary() {
        let s = dns_down_summary();
        let mut line = Vec::new();
        write_live(&s, &mut line).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "   3.0s  rounds     6  paths 2/2 ok  checks failing: \
             dns:kubernetes.default.svc.cluster.local (timeout) on 2 nodes  faults: dns-down\n"
        );
        let mut out = Vec::new();
        write(&s, Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..4],
            [
                "ward lab summary: 2 nodes, 3.0s, 6 rounds, 6 path checks, 0 failed",
                "faults applied: dns-down",
                "dns checks: dns:kubernetes.default.svc.cluster.local 2 ok, 4 failed",
                "failing paths: none",
            ]
        );
        assert_eq!(lines[4], "failing checks:");
        assert!(
            lines[6].starts_with("node-1  dns:kubernetes.default.svc.cluster.local  2 "),
            "{text}"
        );
    }

    /// The text summary carries the notes the JSON has, one line each.
    #[test]
    fn the_text_summary_prints_every_note() {
        let mut s = dns_down_summary();
        s.faults = vec!["cut:node-1".into(), "cut:node-2".into()];
        let mut out = Vec::new();
        write(&s, Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(s.notes().len(), 1);
        assert_eq!(
            text.lines().last(),
            Some(
                "note: cut on every node (2 of 2): no nurse answers: every path, ingress and service check fails"
            ),
            "{text}"
        );
    }
}
