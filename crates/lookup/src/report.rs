//! What one round returns: a [`Lookup`] per host × server (or per host through
//! resolv.conf), each with every query it sent. Plain data for metrics,
//! `ward lookup once` tables and JSON; no formatting here.

use std::time::Duration;

use serde::Serialize;
use ward_probe::dns::{DnsAnswer, DnsFailure};

/// One query sent to one server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Query {
    /// The name asked (absolute, without trailing dot).
    pub name: String,
    /// Record type asked.
    pub record_type: String,
    /// The server, `proto://ip:port`.
    pub server: String,
    /// Round trip (write to answer), when an answer came.
    #[serde(rename = "rtt_seconds", with = "ward_duration::seconds::option")]
    pub rtt: Option<Duration>,
    /// The answer, or why there is none.
    pub outcome: QueryOutcome,
}

/// An answer or a classified failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryOutcome {
    /// The server answered (any rcode).
    Answer(DnsAnswer),
    /// No usable answer.
    Error {
        /// Stable class (timeout, refused, network, …).
        class: DnsFailure,
        /// What happened, naming server and name.
        message: String,
    },
}

impl QueryOutcome {
    /// The error class of this outcome (rcode-based for answers), `None` on success.
    pub fn failure(&self) -> Option<DnsFailure> {
        match self {
            QueryOutcome::Answer(a) => DnsFailure::of_answer(a),
            QueryOutcome::Error { class, .. } => Some(*class),
        }
    }
}

/// One lookup of one host: directly at one server, or through resolv.conf.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lookup {
    /// The `host` label (the entry as written).
    pub host: String,
    /// The `dns_server` label (`udp://…` or `resolv.conf`).
    pub server: String,
    /// Time the lookup took: the exchange round trip for a direct query, the
    /// whole search-path walk (all queries, in sequence) through resolv.conf.
    #[serde(rename = "duration_seconds", with = "ward_duration::seconds")]
    pub duration: Duration,
    /// Final response code, when a server answered.
    pub rcode: Option<String>,
    /// Why the lookup failed, if it did (`nxdomain` and `servfail` included).
    pub failure: Option<DnsFailure>,
    /// True when no answer came at all (transport error): hostlookuper's error.
    pub transport_error: bool,
    /// Answer records of the final answer.
    pub answers: Vec<String>,
    /// Every query sent, in order.
    pub queries: Vec<Query>,
    /// Error message of the deciding failure, if any.
    pub message: Option<String>,
}

impl Lookup {
    /// Number of queries the lookup sent.
    pub fn queries_sent(&self) -> usize {
        self.queries.len()
    }

    /// True when the host resolved (NOERROR, not truncated).
    pub fn succeeded(&self) -> bool {
        self.failure.is_none() && !self.transport_error
    }
}
