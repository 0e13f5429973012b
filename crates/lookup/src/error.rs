//! The one error type of the lookup crate: every variant names the input it
//! rejects (flag value, file, server) and what was expected.

use std::path::PathBuf;

/// What can go wrong while configuring or starting `ward lookup`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host list is empty.
    #[error("no hosts to look up (expected a comma-separated list such as google.ch,ch.ch)")]
    NoHosts,
    /// One host entry is not a DNS name, or its `:TYPE` suffix is unknown.
    #[error("host {host:?}: {reason}")]
    Host {
        /// The entry as written.
        host: String,
        /// Why it was rejected.
        reason: String,
    },
    /// One server entry is not `[proto://]host[:port]`.
    #[error("DNS server {server:?}: {reason}")]
    Server {
        /// The entry as written.
        server: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Neither servers nor a resolv.conf were given: nothing to probe.
    #[error("no DNS servers to probe (give -dns-servers or --resolv-conf)")]
    NoServers,
    /// The resolv.conf file could not be read.
    #[error("reading resolv.conf {path}: {source}")]
    ResolvConf {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The listen address is not `[host]:port`.
    #[error("listen address {0:?}: expected [host]:port such as :9090 or 127.0.0.1:9090")]
    Listen(String),
    /// The HTTP endpoint could not listen.
    #[error("listening on {listen}: {source}")]
    Bind {
        /// The `-listen` value.
        listen: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A TLS configuration for DNS over TLS could not be built.
    #[error("configuring TLS for tcp-tls servers: {0}")]
    Tls(#[source] ward_probe::ConfigError),
    /// A duration is zero where a positive one is needed.
    #[error("{flag} must be greater than zero")]
    ZeroDuration {
        /// The flag concerned.
        flag: &'static str,
    },
}

/// Result alias of the lookup crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
