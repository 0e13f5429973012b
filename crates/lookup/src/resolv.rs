//! resolv.conf as glibc reads it (`nameserver`, `search`/`domain`, `options
//! ndots timeout attempts use-vc`), and the names the stub resolver tries for
//! one lookup (glibc `res_search`): pure functions, no I/O beyond reading the
//! file. Sending the queries is [`crate::stub`]'s job.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};

/// glibc's `MAXNS`: nameservers after the third are ignored.
pub const MAX_NAMESERVERS: usize = 3;

/// The parts of resolv.conf that decide which queries a lookup sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvConf {
    /// Servers in order (at most three; 127.0.0.1 when none is given). Port 53
    /// unless written `nameserver IP:PORT` / `[IPv6]:PORT`, a ward extension for
    /// test resolvers (glibc ignores such lines).
    pub nameservers: Vec<SocketAddr>,
    /// Search domains in order (from the last `search` or `domain` line).
    pub search: Vec<String>,
    /// Names with at least this many dots are tried as they are first (default 1, max 15).
    pub ndots: usize,
    /// Wait for one try (default 5 s, max 30 s).
    pub timeout: Duration,
    /// Rounds over all servers (default 2, max 5).
    pub attempts: usize,
    /// `options use-vc`: TCP from the start.
    pub use_vc: bool,
}

impl Default for ResolvConf {
    fn default() -> Self {
        Self {
            nameservers: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)],
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            use_vc: false,
        }
    }
}

impl ResolvConf {
    /// Reads and parses a resolv.conf file.
    pub fn read(path: &Path) -> Result<Self> {
        std::fs::read_to_string(path)
            .map(|text| Self::parse(&text))
            .map_err(|source| Error::ResolvConf {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Parses resolv.conf text; unknown lines and bad values are ignored, as glibc does.
    pub fn parse(text: &str) -> Self {
        let mut conf = ResolvConf {
            nameservers: Vec::new(),
            ..Default::default()
        };
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(parse_nameserver) {
                        if conf.nameservers.len() < MAX_NAMESERVERS {
                            conf.nameservers.push(ip);
                        }
                    }
                }
                Some("search") => {
                    conf.search = words.map(|d| d.trim_end_matches('.').to_string()).collect();
                }
                Some("domain") => {
                    conf.search = words
                        .next()
                        .map(|d| vec![d.trim_end_matches('.').to_string()])
                        .unwrap_or_default();
                }
                Some("options") => {
                    for option in words {
                        conf.apply_option(option);
                    }
                }
                _ => {}
            }
        }
        conf.search.retain(|d| !d.is_empty());
        if conf.nameservers.is_empty() {
            conf.nameservers = ResolvConf::default().nameservers;
        }
        conf
    }

    fn apply_option(&mut self, option: &str) {
        let (key, value) = option.split_once(':').unwrap_or((option, ""));
        let number = value.parse::<u64>().ok();
        match (key, number) {
            ("ndots", Some(n)) => self.ndots = n.min(15) as usize,
            ("timeout", Some(n)) => self.timeout = Duration::from_secs(n.clamp(1, 30)),
            ("attempts", Some(n)) => self.attempts = n.clamp(1, 5) as usize,
            ("use-vc", _) | ("usevc", _) => self.use_vc = true,
            _ => {}
        }
    }

    /// The names glibc's `res_search` tries for `name`, in order:
    /// a trailing dot means only the name itself; a name with at least
    /// `ndots` dots is tried as is first, then with each search domain;
    /// otherwise each search domain first, then the name as is.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let dots = name.matches('.').count();
        let searched = self.search.iter().map(|d| format!("{name}.{d}"));
        if dots >= self.ndots {
            std::iter::once(name.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_string())).collect()
        }
    }

    /// Upper bound of one lookup's duration: every candidate × try × server times out.
    pub fn worst_case(&self, name: &str, per_try: Duration) -> Duration {
        let tries = self.candidates(name).len() * self.attempts * self.nameservers.len();
        per_try * u32::try_from(tries).unwrap_or(u32::MAX)
    }
}

/// `IP`, `IPv6%zone`, or (ward extension) `IP:PORT` / `[IPv6]:PORT`.
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    if let Ok(addr) = word.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip = word.split('%').next().unwrap_or(word);
    ip.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBE: &str = "search a.svc.cluster.local svc.cluster.local cluster.local\n\
                        nameserver 10.96.0.10\noptions ndots:5\n";

    #[test]
    fn parses_a_pod_resolv_conf() {
        let c = ResolvConf::parse(KUBE);
        assert_eq!(
            c.nameservers,
            vec!["10.96.0.10:53".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.search.len(), 3);
        assert_eq!(c.ndots, 5);
        assert_eq!((c.timeout, c.attempts), (Duration::from_secs(5), 2));
    }

    #[test]
    fn the_ndots5_problem() {
        let c = ResolvConf::parse(KUBE);
        assert_eq!(
            c.candidates("example.org"),
            vec![
                "example.org.a.svc.cluster.local",
                "example.org.svc.cluster.local",
                "example.org.cluster.local",
                "example.org",
            ]
        );
        assert_eq!(c.candidates("example.org."), vec!["example.org"]);
        // Five dots: as is first.
        assert_eq!(
            c.candidates("kubernetes.default.svc.cluster.local.x")[0],
            "kubernetes.default.svc.cluster.local.x"
        );
    }

    #[test]
    fn ndots1_tries_dotted_names_as_is_first() {
        let c = ResolvConf::parse("search corp.test\nnameserver 127.0.0.2\n");
        assert_eq!(c.candidates("a.b"), vec!["a.b", "a.b.corp.test"]);
        assert_eq!(c.candidates("host"), vec!["host.corp.test", "host"]);
    }

    #[test]
    fn options_comments_limits_and_defaults() {
        let c = ResolvConf::parse(
            "# comment\nnameserver 127.0.0.2 # trailing\nnameserver ::1\nnameserver fe80::1%eth0\n\
             nameserver 127.0.0.9\nnameserver bogus\ndomain old.test\nsearch new.test. other.test\n\
             options ndots:99 timeout:0 attempts:9 use-vc rotate\n",
        );
        assert_eq!(c.nameservers.len(), 3, "MAXNS");
        assert_eq!(
            c.nameservers[2],
            "[fe80::1]:53".parse::<SocketAddr>().unwrap()
        );
        let ported = ResolvConf::parse("nameserver 127.0.0.3:5353\nnameserver [::1]:5300\n");
        assert_eq!(ported.nameservers[0].port(), 5353);
        assert_eq!(
            ported.nameservers[1],
            "[::1]:5300".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            c.search,
            vec!["new.test", "other.test"],
            "last of domain/search wins"
        );
        assert_eq!(
            (c.ndots, c.timeout, c.attempts, c.use_vc),
            (15, Duration::from_secs(1), 5, true)
        );
        let empty = ResolvConf::parse("");
        assert_eq!(empty, ResolvConf::default());
        assert_eq!(empty.candidates("x"), vec!["x"]);
    }
}
