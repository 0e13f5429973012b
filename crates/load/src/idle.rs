//! Measuring a server's idle keep-alive timeout from the client side: one
//! request on a fresh connection, then wait for the server to close it (FIN or
//! RST), timed on a monotonic clock. When nothing closes the connection within
//! the cap, a request after the wait shows whether a middlebox dropped it
//! silently, and a send-after-wait bisection brackets the timeout.
//!
//! Bounds: the passive phase takes at most `max_wait` plus one request
//! `timeout`; the bisection runs [`BISECT_ROUNDS`] rounds of
//! [`BISECT_PARALLEL`] parallel probes, each round at most `max_wait` plus two
//! request `timeout`s (the request that opens the connection, and the one
//! after the wait), and narrows the bracket to [`resolution`]`(max_wait)`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;
use ward_probe::http::{Connection, Connector, HttpRequest, HttpVersion, PeerCloseKind};
use ward_probe::tls::TlsConfig;
use ward_probe::{ProbeError, Trace};

use crate::error::{Error, Result};

/// Settings of an idle-timeout probe.
#[derive(Debug, Clone)]
pub struct IdleConfig {
    /// The request that opens the connection (normally a GET).
    pub request: HttpRequest,
    /// TLS settings for https URLs.
    pub tls: TlsConfig,
    /// Parallel connections measured (the result is their median).
    pub samples: u32,
    /// Longest wait for the server to close an idle connection.
    pub max_wait: Duration,
    /// Deadline of each request.
    pub timeout: Duration,
    /// Bisect with send-after-wait probes when nothing closes the connection.
    pub bisect: bool,
}

impl IdleConfig {
    /// Defaults for `url`: 3 samples, wait up to 2 minutes, 10 s request timeout.
    pub fn new(url: Url) -> Self {
        IdleConfig {
            request: HttpRequest::get(url),
            tls: TlsConfig::default(),
            samples: 3,
            max_wait: Duration::from_secs(120),
            timeout: Duration::from_secs(10),
            bisect: true,
        }
    }
}

/// How the idle connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseKind {
    /// The server closed cleanly (FIN).
    Fin,
    /// The server reset the connection (RST).
    Reset,
    /// The connection ended otherwise (e.g. the server sent an unsolicited response before closing).
    Other,
    /// Nothing closed it within the wait, and a request after the wait still worked.
    None,
    /// Nothing was seen, but a request after the wait failed: something dropped the connection silently.
    SilentDrop,
    /// The server keeps no connection alive: it closes each after one
    /// response (HTTP/1.0 without `Connection: keep-alive`, or
    /// `Connection: close`), so there is no idle timeout.
    NoKeepAlive,
}

impl CloseKind {
    fn from_peer(kind: PeerCloseKind) -> Self {
        match kind {
            PeerCloseKind::Fin => CloseKind::Fin,
            PeerCloseKind::Reset => CloseKind::Reset,
            PeerCloseKind::Ended => CloseKind::Other,
        }
    }
}

/// What one measured connection showed.
#[derive(Debug, Clone, Serialize)]
pub struct IdleSample {
    /// Time from the end of the response to the close (`None` when nothing closed it).
    #[serde(rename = "idle_seconds", with = "ward_duration::seconds::option")]
    pub idle: Option<Duration>,
    /// How it ended.
    pub close: CloseKind,
}

/// Which method produced the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdleMethod {
    /// Waited for the server's close.
    Passive,
    /// Bisected with send-after-wait probes (no close was observed).
    Bisect,
}

/// The measured idle keep-alive timeout of a server.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// The URL measured.
    pub url: String,
    /// The idle timeout (median of the samples), if one was found.
    #[serde(rename = "timeout_seconds", with = "ward_duration::seconds::option")]
    pub timeout: Option<Duration>,
    /// How connections ended (that of the majority of samples).
    pub close: CloseKind,
    /// Passive observation or bisection.
    pub method: IdleMethod,
    /// The longest wait used.
    #[serde(rename = "max_wait_seconds", with = "ward_duration::seconds")]
    pub max_wait: Duration,
    /// HTTP version of the connections.
    pub http_version: String,
    /// Bisection only: the idle times between which the connection was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bracket: Option<Bracket>,
    /// A proxy the response names (its `Via` header, or a `Server` header
    /// naming a reverse proxy such as nginx or Envoy): the timeout measured
    /// is then that proxy's client-side one, not its backend's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Every sample.
    pub samples: Vec<IdleSample>,
}

/// The result of a send-after-wait bisection: a request after `lower` of
/// idle time still worked, one after `upper` got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Bracket {
    /// The longest idle time after which a request still worked (zero if none did).
    #[serde(rename = "lower_seconds", with = "ward_duration::seconds")]
    pub lower: Duration,
    /// The shortest idle time after which a request failed.
    #[serde(rename = "upper_seconds", with = "ward_duration::seconds")]
    pub upper: Duration,
}

/// Parallel send-after-wait probes per bisection round.
pub const BISECT_PARALLEL: u32 = 4;
/// Bisection rounds; each narrows the bracket `BISECT_PARALLEL + 1`-fold.
pub const BISECT_ROUNDS: u32 = 3;
/// Rounds stop once probes would be closer together than this.
const MIN_STEP: Duration = Duration::from_millis(10);

/// The widest bracket a bisection within `(0, max_wait]` reports:
/// `max_wait / 125` (3 rounds of 4 probes), or 5 × 10 ms when probes would
/// otherwise be closer than 10 ms.
pub fn resolution(max_wait: Duration) -> Duration {
    (max_wait / (BISECT_PARALLEL + 1).pow(BISECT_ROUNDS)).max(MIN_STEP * (BISECT_PARALLEL + 1))
}

/// One completed request: its connection, when the response ended, and
/// what the response said.
pub(crate) struct Answered {
    /// The connection, for the next request or the wait.
    pub(crate) conn: Connection,
    /// When the response's body ended.
    pub(crate) ended: Instant,
    /// The status code.
    pub(crate) status: u16,
    /// HTTP/1.0 or HTTP/1.1 (HTTP/2 on a TLS connection that negotiated it).
    pub(crate) version: String,
    /// The server lets the connection carry another request.
    pub(crate) keeps_alive: bool,
    /// A proxy the response names ([`IdleReport::proxy`]).
    pub(crate) proxy: Option<String>,
}

/// `Server` header words of reverse proxies (lower case).
const PROXY_SERVERS: [&str; 6] = ["nginx", "openresty", "envoy", "haproxy", "traefik", "caddy"];

/// A proxy the headers name: `Via`, or a `Server` of a reverse proxy.
fn proxy_named(headers: &http::HeaderMap) -> Option<String> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(via) = header(http::header::VIA) {
        return Some(format!("Via: {via}"));
    }
    let server = header(http::header::SERVER)?;
    let lower = server.to_ascii_lowercase();
    PROXY_SERVERS
        .iter()
        .any(|p| lower.contains(p))
        .then(|| format!("Server: {server}"))
}

/// Opens a connection and completes one request on it.
pub(crate) async fn request_once(
    connector: &Connector,
    request: &HttpRequest,
    conn: Option<Connection>,
    timeout: Duration,
) -> std::result::Result<Answered, ProbeError> {
    let mut trace = Trace::start();
    let mut conn = match conn {
        Some(c) => c,
        None => match tokio::time::timeout(
            timeout,
            connector.connect(&request.url, request.connect_to, &mut trace),
        )
        .await
        {
            Ok(c) => c?,
            Err(_) => return Err(ProbeError::timed_out(&trace, request.url.as_str(), timeout)),
        },
    };
    let head = conn.send(request, &mut trace, timeout).await?;
    let status = head.status;
    let version = format!("{:?}", head.version);
    let keeps_alive = head.keeps_alive();
    let proxy = proxy_named(&head.headers);
    head.read_body(&mut trace, 64 << 20, timeout).await?;
    Ok(Answered {
        conn,
        ended: Instant::now(),
        status,
        version,
        keeps_alive,
        proxy,
    })
}

/// How much later each sample starts than the one before.
///
/// A server that checks idle timeouts on a coarse clock closes connections that
/// went idle together in the same tick: the kernel's timer wheel behind a socket
/// read timeout (SO_RCVTIMEO) ends a 1 s timeout on the next 32 ms slot (at
/// HZ=250), Tomcat's poller checks about once a second. Samples started together
/// would agree to a millisecond and hide how far the close moves; staggered, they
/// land on different phases of that clock and the spread shows it.
const SAMPLE_STAGGER: Duration = Duration::from_millis(20);

/// Measures the idle keep-alive timeout of the server at `config.request.url`.
pub async fn probe(config: &IdleConfig) -> Result<IdleReport> {
    if config.samples == 0 || config.samples > 100 {
        return Err(Error::config(
            "samples",
            format!("{}: expected 1..=100", config.samples),
        ));
    }
    let connector = Connector::new(config.tls.build()?, HttpVersion::Http1);
    let url = config.request.url.to_string();
    let unreachable = |source| Error::Unreachable {
        url: url.clone(),
        source,
    };
    // First sample alone: surfaces an unreachable target as an error, and
    // a server that keeps no connection alive.
    let answered = request_once(&connector, &config.request, None, config.timeout)
        .await
        .map_err(unreachable)?;
    let proxy = answered.proxy.clone();
    if !answered.keeps_alive {
        let mut report = summarise(
            url,
            config.max_wait,
            answered.version,
            IdleMethod::Passive,
            Vec::new(),
        );
        report.close = CloseKind::NoKeepAlive;
        report.proxy = proxy;
        return Ok(report);
    }
    let mut first = Some(answered);
    let mut set = JoinSet::new();
    for i in 0..config.samples {
        let connector = connector.clone();
        let request = config.request.clone();
        let (timeout, max_wait) = (config.timeout, config.max_wait);
        let opened = if i == 0 { first.take() } else { None };
        set.spawn(async move {
            let answered = match opened {
                Some(o) => o,
                None => {
                    tokio::time::sleep(SAMPLE_STAGGER * i).await;
                    request_once(&connector, &request, None, timeout).await?
                }
            };
            Ok::<_, ProbeError>(wait_close(answered.conn, answered.ended, max_wait).await)
        });
    }
    let mut samples = Vec::new();
    let mut waiting: Vec<(Connection, Instant)> = Vec::new();
    let mut version = String::from("HTTP/1.1");
    while let Some(joined) = set.join_next().await {
        let Ok(result) = joined else { continue };
        match result.map_err(unreachable)? {
            Waited::Closed(sample) => samples.push(sample),
            Waited::Open(conn, ended) => {
                version = format!("{:?}", conn.version());
                waiting.push((conn, ended));
            }
        }
    }
    let mut method = IdleMethod::Passive;
    let mut bracket = None;
    if !waiting.is_empty() {
        // Nothing closed these: does a request still work after the wait? (In parallel:
        // on a silently dropped connection each check takes the whole request timeout.)
        let mut checks = JoinSet::new();
        for (conn, _) in waiting {
            let connector = connector.clone();
            let request = config.request.clone();
            let timeout = config.timeout;
            checks.spawn(async move {
                request_once(&connector, &request, Some(conn), timeout)
                    .await
                    .is_ok()
            });
        }
        let mut dropped = false;
        while let Some(joined) = checks.join_next().await {
            let ok = joined.unwrap_or(false);
            dropped |= !ok;
            samples.push(IdleSample {
                idle: None,
                close: if ok {
                    CloseKind::None
                } else {
                    CloseKind::SilentDrop
                },
            });
        }
        if dropped && config.bisect {
            method = IdleMethod::Bisect;
            let found = bisect(&connector, config).await;
            samples.retain(|s| s.close != CloseKind::SilentDrop);
            samples.push(IdleSample {
                idle: Some(found.upper),
                close: CloseKind::SilentDrop,
            });
            bracket = Some(found);
        }
    }
    let mut report = summarise(url, config.max_wait, version, method, samples);
    report.bracket = bracket;
    report.proxy = proxy;
    Ok(report)
}

enum Waited {
    Closed(IdleSample),
    Open(Connection, Instant),
}

async fn wait_close(conn: Connection, ended: Instant, max_wait: Duration) -> Waited {
    match conn.peer_close(ended + max_wait).await {
        Some(close) => Waited::Closed(IdleSample {
            idle: Some(close.at.saturating_duration_since(ended)),
            close: CloseKind::from_peer(close.kind),
        }),
        None => Waited::Open(conn, ended),
    }
}

/// The median of `values` (the upper one of an even count; None when empty).
pub(crate) fn median<T: Ord + Copy>(mut values: Vec<T>) -> Option<T> {
    values.sort();
    values.get(values.len() / 2).copied()
}

fn summarise(
    url: String,
    max_wait: Duration,
    http_version: String,
    method: IdleMethod,
    samples: Vec<IdleSample>,
) -> IdleReport {
    let timeout = median(samples.iter().filter_map(|s| s.idle).collect());
    let kinds = [
        CloseKind::Fin,
        CloseKind::Reset,
        CloseKind::Other,
        CloseKind::SilentDrop,
        CloseKind::None,
    ];
    let close = kinds
        .into_iter()
        .max_by_key(|k| samples.iter().filter(|s| s.close == *k).count())
        .unwrap_or(CloseKind::None);
    IdleReport {
        url,
        timeout,
        close,
        method,
        max_wait,
        http_version,
        bracket: None,
        proxy: None,
        samples,
    }
}

/// Brackets a silent-drop timeout in `(0, max_wait]` (the passive phase
/// showed a request after `max_wait` fails) with rounds of parallel
/// send-after-wait probes. A probe that could not connect tells nothing.
async fn bisect(connector: &Connector, config: &IdleConfig) -> Bracket {
    let (mut lo, mut hi) = (Duration::ZERO, config.max_wait);
    for _ in 0..BISECT_ROUNDS {
        let step = (hi - lo) / (BISECT_PARALLEL + 1);
        if step < MIN_STEP {
            break;
        }
        let mut set = JoinSet::new();
        for i in 1..=BISECT_PARALLEL {
            let wait = lo + step * i;
            let connector = connector.clone();
            let request = config.request.clone();
            let timeout = config.timeout;
            set.spawn(async move {
                let Ok(answered) = request_once(&connector, &request, None, timeout).await else {
                    return (wait, None);
                };
                tokio::time::sleep_until(answered.ended + wait).await;
                let ok = request_once(&connector, &request, Some(answered.conn), timeout)
                    .await
                    .is_ok();
                (wait, Some(ok))
            });
        }
        let mut results = Vec::new();
        while let Some(Ok(r)) = set.join_next().await {
            results.push(r);
        }
        results.sort_by_key(|r| r.0);
        for (wait, ok) in results {
            match ok {
                Some(true) => lo = lo.max(wait),
                Some(false) => {
                    hi = hi.min(wait);
                    break;
                }
                None => {}
            }
        }
    }
    Bracket {
        lower: lo,
        upper: hi,
    }
}

/// Convenience for callers that only know a URL and a connect-to override.
pub fn config_for(url: Url, connect_to: Option<SocketAddr>) -> IdleConfig {
    let mut c = IdleConfig::new(url);
    c.request.connect_to = connect_to;
    c
}
