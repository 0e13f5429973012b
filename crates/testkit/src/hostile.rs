//! A hostile HTTP peer on loopback: a raw TCP server that answers each
//! request with what nginx cannot be made to send (an endless header, a
//! 10 GB body, a response trickled a byte at a time, bytes that are not
//! UTF-8, a redirect), or relays the connection to another server (to show
//! a certificate under a name it was not issued for). It keeps the head of
//! every request it received, so a test can see which headers arrived.
//!
//! Every loop is bounded (bytes written, connections served) and every
//! socket has a timeout; the server stops on drop.
//!
//! ```no_run
//! use ward_testkit::hostile::{Answer, Hostile};
//! let peer = Hostile::start("127.0.0.1", |_| Answer::EndlessHeader).unwrap();
//! let url = peer.url("/");
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::served::Served;
use crate::{Error, Result};

/// The most bytes one answer writes, whatever it announces.
pub const MAX_WRITE: u64 = 1 << 30;

/// The most connections a hostile peer serves before it stops accepting.
const MAX_CONNECTIONS: usize = 10_000;

/// The most request heads kept for [`Hostile::requests`].
const MAX_KEPT: usize = 1_000;

/// How long a write may block before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the peer sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `200 OK` and a header whose value never ends (until [`MAX_WRITE`] or
    /// the client goes away).
    EndlessHeader,
    /// `200 OK` announcing a body of this many bytes, and sending it (until
    /// [`MAX_WRITE`] or the client goes away).
    Body(u64),
    /// A valid `200 OK` head, one byte every interval, never finished.
    Slowloris(Duration),
    /// `200` with a reason phrase, a header and a body that are not UTF-8.
    InvalidUtf8,
    /// A redirect with this status to this `Location` (sent as raw bytes).
    Redirect(u16, Vec<u8>),
    /// `200 OK` with the body `ok`.
    Ok,
    /// Relays the connection's bytes both ways to another server.
    Relay(SocketAddr),
}

struct Shared {
    /// Set when the peer is dropped: answers in progress end.
    stop: Arc<AtomicBool>,
    written: AtomicU64,
    requests: Mutex<Vec<String>>,
}

/// A running hostile peer; stops accepting on drop, and its connections end
/// at their next write.
pub struct Hostile {
    served: Served,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Listens on a free port of `ip` (a loopback address) and answers each
    /// request with `decide(request head)`.
    pub fn start(
        ip: &str,
        decide: impl Fn(&str) -> Answer + Send + Sync + 'static,
    ) -> Result<Self> {
        let listener = TcpListener::bind((ip, 0))
            .map_err(|e| Error::io("hostile peer", format!("binding {ip}:0"), e))?;
        let shared = Arc::new(Shared {
            stop: Arc::default(),
            written: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
        });
        let state = shared.clone();
        let served = Served::start(
            "hostile",
            listener,
            MAX_CONNECTIONS,
            shared.stop.clone(),
            move |stream| serve(stream, &decide, &state),
        )?;
        Ok(Hostile { served, shared })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// `http://IP:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.served.connections()
    }

    /// Bytes written to clients so far (relayed bytes excluded).
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// The heads of the requests received so far (request line and headers,
    /// lossy UTF-8), oldest first; at most the first 1,000.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Reads one request head (at most 64 KiB, 10 s).
fn read_head(stream: &mut TcpStream) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Serves requests on one connection until the client leaves or an answer ends it.
fn serve(mut stream: TcpStream, decide: impl Fn(&str) -> Answer, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let first = decide("");
    if let Answer::Relay(to) = first {
        relay(stream, to, shared);
        return;
    }
    // At most 100 requests per connection: the keep-alive ones are redirects and `Ok`.
    for _ in 0..100 {
        let Some(head) = read_head(&mut stream) else {
            return;
        };
        {
            let mut kept = shared.requests.lock().unwrap_or_else(|p| p.into_inner());
            if kept.len() < MAX_KEPT {
                kept.push(head.clone());
            }
        }
        let keep_alive = match decide(&head) {
            Answer::EndlessHeader => {
                let _ = write(&mut stream, shared, b"HTTP/1.1 200 OK\r\nX-Endless: ");
                fill(&mut stream, shared, b'a', MAX_WRITE, Duration::ZERO);
                false
            }
            Answer::Body(n) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                let _ = write(&mut stream, shared, head.as_bytes());
                fill(&mut stream, shared, b'x', n.min(MAX_WRITE), Duration::ZERO);
                false
            }
            Answer::Slowloris(every) => {
                let head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Slow: ";
                for b in head {
                    if !write(&mut stream, shared, &[*b]) || !pause(shared, every) {
                        return;
                    }
                }
                fill(&mut stream, shared, b's', 10_000, every);
                false
            }
            Answer::InvalidUtf8 => write(
                &mut stream,
                shared,
                b"HTTP/1.1 200 \xff\xfe\xfd\r\nX-Bytes: \xc3\x28\xa0\xa1\r\nContent-Length: 4\r\n\r\n\xff\xfe\xfd\xfc",
            ),
            Answer::Redirect(status, location) => {
                let mut answer = format!("HTTP/1.1 {status} Redirect\r\nLocation: ").into_bytes();
                answer.extend_from_slice(&location);
                answer.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
                write(&mut stream, shared, &answer)
            }
            Answer::Ok => write(
                &mut stream,
                shared,
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            ),
            Answer::Relay(_) => false,
        };
        if !keep_alive {
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Writes `bytes`; false when the client is gone or the peer is stopping.
fn write(stream: &mut TcpStream, shared: &Shared, bytes: &[u8]) -> bool {
    if shared.stop.load(Ordering::Relaxed) || stream.write_all(bytes).is_err() {
        return false;
    }
    shared
        .written
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    true
}

/// Waits `d` (the pace of a slow answer); false when the peer is stopping.
fn pause(shared: &Shared, d: Duration) -> bool {
    if !d.is_zero() {
        #[allow(clippy::disallowed_methods)] // the pace of a trickled answer, not synchronisation
        std::thread::sleep(d);
    }
    !shared.stop.load(Ordering::Relaxed)
}

/// Writes `total` bytes of `byte`: in 64 KiB pieces, or one at a time every
/// `every` when it is not zero; stops early when the client goes away.
fn fill(stream: &mut TcpStream, shared: &Shared, byte: u8, total: u64, every: Duration) {
    let piece = if every.is_zero() { 64 * 1024 } else { 1 };
    let chunk = vec![byte; piece];
    let mut left = total;
    while left > 0 {
        let n = left.min(piece as u64) as usize;
        if !write(stream, shared, &chunk[..n]) || !pause(shared, every) {
            return;
        }
        left -= n as u64;
    }
}

/// Copies bytes both ways between `client` and a new connection to `to`
/// until either side closes (each read bounded by a 10 s timeout).
fn relay(client: TcpStream, to: SocketAddr, shared: &Shared) {
    let Ok(server) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) else {
        return;
    };
    let pipe = |mut from: TcpStream, mut into: TcpStream| {
        let _ = from.set_read_timeout(Some(Duration::from_secs(10)));
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if into.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = into.shutdown(Shutdown::Write);
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("testkit-hostile-relay".into())
        .spawn(move || pipe(s2, c2));
    if !shared.stop.load(Ordering::Relaxed) {
        pipe(client, server);
    }
    if let Ok(back) = back {
        let _ = back.join();
    }
}
