//! The resolved configuration of `ward lookup`: hosts (with an optional
//! `:TYPE`), DNS servers written `proto://host:port` as hostlookuper accepts
//! them (plus IPv6 literals, which hostlookuper mis-parses), timings and the
//! optional resolv.conf mode. Parsing of flag values lives here so that every
//! caller rejects the same inputs with the same message; argv and env handling
//! stays in the binary.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use serde::Serialize;
use ward_probe::dns::DnsProto;

use crate::error::{Error, Result};

/// hostlookuper's default `-hosts`.
pub const DEFAULT_HOSTS: &str = "google.ch,ch.ch";
/// hostlookuper's default `-dns-servers`.
pub const DEFAULT_DNS_SERVERS: &str = "udp://9.9.9.9:53,udp://8.8.8.8:53,udp://one.one.one.one:53";
/// hostlookuper's default `-interval` and `-timeout`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What `-timeout 0` means: hostlookuper hands the timeout to miekg/dns,
/// whose zero is "its defaults", 2 s to connect and 2 s for the exchange.
pub const ZERO_TIMEOUT_MEANS: Duration = Duration::from_secs(2);
/// hostlookuper's default `-listen`.
pub const DEFAULT_LISTEN: &str = ":9090";
/// The `dns_server` label of lookups made through resolv.conf (the libc stub resolver's view).
pub const RESOLV_CONF_SERVER_LABEL: &str = "resolv.conf";

/// Which queries one lookup of a host sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum QueryKind {
    /// One record type (`A` by default, as hostlookuper).
    One(#[serde(serialize_with = "ser_type")] RecordType),
    /// `A` and `AAAA` in parallel, as `getaddrinfo(AF_UNSPEC)` does (`:ADDR`).
    Addr,
}

fn ser_type<S: serde::Serializer>(t: &RecordType, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(t)
}

impl QueryKind {
    /// The record types queried, in sending order.
    pub fn types(&self) -> Vec<RecordType> {
        match self {
            QueryKind::One(t) => vec![*t],
            QueryKind::Addr => vec![RecordType::A, RecordType::AAAA],
        }
    }
}

impl fmt::Display for QueryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryKind::One(t) => write!(f, "{t}"),
            QueryKind::Addr => f.write_str("ADDR"),
        }
    }
}

/// One host to look up: `name` or `name:TYPE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSpec {
    /// The entry as written; the `host` label of every metric.
    pub label: String,
    /// The DNS name (a trailing dot makes it absolute in resolv.conf mode).
    pub name: String,
    /// What to ask for.
    pub kind: QueryKind,
}

impl FromStr for HostSpec {
    type Err = Error;

    fn from_str(entry: &str) -> Result<Self> {
        let bad = |reason: String| Error::Host {
            host: entry.to_string(),
            reason,
        };
        if entry.contains(char::is_whitespace) {
            return Err(bad("not a DNS name (white space)".into()));
        }
        let (name, kind) = match entry.rsplit_once(':') {
            Some((name, ty)) => (name, parse_kind(ty).map_err(bad)?),
            None => (entry, QueryKind::One(RecordType::A)),
        };
        validate_name(name).map_err(bad)?;
        Ok(HostSpec {
            label: entry.to_string(),
            name: name.to_string(),
            kind,
        })
    }
}

/// Parses a record type name (`A`, `aaaa`, `SRV`, `ANY`, …) or `ADDR` (A+AAAA).
pub fn parse_kind(ty: &str) -> std::result::Result<QueryKind, String> {
    let upper = ty.to_ascii_uppercase();
    if upper == "ADDR" {
        return Ok(QueryKind::Addr);
    }
    match RecordType::from_str(&upper) {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(format!(
            "unknown record type {ty:?} (expected A, AAAA, CNAME, SRV, TXT, MX, NS, PTR, SOA, CAA, ANY or ADDR)"
        )),
        Ok(t) => Ok(QueryKind::One(t)),
    }
}

fn validate_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.contains(char::is_whitespace) {
        return Err("not a DNS name (white space)".into());
    }
    if name.len() > 253 || name.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err("not a DNS name".into());
    }
    if name
        .split('.')
        .collect::<Vec<_>>()
        .iter()
        .rev()
        .skip(1)
        .any(|l| l.is_empty())
    {
        return Err("empty label (two dots or a leading dot)".into());
    }
    Name::from_str(name).map_err(|e| format!("not a DNS name: {e}"))?;
    Ok(())
}

/// Parses hostlookuper's `-hosts` value: a comma-separated list, at least
/// one entry. As in hostlookuper, entries are not trimmed and none may be
/// empty (it checks each with the system resolver at start and exits on
/// `""` or `" b.test"`).
pub fn parse_hosts(list: &str) -> Result<Vec<HostSpec>> {
    if list.is_empty() {
        return Err(Error::NoHosts);
    }
    list.split(',').map(HostSpec::from_str).collect()
}

/// One DNS server to probe directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerSpec {
    /// Transport.
    pub proto: DnsProto,
    /// IP literal or host name (resolved every round).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The `dns_server` label: `proto://host:port` as hostlookuper writes it.
    pub label: String,
}

impl ServerSpec {
    /// The server's IP, when it is written as a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl FromStr for ServerSpec {
    type Err = Error;

    /// `[udp|tcp|tcp-tls://]host[:port]`; IPv6 as `[2001:db8::1]:53`, `[::1]` or bare `::1`.
    /// Not trimmed: hostlookuper uses an entry as written.
    fn from_str(entry: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Server {
            server: entry.to_string(),
            reason: reason.to_string(),
        };
        let (proto, address) = match entry.split("://").collect::<Vec<_>>().as_slice() {
            [address] => (DnsProto::Udp, *address),
            [proto, address] => (
                match *proto {
                    "udp" => DnsProto::Udp,
                    "tcp" => DnsProto::Tcp,
                    "tcp-tls" => DnsProto::Tls,
                    _ => return Err(bad("unknown protocol (expected udp, tcp or tcp-tls)")),
                },
                *address,
            ),
            _ => return Err(bad("expected [proto://]host[:port]")),
        };
        let default_port = 53;
        let (host, port) = if let Some(rest) = address.strip_prefix('[') {
            let (ip, after) = rest
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in IPv6 address"))?;
            ip.parse::<Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address between [ ]"))?;
            let port = match after {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| bad("bad port after ]"))?,
            };
            (ip.to_string(), port)
        } else if address.parse::<Ipv6Addr>().is_ok() {
            (address.to_string(), default_port)
        } else {
            match address.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>()
                        .map_err(|_| bad("bad port (expected 1-65535)"))?,
                ),
                None => (address.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad(if entry.is_empty() {
                "empty entry"
            } else {
                "empty host"
            }));
        }
        if port == 0 {
            return Err(bad("port 0"));
        }
        if host.parse::<IpAddr>().is_err() {
            validate_name(&host).map_err(|r| bad(&r))?;
        }
        let hostport = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(ServerSpec {
            label: format!("{}://{hostport}", proto.as_str()),
            proto,
            host,
            port,
        })
    }
}

/// Parses hostlookuper's `-dns-servers` value: comma-separated, entries
/// as written, none empty (hostlookuper exits on an empty entry, failing to
/// resolve the server `""`).
pub fn parse_servers(list: &str) -> Result<Vec<ServerSpec>> {
    list.split(',').map(ServerSpec::from_str).collect()
}

/// Parses a boolean flag value as Go's `strconv.ParseBool` does (what
/// hostlookuper's `flag` package accepts): `1`, `t`, `T`, `TRUE`, `true`,
/// `True`, `0`, `f`, `F`, `FALSE`, `false`, `False`, and nothing else.
pub fn parse_go_bool(value: &str) -> std::result::Result<bool, String> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "invalid boolean value {value:?} (Go's flag package accepts 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)"
        )),
    }
}

/// Parses a Go listen address (`:9090`, `0.0.0.0:9090`, `[::1]:9090`, `localhost:9090`)
/// into the addresses to try in order (`:port` = all interfaces, IPv6 first).
pub fn parse_listen(listen: &str) -> Result<Vec<SocketAddr>> {
    ward_agent::lifecycle::go_listen_addrs(listen).ok_or_else(|| Error::Listen(listen.to_string()))
}

/// Everything `ward lookup` needs to run.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Time between rounds (`-interval`).
    pub interval: Duration,
    /// Deadline of one query (`-timeout`); in resolv.conf mode it also caps
    /// each try. Zero means [`ZERO_TIMEOUT_MEANS`], as in hostlookuper.
    pub timeout: Duration,
    /// Names to look up (`-hosts`).
    pub hosts: Vec<HostSpec>,
    /// Servers probed directly (`-dns-servers`).
    pub servers: Vec<ServerSpec>,
    /// Prometheus `le` histograms instead of VictoriaMetrics `vmrange` ones (`-prom-histogram`).
    pub prom_histogram: bool,
    /// Also resolve every host through this resolv.conf as the libc stub resolver would.
    pub resolv_conf: Option<PathBuf>,
    /// Log every lookup result (`-debug`).
    pub debug: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_INTERVAL,
            hosts: parse_hosts(DEFAULT_HOSTS).unwrap_or_default(),
            servers: parse_servers(DEFAULT_DNS_SERVERS).unwrap_or_default(),
            prom_histogram: false,
            resolv_conf: None,
            debug: false,
        }
    }
}

impl Config {
    /// The deadline of one query: `timeout`, or [`ZERO_TIMEOUT_MEANS`] for zero.
    pub fn query_timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            ZERO_TIMEOUT_MEANS
        } else {
            self.timeout
        }
    }

    /// Checks what flag parsers cannot see alone: something to probe, a positive interval.
    pub fn validate(&self) -> Result<()> {
        if self.hosts.is_empty() {
            return Err(Error::NoHosts);
        }
        if self.servers.is_empty() && self.resolv_conf.is_none() {
            return Err(Error::NoServers);
        }
        if self.interval.is_zero() {
            return Err(Error::ZeroDuration { flag: "-interval" });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(s: &str) -> ServerSpec {
        s.parse().unwrap()
    }

    #[test]
    fn servers_are_parsed_like_hostlookuper() {
        let s = server("udp://9.9.9.9:53");
        assert_eq!(
            (s.proto, s.host.as_str(), s.port),
            (DnsProto::Udp, "9.9.9.9", 53)
        );
        assert_eq!(s.label, "udp://9.9.9.9:53");
        assert_eq!(server("8.8.8.8").label, "udp://8.8.8.8:53");
        assert_eq!(server("tcp://127.0.0.3:5353").label, "tcp://127.0.0.3:5353");
        let dot = server("tcp-tls://one.one.one.one:853");
        assert_eq!((dot.proto, dot.port), (DnsProto::Tls, 853));
        assert_eq!(dot.label, "tcp-tls://one.one.one.one:853");
        assert_eq!(server("one.one.one.one").label, "udp://one.one.one.one:53");
    }

    #[test]
    fn ipv6_servers_work() {
        let s = server("udp://[2001:db8::1]:53");
        assert_eq!((s.host.as_str(), s.port), ("2001:db8::1", 53));
        assert_eq!(s.label, "udp://[2001:db8::1]:53");
        assert_eq!(server("[::1]").label, "udp://[::1]:53");
        assert_eq!(server("tcp://::1").label, "tcp://[::1]:53");
        assert_eq!(
            server("udp://[::1]:5300").ip(),
            Some("::1".parse().unwrap())
        );
    }

    #[test]
    fn bad_servers_are_rejected_with_the_entry() {
        for bad in [
            "http://1.1.1.1",
            "udp://udp://1.1.1.1",
            "udp://1.1.1.1:x",
            "udp://1.1.1.1:70000",
            "udp://[::1",
            "udp://[nope]:53",
            "udp://:53",
            "udp://bad name:53",
        ] {
            let err = bad.parse::<ServerSpec>().unwrap_err().to_string();
            assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
        }
    }

    #[test]
    fn hosts_take_an_optional_type() {
        let h = parse_hosts("google.ch,kubernetes.default.svc.cluster.local:A,x.test:aaaa,_s._tcp.x:SRV,y:ADDR,z.:ANY").unwrap();
        assert_eq!(h.len(), 6);
        assert_eq!(h[0].kind, QueryKind::One(RecordType::A));
        assert_eq!(h[1].name, "kubernetes.default.svc.cluster.local");
        assert_eq!(h[1].label, "kubernetes.default.svc.cluster.local:A");
        assert_eq!(h[2].kind, QueryKind::One(RecordType::AAAA));
        assert_eq!(h[3].kind, QueryKind::One(RecordType::SRV));
        assert_eq!(h[4].kind.types(), vec![RecordType::A, RecordType::AAAA]);
        assert_eq!(
            (h[5].name.as_str(), &h[5].kind),
            ("z.", &QueryKind::One(RecordType::ANY))
        );
    }

    #[test]
    fn bad_hosts_are_rejected() {
        assert!(matches!(parse_hosts(""), Err(Error::NoHosts)));
        for bad in ["x:BOGUS", "a..b", "with space", ".lead", ":A"] {
            assert!(parse_hosts(bad).is_err(), "{bad}");
        }
        // Entries as written, as hostlookuper (which exits on each of these).
        for (list, message) in [
            ("a.test,,b.test", "host \"\": empty name"),
            ("a.test,", "host \"\": empty name"),
            (" , ", "host \" \": not a DNS name (white space)"),
            (
                "a.test, b.test",
                "host \" b.test\": not a DNS name (white space)",
            ),
        ] {
            assert_eq!(
                parse_hosts(list).unwrap_err().to_string(),
                message,
                "{list:?}"
            );
        }
        let e = parse_hosts("ok.test,x:BOGUS").unwrap_err().to_string();
        assert!(
            e.contains("\"x:BOGUS\"") && e.contains("unknown record type"),
            "{e}"
        );
    }

    #[test]
    fn server_entries_are_taken_as_written() {
        for (list, message) in [
            ("udp://127.0.0.1:53,", "DNS server \"\": empty entry"),
            (
                "udp://127.0.0.1:53, udp://127.0.0.2:53",
                "DNS server \" udp://127.0.0.2:53\": unknown protocol (expected udp, tcp or tcp-tls)",
            ),
            (
                " 127.0.0.1",
                "DNS server \" 127.0.0.1\": not a DNS name (white space)",
            ),
        ] {
            assert_eq!(parse_servers(list).unwrap_err().to_string(), message, "{list:?}");
        }
    }

    #[test]
    fn booleans_are_gos() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Ok(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Ok(false));
        }
        for bad in ["yes", "no", "on", "", "tRUE", " true"] {
            assert!(parse_go_bool(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_zero_timeout_is_miekg_dns_default() {
        let mut c = Config {
            timeout: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(c.query_timeout(), Duration::from_secs(2));
        assert!(c.validate().is_ok());
        c.timeout = Duration::from_millis(300);
        assert_eq!(c.query_timeout(), Duration::from_millis(300));
    }

    #[test]
    fn listen_addresses_follow_go() {
        assert_eq!(parse_listen(":9090").unwrap().len(), 2);
        assert_eq!(
            parse_listen("127.0.0.1:9").unwrap(),
            vec!["127.0.0.1:9".parse().unwrap()]
        );
        assert_eq!(
            parse_listen("[::1]:9").unwrap(),
            vec!["[::1]:9".parse().unwrap()]
        );
        assert!(parse_listen("9090").is_err());
        assert!(parse_listen("x:y").is_err());
    }

    #[test]
    fn defaults_are_hostlookupers() {
        let c = Config::default();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.servers[2].label, "udp://one.one.one.one:53");
        assert_eq!(c.interval, Duration::from_secs(5));
        assert!(c.validate().is_ok());
    }
}
