//! One query to one server through `ward_probe::dns::query`, turned into a
//! [`Query`] record with hostlookuper's notion of round-trip time (from the
//! moment the connection is up to the answer; connection set-up excluded, as
//! in miekg/dns). Server names are resolved here, every time, with the system
//! resolver: a server whose address changes is followed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use rustls::ClientConfig;
use ward_probe::dns::{self, DnsFailure, DnsProto, DnsQuery};
use ward_probe::{Event, Trace};

use crate::report::{Query, QueryOutcome};

/// Where a query goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct To<'a> {
    /// IP literal or host name.
    pub host: &'a str,
    /// Port.
    pub port: u16,
    /// Transport.
    pub proto: DnsProto,
    /// Label for reports.
    pub label: &'a str,
}

/// Sends one query and waits up to `timeout` (name resolution of the server included).
pub(crate) async fn send(
    to: To<'_>,
    name: &str,
    record_type: RecordType,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Query {
    let name = name.trim_end_matches('.');
    let record = |rtt, outcome| Query {
        name: name.to_string(),
        record_type: record_type.to_string(),
        server: to.label.to_string(),
        rtt,
        outcome,
    };
    let started = tokio::time::Instant::now();
    let server = match (to.host.parse::<IpAddr>(), to.proto) {
        (Ok(ip), _) => ip.to_string(),
        (Err(_), DnsProto::Tls) => to.host.to_string(),
        (Err(_), _) => match resolve(to.host, to.port, timeout).await {
            Ok(ip) => ip.to_string(),
            Err(message) => {
                return record(
                    None,
                    QueryOutcome::Error {
                        class: DnsFailure::Network,
                        message,
                    },
                )
            }
        },
    };
    let q = DnsQuery {
        server,
        port: to.port,
        proto: to.proto,
        name: name.to_string(),
        record_type,
    };
    let left = timeout.saturating_sub(started.elapsed());
    let mut trace = Trace::start();
    match dns::query(&q, tls, left, &mut trace).await {
        Ok(answer) => {
            let from = trace
                .get(Event::TlsHandshakeDone)
                .or(trace.get(Event::ConnectDone))
                .unwrap_or_default();
            let rtt = trace
                .get(Event::GotFirstRespByte)
                .map(|t| t.saturating_sub(from));
            record(rtt, QueryOutcome::Answer(answer))
        }
        Err(e) => record(
            None,
            QueryOutcome::Error {
                class: e.failure,
                message: e.message,
            },
        ),
    }
}

async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<IpAddr, String> {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("resolving DNS server {host}: no address")),
        Ok(Err(e)) => Err(format!("resolving DNS server {host}: {e}")),
        Err(_) => Err(format!(
            "resolving DNS server {host}: no answer within {timeout:?}"
        )),
    }
}
