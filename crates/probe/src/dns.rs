//! One DNS query to one server over UDP, TCP or TLS (DoT), timed, with the
//! response code and answers kept: no retries, no TCP fallback and no search
//! list, so callers (`ward lookup`) decide those and can count every query.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio_rustls::TlsConnector;

use crate::error::{ErrorClass, ProbeError};
use crate::target::join_host_port;
use crate::tcp;
use crate::trace::{Event, Trace};

/// Transport for a DNS query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsProto {
    /// Plain UDP (default).
    #[default]
    Udp,
    /// Plain TCP (length-prefixed).
    Tcp,
    /// DNS over TLS (RFC 7858).
    Tls,
}

impl DnsProto {
    /// `udp`, `tcp` or `tcp-tls` (hostlookuper's spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            DnsProto::Udp => "udp",
            DnsProto::Tcp => "tcp",
            DnsProto::Tls => "tcp-tls",
        }
    }
}

impl FromStr for DnsProto {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "udp" => Ok(DnsProto::Udp),
            "tcp" => Ok(DnsProto::Tcp),
            "tls" | "tcp-tls" | "dot" => Ok(DnsProto::Tls),
            other => Err(format!(
                "unknown DNS protocol {other:?} (expected udp, tcp or tcp-tls)"
            )),
        }
    }
}

/// One question for one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    /// Server IP (or host name for DoT, resolved with the system resolver).
    pub server: String,
    /// Server port.
    pub port: u16,
    /// Transport.
    pub proto: DnsProto,
    /// Name to look up, taken as fully qualified.
    pub name: String,
    /// Record type.
    pub record_type: RecordType,
}

impl DnsQuery {
    /// An A query for `name` over UDP.
    pub fn new(server: &str, port: u16, name: &str) -> Self {
        Self {
            server: server.to_string(),
            port,
            proto: DnsProto::Udp,
            name: name.to_string(),
            record_type: RecordType::A,
        }
    }

    /// `host:port` of the server.
    pub fn server_addr(&self) -> String {
        join_host_port(&self.server, self.port)
    }
}

impl fmt::Display for DnsQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dns://{}/{}", self.server_addr(), self.name)?;
        let mut sep = '?';
        if self.record_type != RecordType::A {
            write!(f, "{sep}type={}", self.record_type)?;
            sep = '&';
        }
        if self.proto != DnsProto::Udp {
            write!(
                f,
                "{sep}proto={}",
                match self.proto {
                    DnsProto::Tls => "tls",
                    p => p.as_str(),
                }
            )?;
        }
        Ok(())
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    /// Response code (`NOERROR`, `NXDOMAIN`, …).
    pub rcode: String,
    /// Answer records, one per line in zone-file form.
    pub answers: Vec<String>,
    /// The TC bit: the answer did not fit (UDP); retry over TCP.
    pub truncated: bool,
}

/// Why a DNS query failed, in classes stable enough for a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsFailure {
    /// No answer in time.
    Timeout,
    /// The server refused (ICMP port unreachable, TCP RST, or rcode REFUSED).
    Refused,
    /// The answer was truncated (TC bit) over UDP.
    Truncated,
    /// SERVFAIL.
    Servfail,
    /// NXDOMAIN.
    Nxdomain,
    /// Any other transport failure (unreachable network, TLS, malformed reply, other rcodes).
    Network,
}

impl DnsFailure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DnsFailure::Timeout => "timeout",
            DnsFailure::Refused => "refused",
            DnsFailure::Truncated => "truncated",
            DnsFailure::Servfail => "servfail",
            DnsFailure::Nxdomain => "nxdomain",
            DnsFailure::Network => "network",
        }
    }

    /// Classifies an answer's rcode (and TC bit); `None` when it is a success.
    pub fn of_answer(answer: &DnsAnswer) -> Option<Self> {
        match answer.rcode.as_str() {
            "NOERROR" if answer.truncated => Some(DnsFailure::Truncated),
            "NOERROR" => None,
            "NXDOMAIN" => Some(DnsFailure::Nxdomain),
            "SERVFAIL" => Some(DnsFailure::Servfail),
            "REFUSED" => Some(DnsFailure::Refused),
            _ => Some(DnsFailure::Network),
        }
    }
}

/// A failed query: class and one-line message naming server and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsError {
    /// Stable class.
    pub failure: DnsFailure,
    /// What happened.
    pub message: String,
}

impl DnsError {
    /// As a generic probe error (class `dns`).
    pub fn to_probe_error(&self) -> ProbeError {
        ProbeError::new(ErrorClass::Dns, Some(Event::DnsDone), self.message.clone())
    }
}

/// Largest UDP answer accepted (EDNS is not advertised, so 512 is the protocol limit; allow more).
const MAX_UDP: usize = 4096;

/// Sends `query` once and waits up to `timeout` for the answer.
///
/// Marks `connect_*` (TCP/TLS), `tls_handshake_*` (TLS), `wrote_request` and
/// `got_first_resp_byte` on `trace`. A response with any rcode is `Ok`: the
/// caller decides what counts as failure (see [`DnsFailure::of_answer`]).
pub async fn query(
    query: &DnsQuery,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
    trace: &mut Trace,
) -> Result<DnsAnswer, DnsError> {
    match tokio::time::timeout(timeout, exchange(query, tls, trace)).await {
        Ok(result) => result,
        Err(_) => Err(DnsError {
            failure: DnsFailure::Timeout,
            message: format!(
                "{} {} via {}/{}: no answer within {:?}",
                query.record_type,
                query.name,
                query.server_addr(),
                query.proto.as_str(),
                // Whole milliseconds: a caller passing what is left of its
                // budget (999.997566ms) means its timeout (1s).
                Duration::from_millis((timeout.as_secs_f64() * 1e3).round() as u64)
            ),
        }),
    }
}

async fn exchange(
    q: &DnsQuery,
    tls: Option<&Arc<ClientConfig>>,
    trace: &mut Trace,
) -> Result<DnsAnswer, DnsError> {
    let err = |failure, what: String| DnsError {
        failure,
        message: format!(
            "{} {} via {}/{}: {what}",
            q.record_type,
            q.name,
            q.server_addr(),
            q.proto.as_str()
        ),
    };
    let name = Name::from_str(&q.name)
        .map(|mut n| {
            n.set_fqdn(true);
            n
        })
        .map_err(|e| err(DnsFailure::Network, format!("invalid name: {e}")))?;
    let id: u16 = rand::random();
    let wire = Message::new()
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, q.record_type))
        .to_vec()
        .map_err(|e| err(DnsFailure::Network, format!("encoding query: {e}")))?;
    let reply = match q.proto {
        DnsProto::Udp => {
            let ip: IpAddr = q.server.parse().map_err(|_| {
                err(
                    DnsFailure::Network,
                    "UDP server must be an IP address".into(),
                )
            })?;
            let server = SocketAddr::new(ip, q.port);
            let bind: SocketAddr = if ip.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }
                .parse()
                .map_err(|_| err(DnsFailure::Network, "bind address".into()))?;
            let socket = UdpSocket::bind(bind)
                .await
                .map_err(|e| err(DnsFailure::Network, format!("binding UDP socket: {e}")))?;
            socket
                .connect(server)
                .await
                .map_err(|e| err(io_failure(&e), format!("{e}")))?;
            socket
                .send(&wire)
                .await
                .map_err(|e| err(io_failure(&e), format!("sending: {e}")))?;
            trace.mark(Event::WroteRequest);
            loop {
                // The buffer exists only once a datagram is waiting (peeked into
                // two bytes; an ICMP error such as port unreachable comes back
                // here too): queries in flight do not each hold MAX_UDP bytes.
                socket
                    .peek(&mut [0u8; 2])
                    .await
                    .map_err(|e| err(io_failure(&e), format!("receiving: {e}")))?;
                let mut buf = vec![0u8; MAX_UDP];
                let n = socket
                    .recv(&mut buf)
                    .await
                    .map_err(|e| err(io_failure(&e), format!("receiving: {e}")))?;
                // Ignore stray datagrams whose id does not match.
                if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                    trace.mark(Event::GotFirstRespByte);
                    buf.truncate(n);
                    break buf;
                }
            }
        }
        // Boxed: the TCP and TLS state machines are several times larger than
        // the UDP one, and every UDP query would otherwise carry their size.
        DnsProto::Tcp => {
            Box::pin(async {
                let (stream, _) = tcp::connect(&q.server, q.port, None, trace)
                    .await
                    .map_err(|e| err(connect_failure(&e), e.message))?;
                stream_exchange(stream, &wire, trace)
                    .await
                    .map_err(|e| err(io_failure(&e), format!("{e}")))
            })
            .await?
        }
        DnsProto::Tls => {
            Box::pin(async {
                let config =
                    tls.ok_or_else(|| err(DnsFailure::Network, "no TLS configuration".into()))?;
                let (stream, _) = tcp::connect(&q.server, q.port, None, trace)
                    .await
                    .map_err(|e| err(connect_failure(&e), e.message))?;
                let server_name = ServerName::try_from(q.server.clone())
                    .map_err(|e| err(DnsFailure::Network, format!("TLS server name: {e}")))?;
                trace.mark(Event::TlsHandshakeStart);
                let mut config = (**config).clone();
                config.alpn_protocols = vec![b"dot".to_vec()];
                let tls_stream = TlsConnector::from(Arc::new(config))
                    .connect(server_name, stream)
                    .await
                    .map_err(|e| err(DnsFailure::Network, format!("TLS handshake: {e}")))?;
                trace.mark(Event::TlsHandshakeDone);
                stream_exchange(tls_stream, &wire, trace)
                    .await
                    .map_err(|e| err(io_failure(&e), format!("{e}")))
            })
            .await?
        }
    };
    let response = Message::from_vec(&reply)
        .map_err(|e| err(DnsFailure::Network, format!("malformed answer: {e}")))?;
    if response.id() != id {
        return Err(err(
            DnsFailure::Network,
            "answer id does not match the query".into(),
        ));
    }
    let rcode = response.response_code();
    Ok(DnsAnswer {
        rcode: rcode_name(rcode),
        answers: response.answers().iter().map(|r| r.to_string()).collect(),
        truncated: response.truncated(),
    })
}

async fn stream_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    wire: &[u8],
    trace: &mut Trace,
) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(wire.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await?;
    stream.flush().await?;
    trace.mark(Event::WroteRequest);
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    trace.mark(Event::GotFirstRespByte);
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut reply).await?;
    Ok(reply)
}

fn io_failure(e: &std::io::Error) -> DnsFailure {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => {
            DnsFailure::Refused
        }
        std::io::ErrorKind::TimedOut => DnsFailure::Timeout,
        _ => DnsFailure::Network,
    }
}

fn connect_failure(e: &ProbeError) -> DnsFailure {
    match e.class {
        ErrorClass::ConnectRefused => DnsFailure::Refused,
        ErrorClass::ConnectTimeout => DnsFailure::Timeout,
        _ => DnsFailure::Network,
    }
}

/// The conventional upper-case rcode name (`NOERROR`, `NXDOMAIN`, …).
pub fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => u16::from(other).to_string(),
    }
}
