//! `ward lookup`: the hostlookuper-compatible DNS prober as an agent
//! (`ward lookup -hosts … -dns-servers …`, flags and `HOSTLOOKUPER_*` env vars
//! as hostlookuper; Go's single-dash spelling is `compat`'s), and `ward
//! lookup once NAME…` printing one table per server for people or JSON for
//! scripts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ward_lookup::config::{
    parse_go_bool, parse_hosts, parse_servers, DEFAULT_DNS_SERVERS, DEFAULT_HOSTS, DEFAULT_LISTEN,
};
use ward_lookup::{agent, Config, HostSpec, Lookuper, ServerSpec};

use crate::logging::Tweaks;
use crate::render::{self, Format};
use crate::runtime::{runtime, Threads};

/// The resolv.conf `ward lookup once` reads when no server is given.
const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Arguments of `ward lookup`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// One-shot mode instead of the agent.
    #[command(subcommand)]
    pub(crate) command: Option<LookupCommand>,
    /// Interval between DNS checks of each host and server (Go duration: 5s, 1m, …).
    #[arg(long, env = "HOSTLOOKUPER_INTERVAL", default_value = "5s", value_parser = ward_duration::parse_positive, allow_hyphen_values = true)]
    pub(crate) interval: Duration,
    /// Maximum time for one DNS query (Go duration; 0 = 2s, as hostlookuper's DNS library).
    #[arg(long, env = "HOSTLOOKUPER_TIMEOUT", default_value = "5s", value_parser = ward_duration::parse, global = true, allow_hyphen_values = true)]
    pub(crate) timeout: Duration,
    /// Address the HTTP endpoints (/metrics, /healthz, /readyz) listen on, e.g. 0.0.0.0:9090.
    #[arg(long, env = "HOSTLOOKUPER_LISTEN", default_value = DEFAULT_LISTEN)]
    pub(crate) listen: String,
    /// Comma-separated hosts to look up; `name:TYPE` asks for another record type
    /// (A, AAAA, CNAME, SRV, TXT, MX, NS, PTR, SOA, CAA, ANY, or ADDR for A+AAAA).
    #[arg(long, env = "HOSTLOOKUPER_HOSTS", default_value = DEFAULT_HOSTS, value_parser = hosts_arg)]
    pub(crate) hosts: HostList,
    /// Comma-separated DNS servers `[udp|tcp|tcp-tls://]host[:port]` (IPv6 as `[::1]:53`);
    /// protocol defaults to udp, port to 53. Default: hostlookuper's public servers,
    /// none in resolv.conf mode.
    #[arg(long = "dns-servers", env = "HOSTLOOKUPER_DNS_SERVERS", value_parser = servers_arg, global = true)]
    pub(crate) dns_servers: Option<ServerList>,
    /// Prometheus `le` histograms (.005 … 10) instead of VictoriaMetrics `vmrange` ones.
    #[arg(long, env = "HOSTLOOKUPER_PROM_HISTOGRAM", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) prom_histogram: bool,
    /// Log every lookup result (at any `--log-level`).
    #[arg(long, env = "HOSTLOOKUPER_DEBUG", num_args = 0..=1, require_equals = true, global = true,
          default_value = "false", default_missing_value = "true", value_parser = parse_go_bool)]
    pub(crate) debug: bool,
    /// resolv.conf mode (default: off): also resolve every host through this file as the libc stub
    /// resolver does (search list, ndots, attempts, TCP fallback) and report the
    /// queries and time one lookup costs (`dns_server="resolv.conf"`).
    #[arg(long = "resolv-conf", env = "HOSTLOOKUPER_RESOLV_CONF", global = true)]
    pub(crate) resolv_conf: Option<PathBuf>,
}

/// Subcommands of `ward lookup`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum LookupCommand {
    /// Look names up once; print a table per server (latency, rcode, answers,
    /// queries sent). Without --dns-servers, resolves through /etc/resolv.conf.
    Once(OnceArgs),
}

/// Arguments of `ward lookup once`.
#[derive(Debug, clap::Args)]
pub(crate) struct OnceArgs {
    /// Names to look up (`name` or `name:TYPE`); default: --hosts.
    #[arg(value_parser = host_arg)]
    pub(crate) names: Vec<HostSpec>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub(crate) output: Format,
}

/// A parsed `-hosts` value.
#[derive(Debug, Clone)]
pub(crate) struct HostList(pub Vec<HostSpec>);

/// A parsed `-dns-servers` value.
#[derive(Debug, Clone)]
pub(crate) struct ServerList(pub Vec<ServerSpec>);

fn hosts_arg(s: &str) -> Result<HostList, String> {
    parse_hosts(s).map(HostList).map_err(|e| e.to_string())
}

fn host_arg(s: &str) -> Result<HostSpec, String> {
    s.parse().map_err(|e: ward_lookup::Error| e.to_string())
}

fn servers_arg(s: &str) -> Result<ServerList, String> {
    parse_servers(s).map(ServerList).map_err(|e| e.to_string())
}

impl Args {
    /// Logs as hostlookuper's do: JSON (zap's keys) unless stdout is a
    /// terminal; `-debug` logs every lookup whatever the log level.
    pub(crate) fn log_tweaks(&self) -> Tweaks {
        Tweaks {
            quiet: &[],
            loud: if self.debug {
                &["ward_lookup=debug"]
            } else {
                &[]
            },
            json_off_terminal: true,
        }
    }

    /// The library configuration: flag > env > hostlookuper default.
    fn config(&self, once: Option<&OnceArgs>) -> Config {
        let hosts = match once {
            Some(o) if !o.names.is_empty() => o.names.clone(),
            _ => self.hosts.0.clone(),
        };
        let resolv_conf = match (&self.resolv_conf, &self.dns_servers, once) {
            (Some(path), _, _) => Some(path.clone()),
            (None, None, Some(_)) => Some(PathBuf::from(SYSTEM_RESOLV_CONF)),
            _ => None,
        };
        let servers = match (&self.dns_servers, &resolv_conf) {
            (Some(list), _) => list.0.clone(),
            (None, Some(_)) => Vec::new(),
            (None, None) => parse_servers(DEFAULT_DNS_SERVERS).unwrap_or_default(),
        };
        Config {
            interval: self.interval,
            timeout: self.timeout,
            hosts,
            servers,
            prom_histogram: self.prom_histogram,
            resolv_conf,
            debug: self.debug,
        }
    }
}

/// Runs the agent, or one round with `once`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = runtime(Threads::One)?;
    match &args.command {
        Some(LookupCommand::Once(once)) => {
            runtime.block_on(run_once(args.config(Some(once)), once.output))
        }
        None => runtime.block_on(async {
            let endpoint = agent::bind(&args.listen).await?;
            agent::run(args.config(None), vec![endpoint], agent::Lifecycle::new()).await?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

async fn run_once(config: Config, format: Format) -> anyhow::Result<ExitCode> {
    let (lookuper, lookups) = Lookuper::once(config).await?;
    render::to_stdout(|out| render::lookup::write_once(&lookuper, &lookups, format, out))?;
    let failed = lookups.iter().filter(|l| !l.succeeded()).count();
    if failed > 0 {
        eprintln!("ward: lookup failed ({failed}/{} lookups)", lookups.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::{CommandFactory, Parser};

    use super::*;

    /// `ward lookup ARGS…` parsed as main parses it, Go spelling included.
    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let argv: Vec<OsString> = ["ward", "lookup"]
            .iter()
            .chain(args)
            .map(OsString::from)
            .collect();
        let argv = crate::compat::rewrite(&crate::Cli::command(), argv).argv;
        crate::Cli::try_parse_from(argv).map(|c| match c.command {
            crate::Command::Lookup(a) => a,
            other => panic!("lookup expected, got {other:?}"),
        })
    }

    #[test]
    fn defaults_are_hostlookupers() {
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.interval, a.timeout),
            (Duration::from_secs(5), Duration::from_secs(5))
        );
        assert_eq!(a.listen, ":9090");
        let c = a.config(None);
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(
            c.servers
                .iter()
                .map(|s| s.label.as_str())
                .collect::<Vec<_>>(),
            vec![
                "udp://9.9.9.9:53",
                "udp://8.8.8.8:53",
                "udp://one.one.one.one:53"
            ]
        );
        assert!(!c.prom_histogram && !c.debug && c.resolv_conf.is_none());
    }

    #[test]
    fn go_and_gnu_spellings_parse_alike() {
        for argv in [
            &[
                "-interval",
                "200ms",
                "-timeout=1s",
                "-hosts",
                "a.test,b.test:AAAA",
                "-dns-servers",
                "udp://127.0.0.3:53",
                "-prom-histogram",
                "-debug=true",
            ][..],
            &[
                "--interval=200ms",
                "--timeout",
                "1s",
                "--hosts=a.test,b.test:AAAA",
                "--dns-servers=udp://127.0.0.3:53",
                "--prom-histogram=true",
                "--debug",
            ][..],
        ] {
            let a = parse(argv).unwrap();
            let c = a.config(None);
            assert_eq!(
                (c.interval, c.timeout),
                (Duration::from_millis(200), Duration::from_secs(1))
            );
            assert_eq!(c.hosts[1].label, "b.test:AAAA");
            assert_eq!(c.servers[0].label, "udp://127.0.0.3:53");
            assert!(c.prom_histogram && c.debug, "{argv:?}");
        }
        assert!(!parse(&["-prom-histogram=false"]).unwrap().prom_histogram);
    }

    #[test]
    fn bad_values_name_the_flag() {
        for (argv, flag) in [
            (&["-interval", "5x"][..], "--interval"),
            (&["-timeout", "-1s"][..], "--timeout"),
            (&["-hosts", ""][..], "--hosts"),
            (&["-hosts", "a:BOGUS"][..], "--hosts"),
            (&["-dns-servers", "http://1.1.1.1"][..], "--dns-servers"),
            (&["-dns-servers", "udp://[::1"][..], "--dns-servers"),
        ] {
            let err = parse(argv).unwrap_err().render().to_string();
            let first = err.lines().next().unwrap_or_default();
            assert!(first.contains(flag), "{argv:?}: {first}");
        }
    }

    #[test]
    fn once_defaults_to_resolv_conf_and_takes_names() {
        let a = parse(&["once", "x.test:SRV", "-o", "json"]).unwrap();
        let Some(LookupCommand::Once(o)) = &a.command else {
            panic!("once expected")
        };
        assert_eq!(o.output, Format::Json);
        let c = a.config(Some(o));
        assert_eq!(c.hosts[0].label, "x.test:SRV");
        assert_eq!(c.resolv_conf, Some(PathBuf::from("/etc/resolv.conf")));
        assert!(c.servers.is_empty());
        let a = parse(&["once", "x.test", "--dns-servers", "udp://127.0.0.3:53"]).unwrap();
        let Some(LookupCommand::Once(o)) = &a.command else {
            panic!("once expected")
        };
        let c = a.config(Some(o));
        assert_eq!((c.servers.len(), c.resolv_conf), (1, None));
    }
}
