//! Run forever, report on HTTP, stop gracefully: the readiness and shutdown
//! state of an agent, its HTTP(S) endpoints, and the lameduck sequence
//! (on SIGTERM `/ready` turns 503 at once and work that must not outlive
//! the pod's endpoints stops ([`Lifecycle::lameduck_started`]), endpoints and
//! other rounds keep serving for the shutdown duration, then everything
//! stops within a bound).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::Service;

use crate::idle::IdleTimeout;

/// How long open connections get to finish once the agent stops.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may stay quiet (no byte either way) before it is
/// closed, between requests as before the first: Prometheus scrapes every
/// 15 to 60 s and reconnects after a close.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Readiness and shutdown state shared by an agent's rounds and endpoints.
#[derive(Debug, Default)]
pub struct Lifecycle {
    first_round_done: AtomicBool,
    lameduck: AtomicBool,
    lameduck_started: CancellationToken,
    shutdown: CancellationToken,
    stop: CancellationToken,
}

impl Lifecycle {
    /// A new lifecycle: not ready, not in lameduck.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records that a full round completed (agents are ready after the first).
    pub fn round_completed(&self) {
        self.first_round_done.store(true, Ordering::Relaxed);
    }

    /// True once a round completed.
    pub fn has_completed_round(&self) -> bool {
        self.first_round_done.load(Ordering::Relaxed)
    }

    /// True while shutting down: `/ready` must answer 503.
    pub fn is_lameduck(&self) -> bool {
        self.lameduck.load(Ordering::Relaxed)
    }

    /// Asks the agent to shut down as on SIGTERM (used by tests and the lab).
    pub fn request_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Cancelled when rounds and endpoints must stop (after the lameduck period).
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Cancelled when the lameduck period starts (SIGTERM), before `/ready`
    /// turns 503: for rounds that stop at once while the endpoints keep
    /// serving (kubenurse stops checking then).
    pub fn lameduck_started(&self) -> CancellationToken {
        self.lameduck_started.clone()
    }
}

/// One listening endpoint: plain HTTP, or HTTPS with a rustls server config.
pub struct Endpoint {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl Endpoint {
    /// Binds a plain HTTP endpoint.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            tls: None,
        })
    }

    /// Binds an HTTPS endpoint.
    pub async fn bind_tls(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            tls: Some(TlsAcceptor::from(tls)),
        })
    }

    /// Binds a Go-style listen address (`:9090` = every interface, IPv6
    /// first, IPv4 if that fails; `localhost:9090`; `[::1]:9090`): the
    /// first address that binds ([`go_listen_addrs`]).
    pub async fn bind_go(listen: &str) -> std::io::Result<Self> {
        let addrs = go_listen_addrs(listen).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{listen:?} is not [host]:port"),
            )
        })?;
        Self::bind_first(&addrs).await
    }

    /// Binds the first of `addrs` that binds (the last error when none does).
    pub async fn bind_first(addrs: &[SocketAddr]) -> std::io::Result<Self> {
        let mut last = None;
        for addr in addrs {
            match Self::bind(*addr).await {
                Ok(e) => return Ok(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()))
    }

    /// Wraps an already bound listener.
    pub fn from_listener(listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        Self {
            listener,
            tls: tls.map(TlsAcceptor::from),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// The addresses a Go-style listen address means, in the order to try
/// (`:9090`: every IPv6 then every IPv4 interface); `None` when it is not
/// `[host]:port` with an IP, `localhost` or nothing as host.
pub fn go_listen_addrs(listen: &str) -> Option<Vec<SocketAddr>> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let (host, port) = listen.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(match host {
        "" => vec![
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        ],
        "localhost" => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)],
        h => vec![SocketAddr::new(h.parse().ok()?, port)],
    })
}

/// Serves `router` on `endpoint` until `stop`, then drains open connections for at most [`DRAIN_TIMEOUT`].
pub async fn serve(endpoint: Endpoint, router: Router, stop: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = endpoint.listener.accept() => a,
        };
        let Ok((stream, peer)) = accepted else {
            // EMFILE and friends: keep serving; the next accept may succeed.
            tokio::task::yield_now().await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let stream = IdleTimeout::new(stream, IDLE_TIMEOUT);
        match &endpoint.tls {
            None => {
                tokio::spawn(serve_connection(stream, router, peer, graceful.watcher()));
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        serve_connection(tls, router, peer, watcher).await;
                    }
                });
            }
        }
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

/// Serves one accepted connection (HTTP/1.1 or h2) until it closes or the
/// agent drains. Handlers read `peer` with `ConnectInfo<SocketAddr>`: it is put
/// into each request's extensions (a `Router::layer` per connection would
/// rebuild every route for every connection).
async fn serve_connection<S>(stream: S, router: Router, peer: SocketAddr, watcher: Watcher)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(request)
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    let _ = watcher.watch(conn).await;
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C), for a command
/// that stops early and still reports what it did (`ward load`, `ward
/// keepalive race`, `ward e2e run`, `ward lab`): a container runtime or
/// `timeout` sends SIGTERM where a person presses Ctrl-C. Call inside a runtime.
pub fn cancel_on_termination() -> CancellationToken {
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        termination_signal().await;
        tracing::info!("termination signal received, stopping");
        on_signal.cancel();
    });
    cancel
}

/// Runs an agent: serves `router` on every endpoint and drives `rounds` (which
/// must return once `lifecycle.stopping()` is cancelled) until SIGTERM/SIGINT or
/// [`Lifecycle::request_shutdown`]; then lameduck for `shutdown_duration`
/// ([`Lifecycle::lameduck_started`] cancelled, `/ready` 503), then stop.
pub async fn run<R>(
    lifecycle: Arc<Lifecycle>,
    endpoints: Vec<Endpoint>,
    router: Router,
    rounds: R,
    shutdown_duration: Duration,
) where
    R: Future<Output = ()> + Send + 'static,
{
    let stop = lifecycle.stopping();
    let servers: Vec<_> = endpoints
        .into_iter()
        .map(|e| tokio::spawn(serve(e, router.clone(), stop.clone())))
        .collect();
    let rounds = tokio::spawn(rounds);
    tokio::select! {
        _ = termination_signal() => tracing::info!("termination signal received, entering lameduck"),
        _ = lifecycle.shutdown.cancelled() => tracing::info!("shutdown requested, entering lameduck"),
    }
    lifecycle.lameduck_started.cancel();
    lifecycle.lameduck.store(true, Ordering::Relaxed);
    tokio::time::sleep(shutdown_duration).await;
    stop.cancel();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, rounds).await;
    for server in servers {
        let _ = tokio::time::timeout(DRAIN_TIMEOUT * 2, server).await;
    }
    tracing::info!("stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(
            Endpoint::from_listener(listener, None),
            Router::new(),
            stop.clone(),
        ));
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 16];
        // Closed (EOF), or reset: either way the server let it go.
        let read = tokio::time::timeout(IDLE_TIMEOUT * 2, conn.read(&mut buf))
            .await
            .expect("the server closes a quiet connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        let waited = start.elapsed();
        assert!(
            (IDLE_TIMEOUT..IDLE_TIMEOUT + Duration::from_secs(1)).contains(&waited),
            "{waited:?}"
        );
        stop.cancel();
        server.await.unwrap();
    }
}
