//! Reproducing the proxy/backend keep-alive race: measure the backend's idle
//! timeout, then send waves of requests through the proxy timed to reach the
//! proxy's pooled upstream connections just as the backend closes them. A
//! request that the proxy writes onto a connection the backend is closing
//! fails, and the proxy answers 502 (for non-idempotent methods; nginx retries
//! GET/PUT/DELETE once on a broken pooled connection, hiding the race).

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use rand::Rng;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;
use ward_probe::http::{Connection, Connector, HttpRequest, HttpVersion};
use ward_probe::tls::TlsConfig;

use crate::error::{Error, Result};
use crate::idle::{self, median, CloseKind, IdleConfig};

/// Settings of a race run.
#[derive(Debug, Clone)]
pub struct RaceConfig {
    /// The request sent through the proxy (POST by default).
    pub request: HttpRequest,
    /// The backend, measured directly for its idle timeout.
    pub backend: Option<Url>,
    /// The backend's idle timeout when known (skips measuring).
    pub backend_idle: Option<Duration>,
    /// The proxy's upstream keep-alive timeout, when the caller knows it (for the diagnosis).
    pub proxy_idle: Option<Duration>,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Concurrent requests per wave (client connections to the proxy).
    pub lanes: u32,
    /// Longest run (measuring included).
    pub max_time: Duration,
    /// Stop after this many 502s (0: run until `max_time`).
    pub stop_after: u64,
    /// Deadline of each request.
    pub timeout: Duration,
    /// Longest wait for the backend's idle close while measuring.
    pub max_wait: Duration,
}

impl RaceConfig {
    /// Defaults: POST to `proxy`, 16 lanes, at most 60 s, stop after 3 502s.
    pub fn new(proxy: Url) -> Self {
        let mut request = HttpRequest::get(proxy);
        request.method = Method::POST;
        request.body = bytes::Bytes::from_static(b"ward keepalive race\n");
        request.accept = ward_probe::http::AcceptStatus::Any;
        RaceConfig {
            request,
            backend: None,
            backend_idle: None,
            proxy_idle: None,
            tls: TlsConfig::default(),
            lanes: 16,
            max_time: Duration::from_secs(60),
            stop_after: 3,
            timeout: Duration::from_secs(10),
            max_wait: Duration::from_secs(120),
        }
    }
}

/// Live state of a race, published after each wave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RaceProgress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Waves sent.
    pub waves: u64,
    /// Requests completed.
    pub requests: u64,
    /// 502 responses so far.
    pub bad_gateway: u64,
}

/// Where the backend idle timeout came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdleSource {
    /// Measured on the backend URL.
    Measured,
    /// Given by the caller.
    Given,
}

/// The fix, as numbers: keep the proxy's upstream idle timeout below the backend's.
#[derive(Debug, Clone, Serialize)]
pub struct Fix {
    /// Set the proxy's upstream keep-alive timeout (nginx `keepalive_timeout` in `upstream {}`) to at most this.
    pub proxy_keepalive_timeout_max_seconds: f64,
    /// Or set the backend's idle timeout (Tomcat `keepAliveTimeout`) to at least this.
    pub backend_keepalive_timeout_min_seconds: f64,
}

/// What the race run found.
#[derive(Debug, Clone, Serialize)]
pub struct RaceReport {
    /// The proxy URL.
    pub proxy: String,
    /// The backend URL, when measured.
    pub backend: Option<String>,
    /// The method sent.
    pub method: String,
    /// The backend's idle timeout (median).
    #[serde(
        rename = "backend_idle_timeout_seconds",
        with = "ward_duration::seconds"
    )]
    pub backend_idle: Duration,
    /// Spread of the backend's idle close over the samples (max - min).
    #[serde(
        rename = "backend_idle_spread_seconds",
        with = "ward_duration::seconds"
    )]
    pub backend_spread: Duration,
    /// How the backend closes idle connections, when measured.
    pub backend_close: Option<CloseKind>,
    /// Measured or given.
    pub backend_idle_source: IdleSource,
    /// The proxy's upstream keep-alive timeout, when given.
    #[serde(
        rename = "proxy_keepalive_timeout_seconds",
        with = "ward_duration::seconds::option"
    )]
    pub proxy_idle: Option<Duration>,
    /// Wall time.
    #[serde(rename = "duration_seconds", with = "ward_duration::seconds")]
    pub duration: Duration,
    /// Waves sent after the first (setup) wave.
    pub waves: u64,
    /// Requests completed through the proxy.
    pub requests: u64,
    /// Responses by status code.
    pub status_codes: BTreeMap<u16, u64>,
    /// Transport failures between client and proxy by class.
    pub errors: BTreeMap<String, u64>,
    /// 502 responses.
    pub bad_gateway: u64,
    /// Waves by idle gap: the 502 rate as a function of idle time.
    #[serde(rename = "by_idle_gap")]
    pub by_gap: Vec<GapBucket>,
    /// When the first 502 came, since the start.
    #[serde(
        rename = "first_502_after_seconds",
        with = "ward_duration::seconds::option"
    )]
    pub first_502: Option<Duration>,
    /// True when at least one 502 was caused.
    pub reproduced: bool,
    /// True when cancelled before the end.
    pub interrupted: bool,
    /// The fix.
    pub fix: Fix,
}

/// The waves sent after one idle gap: the time from the previous wave's first
/// response end (as the client saw it) to the send, in a 1 ms bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GapBucket {
    /// The bucket's start in milliseconds: gaps from this to 1 ms more.
    pub gap_ms: u64,
    /// Waves sent after a gap in the bucket.
    pub waves: u64,
    /// Requests those waves completed or failed.
    pub requests: u64,
    /// 502 responses among them.
    pub bad_gateway: u64,
}

/// Offsets (around the predicted close) tried by successive waves, in milliseconds.
const SWEEP_MS: [f64; 16] = [
    0.0, 0.5, -0.5, 1.0, -1.0, 1.5, 0.25, -0.25, 2.0, -1.5, 0.75, -0.75, 3.0, 1.25, -2.0, 4.0,
];

/// How much of what the proxy adds to a wave's round trip the next wave fires early.
///
/// The backend's idle clock starts when it writes its response, but the client
/// sees the response end only after it has crossed the proxy (backend to proxy,
/// proxy to client), and the next request must still reach the proxy (client to
/// proxy): three of the round trip's four legs. The backend's own response time
/// is no leg, so it is taken off first (measured directly; without a backend URL
/// there is no lead). Aiming without this lead missed the close by the round
/// trip (3.5 ms through nginx on loopback under test load) and caused a 502 in
/// 10% of the waves instead of 33%.
const LEAD: f64 = 0.75;

/// Requests timed on the backend directly for its own response time.
const BACKEND_TIMINGS: usize = 5;

/// The backend's median response time, from `BACKEND_TIMINGS`
/// GETs of `url` on one kept-alive connection after the one that opened it
/// (None when a request fails: the race then aims without a lead).
async fn backend_response_time(
    connector: &Connector,
    url: &Url,
    timeout: Duration,
) -> Option<Duration> {
    let request = HttpRequest::get(url.clone());
    let mut conn = idle::request_once(connector, &request, None, timeout)
        .await
        .ok()?
        .conn;
    let mut times = Vec::with_capacity(BACKEND_TIMINGS);
    for _ in 0..BACKEND_TIMINGS {
        let start = Instant::now();
        let next = idle::request_once(connector, &request, Some(conn), timeout)
            .await
            .ok()?;
        times.push(next.ended.saturating_duration_since(start));
        conn = next.conn;
    }
    median(times)
}

/// Runs the race until `stop_after` 502s, `max_time`, or `cancel`.
pub async fn race(
    config: &RaceConfig,
    progress: watch::Sender<RaceProgress>,
    cancel: CancellationToken,
) -> Result<RaceReport> {
    if config.lanes == 0 || config.lanes > 1000 {
        return Err(Error::config(
            "lanes",
            format!("{}: expected 1..=1000", config.lanes),
        ));
    }
    let t0 = Instant::now();
    let deadline = t0 + config.max_time;
    let (idle, spread, close, source) = match (config.backend_idle, &config.backend) {
        (Some(d), _) => (d, Duration::ZERO, None, IdleSource::Given),
        (None, Some(url)) => {
            let mut ic = IdleConfig::new(url.clone());
            ic.tls = config.tls.clone();
            ic.max_wait = config.max_wait;
            ic.timeout = config.timeout;
            ic.bisect = false;
            let report = tokio::select! {
                r = idle::probe(&ic) => r?,
                _ = cancel.cancelled() => return Err(Error::config("backend", "cancelled while measuring")),
            };
            let Some(t) = report.timeout else {
                return Err(Error::config(
                    "backend",
                    format!(
                        "{url}: no idle close within {:?}, so there is no keep-alive race to reproduce against it",
                        config.max_wait
                    ),
                ));
            };
            let idles: Vec<Duration> = report.samples.iter().filter_map(|s| s.idle).collect();
            let min = idles.iter().min().copied().unwrap_or(t);
            let max = idles.iter().max().copied().unwrap_or(t);
            (t, max - min, Some(report.close), IdleSource::Measured)
        }
        (None, None) => {
            return Err(Error::config(
                "backend",
                "give --backend URL (measured) or --backend-idle DURATION: through the proxy the backend's idle timeout cannot be seen",
            ))
        }
    };
    let connector = Connector::new(config.tls.build()?, HttpVersion::Http1);
    let backend_time = match &config.backend {
        Some(url) => backend_response_time(&connector, url, config.timeout).await,
        None => None,
    };
    let mut lanes: Vec<Option<Connection>> = (0..config.lanes).map(|_| None).collect();
    let mut status_codes = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut requests = 0u64;
    let mut bad_gateway = 0u64;
    let mut first_502 = None;
    let mut waves = 0u64;
    let mut by_gap: BTreeMap<u64, GapBucket> = BTreeMap::new();
    // The idle gap bucket of the wave in flight (none for the setup wave).
    let mut gap_ms = None;
    let mut rng = rand::rng();
    // Setup wave: fills the proxy's pool with connections idle from the same moment.
    let mut fire_at = Instant::now();
    loop {
        let wave = send_wave(
            &connector,
            &config.request,
            &mut lanes,
            fire_at,
            config.timeout,
        );
        let results = tokio::select! {
            r = wave => r,
            _ = cancel.cancelled() => break,
        };
        let mut ends = Vec::new();
        if waves == 0
            && !results.is_empty()
            && results.iter().all(|r| matches!(r, Ok((s, _)) if *s >= 500))
        {
            return Err(Error::config(
                "proxy",
                format!(
                    "{} answers 5xx before any connection went idle: is the backend up?",
                    config.request.url
                ),
            ));
        }
        let (sent, mut wave_502s) = (results.len() as u64, 0);
        for r in results {
            requests += 1;
            match r {
                Ok((status, end)) => {
                    *status_codes.entry(status).or_default() += 1;
                    ends.push(end);
                    if status == 502 {
                        bad_gateway += 1;
                        wave_502s += 1;
                        first_502.get_or_insert_with(|| end.saturating_duration_since(t0));
                    }
                }
                Err(e) => *errors.entry(e.class.as_str().to_string()).or_default() += 1,
            }
        }
        if let Some(gap_ms) = gap_ms {
            let bucket = by_gap.entry(gap_ms).or_insert_with(|| GapBucket {
                gap_ms,
                ..GapBucket::default()
            });
            bucket.waves += 1;
            bucket.requests += sent;
            bucket.bad_gateway += wave_502s;
        }
        if waves == 0 && requests > 0 && ends.is_empty() {
            return Err(Error::Unreachable {
                url: config.request.url.to_string(),
                source: ward_probe::ProbeError::new(
                    ward_probe::ErrorClass::Connect,
                    None,
                    errors.keys().cloned().collect::<Vec<_>>().join(", "),
                ),
            });
        }
        progress.send_replace(RaceProgress {
            elapsed: t0.elapsed(),
            waves,
            requests,
            bad_gateway,
        });
        if config.stop_after > 0 && bad_gateway >= config.stop_after {
            break;
        }
        // The pool's connections went idle when the responses ended; the
        // earliest closes first, so aim the next wave at it, swept by a few ms.
        let base = ends.iter().min().copied().unwrap_or_else(Instant::now);
        let sweep = SWEEP_MS[(waves as usize) % SWEEP_MS.len()];
        let spread_ms = spread.as_secs_f64() * 1e3;
        let jitter = if spread_ms > 0.0 {
            rng.random_range(-spread_ms / 2.0..=spread_ms / 2.0)
        } else {
            rng.random_range(-0.1..=0.1)
        };
        let round_trip = median(
            ends.iter()
                .map(|e| e.saturating_duration_since(fire_at))
                .collect(),
        );
        let lead_ms = match (round_trip, backend_time) {
            (Some(proxied), Some(direct)) => {
                LEAD * proxied.saturating_sub(direct).as_secs_f64() * 1e3
            }
            _ => 0.0,
        };
        let offset_ms = idle.as_secs_f64() * 1e3 - lead_ms + sweep + jitter;
        fire_at = base + Duration::from_secs_f64(offset_ms.max(0.0) / 1e3);
        gap_ms = Some(offset_ms.max(0.0) as u64);
        if fire_at >= deadline {
            break;
        }
        waves += 1;
    }
    // Leave a quarter of the backend's timeout as margin, in whole 100 ms.
    let proxy_fix = (idle.as_secs_f64() * 0.75 * 10.0).floor() / 10.0;
    let backend_fix = config
        .proxy_idle
        .unwrap_or(Duration::from_secs(60))
        .as_secs_f64()
        + 5.0;
    Ok(RaceReport {
        proxy: config.request.url.to_string(),
        backend: config.backend.as_ref().map(Url::to_string),
        method: config.request.method.to_string(),
        backend_idle: idle,
        backend_spread: spread,
        backend_close: close,
        backend_idle_source: source,
        proxy_idle: config.proxy_idle,
        duration: t0.elapsed(),
        waves,
        requests,
        status_codes,
        errors,
        bad_gateway,
        by_gap: by_gap.into_values().collect(),
        first_502,
        reproduced: bad_gateway > 0,
        interrupted: cancel.is_cancelled(),
        fix: Fix {
            proxy_keepalive_timeout_max_seconds: proxy_fix.max(0.1),
            backend_keepalive_timeout_min_seconds: backend_fix,
        },
    })
}

type WaveResult = std::result::Result<(u16, Instant), ward_probe::ProbeError>;

/// Sends one request per lane at `at`, all at once; returns each outcome with the response end.
async fn send_wave(
    connector: &Connector,
    request: &HttpRequest,
    lanes: &mut [Option<Connection>],
    at: Instant,
    timeout: Duration,
) -> Vec<WaveResult> {
    let mut set = JoinSet::new();
    for (i, lane) in lanes.iter_mut().enumerate() {
        let conn = lane.take().filter(|c| !c.is_closed());
        let connector = connector.clone();
        let request = request.clone();
        set.spawn(async move {
            // Open the client-side connection ahead of time so only the request is timed.
            let conn = match conn {
                Some(c) => Some(c),
                None => {
                    let mut trace = ward_probe::Trace::start();
                    tokio::time::timeout(
                        timeout,
                        connector.connect(&request.url, request.connect_to, &mut trace),
                    )
                    .await
                    .ok()
                    .and_then(|r| r.ok())
                }
            };
            tokio::time::sleep_until(at).await;
            let r = idle::request_once(&connector, &request, conn, timeout).await;
            (i, r)
        });
    }
    let mut out = Vec::with_capacity(lanes.len());
    while let Some(joined) = set.join_next().await {
        let Ok((i, r)) = joined else { continue };
        match r {
            Ok(answered) => {
                if let Some(lane) = lanes.get_mut(i) {
                    *lane = Some(answered.conn);
                }
                out.push(Ok((answered.status, answered.ended)));
            }
            Err(e) => out.push(Err(e)),
        }
    }
    out
}
