//! Which requests go through an HTTP forward proxy, decided as Go's
//! `http.ProxyFromEnvironment` (golang.org/x/net/http/httpproxy) decides:
//! `HTTP_PROXY` for http URLs, `HTTPS_PROXY` for https URLs, `NO_PROXY`
//! exceptions, the upper-case variable before the lower-case one, and
//! `localhost` and loopback addresses never proxied. Opening the tunnel is
//! [`crate::http::Connector`]'s job.

use std::net::IpAddr;

use url::{Host, Url};

/// Why a proxy setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?}: {reason}")]
pub struct ProxyError {
    /// The variable read (`HTTPS_PROXY`, `https_proxy`, …).
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The proxy settings of a prober; the default proxies nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Proxy for http URLs.
    pub http: Option<Url>,
    /// Proxy for https URLs (reached with `CONNECT`).
    pub https: Option<Url>,
    /// Hosts reached directly (`NO_PROXY`).
    pub no_proxy: NoProxy,
}

impl ProxyConfig {
    /// Reads `HTTP_PROXY`/`http_proxy`, `HTTPS_PROXY`/`https_proxy` and
    /// `NO_PROXY`/`no_proxy` through `env` (the first non-empty of each pair,
    /// as Go). A value without a scheme is an `http://` proxy, as in Go; a
    /// value that is not a URL, or a scheme other than `http`, is an error
    /// (Go ignores the first and also speaks `https` and `socks5` to proxies).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, ProxyError> {
        let any = |names: [&'static str; 2]| {
            names
                .into_iter()
                .find_map(|n| env(n).filter(|v| !v.is_empty()).map(|v| (n, v)))
        };
        let proxy = |names| any(names).map(|(n, v)| parse_proxy(n, &v)).transpose();
        Ok(Self {
            http: proxy(["HTTP_PROXY", "http_proxy"])?,
            https: proxy(["HTTPS_PROXY", "https_proxy"])?,
            no_proxy: NoProxy::parse(
                &any(["NO_PROXY", "no_proxy"])
                    .map(|(_, v)| v)
                    .unwrap_or_default(),
            ),
        })
    }

    /// The proxy a request to `url` goes through, or `None` for a direct connection.
    pub fn for_url(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = url.host()?;
        let port = url.port_or_known_default().unwrap_or(0);
        self.no_proxy.proxies(&host, port).then_some(proxy)
    }
}

/// Go's `parseProxy`: try the value as a URL, then with `http://` in front.
fn parse_proxy(variable: &'static str, value: &str) -> Result<Url, ProxyError> {
    let error = |reason: String| ProxyError {
        variable,
        value: value.to_string(),
        reason,
    };
    let url = match Url::parse(value) {
        Ok(url) if url.host().is_some() => url,
        _ => match Url::parse(&format!("http://{value}")) {
            Ok(url) if url.host().is_some() => url,
            Ok(_) => return Err(error("not a proxy URL: no host".to_string())),
            Err(e) => return Err(error(format!("not a proxy URL: {e}"))),
        },
    };
    if url.scheme() != "http" {
        return Err(error(format!(
            "proxy scheme {:?} is not supported (only http://)",
            url.scheme()
        )));
    }
    Ok(url)
}

/// `NO_PROXY` entries: `*`, IP addresses and CIDR ranges, domain names
/// (`example.com` also matches its subdomains, `.example.com` and
/// `*.example.com` only them), each with an optional `:port`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<NoProxyEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxyEntry {
    Cidr {
        net: IpAddr,
        prefix: u8,
    },
    Ip {
        ip: IpAddr,
        port: Option<u16>,
    },
    Domain {
        /// With a leading dot.
        suffix: String,
        /// The entry had no leading dot or `*`: the name itself matches too.
        exact_too: bool,
        port: Option<u16>,
    },
}

impl NoProxy {
    /// Parses a comma-separated list, skipping malformed entries as Go does.
    pub fn parse(list: &str) -> Self {
        let mut no_proxy = Self::default();
        for entry in list.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                no_proxy.all = true;
                continue;
            }
            if let Some(cidr) = parse_cidr(&entry) {
                no_proxy.entries.push(cidr);
                continue;
            }
            let (host, port) = split_host_port(&entry);
            let port = match port {
                Some(p) => match p.parse::<u16>() {
                    Ok(p) => Some(p),
                    Err(_) => continue,
                },
                None => None,
            };
            if let Ok(ip) = host.parse::<IpAddr>() {
                no_proxy.entries.push(NoProxyEntry::Ip { ip, port });
                continue;
            }
            let name = host.strip_prefix('*').unwrap_or(host);
            if name.is_empty() || name == "." {
                continue;
            }
            let exact_too = !name.starts_with('.');
            no_proxy.entries.push(NoProxyEntry::Domain {
                suffix: if exact_too {
                    format!(".{name}")
                } else {
                    name.to_string()
                },
                exact_too,
                port,
            });
        }
        no_proxy
    }

    /// Go's `useProxy`: false for `localhost`, loopback addresses and any host `NO_PROXY` names.
    pub fn proxies(&self, host: &Host<&str>, port: u16) -> bool {
        let (name, ip) = match host {
            Host::Domain(d) => (d.to_ascii_lowercase(), d.parse::<IpAddr>().ok()),
            Host::Ipv4(ip) => (ip.to_string(), Some(IpAddr::V4(*ip))),
            Host::Ipv6(ip) => (ip.to_string(), Some(IpAddr::V6(*ip))),
        };
        if name == "localhost" || ip.is_some_and(|ip| canonical(ip).is_loopback()) {
            return false;
        }
        if self.all {
            return false;
        }
        let port_ok = |p: &Option<u16>| p.is_none_or(|p| p == port);
        !self.entries.iter().any(|entry| match entry {
            NoProxyEntry::Cidr { net, prefix } => ip.is_some_and(|ip| in_cidr(ip, *net, *prefix)),
            NoProxyEntry::Ip { ip: want, port: p } => {
                ip.is_some_and(|ip| canonical(ip) == canonical(*want)) && port_ok(p)
            }
            NoProxyEntry::Domain {
                suffix,
                exact_too,
                port: p,
            } => {
                (name.ends_with(suffix.as_str()) || (*exact_too && name == suffix[1..]))
                    && port_ok(p)
            }
        })
    }
}

/// `host:port`, `[v6]:port` or a bare host (Go's `net.SplitHostPort`, failing to the whole entry).
fn split_host_port(entry: &str) -> (&str, Option<&str>) {
    if let Some(rest) = entry.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return (host, after.strip_prefix(':'));
        }
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (entry, None),
    }
}

fn parse_cidr(entry: &str) -> Option<NoProxyEntry> {
    let (ip, prefix) = entry.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (prefix <= max).then_some(NoProxyEntry::Cidr { net: ip, prefix })
}

/// IPv4-mapped IPv6 addresses as IPv4, as Go's `net.IP` compares them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (canonical(ip), canonical(net)) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(http: &str, https: &str, no_proxy: &str) -> ProxyConfig {
        let vars = [
            ("HTTP_PROXY", http),
            ("HTTPS_PROXY", https),
            ("NO_PROXY", no_proxy),
        ];
        ProxyConfig::from_env(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    fn via(c: &ProxyConfig, url: &str) -> Option<String> {
        c.for_url(&Url::parse(url).unwrap()).map(|u| u.to_string())
    }

    /// Cases from Go's `httpproxy` `proxyForURLTests`.
    #[test]
    fn proxy_choice_is_gos() {
        let c = config("http.proxy:3128", "", "");
        assert_eq!(
            via(&c, "http://example.com/"),
            Some("http://http.proxy:3128/".into())
        );
        assert_eq!(via(&c, "https://example.com/"), None);
        let c = config("cache.corp:3128", "127.0.0.1:8888", "");
        assert_eq!(
            via(&c, "https://example.com/"),
            Some("http://127.0.0.1:8888/".into())
        );
        assert_eq!(via(&c, "http://localhost/"), None);
        assert_eq!(via(&c, "http://localhost:80/"), None);
        assert_eq!(via(&c, "http://127.0.0.1:8080/"), None);
        assert_eq!(via(&c, "http://127.9.9.9/"), None);
        assert_eq!(via(&c, "http://[::1]:80/"), None);
        assert_eq!(via(&c, "http://[::ffff:127.0.0.1]/"), None);
        // Only the exact name: Go proxies these.
        assert_eq!(
            via(&c, "http://localhost.localdomain/"),
            Some("http://cache.corp:3128/".into())
        );
        assert_eq!(
            via(&c, "http://0.0.0.0/"),
            Some("http://cache.corp:3128/".into())
        );
    }

    #[test]
    fn no_proxy_matches_as_go() {
        let c = config(
            "http://p:1",
            "",
            "foobar.com, .barbaz.net, *.wildcard.io, 10.0.0.0/8, 192.168.1.1, 192.168.1.2:81, [2001:db8::52:0:1]:443, 2001:db8::/32 ,example.org:8080,,*",
        );
        assert!(c.no_proxy.all);
        let c = config(
            "http://p:1",
            "",
            "foobar.com, .barbaz.net, *.wildcard.io, 10.0.0.0/8, 192.168.1.1, 192.168.1.2:81, fd00::/8, example.org:8080",
        );
        let direct = [
            "http://foobar.com/",
            "http://www.foobar.com/",
            "http://FOOBAR.com/",
            "http://www.barbaz.net/",
            "http://a.wildcard.io/",
            "http://10.1.2.3/",
            "http://192.168.1.1:9999/",
            "http://192.168.1.2:81/",
            "http://[fd00::1]/",
            "http://example.org:8080/",
        ];
        for url in direct {
            assert_eq!(via(&c, url), None, "{url}");
        }
        let proxied = [
            "http://barfoobar.com/",
            "http://barbaz.net/",
            "http://wildcard.io/",
            "http://11.0.0.1/",
            "http://192.168.1.2/",
            "http://[fe80::1]/",
            "http://example.org/",
            "http://foobar.com.evil/",
        ];
        for url in proxied {
            assert_eq!(via(&c, url), Some("http://p:1/".into()), "{url}");
        }
    }

    #[test]
    fn upper_case_wins_and_empty_falls_through_to_lower_case() {
        let env = |k: &str| match k {
            "HTTP_PROXY" => Some(String::new()),
            "http_proxy" => Some("http://lower:1".into()),
            "HTTPS_PROXY" => Some("http://upper:2".into()),
            "https_proxy" => Some("http://lower:2".into()),
            "no_proxy" => Some("example.com".into()),
            _ => None,
        };
        let c = ProxyConfig::from_env(env).unwrap();
        assert_eq!(c.http.unwrap().as_str(), "http://lower:1/");
        assert_eq!(c.https.unwrap().as_str(), "http://upper:2/");
        assert_eq!(c.no_proxy, NoProxy::parse("example.com"));
    }

    #[test]
    fn unusable_proxies_name_the_variable() {
        let err = |k: &'static str, v: &'static str| {
            ProxyConfig::from_env(|n| (n == k).then(|| v.to_string()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
            "HTTPS_PROXY=\"socks5://127.0.0.1:1080\": proxy scheme \"socks5\" is not supported (only http://)"
        );
        assert_eq!(
            err("http_proxy", "10.0.0.1:80a"),
            "http_proxy=\"10.0.0.1:80a\": not a proxy URL: invalid port number"
        );
    }
}
