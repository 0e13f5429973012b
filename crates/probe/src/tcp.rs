//! Name resolution and TCP connect, each traced; shared by the HTTP, TCP and
//! DNS-over-TCP checks.

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;

use crate::error::{ErrorClass, ProbeError};
use crate::target::join_host_port;
use crate::trace::{Event, Trace};

/// Resolves `host` with the system resolver; IP literals skip resolution (no DNS events).
pub async fn resolve(
    host: &str,
    port: u16,
    trace: &mut Trace,
) -> Result<Vec<SocketAddr>, ProbeError> {
    let bare = host.trim_matches(['[', ']']);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    trace.mark(Event::DnsStart);
    let result = tokio::net::lookup_host((bare, port)).await;
    match result {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                return Err(ProbeError::new(
                    ErrorClass::Dns,
                    Some(Event::DnsDone),
                    format!("resolving {bare}: no addresses"),
                ));
            }
            trace.mark(Event::DnsDone);
            Ok(addrs)
        }
        Err(e) => Err(ProbeError::new(
            ErrorClass::Dns,
            Some(Event::DnsDone),
            format!("resolving {bare}: {e}"),
        )),
    }
}

/// Connects to the first address that accepts; `connect_to` overrides resolution (like curl's `--resolve`).
pub async fn connect(
    host: &str,
    port: u16,
    connect_to: Option<SocketAddr>,
    trace: &mut Trace,
) -> Result<(TcpStream, SocketAddr), ProbeError> {
    let addrs = match connect_to {
        Some(addr) => vec![addr],
        None => resolve(host, port, trace).await?,
    };
    trace.mark(Event::ConnectStart);
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                trace.mark(Event::ConnectDone);
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    let (addr, e) = last.unwrap_or_else(|| {
        (
            SocketAddr::from(([0, 0, 0, 0], port)),
            io::Error::new(io::ErrorKind::NotFound, "no address"),
        )
    });
    Err(connect_error(&join_host_port(host, port), addr, &e))
}

/// Classifies a failed connect.
pub fn connect_error(target: &str, addr: SocketAddr, e: &io::Error) -> ProbeError {
    let class = match e.kind() {
        io::ErrorKind::ConnectionRefused => ErrorClass::ConnectRefused,
        io::ErrorKind::TimedOut => ErrorClass::ConnectTimeout,
        _ => ErrorClass::Connect,
    };
    ProbeError::new(
        class,
        Some(Event::ConnectDone),
        format!("connecting to {target} ({addr}): {e}"),
    )
}
