//! `ward lookup`: a drop-in for hostlookuper (same flags, env vars and
//! metrics) that also asks for other record types, resolves through a
//! resolv.conf exactly as the libc stub resolver does (and reports the
//! search-path amplification), classifies errors, and keeps running when a
//! host does not resolve.
//!
//! Entry points: [`agent::run`] for the long-running agent, [`Lookuper::round`]
//! for one round (what `ward lookup once` prints). Configuration is a plain
//! [`Config`]; its flag values parse with [`config::parse_hosts`] and
//! [`config::parse_servers`].
//!
//! ```
//! use ward_lookup::config::{parse_hosts, parse_servers, QueryKind};
//! let hosts = parse_hosts("kubernetes.default.svc.cluster.local:A,_dns._udp.x.test:SRV")?;
//! assert_eq!(hosts[1].kind.to_string(), "SRV");
//! let servers = parse_servers("udp://[2001:db8::1]:53,tcp-tls://9.9.9.9:853")?;
//! assert_eq!(servers[0].label, "udp://[2001:db8::1]:53");
//! # Ok::<(), ward_lookup::Error>(())
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

pub mod agent;
pub mod config;
pub mod error;
pub mod metrics;
mod query;
pub mod report;
pub mod resolv;
pub mod round;
mod stub;

pub use config::{Config, HostSpec, ServerSpec};
pub use error::{Error, Result};
pub use report::{Lookup, Query, QueryOutcome};
pub use resolv::ResolvConf;
pub use round::Lookuper;
