//! Test support: starts real servers on loopback with free ports and a deadline,
//! and stops them on drop (even when the test process dies).
//!
//! Every server a test needs comes from here: tests never spawn nginx,
//! Prometheus, a DNS server or the control plane by hand.
#![deny(missing_docs)]
// Test support waits on real processes in real time, also in a test that has
// paused tokio's clock: std::time::Instant (banned elsewhere) is its clock.
#![allow(clippy::disallowed_types)]

pub mod backend;
pub mod browser;
pub mod coredns;
pub mod dns;
pub mod dns_relay;
pub mod forward_proxy;
pub mod helm;
pub mod hostile;
pub mod isolate;
pub mod kube;
pub mod net;
pub mod netns;
pub mod nginx;
pub mod otlp;
pub mod process;
pub mod prometheus;
pub mod prometheus_operator;
pub mod real_node;
mod reaper;
mod served;
pub mod tcp_proxy;
pub mod tls;
pub mod tomcat;
pub mod wait;

pub use process::{Error, Process, Result};
