//! Cluster DNS for the simulation: the names CoreDNS's `kubernetes` plugin
//! serves (configured with `pods insecure` and no `forward`), answered at
//! query time from the store's Services, Pods and Namespaces, over UDP and TCP
//! on one port of 127.0.0.1. It owns the answers and the three faults the lab
//! injects (drop every query, delay every answer, answer SERVFAIL to every
//! query, as CoreDNS does when its upstream or the API is broken); the lab
//! decides when.
//!
//! | name (in zone `cluster.local`) | answer |
//! |---|---|
//! | `SVC.NS.svc` of a ClusterIP Service | A/AAAA: its `clusterIPs` |
//! | `SVC.NS.svc` of a headless Service | A/AAAA: the IPs of its ready endpoints (pods matching the selector, not terminating, Ready or `publishNotReadyAddresses`); none: NXDOMAIN |
//! | `SVC.NS.svc` of an ExternalName Service | CNAME to `externalName` |
//! | `EP.SVC.NS.svc` | the endpoint whose hostname (pod `hostname` with `subdomain` = SVC) or dashed IP (`10-1-2-3`) is EP |
//! | `A-B-C-D.NS.pod` | A: that IP, if namespace NS exists (`pods insecure`) |
//! | the zone, `svc`, `pod`, an existing `NS.svc`/`NS.pod` | NOERROR without records (SOA at the apex) |
//! | anything else in the zone | NXDOMAIN with the zone's SOA |
//! | outside the zone | SERVFAIL, not authoritative: CoreDNS's answer when no plugin after `kubernetes` takes the name (a cluster's `forward` would) |
//!
//! Not served: SRV, PTR, wildcards, `dns-version`; the NS record at the apex.
//! UDP answers larger than 512 bytes (or the client's EDNS size) are cut to
//! the records that fit and marked truncated (TC), as CoreDNS does; TCP
//! answers are whole.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

use crate::server::Shared;
use crate::store::{resource, Selection, Store};
use crate::Error;

/// CoreDNS's default cluster domain.
pub const DEFAULT_ZONE: &str = "cluster.local";
/// TTL of every record (CoreDNS's `kubernetes` default).
pub const TTL: u32 = 5;
/// Largest UDP answer without EDNS.
const UDP_LIMIT: usize = 512;
/// Largest UDP answer whatever the client's EDNS size says.
const EDNS_LIMIT: u16 = 4096;
/// A TCP connection without a query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Settings of the cluster DNS.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Where to listen, UDP and TCP (port 0: one free for both).
    pub listen: SocketAddr,
    /// The cluster domain.
    pub zone: String,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            zone: DEFAULT_ZONE.into(),
        }
    }
}

#[derive(Debug, Default)]
struct Faults {
    down: AtomicBool,
    servfail: AtomicBool,
    delay_ms: AtomicU64,
}

/// A running cluster DNS; stops when dropped.
#[derive(Debug)]
pub struct ClusterDns {
    addr: SocketAddr,
    faults: Arc<Faults>,
    stop: CancellationToken,
}

impl Drop for ClusterDns {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

// === impl ClusterDns ===

impl ClusterDns {
    /// Binds UDP and TCP on one port and serves `shared`'s objects.
    pub(crate) async fn start(shared: Arc<Shared>, config: DnsConfig) -> Result<Self, Error> {
        let (udp, tcp) = bind(config.listen).await?;
        let addr = udp.local_addr().map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
        let zone = config.zone.trim_matches('.').to_ascii_lowercase();
        let server = Arc::new(Server {
            shared,
            zone,
            faults: Arc::default(),
            stop: CancellationToken::new(),
        });
        tokio::spawn(server.clone().serve_udp(Arc::new(udp)));
        tokio::spawn(server.clone().serve_tcp(tcp));
        tracing::info!(%addr, zone = %server.zone, "kube-sim DNS listening");
        Ok(Self {
            addr,
            faults: server.faults.clone(),
            stop: server.stop.clone(),
        })
    }

    /// The address, UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Down: every query is dropped unanswered (clients time out).
    pub fn set_down(&self, down: bool) {
        self.faults.down.store(down, Ordering::Relaxed);
    }

    /// Failing: every query is answered SERVFAIL (no records).
    pub fn set_servfail(&self, servfail: bool) {
        self.faults.servfail.store(servfail, Ordering::Relaxed);
    }

    /// Every answer waits this long first (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.faults.delay_ms.store(ms, Ordering::Relaxed);
    }
}

/// UDP and TCP on the same port; with port 0, tries a few free UDP ports.
async fn bind(listen: SocketAddr) -> Result<(UdpSocket, TcpListener), Error> {
    let err = |source| Error::Listen {
        addr: listen,
        source,
    };
    let attempts = if listen.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(listen).await.map_err(err)?;
        let addr = udp.local_addr().map_err(err)?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(err(
        last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into())
    ))
}

struct Server {
    shared: Arc<Shared>,
    zone: String,
    faults: Arc<Faults>,
    stop: CancellationToken,
}

// === impl Server ===

impl Server {
    fn delay(&self) -> Duration {
        Duration::from_millis(self.faults.delay_ms.load(Ordering::Relaxed))
    }

    fn down(&self) -> bool {
        self.faults.down.load(Ordering::Relaxed)
    }

    /// The encoded reply to one packet (`None`: not a query, or down).
    async fn reply(&self, packet: &[u8], udp: bool) -> Option<Vec<u8>> {
        if self.down() {
            return None;
        }
        let query = Message::from_vec(packet).ok()?;
        if query.message_type() != MessageType::Query {
            return None;
        }
        let delay = self.delay();
        if !delay.is_zero() {
            tokio::select! {
                _ = self.stop.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        let limit = udp.then(|| udp_limit(&query));
        let reply = if self.faults.servfail.load(Ordering::Relaxed) {
            let mut reply = header(&query);
            reply.set_response_code(ResponseCode::ServFail);
            reply
        } else {
            answer(&self.shared.store, &self.zone, &query)
        };
        encode(reply, limit)
    }

    async fn serve_udp(self: Arc<Self>, socket: Arc<UdpSocket>) {
        let mut buf = vec![0u8; usize::from(EDNS_LIMIT)];
        loop {
            let received = tokio::select! {
                _ = self.stop.cancelled() => return,
                r = socket.recv_from(&mut buf) => r,
            };
            let Ok((n, peer)) = received else {
                tokio::task::yield_now().await;
                continue;
            };
            let packet = buf[..n].to_vec();
            let me = self.clone();
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Some(reply) = me.reply(&packet, true).await {
                    let _ = socket.send_to(&reply, peer).await;
                }
            });
        }
    }

    async fn serve_tcp(self: Arc<Self>, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.stop.cancelled() => return,
                a = listener.accept() => a,
            };
            let Ok((stream, _)) = accepted else {
                tokio::task::yield_now().await;
                continue;
            };
            tokio::spawn(self.clone().connection(stream));
        }
    }

    /// Queries on one TCP connection, answered in order; closed when idle.
    async fn connection(self: Arc<Self>, mut stream: TcpStream) {
        loop {
            let read = async {
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await?;
                let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut packet).await?;
                Ok::<_, std::io::Error>(packet)
            };
            let packet = tokio::select! {
                _ = self.stop.cancelled() => return,
                r = tokio::time::timeout(TCP_IDLE, read) => match r {
                    Ok(Ok(p)) => p,
                    _ => return,
                },
            };
            let Some(reply) = self.reply(&packet, false).await else {
                continue;
            };
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            if stream.write_all(&framed).await.is_err() {
                return;
            }
        }
    }
}

/// The UDP size the client accepts: 512, or its EDNS size up to 4096.
fn udp_limit(query: &Message) -> usize {
    query.extensions().as_ref().map_or(UDP_LIMIT, |e| {
        usize::from(e.max_payload().min(EDNS_LIMIT)).max(UDP_LIMIT)
    })
}

/// Encodes `reply`; over UDP (`limit`), keeps only the answers that fit and sets TC.
fn encode(mut reply: Message, limit: Option<usize>) -> Option<Vec<u8>> {
    let whole = reply.to_vec().ok()?;
    let Some(limit) = limit.filter(|l| whole.len() > *l) else {
        return Some(whole);
    };
    let answers = reply.take_answers();
    reply.take_name_servers();
    reply.take_additionals();
    reply.set_truncated(true);
    let with = |n: usize| {
        let mut m = reply.clone();
        m.add_answers(answers.iter().take(n).cloned());
        m.to_vec().ok()
    };
    // The most answers that fit: binary search over the count.
    let (mut fits, mut too_many) = (0, answers.len());
    while too_many - fits > 1 {
        let mid = (fits + too_many) / 2;
        if with(mid).is_some_and(|b| b.len() <= limit) {
            fits = mid;
        } else {
            too_many = mid;
        }
    }
    with(fits)
}

/// What a name holds, before it becomes a message.
#[derive(Debug, PartialEq)]
enum Found {
    /// Records of the asked type.
    Records(Vec<Record>),
    /// The name exists, without records of that type.
    NoData,
    /// No such name in the zone.
    NxDomain,
    /// Not in the zone.
    NotOurs,
}

/// A reply to `query` without records: its id, opcode, question and EDNS.
fn header(query: &Message) -> Message {
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_recursion_desired(query.recursion_desired())
        .add_queries(query.queries().iter().cloned());
    if query.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_LIMIT);
        reply.set_edns(edns);
    }
    reply
}

/// The reply to `query`, from the objects in `store` now.
fn answer(store: &Store, zone: &str, query: &Message) -> Message {
    let mut reply = header(query);
    let q = match (query.op_code(), query.queries()) {
        (OpCode::Query, [q]) => q,
        (OpCode::Query, _) => {
            reply.set_response_code(ResponseCode::FormErr);
            return reply;
        }
        _ => {
            reply.set_response_code(ResponseCode::NotImp);
            return reply;
        }
    };
    let asked = q.name().to_lowercase().to_ascii();
    let found = lookup(
        store,
        zone,
        asked.trim_end_matches('.'),
        q.query_type(),
        q.name(),
    );
    let soa = || soa(store, zone);
    match found {
        Found::NotOurs => {
            reply.set_response_code(ResponseCode::ServFail);
        }
        Found::NxDomain => {
            reply
                .set_authoritative(true)
                .set_response_code(ResponseCode::NXDomain)
                .add_name_servers(soa());
        }
        Found::NoData => {
            reply.set_authoritative(true).add_name_servers(soa());
        }
        Found::Records(records) => {
            reply.set_authoritative(true).add_answers(records);
        }
    }
    reply
}

/// The zone's SOA record (serial: the store's resourceVersion), if the zone is a valid name.
fn soa(store: &Store, zone: &str) -> Option<Record> {
    let name = |prefix: &str| Name::from_str(&format!("{prefix}{zone}.")).ok();
    let serial = u32::try_from(store.resource_version() % u64::from(u32::MAX)).unwrap_or(1);
    let rdata = SOA::new(
        name("ns.dns.")?,
        name("hostmaster.")?,
        serial,
        7200,
        1800,
        86400,
        TTL,
    );
    Some(Record::from_rdata(name("")?, TTL, RData::SOA(rdata)))
}

/// Resolves `name` (lower case, no trailing dot); records are owned by `owner`.
fn lookup(store: &Store, zone: &str, name: &str, qtype: RecordType, owner: &Name) -> Found {
    if name == zone {
        return match (qtype, soa(store, zone)) {
            (RecordType::SOA, Some(soa)) => Found::Records(vec![soa]),
            _ => Found::NoData,
        };
    }
    let Some(rest) = name
        .strip_suffix(zone)
        .and_then(|r| r.strip_suffix('.'))
        .filter(|r| !r.is_empty())
    else {
        return Found::NotOurs;
    };
    let labels: Vec<&str> = rest.split('.').collect();
    match labels.as_slice() {
        ["svc"] | ["pod"] => Found::NoData,
        [ns, "svc" | "pod"] if namespace_exists(store, ns) => Found::NoData,
        [svc, ns, "svc"] => service(store, ns, svc, None, qtype, owner),
        [endpoint, svc, ns, "svc"] => service(store, ns, svc, Some(endpoint), qtype, owner),
        [ip, ns, "pod"] if namespace_exists(store, ns) => match undash(ip) {
            Some(ip) => addresses(&[ip], qtype, owner),
            None => Found::NxDomain,
        },
        _ => Found::NxDomain,
    }
}

fn namespace_exists(store: &Store, ns: &str) -> bool {
    resource("namespaces").is_some_and(|r| store.get(r, "", ns).is_ok())
}

/// `10-1-2-3` → 10.1.2.3; `fd00--1` → fd00::1.
fn undash(label: &str) -> Option<IpAddr> {
    label
        .replace('-', ".")
        .parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| label.replace('-', ":").parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

/// `10.1.2.3` → `10-1-2-3`; IPv6 with `:` → `-`.
fn dash(ip: &IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

/// The records of the asked family; NODATA when the name has none of it.
fn addresses(ips: &[IpAddr], qtype: RecordType, owner: &Name) -> Found {
    let records: Vec<Record> = ips
        .iter()
        .filter_map(|ip| match (qtype, ip) {
            (RecordType::A, IpAddr::V4(v4)) => Some(RData::A(A(*v4))),
            (RecordType::AAAA, IpAddr::V6(v6)) => Some(RData::AAAA(AAAA(*v6))),
            _ => None,
        })
        .map(|rdata| Record::from_rdata(owner.clone(), TTL, rdata))
        .collect();
    if records.is_empty() {
        Found::NoData
    } else {
        Found::Records(records)
    }
}

fn service(
    store: &Store,
    ns: &str,
    name: &str,
    endpoint: Option<&str>,
    qtype: RecordType,
    owner: &Name,
) -> Found {
    let Some(svc) = resource("services").and_then(|r| store.get(r, ns, name).ok()) else {
        return Found::NxDomain;
    };
    let spec = &svc["spec"];
    if spec["type"] == "ExternalName" {
        let target = spec["externalName"].as_str().unwrap_or_default();
        return match (endpoint, Name::from_str(&format!("{target}."))) {
            (None, Ok(target))
                if matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::CNAME) =>
            {
                Found::Records(vec![Record::from_rdata(
                    owner.clone(),
                    TTL,
                    RData::CNAME(CNAME(target)),
                )])
            }
            (None, Ok(_)) => Found::NoData,
            _ => Found::NxDomain,
        };
    }
    let headless = spec["clusterIP"] == "None";
    if endpoint.is_none() && !headless {
        let ips: Vec<IpAddr> = strings(&spec["clusterIPs"])
            .chain(spec["clusterIP"].as_str())
            .filter_map(|s| s.parse().ok())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return addresses(&ips, qtype, owner);
    }
    let ips: Vec<IpAddr> = ready_endpoints(store, ns, name, spec)
        .into_iter()
        .filter(|(hostname, ip)| {
            endpoint.is_none_or(|e| hostname.as_deref() == Some(e) || dash(ip) == e)
        })
        .map(|(_, ip)| ip)
        .collect();
    if ips.is_empty() {
        Found::NxDomain
    } else {
        addresses(&ips, qtype, owner)
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

/// What the EndpointSlice controller would list for the Service: (hostname, IP)
/// of each pod in `ns` matching its selector, with an IP, not terminating and
/// not finished, and Ready (or any, with `publishNotReadyAddresses`).
fn ready_endpoints(
    store: &Store,
    ns: &str,
    service: &str,
    spec: &Value,
) -> Vec<(Option<String>, IpAddr)> {
    let Some(selector) = spec["selector"].as_object().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let not_ready_too = spec["publishNotReadyAddresses"] == true;
    let selection = Selection {
        namespace: Some(ns.to_string()),
        ..Default::default()
    };
    let Some(pods) = resource("pods").and_then(|r| store.list(r, &selection, None, None).ok())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pod in &pods.items {
        let labels = &pod["metadata"]["labels"];
        let matches = selector.iter().all(|(k, v)| &labels[k] == v);
        let status = &pod["status"];
        let finished = matches!(status["phase"].as_str(), Some("Succeeded" | "Failed"));
        let terminating = !pod["metadata"]["deletionTimestamp"].is_null();
        let ready = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        if !matches || finished || terminating || !(ready || not_ready_too) {
            continue;
        }
        let hostname = pod["spec"]["hostname"]
            .as_str()
            .filter(|_| pod["spec"]["subdomain"] == service)
            .map(str::to_string);
        let pod_ips: Vec<&Value> = match status["podIPs"].as_array() {
            Some(list) if !list.is_empty() => list.iter().map(|p| &p["ip"]).collect(),
            _ => vec![&status["podIP"]],
        };
        for ip in pod_ips
            .into_iter()
            .filter_map(|v| v.as_str()?.parse::<IpAddr>().ok())
        {
            out.push((hostname.clone(), ip));
        }
    }
    out.sort_by_key(|e| e.1);
    out.dedup();
    out
}

#[cfg(test)]
mod tests;
