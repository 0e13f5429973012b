//! One traced check: HTTP(S), TCP or DNS, with per-phase timings and a
//! classified error, returned as a value. No metrics, no scheduling, no printing.
//!
//! Entry point: build a [`Prober`] from a [`ProberConfig`], then
//! [`Prober::check`] a [`Target`]. Callers that manage connections themselves
//! (the load generator) use [`http::Connector`] and [`http::Connection`];
//! `ward probe` repeats one check with [`Prober::repeat`], against its
//! [`demo`] server when asked.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ward_probe::{Prober, ProberConfig, Target};
//! let prober = Prober::new(ProberConfig::default())?;
//! let outcome = prober.check(&"https://example.test/".parse::<Target>()?).await;
//! println!("{:?} {:?}", outcome.status, outcome.error);
//! # Ok(()) }
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

pub mod demo;
pub mod dns;
pub mod error;
pub mod http;
pub mod outcome;
pub mod prober;
pub mod proxy;
pub mod repeat;
pub mod summary;
pub mod target;
pub mod tcp;
pub mod tls;
pub mod trace;

pub use error::{ConfigError, ErrorClass, ProbeError, TlsFile};
pub use outcome::{ConnectionFacts, Outcome};
pub use prober::{Prober, ProberConfig};
pub use proxy::ProxyConfig;
pub use repeat::Check;
pub use target::Target;
pub use trace::{Event, Phase, Trace};
