//! A TCP proxy on loopback that a test can take down and bring back, to make
//! a real server (e.g. the API server) unreachable for a while without
//! restarting it. Down means: the port refuses connections and open
//! connections are cut.
//!
//! [`TcpProxy::with_idle_drop`] makes it a middlebox that forgets idle
//! connections silently, as a NAT/conntrack table or a cloud load balancer
//! does when a connection's idle entry expires: once a connection has carried
//! no data in either direction for the given time, every later byte (and a
//! close) from either side vanishes. No FIN, no RST: both sides stay open and
//! only a request that never gets an answer tells.

use std::io::ErrorKind;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{wait, Error, Result};

/// Opens the proxy's connection to its target (a plain connect, or one made
/// inside a network namespace).
pub type Dialer = Arc<dyn Fn(SocketAddr) -> std::io::Result<TcpStream> + Send + Sync>;

/// A running proxy from [`TcpProxy::addr`] to a target; stops on drop.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    dial: Dialer,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    idle_drop: Option<Duration>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding a free 127.0.0.1 port to `target`.
    pub fn start(target: SocketAddr) -> Result<Self> {
        Self::start_with(target, None, direct())
    }

    /// Starts forwarding a free 127.0.0.1 port to `target`, reached through `dial`.
    pub fn start_via(target: SocketAddr, dial: Dialer) -> Result<Self> {
        Self::start_with(target, None, dial)
    }

    /// Starts forwarding a free 127.0.0.1 port to `target`, silently dropping
    /// each connection once it has been idle for `after`: from then on nothing
    /// is forwarded in either direction and neither side is closed.
    pub fn with_idle_drop(target: SocketAddr, after: Duration) -> Result<Self> {
        Self::start_with(target, Some(after), direct())
    }

    fn start_with(target: SocketAddr, idle_drop: Option<Duration>, dial: Dialer) -> Result<Self> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("tcp proxy", "binding", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("tcp proxy", "local address", e))?;
        let mut proxy = Self {
            addr,
            target,
            dial,
            up: Arc::new(AtomicBool::new(true)),
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
            idle_drop,
            acceptor: None,
        };
        proxy.acceptor = Some(proxy.spawn_acceptor(listener)?);
        Ok(proxy)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn spawn_acceptor(&self, listener: TcpListener) -> Result<std::thread::JoinHandle<()>> {
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("tcp proxy", "non-blocking listener", e))?;
        let (up, stop, open, target, idle_drop, dial) = (
            self.up.clone(),
            self.stop.clone(),
            self.open.clone(),
            self.target,
            self.idle_drop,
            self.dial.clone(),
        );
        Ok(std::thread::spawn(move || {
            while up.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = dial(target) else {
                            continue;
                        };
                        if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                            if let Ok(mut open) = open.lock() {
                                open.push(c2);
                                open.push(s2);
                            }
                        }
                        let link = Arc::new(Link {
                            idle_drop,
                            state: Mutex::new((Instant::now(), false)),
                        });
                        pipe(client.try_clone(), server.try_clone(), link.clone());
                        pipe(server.try_clone(), client.try_clone(), link);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        // Poll period of the accept loop.
                        wait::until(Duration::from_millis(5), || None::<()>);
                    }
                    Err(_) => break,
                }
            }
        }))
    }

    /// Takes the proxy down: the port refuses connections, open ones are cut.
    pub fn down(&mut self) {
        self.up.store(false, Ordering::Relaxed);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        if let Ok(mut open) = self.open.lock() {
            for s in open.drain(..) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Brings the proxy back on the same port.
    pub fn up(&mut self) -> Result<()> {
        let listener = TcpListener::bind(self.addr)
            .map_err(|e| Error::io("tcp proxy", format!("rebinding {}", self.addr), e))?;
        self.up.store(true, Ordering::Relaxed);
        self.acceptor = Some(self.spawn_acceptor(listener)?);
        Ok(())
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.down();
    }
}

/// A plain connect from the test process, with a 2 s timeout.
fn direct() -> Dialer {
    Arc::new(|target| TcpStream::connect_timeout(&target, Duration::from_secs(2)))
}

/// The state both directions of one proxied connection share.
struct Link {
    /// Forget the connection once it has been idle this long.
    idle_drop: Option<Duration>,
    /// When data last went through, and whether the connection was dropped.
    state: Mutex<(Instant, bool)>,
}

impl Link {
    /// Whether data arriving now may pass. Expiry is checked lazily, like a
    /// conntrack entry: the first packet after the idle time finds none.
    fn pass(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let (last, dropped) = &mut *state;
        let now = Instant::now();
        if *dropped || self.idle_drop.is_some_and(|d| now - *last >= d) {
            *dropped = true;
            return false;
        }
        *last = now;
        true
    }
}

fn pipe(from: std::io::Result<TcpStream>, to: std::io::Result<TcpStream>, link: Arc<Link>) {
    if let (Ok(mut from), Ok(mut to)) = (from, to) {
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 << 10];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if link.pass() && to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            if link.pass() {
                let _ = to.shutdown(Shutdown::Write);
            }
        });
    }
}
