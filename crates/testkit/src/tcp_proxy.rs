//! A TCP proxy on loopback that a test can take down and bring back, to make
//! a real server (e.g. the API server) unreachable for a while without
//! restarting it. Down means: the port refuses connections and open
//! connections are cut.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{wait, Error, Result};

/// A running proxy from [`TcpProxy::addr`] to a target; stops on drop.
pub struct TcpProxy {
    addr: SocketAddr,
    target: SocketAddr,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl TcpProxy {
    /// Starts forwarding a free 127.0.0.1 port to `target`.
    pub fn start(target: SocketAddr) -> Result<Self> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("tcp proxy", "binding", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("tcp proxy", "local address", e))?;
        let mut proxy = Self {
            addr,
            target,
            up: Arc::new(AtomicBool::new(true)),
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(Vec::new())),
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
        let (up, stop, open, target) = (
            self.up.clone(),
            self.stop.clone(),
            self.open.clone(),
            self.target,
        );
        Ok(std::thread::spawn(move || {
            while up.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) =
                            TcpStream::connect_timeout(&target, Duration::from_secs(2))
                        else {
                            continue;
                        };
                        if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                            if let Ok(mut open) = open.lock() {
                                open.push(c2);
                                open.push(s2);
                            }
                        }
                        pipe(client.try_clone(), server.try_clone());
                        pipe(server.try_clone(), client.try_clone());
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

fn pipe(from: std::io::Result<TcpStream>, to: std::io::Result<TcpStream>) {
    if let (Ok(mut from), Ok(mut to)) = (from, to) {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}
