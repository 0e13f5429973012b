//! Staged HTTP load generation and keep-alive diagnosis, on top of
//! `ward-probe`'s connection API. No printing: every entry point returns a
//! report, and long runs publish [`run::Progress`] on a watch channel for the
//! caller to render.
//!
//! Entry points:
//! - [`run::run`]: a closed-model ([`plan::Plan`] of VU stages) or open-model
//!   (constant arrival rate) load test returning a [`stats::Summary`];
//! - [`idle::probe`]: measures a server's idle keep-alive timeout from the client;
//! - [`race::race`]: drives requests through a proxy so that they land on
//!   pooled upstream connections just as the backend closes them;
//! - [`audit::audit`]: reads ingress-nginx's upstream keep-alive timeout and
//!   measures every Service endpoint behind an Ingress against it.
//!
//! [`scenario`] reads plans as users write them (stages, rates, files).
//!
//! The generator never retries a request on its own.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ward_load::{plan::Plan, run::{run, LoadConfig, Model}};
//! let url = "http://127.0.0.1:8080/".parse()?;
//! let config = LoadConfig::new(url, Model::Closed(Plan::flat(10, Duration::from_secs(5))))?;
//! let (progress, _rx) = tokio::sync::watch::channel(Default::default());
//! let summary = run(config, progress, Default::default()).await?;
//! println!("{} requests, p95 {:?}", summary.requests, summary.latency.p95);
//! # Ok(()) }
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

pub mod audit;
pub mod error;
pub mod idle;
pub mod plan;
pub mod race;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod threshold;

pub use error::{Error, Result};
