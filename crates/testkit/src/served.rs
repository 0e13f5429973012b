//! A TCP listener served on threads (one accepting, one per connection) for
//! the test servers written here ([`crate::backend`], [`crate::hostile`]):
//! its address, the connections it accepted, and a stop on drop that also
//! wakes a blocked `accept` (by shutting the socket down, which works for a
//! listener inside a network namespace too, where a connection from the test
//! would not reach it).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Error, Result};

/// A listener being served; stops accepting on drop.
pub(crate) struct Served {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicU64>,
    /// The listening socket, shut down on drop to end a blocked `accept`.
    waker: TcpListener,
}

impl Served {
    /// Accepts at most `limit` connections on `listener` and runs
    /// `handle(stream)` on a thread of its own for each, until dropped.
    /// `stop` is set on drop: handlers that loop read it. `what` names the
    /// server in errors and thread names.
    pub(crate) fn start(
        what: &'static str,
        listener: TcpListener,
        limit: usize,
        stop: Arc<AtomicBool>,
        handle: impl Fn(TcpStream) + Send + Sync + 'static,
    ) -> Result<Self> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io(what, "reading the bound address", e))?;
        let waker = listener
            .try_clone()
            .map_err(|e| Error::io(what, "cloning the listener", e))?;
        let connections = Arc::new(AtomicU64::new(0));
        let (accepted, stopped, handle) = (connections.clone(), stop.clone(), Arc::new(handle));
        std::thread::Builder::new()
            .name(format!("testkit-{what}"))
            .spawn(move || {
                for stream in listener.incoming().take(limit) {
                    if stopped.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let handle = handle.clone();
                    let _ = std::thread::Builder::new()
                        .name(format!("testkit-{what}-conn"))
                        .spawn(move || handle(stream));
                }
            })
            .map_err(|e| Error::io(what, "spawning the accept thread", e))?;
        Ok(Served {
            addr,
            stop,
            connections,
            waker,
        })
    }

    /// The listening address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDRESS:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ =
            nix::sys::socket::shutdown(self.waker.as_raw_fd(), nix::sys::socket::Shutdown::Read);
    }
}
