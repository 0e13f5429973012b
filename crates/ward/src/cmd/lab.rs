//! `ward lab`: a simulated cluster on loopback with real nurse agents, an
//! ingress/service path, the mesh dashboard and fault injection; prints a
//! live line per check interval and a summary of the failing paths at the end.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use ward_lab::{Fault, Lab, LabConfig, Summary};

use crate::logging::Tweaks;
use crate::render::{self, Format};
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
pub(crate) const LOG_TWEAKS: Tweaks = Tweaks {
    quiet: &["ward_nurse", "ward_lookup"],
    loud: &[],
    json_off_terminal: false,
};

/// Arguments of `ward lab`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Simulated nodes (1 to 253), each with a nurse on its own address, 127.0.0.2 to 127.0.0.254.
    #[arg(long, env = "WARD_LAB_NODES", default_value = "6", value_parser = parse_nodes)]
    nodes: usize,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, env = "WARD_LAB_DURATION", value_parser = ward_duration::parse)]
    duration: Option<Duration>,
    /// Fault applied at start, repeatable: cut:NODE, delay:NODE:200ms, cordon:NODE, kill:NODE, api-down, api-delay:5s, dns-down, dns-servfail, dns-delay:200ms.
    #[arg(long = "fault", value_parser = parse_fault)]
    faults: Vec<Fault>,
    /// Address of the dashboard (and of the lab's ingress/service path).
    #[arg(long, env = "WARD_LAB_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Port of every nurse on its 127.0.0.x (0: a free one).
    #[arg(long, env = "WARD_LAB_NURSE_PORT", default_value_t = 0)]
    nurse_port: u16,
    /// Time between check rounds.
    #[arg(long, env = "WARD_LAB_CHECK_INTERVAL", default_value = "2s", value_parser = ward_duration::parse_positive)]
    check_interval: Duration,
    /// Deadline of one check.
    #[arg(long, env = "WARD_LAB_CHECK_TIMEOUT", default_value = "1s", value_parser = ward_duration::parse_positive)]
    check_timeout: Duration,
    /// Ring neighbours each node checks (0: all).
    #[arg(long, env = "WARD_LAB_NEIGHBOUR_LIMIT", default_value_t = 3)]
    neighbour_limit: u32,
    /// Print the live line every check interval (`false` to stay quiet until the summary).
    #[arg(long, value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
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

/// Runs the lab until Ctrl-C, SIGTERM or `--duration`, then prints the summary.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::Workers(2))?;
    runtime.block_on(async {
        let lab = Lab::start(args.config()).await?;
        eprintln!(
            "ward lab: {} nodes, nurses on 127.0.0.2..{}, API server {}, cluster DNS {} (udp, tcp)\ndashboard: {}",
            args.nodes,
            lab.nurse_addr(args.nodes - 1),
            lab.api_url(),
            lab.dns_addr(),
            lab.dashboard_url()
        );
        // The URL on stdout too, first line of the text output, for scripts;
        // with `-o json` stdout is the JSON document and nothing else.
        if args.output == Format::Text {
            println!("{}", lab.dashboard_url());
        }
        let live = |s: &Summary| {
            if args.live {
                let _ = render::lab::write_live(s, &mut std::io::stderr().lock());
            }
        };
        let stop = ward_agent::lifecycle::cancel_on_termination();
        let summary = lab
            .run_until(args.duration, args.check_interval, stop, live)
            .await;
        render::to_stdout(|out| render::lab::write(&summary, args.output, out))?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        crate::cmd::try_parse("lab", argv)
    }

    #[test]
    fn defaults_and_bad_values_name_the_flag() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.nodes, 6);
        assert_eq!(parse(&["--nodes", "1"]).unwrap().nodes, 1);
        assert_eq!(
            parse(&["--nodes", &ward_lab::MAX_NODES.to_string()])
                .unwrap()
                .nodes,
            253
        );
        assert!(parse(&["--nodes", "254"]).is_err());
        assert!(parse(&["--nodes", "0"]).is_err());
        let err = parse(&["--check-interval", "0s"]).unwrap_err().to_string();
        assert!(
            err.contains("'--check-interval <CHECK_INTERVAL>'")
                && err.contains("must be greater than zero"),
            "{err}"
        );
        assert_eq!(cli.check_interval, Duration::from_secs(2));
        let err = parse(&["--nodes", "300"]).unwrap_err().to_string();
        assert!(
            err.contains("'--nodes <NODES>'") && err.contains("127.0.0.254"),
            "{err}"
        );
        let err = parse(&["--fault", "melt:node-1"]).unwrap_err().to_string();
        assert!(
            err.contains("'--fault <FAULTS>'") && err.contains("expected cut:NODE"),
            "{err}"
        );
        let cli = parse(&["--fault", "delay:node-2:200ms", "--fault", "cut:node-3"]).unwrap();
        assert_eq!(cli.faults.len(), 2);
        let cli = parse(&["--fault", "dns-down", "--fault", "dns-delay:200ms"]).unwrap();
        assert_eq!(
            cli.faults,
            [Fault::DnsDown, Fault::DnsDelay(Duration::from_millis(200))]
        );
    }
}
