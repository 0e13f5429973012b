//! `ward lab`'s output: the live line on stderr every check interval, and
//! the summary at the end (failing and slow paths and checks, DNS checks,
//! faults, notes) as text or JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};

use ward_lab::{Failing, Summary, Tally};

use crate::render::{self, Format, Table};

/// Writes the lab's summary.
pub(crate) fn write(s: &Summary, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => render::json(s, out),
        Format::Text => summary_text(s, out),
    }
}

/// Writes the live line: elapsed time, rounds, paths ok, what is failing
/// or slow now, the faults.
pub(crate) fn write_live(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", live_line(s))
}

/// A check's time as the live line and the tables show it (`205 ms`).
fn ms(seconds: f64) -> String {
    format!("{:.0} ms", seconds * 1e3)
}

/// The error class of a check's last failure.
fn class(t: &Tally) -> String {
    t.last_class.as_deref().unwrap_or("error").to_string()
}

/// The paths of `list` that `now` picks, `from→to (what)` each.
fn paths_now(list: &[Failing], now: fn(&Tally) -> bool, what: fn(&Tally) -> String) -> Vec<String> {
    list.iter()
        .filter(|f| now(&f.tally))
        .map(|f| format!("{}→{} ({})", f.from, f.to, what(&f.tally)))
        .collect()
}

/// The checks of `list` that `now` picks, per check: `check (what) on N nodes`.
fn checks_now(
    list: &[Failing],
    now: fn(&Tally) -> bool,
    what: fn(&Tally) -> String,
) -> Vec<String> {
    let mut checks: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for f in list.iter().filter(|f| now(&f.tally)) {
        let e = checks.entry(&f.to).or_default();
        e.0 += 1;
        e.1 = what(&f.tally);
    }
    checks
        .iter()
        .map(|(check, (nodes, what))| format!("{check} ({what}) on {nodes} nodes"))
        .collect()
}

fn live_line(s: &Summary) -> String {
    let mut line = format!(
        "{:>6.1}s  rounds {:>5}  paths {}/{} ok",
        s.elapsed_seconds,
        s.rounds,
        s.paths_now - s.paths_failing_now,
        s.paths_now
    );
    if s.paths_slow_now > 0 {
        line.push_str(&format!(", {} slow", s.paths_slow_now));
    }
    let slow_ms = |t: &Tally| ms(t.last_seconds);
    for (label, list) in [
        (
            "failing",
            paths_now(&s.failing_paths, |t| t.failing_now, class),
        ),
        ("slow", paths_now(&s.slow_paths, |t| t.slow_now, slow_ms)),
        (
            "checks failing",
            checks_now(&s.failing_checks, |t| t.failing_now, class),
        ),
        (
            "checks slow",
            checks_now(&s.slow_checks, |t| t.slow_now, slow_ms),
        ),
        ("faults", s.faults.clone()),
    ] {
        if !list.is_empty() {
            let sep = if label == "faults" { " " } else { ", " };
            line.push_str(&format!("  {label}: {}", list.join(sep)));
        }
    }
    line
}

fn summary_text(s: &Summary, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "ward lab summary: {} nodes, {:.1}s, {} rounds, {} path checks, {} failed, {} slow",
        s.nodes, s.elapsed_seconds, s.rounds, s.path_checks, s.path_failures, s.path_slow
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
    let slow = ms(ward_nurse::status::SLOW.as_secs_f64());
    if !s.slow_paths.is_empty() {
        writeln!(out, "slow paths ({slow} or more):")?;
        slow_table(["from", "to"], &s.slow_paths, out)?;
    }
    if !s.slow_checks.is_empty() {
        writeln!(out, "slow checks ({slow} or more):")?;
        slow_table(["node", "check"], &s.slow_checks, out)?;
    }
    for note in s.notes() {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// The table of failing paths or checks, `first` naming the two key columns.
fn failing_table(first: [&str; 2], failing: &[Failing], out: &mut impl Write) -> io::Result<()> {
    let [a, b] = first;
    let mut t = Table::new([a, b, "failed", "checks", "failing now", "last error"]);
    for f in failing {
        t.row(failing_row(f));
    }
    t.write(out)
}

/// The table of slow paths or checks, `first` naming the two key columns.
fn slow_table(first: [&str; 2], slow: &[Failing], out: &mut impl Write) -> io::Result<()> {
    let [a, b] = first;
    let mut t = Table::new([a, b, "slow", "checks", "slow now", "last"]);
    for f in slow {
        t.row([
            f.from.clone(),
            f.to.clone(),
            f.tally.slow.to_string(),
            (f.tally.ok + f.tally.failed).to_string(),
            yes_no(f.tally.slow_now),
            ms(f.tally.last_seconds),
        ]);
    }
    t.write(out)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn failing_row(f: &Failing) -> Vec<String> {
    let mut error = format!(
        "{}: {}",
        class(&f.tally),
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
        yes_no(f.tally.failing_now),
        error,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(failed: u64, slow: u64, last_seconds: f64) -> Tally {
        Tally {
            ok: 3 - failed,
            failed,
            last_class: (failed > 0).then(|| "timeout".into()),
            last_error: (failed > 0).then(|| "no answer within 1s".into()),
            failing_now: failed > 0,
            slow,
            slow_now: slow > 0,
            last_seconds,
        }
    }

    fn listed(from: &str, to: &str, tally: Tally) -> Failing {
        Failing {
            from: from.into(),
            to: to.into(),
            tally,
        }
    }

    fn summary() -> Summary {
        Summary {
            nodes: 2,
            elapsed_seconds: 3.0,
            rounds: 6,
            path_checks: 6,
            path_failures: 0,
            path_slow: 0,
            paths_now: 2,
            paths_failing_now: 0,
            paths_slow_now: 0,
            failing_paths: vec![],
            failing_checks: vec![],
            slow_paths: vec![],
            slow_checks: vec![],
            dns_checks: vec![],
            faults: vec![],
            faults_applied: vec![],
            api_requests: 0,
        }
    }

    fn dns_down_summary() -> Summary {
        let check = "dns:kubernetes.default.svc.cluster.local";
        let failing = |node: &str| listed(node, check, tally(2, 0, 1.0));
        Summary {
            failing_checks: vec![failing("node-1"), failing("node-2")],
            dns_checks: vec![ward_lab::DnsCheck {
                check: check.into(),
                ok: 2,
                failed: 4,
                nodes_failing_now: 2,
            }],
            faults: vec!["dns-down".into()],
            faults_applied: vec!["dns-down".into()],
            ..summary()
        }
    }

    /// A delay fails nothing: the live line and the summary show it as slow
    /// paths and checks (they counted failures only, so it seemed to do nothing).
    #[test]
    fn slow_paths_and_checks_in_the_live_line_and_the_summary() {
        let s = Summary {
            path_slow: 3,
            paths_slow_now: 1,
            slow_paths: vec![listed("node-1", "node-2", tally(0, 3, 0.2051))],
            slow_checks: vec![listed(
                "node-1",
                "me_ingress",
                Tally {
                    slow_now: false,
                    ..tally(0, 1, 0.004)
                },
            )],
            faults: vec!["delay:node-2:200ms".into()],
            faults_applied: vec!["delay:node-2:200ms".into()],
            ..summary()
        };
        let mut line = Vec::new();
        write_live(&s, &mut line).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "   3.0s  rounds     6  paths 2/2 ok, 1 slow  slow: node-1→node-2 (205 ms)  \
             faults: delay:node-2:200ms\n",
            "a check slow before but not now is not in the live line"
        );
        let mut out = Vec::new();
        write(&s, Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "ward lab summary: 2 nodes, 3.0s, 6 rounds, 6 path checks, 0 failed, 3 slow",
                "faults applied: delay:node-2:200ms",
                "failing paths: none",
                "slow paths (100 ms or more):",
                "from    to      slow  checks  slow now  last",
                "node-1  node-2  3     3       yes       205 ms",
                "slow checks (100 ms or more):",
                "node    check       slow  checks  slow now  last",
                "node-1  me_ingress  1     3       no        4 ms",
            ]
        );
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
                "ward lab summary: 2 nodes, 3.0s, 6 rounds, 6 path checks, 0 failed, 0 slow",
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
