//! Real DNS servers on loopback: unbound or dnsmasq serving a local test zone
//! over UDP and TCP, with query logging so tests can count what was asked.
//!
//! Names outside the configured zones are answered locally (NXDOMAIN for
//! unbound, REFUSED for dnsmasq): the servers never recurse to the internet.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::net::{accepts, free_dual_port};
use crate::process::{find_binary, Process};
use crate::{Error, Result};

/// Which real DNS server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// NLnet Labs unbound.
    Unbound,
    /// dnsmasq.
    Dnsmasq,
}

/// One resource record of the test zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// `name A ipv4`.
    A(String, String),
    /// `name AAAA ipv6`.
    Aaaa(String, String),
    /// `alias CNAME target`.
    Cname(String, String),
    /// `name SRV priority weight port target`.
    Srv(String, u16, u16, u16, String),
    /// `name TXT text`.
    Txt(String, String),
}

/// Configures a DNS server before it starts.
#[derive(Debug, Clone)]
pub struct Builder {
    kind: Kind,
    ip: String,
    port: Option<u16>,
    zones: Vec<String>,
    records: Vec<Record>,
}

impl Builder {
    /// Binds to this loopback IP instead of 127.0.0.1.
    pub fn bind_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = ip.into();
        self
    }

    /// Listens on this port (UDP and TCP) instead of a free one, e.g. the
    /// port of a server on another loopback IP.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Declares a zone served locally (default `test`): unknown names in it are NXDOMAIN.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zones
            .push(zone.into().trim_end_matches('.').to_string());
        self
    }

    /// Adds a record.
    pub fn record(mut self, record: Record) -> Self {
        self.records.push(record);
        self
    }

    /// Adds an A record.
    pub fn a(self, name: &str, ip: &str) -> Self {
        self.record(Record::A(name.into(), ip.into()))
    }

    /// Starts the server and waits (up to 10 s) until it accepts TCP connections.
    pub fn start(mut self) -> Result<DnsServer> {
        if self.zones.is_empty() {
            self.zones.push("test".into());
        }
        let component = match self.kind {
            Kind::Unbound => "unbound",
            Kind::Dnsmasq => "dnsmasq",
        };
        let binary = find_binary(component, component)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("ward-{component}-"))
            .tempdir()
            .map_err(|e| Error::io(component, "creating temp dir", e))?;
        let port = self.port.unwrap_or_else(|| free_dual_port_on(&self.ip));
        let addr: SocketAddr = format!("{}:{port}", self.ip).parse().map_err(|_| {
            Error::io(
                component,
                format!("bad bind ip {}", self.ip),
                std::io::ErrorKind::InvalidInput.into(),
            )
        })?;
        let log = dir.path().join("server.log");
        let args = match self.kind {
            Kind::Unbound => {
                let conf = dir.path().join("unbound.conf");
                std::fs::write(&conf, self.unbound_config(addr, dir.path()))
                    .map_err(|e| Error::io(component, "writing unbound.conf", e))?;
                vec!["-d".to_string(), "-c".into(), conf.display().to_string()]
            }
            Kind::Dnsmasq => self.dnsmasq_args(addr, dir.path()),
        };
        let mut process = Process::spawn(component, &binary, &args, &log)?;
        process.wait_ready(Duration::from_secs(10), || accepts(addr))?;
        Ok(DnsServer {
            kind: self.kind,
            addr,
            process,
            _dir: dir,
        })
    }

    fn unbound_config(&self, addr: SocketAddr, dir: &Path) -> String {
        let mut c = format!(
            "server:\n  interface: {ip}@{port}\n  port: {port}\n  do-daemonize: no\n  use-syslog: no\n  logfile: \"\"\n  username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  log-queries: yes\n  log-replies: yes\n  verbosity: 1\n  module-config: \"iterator\"\n  num-threads: 1\n  local-zone: \".\" static\n",
            ip = addr.ip(),
            port = addr.port(),
            dir = dir.display()
        );
        for zone in &self.zones {
            c.push_str(&format!("  local-zone: \"{zone}.\" static\n"));
        }
        for r in &self.records {
            let data = match r {
                Record::A(n, v) => format!("{n}. 60 IN A {v}"),
                Record::Aaaa(n, v) => format!("{n}. 60 IN AAAA {v}"),
                Record::Cname(n, v) => format!("{n}. 60 IN CNAME {v}."),
                Record::Srv(n, p, w, port, t) => format!("{n}. 60 IN SRV {p} {w} {port} {t}."),
                Record::Txt(n, v) => format!("{n}. 60 IN TXT \\\"{v}\\\""),
            };
            c.push_str(&format!("  local-data: \"{data}\"\n"));
        }
        c.push_str("remote-control:\n  control-enable: no\n");
        c
    }

    fn dnsmasq_args(&self, addr: SocketAddr, dir: &Path) -> Vec<String> {
        let mut a = vec![
            "--keep-in-foreground".to_string(),
            format!("--port={}", addr.port()),
            format!("--listen-address={}", addr.ip()),
            "--bind-interfaces".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--no-poll".into(),
            "--log-queries".into(),
            "--log-facility=-".into(),
            "--cache-size=0".into(),
            "--user=root".into(),
            format!("--pid-file={}/dnsmasq.pid", dir.display()),
        ];
        for zone in &self.zones {
            a.push(format!("--local=/{zone}/"));
        }
        for r in &self.records {
            a.push(match r {
                Record::A(n, v) | Record::Aaaa(n, v) => format!("--host-record={n},{v}"),
                Record::Cname(n, v) => format!("--cname={n},{v}"),
                Record::Srv(n, p, w, port, t) => format!("--srv-host={n},{t},{port},{p},{w}"),
                Record::Txt(n, v) => format!("--txt-record={n},\"{v}\""),
            });
        }
        a
    }
}

fn free_dual_port_on(ip: &str) -> u16 {
    if ip == "127.0.0.1" {
        return free_dual_port();
    }
    for _ in 0..100 {
        let port = crate::net::free_port_on(ip);
        if std::net::UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on {ip} after 100 tries")
}

/// A running DNS server; stopped and its folder removed on drop.
pub struct DnsServer {
    kind: Kind,
    addr: SocketAddr,
    process: Process,
    _dir: TempDir,
}

impl DnsServer {
    /// Configures an unbound server.
    pub fn unbound() -> Builder {
        Self::builder(Kind::Unbound)
    }

    /// Configures a dnsmasq server.
    pub fn dnsmasq() -> Builder {
        Self::builder(Kind::Dnsmasq)
    }

    fn builder(kind: Kind) -> Builder {
        Builder {
            kind,
            ip: "127.0.0.1".into(),
            port: None,
            zones: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Address it answers on (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server process (to stop it, signal it, or read its log).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// How many queries for `name` (any type, with or without trailing dot) the server logged.
    pub fn queries_for(&self, name: &str) -> usize {
        let name = name.trim_end_matches('.');
        self.logged_queries().iter().filter(|q| *q == name).count()
    }

    /// Every queried name the server logged, in order.
    pub fn logged_queries(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.process.log_path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| match self.kind {
                Kind::Unbound => {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    // [..., "info:", "127.0.0.1", "name.", "TYPE", "IN"]
                    let i = words.iter().position(|w| *w == "info:")?;
                    (words.len() == i + 5 && words[i + 4] == "IN")
                        .then(|| words[i + 2].trim_end_matches('.').to_string())
                }
                Kind::Dnsmasq => {
                    let words: Vec<&str> = l.split_whitespace().collect();
                    let i = words.iter().position(|w| w.starts_with("query["))?;
                    words.get(i + 1).map(|s| s.to_string())
                }
            })
            .collect()
    }
}
