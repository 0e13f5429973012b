//! A DNS relay for fault tests: sits on loopback in front of a real DNS
//! server (UDP and TCP on the same port) and drops every Nth UDP query,
//! delays queries, or truncates UDP answers (TC bit set, records removed) so
//! clients must retry over TCP, which is relayed untouched.
//!
//! Faults are deterministic: drops follow a counter, not a random number, so a
//! test can assert exact counts. The relay runs on its own thread and stops on
//! drop.

use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket as StdUdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;

use crate::{Error, Result};

/// Configures a relay before it starts.
#[derive(Debug, Clone)]
pub struct Builder {
    upstream: SocketAddr,
    ip: String,
    drop_every: Option<u64>,
    delay: Duration,
    truncate: bool,
}

impl Builder {
    /// Listens on this loopback IP instead of 127.0.0.1.
    pub fn bind_ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = ip.into();
        self
    }

    /// Drops the Nth, 2Nth, 3Nth… UDP query (a fraction of 1/N); `0` drops nothing.
    pub fn drop_every(mut self, n: u64) -> Self {
        self.drop_every = (n > 0).then_some(n);
        self
    }

    /// Holds every query (UDP and TCP connections) this long before relaying it.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers every UDP query with the TC bit set and no records; TCP is relayed intact.
    pub fn truncate_udp(mut self, on: bool) -> Self {
        self.truncate = on;
        self
    }

    /// Binds UDP and TCP on one free port and starts relaying.
    pub fn start(self) -> Result<DnsRelay> {
        let (udp, tcp) = bind_pair(&self.ip)?;
        let addr = udp
            .local_addr()
            .map_err(|e| Error::io("dns relay", "reading local address", e))?;
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("dns relay", "starting runtime", e))?;
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("dns-relay".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (Ok(udp), Ok(tcp)) = (UdpSocket::from_std(udp), TcpListener::from_std(tcp))
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = relay_udp(Arc::new(udp), self.clone(), s.clone()) => {}
                        _ = relay_tcp(tcp, self, s) => {}
                    }
                });
            })
            .map_err(|e| Error::io("dns relay", "spawning thread", e))?;
        Ok(DnsRelay {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn bind_pair(ip: &str) -> Result<(StdUdpSocket, StdTcpListener)> {
    let mut last = None;
    for _ in 0..100 {
        let udp = StdUdpSocket::bind((ip, 0))
            .map_err(|e| Error::io("dns relay", format!("binding UDP on {ip}"), e))?;
        let port = udp
            .local_addr()
            .map_err(|e| Error::io("dns relay", "reading local address", e))?
            .port();
        match StdTcpListener::bind((ip, port)) {
            Ok(tcp) => {
                for s in [udp.set_nonblocking(true), tcp.set_nonblocking(true)] {
                    s.map_err(|e| Error::io("dns relay", "setting non-blocking", e))?;
                }
                return Ok((udp, tcp));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(Error::io(
        "dns relay",
        format!("no port free for UDP and TCP on {ip}"),
        last.unwrap_or_else(|| std::io::ErrorKind::AddrInUse.into()),
    ))
}

/// What the relay saw.
#[derive(Debug, Default)]
struct Stats {
    udp_queries: AtomicU64,
    dropped: AtomicU64,
    truncated: AtomicU64,
    tcp_connections: AtomicU64,
    udp_arrivals: Mutex<Vec<Instant>>,
}

/// A running relay; stopped on drop.
#[derive(Debug)]
pub struct DnsRelay {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl DnsRelay {
    /// Configures a relay in front of `upstream` (a DNS server's UDP+TCP address).
    pub fn to(upstream: SocketAddr) -> Builder {
        Builder {
            upstream,
            ip: "127.0.0.1".into(),
            drop_every: None,
            delay: Duration::ZERO,
            truncate: false,
        }
    }

    /// Address clients send to (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// UDP queries received (dropped ones included).
    pub fn udp_queries(&self) -> u64 {
        self.stats.udp_queries.load(Ordering::SeqCst)
    }

    /// UDP queries dropped.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::SeqCst)
    }

    /// UDP answers sent back truncated.
    pub fn truncated(&self) -> u64 {
        self.stats.truncated.load(Ordering::SeqCst)
    }

    /// TCP connections accepted.
    pub fn tcp_connections(&self) -> u64 {
        self.stats.tcp_connections.load(Ordering::SeqCst)
    }

    /// When each UDP query arrived, as the time since the first one, in order.
    pub fn udp_arrivals(&self) -> Vec<Duration> {
        let arrivals = self
            .stats
            .udp_arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let first = arrivals.first().copied();
        arrivals
            .iter()
            .map(|at| first.map_or(Duration::ZERO, |f| at.duration_since(f)))
            .collect()
    }
}

impl Drop for DnsRelay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn relay_udp(socket: Arc<UdpSocket>, cfg: Builder, stats: Arc<Stats>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, client)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        stats
            .udp_arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
        let seq = stats.udp_queries.fetch_add(1, Ordering::SeqCst) + 1;
        if cfg
            .drop_every
            .is_some_and(|every| seq.is_multiple_of(every))
        {
            stats.dropped.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        let query = buf[..n].to_vec();
        let socket = socket.clone();
        let stats = stats.clone();
        let (upstream, delay, truncate) = (cfg.upstream, cfg.delay, cfg.truncate);
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let Some(mut answer) = exchange_udp(upstream, &query).await else {
                return;
            };
            if truncate && truncate_answer(&mut answer) {
                stats.truncated.fetch_add(1, Ordering::SeqCst);
            }
            let _ = socket.send_to(&answer, client).await;
        });
    }
}

async fn exchange_udp(upstream: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    }
    .parse()
    .ok()?;
    let socket = UdpSocket::bind(bind).await.ok()?;
    socket.connect(upstream).await.ok()?;
    socket.send(query).await.ok()?;
    let mut buf = vec![0u8; 65_535];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Sets TC, zeroes the record counts and cuts everything after the question section.
fn truncate_answer(msg: &mut Vec<u8>) -> bool {
    if msg.len() < 12 {
        return false;
    }
    let questions = u16::from_be_bytes([msg[4], msg[5]]);
    let mut at = 12;
    for _ in 0..questions {
        loop {
            let Some(&len) = msg.get(at) else {
                return false;
            };
            if len == 0 {
                at += 1;
                break;
            }
            if len & 0xC0 == 0xC0 {
                at += 2;
                break;
            }
            at += 1 + len as usize;
        }
        at += 4;
    }
    if at > msg.len() {
        return false;
    }
    msg.truncate(at);
    msg[2] |= 0x02;
    msg[6..12].fill(0);
    true
}

async fn relay_tcp(listener: TcpListener, cfg: Builder, stats: Arc<Stats>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        stats.tcp_connections.fetch_add(1, Ordering::SeqCst);
        let (upstream, delay) = (cfg.upstream, cfg.delay);
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Ok(mut server) = TcpStream::connect(upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_answer;

    #[test]
    fn truncation_keeps_the_question_only() {
        // id, flags (QR RD RA), 1 question, 1 answer; question a.test A IN; answer.
        let mut msg = vec![0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        msg.extend([1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1]);
        let question_end = msg.len();
        msg.extend([0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9]);
        assert!(truncate_answer(&mut msg));
        assert_eq!(msg.len(), question_end);
        assert_eq!(msg[2] & 0x02, 0x02);
        assert_eq!(&msg[6..12], &[0; 6]);
    }
}
