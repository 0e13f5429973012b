//! A small HTTP/1.1 backend on loopback with a configurable idle keep-alive
//! timeout, closing idle connections cleanly (FIN) or with a reset (RST):
//! the fast stand-in for Tomcat in keep-alive race tests.
//!
//! One thread per connection; after each response it waits for the next request
//! at most the idle timeout, on a precise or a coarse clock ([`IdleTimer`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use ward_testkit::backend::{Backend, Close};
//! let backend = Backend::builder().idle_timeout(Duration::from_secs(1)).close(Close::Fin).start().unwrap();
//! let url = backend.url("/");
//! ```

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::netns::NetNs;
use crate::served::Served;
use crate::{Error, Result};

/// How the backend closes a connection that stayed idle too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Close {
    /// A clean close (FIN), like most servers.
    #[default]
    Fin,
    /// An abortive close (RST, via `SO_LINGER 0`).
    Reset,
}

/// Which clock ends an idle connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdleTimer {
    /// poll(2)'s timeout, a high-resolution timer: the close comes the idle
    /// timeout after the response, to within 50 us (like event-loop servers).
    #[default]
    Precise,
    /// A socket read timeout (SO_RCVTIMEO), like thread-per-connection servers:
    /// it runs on the kernel's timer wheel, which rounds a 1 s timeout up to the
    /// next 32 ms slot (at HZ=250), so the close lands anywhere in that window.
    ReadTimeout,
}

/// Configures a [`Backend`].
#[derive(Debug, Clone)]
pub struct Builder {
    idle: Duration,
    timer: IdleTimer,
    close: Close,
    body: Vec<u8>,
    delay: Duration,
}

impl Builder {
    /// Wait this long before answering each request (default none).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// How long a connection may stay idle between requests (default 2 s).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Which clock ends idle connections (default [`IdleTimer::Precise`]).
    pub fn idle_timer(mut self, timer: IdleTimer) -> Self {
        self.timer = timer;
        self
    }

    /// How idle connections are closed (default FIN).
    pub fn close(mut self, close: Close) -> Self {
        self.close = close;
        self
    }

    /// The response body for every request (default `ok\n`).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Binds a free loopback port and starts serving.
    pub fn start(self) -> Result<Backend> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::io("backend", "binding 127.0.0.1:0", e))?;
        self.serve(listener)
    }

    /// Binds a free port on `ip` inside `netns` (an address on its `lo`, as
    /// a pod's) and starts serving there.
    pub fn start_in(self, netns: &NetNs, ip: IpAddr) -> Result<Backend> {
        let listener = netns
            .bind(SocketAddr::new(ip, 0))
            .map_err(|e| Error::io("backend", format!("binding {ip}:0 in {}", netns.name()), e))?;
        self.serve(listener)
    }

    fn serve(self, listener: TcpListener) -> Result<Backend> {
        let shared = Arc::new(Shared {
            requests: AtomicU64::new(0),
            idle_closes: AtomicU64::new(0),
        });
        let (config, state) = (Arc::new(self), shared.clone());
        let served = Served::start(
            "backend",
            listener,
            usize::MAX,
            Arc::default(),
            move |stream| serve(stream, &config, &state),
        )?;
        Ok(Backend { served, shared })
    }
}

struct Shared {
    requests: AtomicU64,
    idle_closes: AtomicU64,
}

/// A running backend; stops accepting on drop (open connections end at their idle timeout).
pub struct Backend {
    served: Served,
    shared: Arc<Shared>,
}

impl Backend {
    /// A builder with defaults (2 s idle timeout, FIN).
    pub fn builder() -> Builder {
        Builder {
            idle: Duration::from_secs(2),
            timer: IdleTimer::Precise,
            close: Close::Fin,
            body: b"ok\n".to_vec(),
            delay: Duration::ZERO,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.served.addr()
    }

    /// `http://ADDRESS:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.served.connections()
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Connections closed for being idle.
    pub fn idle_closes(&self) -> u64 {
        self.shared.idle_closes.load(Ordering::Relaxed)
    }
}

/// Waits until `stream` is readable (data or EOF) or `timeout` passes (false).
///
/// (The clock of [`IdleTimer::Precise`].)
fn wait_readable(stream: &TcpStream, timeout: Duration) -> std::io::Result<bool> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(n) => return Ok(n > 0),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Serves requests on one connection until the client closes it or it idles out.
fn serve(stream: TcpStream, config: &Builder, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        // Idle: wait for the next request at most `idle`.
        let idled_out = match config.timer {
            IdleTimer::Precise if reader.buffer().is_empty() => {
                match wait_readable(reader.get_ref(), config.idle) {
                    Ok(readable) => !readable,
                    Err(_) => return,
                }
            }
            IdleTimer::Precise => false,
            IdleTimer::ReadTimeout => {
                if reader
                    .get_ref()
                    .set_read_timeout(Some(config.idle))
                    .is_err()
                {
                    return;
                }
                match reader.fill_buf() {
                    Ok(_) => false,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        true
                    }
                    Err(_) => return,
                }
            }
        };
        if idled_out {
            shared.idle_closes.fetch_add(1, Ordering::Relaxed);
            if config.close == Close::Reset {
                let _ = socket2::SockRef::from(reader.get_ref()).set_linger(Some(Duration::ZERO));
            }
            return;
        }
        // Busy: the request must come promptly.
        if reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .is_err()
        {
            return;
        }
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut header = String::new();
            match reader.read_line(&mut header) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim();
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                } else if name == "connection" && value.eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut body = vec![0u8; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if !config.delay.is_zero() {
            #[allow(clippy::disallowed_methods)] // simulated service time, not synchronisation
            std::thread::sleep(config.delay);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            config.body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        let mut response = head.into_bytes();
        response.extend_from_slice(&config.body);
        if writer.write_all(&response).is_err() {
            return;
        }
        shared.requests.fetch_add(1, Ordering::Relaxed);
        if close {
            return;
        }
    }
}
