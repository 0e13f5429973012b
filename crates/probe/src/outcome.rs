//! The result value of one check: timeline, derived phases, what came back,
//! and the classified error if it failed.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::dns::DnsAnswer;
use crate::error::ProbeError;
use crate::http::TlsInfo;
use crate::trace::{Phases, Trace};

/// Everything one check measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The target, as text.
    pub target: String,
    /// True when the check passed.
    pub success: bool,
    /// Time from start to the end of the check (success or failure), in seconds.
    #[serde(with = "ward_duration::seconds")]
    pub total: Duration,
    /// When each event fired, seconds since start.
    pub events: Trace,
    /// Per-phase durations derived from `events`, in seconds.
    pub phases: Phases,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// HTTP version spoken (`HTTP/1.1`, `HTTP/2.0`).
    pub http_version: Option<String>,
    /// Fresh or reused, the connection's age and idle time before the request.
    #[serde(flatten)]
    pub connection: ConnectionFacts,
    /// Address connected to.
    pub remote_addr: Option<SocketAddr>,
    /// Response body bytes read.
    pub body_bytes: u64,
    /// TLS session facts, for HTTPS.
    pub tls: Option<TlsInfo>,
    /// DNS answer, for DNS checks.
    pub dns: Option<DnsAnswer>,
    /// Why the check failed.
    pub error: Option<ProbeError>,
    /// The redirect answers followed before the final one, in order.
    pub redirects: Vec<Hop>,
    /// HTTP/2 GOAWAY frames received on this check's connection, and (with
    /// reuse) on pooled connections to the same origin and address since
    /// their last check.
    pub goaways: u64,
}

/// What a request found on its connection: whether the connection was
/// fresh or reused, its age and how long it had been idle. A request on a
/// reused connection idle for about the server's (or a proxy's) keep-alive
/// timeout is the classic cause of a 502 or a reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionFacts {
    /// True when an already-open connection was used (no dns/connect/tls).
    pub reused: bool,
    /// Time since the connection was ready for its first request, in
    /// seconds; `None` when no connection was made.
    #[serde(rename = "connection_age", with = "ward_duration::seconds::option")]
    pub age: Option<Duration>,
    /// Reused connections: time since data last arrived on it (the end of
    /// the previous response), in seconds.
    #[serde(rename = "idle_before", with = "ward_duration::seconds::option")]
    pub idle: Option<Duration>,
}

/// One followed redirect of an HTTP check.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    /// The URL requested.
    pub target: String,
    /// Its 3xx status.
    pub status: u16,
    /// When each event of this request fired, seconds since it started.
    pub events: Trace,
}

impl Outcome {
    /// An empty outcome for `target`, to be filled in as the check runs.
    pub fn new(target: impl Into<String>, trace: Trace) -> Self {
        Self {
            target: target.into(),
            success: false,
            total: Duration::ZERO,
            events: trace,
            phases: Phases::default(),
            status: None,
            http_version: None,
            connection: ConnectionFacts::default(),
            remote_addr: None,
            body_bytes: 0,
            tls: None,
            dns: None,
            error: None,
            redirects: Vec::new(),
            goaways: 0,
        }
    }

    /// Seals the outcome: sets the trace, the derived phases, the total and success.
    pub fn finish(mut self, trace: Trace, error: Option<ProbeError>) -> Self {
        self.total = trace.started().elapsed();
        self.events = trace;
        self.phases = trace.phases();
        self.success = error.is_none();
        self.error = error;
        self
    }
}
