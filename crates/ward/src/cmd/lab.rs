//! `ward lab`: a simulated cluster on loopback with real nurse agents, an
//! ingress/service path, the mesh dashboard and fault injection; prints a
//! live line per check interval and a summary of the failing paths at the end.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ward_lab::{Fault, Lab, LabConfig, Summary};

use crate::render::{self, Format, Table};
use crate::runtime::{runtime, Threads};

fn parse_fault(s: &str) -> Result<Fault, String> {
    s.parse::<Fault>().map_err(|e| e.reason)
}

fn parse_nodes(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| "not a whole number".to_string())?;
    if n == 0 || n > ward_lab::MAX_NODES {
        return Err(format!(
            "must be 1 to {} (the lab uses the loopback addresses 127.0.0.2 to 127.0.0.254)",
            ward_lab::MAX_NODES
        ));
    }
    Ok(n)
}

/// The lab's live line reports failed checks; the nurses' and DNS probers'
/// own logs would drown it, so they are off unless a log level is asked for.
pub const QUIET_LOGS: &[&str] = &["ward_nurse", "ward_lookup"];

/// Arguments of `ward lab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Simulated nodes, each with a nurse on its own 127.0.0.x (2 to 254).
    #[arg(long, env = "WARD_LAB_NODES", default_value = "6", value_parser = parse_nodes)]
    nodes: usize,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, env = "WARD_LAB_DURATION", value_parser = ward_duration::parse)]
    duration: Option<Duration>,
    /// Fault applied at start, repeatable: cut:NODE, delay:NODE:200ms, cordon:NODE, kill:NODE, api-down, dns-down, dns-delay:200ms.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<Fault>,
    /// Address of the dashboard (and of the lab's ingress/service path).
    #[arg(long, env = "WARD_LAB_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Port of every nurse on its 127.0.0.x (0: a free one).
    #[arg(long, env = "WARD_LAB_NURSE_PORT", default_value_t = 0)]
    nurse_port: u16,
    /// Time between check rounds.
    #[arg(long, env = "WARD_LAB_CHECK_INTERVAL", default_value = "2s", value_parser = ward_duration::parse)]
    check_interval: Duration,
    /// Deadline of one check.
    #[arg(long, env = "WARD_LAB_CHECK_TIMEOUT", default_value = "1s", value_parser = ward_duration::parse)]
    check_timeout: Duration,
    /// Ring neighbours each node checks (0: all).
    #[arg(long, env = "WARD_LAB_NEIGHBOUR_LIMIT", default_value_t = 3)]
    neighbour_limit: u32,
    /// Print the live line every check interval (`false` to stay quiet until the summary).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    live: bool,
    /// Format of the final summary.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    output: Format,
}

impl Args {
    fn config(&self) -> LabConfig {
        LabConfig {
            nodes: self.nodes,
            nurse_port: self.nurse_port,
            listen: self.listen,
            check_interval: self.check_interval,
            check_timeout: self.check_timeout,
            neighbour_limit: i64::from(self.neighbour_limit),
            faults: self.faults.clone(),
        }
    }
}

/// Runs the lab until Ctrl-C or `--duration`, then prints the summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::Workers(2))?;
    runtime.block_on(async {
        let lab = Lab::start(args.config()).await?;
        {
            let mut err = std::io::stderr().lock();
            writeln!(
                err,
                "ward lab: {} nodes, nurses on 127.0.0.2..{}, API server {}, cluster DNS {} (udp, tcp)",
                args.nodes,
                lab.nurse_addr(args.nodes - 1),
                lab.api_url(),
                lab.dns_addr()
            )?;
            writeln!(err, "dashboard: {}", lab.dashboard_url())?;
        }
        // The URL on stdout too, first line, for scripts.
        println!("{}", lab.dashboard_url());
        let deadline = async {
            match args.duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        // SIGTERM (`timeout`, `kill`, a container runtime) ends the lab as Ctrl-C does.
        let terminated = ward_agent::lifecycle::cancel_on_termination();
        let mut tick = tokio::time::interval(
            args.check_interval
                .max(ward_agent::schedule::MIN_INTERVAL),
        );
        tick.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => break,
                _ = terminated.cancelled() => break,
                _ = tick.tick() => if args.live {
                    let _ = writeln!(std::io::stderr().lock(), "{}", live_line(&lab.live()));
                },
            }
        }
        let summary = lab.stop().await;
        let mut out = std::io::stdout().lock();
        match args.output {
            Format::Json => render::json(&summary, &mut out)?,
            Format::Text => write_summary(&summary, &mut out)?,
        }
        Ok(ExitCode::SUCCESS)
    })
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

fn write_summary(s: &Summary, out: &mut impl Write) -> std::io::Result<()> {
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
    Ok(())
}

/// The table of failing paths or checks, `first` naming the two key columns.
fn failing_table(
    first: [&str; 2],
    failing: &[ward_lab::Failing],
    out: &mut impl Write,
) -> std::io::Result<()> {
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
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn defaults_and_bad_values_name_the_flag() {
        let cli = Cli::try_parse_from(["lab"]).unwrap();
        assert_eq!(cli.args.nodes, 6);
        assert_eq!(cli.args.check_interval, Duration::from_secs(2));
        let err = Cli::try_parse_from(["lab", "--nodes", "300"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'--nodes <NODES>'") && err.contains("127.0.0.254"),
            "{err}"
        );
        let err = Cli::try_parse_from(["lab", "--fault", "melt:node-1"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'--fault <FAULTS>'") && err.contains("expected cut:NODE"),
            "{err}"
        );
        let cli = Cli::try_parse_from([
            "lab",
            "--fault",
            "delay:node-2:200ms",
            "--fault",
            "cut:node-3",
        ])
        .unwrap();
        assert_eq!(cli.args.faults.len(), 2);
        let cli = Cli::try_parse_from(["lab", "--fault", "dns-down", "--fault", "dns-delay:200ms"])
            .unwrap();
        assert_eq!(
            cli.args.faults,
            [Fault::DnsDown, Fault::DnsDelay(Duration::from_millis(200))]
        );
    }

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
        assert_eq!(
            live_line(&s),
            "   3.0s  rounds     6  paths 2/2 ok  checks failing: \
             dns:kubernetes.default.svc.cluster.local (timeout) on 2 nodes  faults: dns-down"
        );
        let mut out = Vec::new();
        write_summary(&s, &mut out).unwrap();
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
}
