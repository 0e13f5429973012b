//! What a check is aimed at, parsed from one string:
//! `http(s)://host[:port]/path`, `tcp://host:port`,
//! `dns://server[:port]/name[?type=AAAA&proto=tcp]`.

use std::fmt;
use std::str::FromStr;

use url::Url;

use crate::dns::{DnsProto, DnsQuery};
use crate::error::ConfigError;

/// One thing to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An HTTP or HTTPS URL.
    Http(Url),
    /// A TCP endpoint: host name or IP, and port.
    Tcp {
        /// Host name or IP literal.
        host: String,
        /// Port.
        port: u16,
    },
    /// One DNS query to one server.
    Dns(DnsQuery),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http(url) => write!(f, "{url}"),
            Target::Tcp { host, port } => write!(f, "tcp://{}", join_host_port(host, *port)),
            Target::Dns(q) => write!(f, "{q}"),
        }
    }
}

/// `host:port`, bracketing IPv6 literals.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn bad(input: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Target {
        input: input.to_string(),
        reason: reason.into(),
    }
}

impl FromStr for Target {
    type Err = ConfigError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let url = Url::parse(input).map_err(|e| {
            bad(
                input,
                format!("{e}; expected http(s)://host/path, tcp://host:port or dns://server/name"),
            )
        })?;
        match url.scheme() {
            "http" | "https" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(bad(input, "URL has no host"));
                }
                Ok(Target::Http(url))
            }
            "tcp" => {
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| bad(input, "expected tcp://host:port"))?;
                let port = url
                    .port()
                    .ok_or_else(|| bad(input, "tcp target needs a port (tcp://host:port)"))?;
                Ok(Target::Tcp {
                    host: host.trim_matches(['[', ']']).to_string(),
                    port,
                })
            }
            "dns" => {
                let server = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| bad(input, "expected dns://server[:port]/name"))?;
                let name = url.path().trim_start_matches('/');
                if name.is_empty() {
                    return Err(bad(input, "no name to resolve (dns://server/name)"));
                }
                let mut query = DnsQuery::new(
                    server.trim_matches(['[', ']']),
                    url.port().unwrap_or(53),
                    name,
                );
                for (key, value) in url.query_pairs() {
                    match &*key {
                        "type" => {
                            query.record_type = value
                                .parse()
                                .map_err(|_| bad(input, format!("unknown record type {value:?}")))?
                        }
                        "proto" => {
                            query.proto = value.parse().map_err(|e: String| bad(input, e))?
                        }
                        other => {
                            return Err(bad(
                                input,
                                format!("unknown query parameter {other:?} (expected type, proto)"),
                            ))
                        }
                    }
                }
                if query.proto == DnsProto::Tls && url.port().is_none() {
                    query.port = 853;
                }
                Ok(Target::Dns(query))
            }
            other => Err(bad(
                input,
                format!("unknown scheme {other:?}; expected http, https, tcp or dns"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        assert!(matches!("http://a.test/x".parse(), Ok(Target::Http(_))));
        assert_eq!(
            "tcp://[::1]:80".parse::<Target>().unwrap(),
            Target::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        let Target::Dns(q) = "dns://127.0.0.1:5353/a.test?type=AAAA&proto=tcp"
            .parse()
            .unwrap()
        else {
            panic!("not dns")
        };
        assert_eq!(
            q.to_string(),
            "dns://127.0.0.1:5353/a.test?type=AAAA&proto=tcp"
        );
    }

    #[test]
    fn rejects_bad_targets_with_reason() {
        let err = |s: &str| s.parse::<Target>().unwrap_err().to_string();
        assert_eq!(
            err("ftp://x/"),
            "target \"ftp://x/\": unknown scheme \"ftp\"; expected http, https, tcp or dns"
        );
        assert_eq!(
            err("tcp://host"),
            "target \"tcp://host\": tcp target needs a port (tcp://host:port)"
        );
        assert_eq!(
            err("dns://1.1.1.1/x?type=BOGUS"),
            "target \"dns://1.1.1.1/x?type=BOGUS\": unknown record type \"BOGUS\""
        );
        assert!(err("not a url").starts_with("target \"not a url\": relative URL without a base"));
    }
}
