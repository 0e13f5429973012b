//! The load test runner: closed model (VUs following a [`Schedule`]) or open
//! model (constant arrival rate, latency from the intended send time, each
//! send on the worker idle last), each worker holding one keep-alive
//! connection (or a new one per request with `reuse: false`). Every request is bounded by the timeout and the run ends at the
//! end of its plan plus one timeout at most; cancelling stops at once and
//! returns the summary so far. Requests are never retried.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;
use ward_probe::http::{Connection, Connector, HttpRequest, HttpVersion};
use ward_probe::tls::TlsConfig;
use ward_probe::{ConnectionFacts, Event, ProbeError, Trace};

use crate::error::{Error, Result};
use crate::plan::{Plan, Schedule, MAX_VUS};
use crate::stats::{Recorder, Summary};
use crate::threshold::Threshold;

/// How load is generated.
#[derive(Debug, Clone)]
pub enum Model {
    /// Virtual users looping requests back to back, following a plan.
    Closed(Plan),
    /// A constant arrival rate, independent of how fast the target answers.
    Open {
        /// Requests per second.
        rate: f64,
        /// How long to send.
        duration: Duration,
        /// The most workers (each with its own connection), started only
        /// when all others are busy at a send time.
        workers: u64,
    },
}

/// The most open-model workers unless told otherwise.
pub const DEFAULT_WORKERS: u64 = 100;

/// Everything a load test needs.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The request to send (method, URL, headers, body).
    pub request: HttpRequest,
    /// HTTP version to speak.
    pub http_version: HttpVersion,
    /// TLS settings for https URLs.
    pub tls: TlsConfig,
    /// Closed or open model.
    pub model: Model,
    /// Keep connections open between requests of a worker (`--no-reuse` turns this off).
    pub reuse: bool,
    /// Deadline of one request, including connecting.
    pub timeout: Duration,
    /// Largest response body read before failing the request.
    pub max_body: u64,
    /// Thresholds evaluated on the summary.
    pub thresholds: Vec<Threshold>,
    /// Check the target accepts a connection before starting.
    pub preflight: bool,
}

impl LoadConfig {
    /// A GET of `url` with defaults: reuse on, 10 s timeout, HTTP version negotiated.
    pub fn new(url: Url, model: Model) -> Result<Self> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::config(
                "URL",
                format!("{url}: expected an http:// or https:// URL with a host"),
            ));
        }
        Ok(LoadConfig {
            request: HttpRequest::get(url),
            http_version: HttpVersion::Auto,
            tls: TlsConfig::default(),
            model,
            reuse: true,
            timeout: Duration::from_secs(10),
            max_body: 64 << 20,
            thresholds: Vec::new(),
            preflight: true,
        })
    }

    fn validate(&self) -> Result<()> {
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be above 0"));
        }
        match &self.model {
            Model::Closed(plan) => plan.validate(),
            Model::Open {
                rate,
                duration,
                workers,
            } => {
                if !(rate.is_finite() && *rate > 0.0 && *rate <= 10_000_000.0) {
                    return Err(Error::config(
                        "rate",
                        format!("{rate}: expected 0 < rate <= 10000000 per second"),
                    ));
                }
                if duration.is_zero() {
                    return Err(Error::config("duration", "must be above 0"));
                }
                if *workers == 0 || *workers > MAX_VUS {
                    return Err(Error::config(
                        "vus",
                        format!("{workers}: expected 1..={MAX_VUS} workers"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// A snapshot of a running test, published a few times per second.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Planned length (stages, idle gaps, or the open-model duration).
    pub planned: Duration,
    /// VUs (closed) or workers (open) wanted now.
    pub vus: u64,
    /// Requests completed so far.
    pub requests: u64,
    /// Requests failed so far.
    pub failed: u64,
    /// Requests per second over the last interval.
    pub rps: f64,
}

/// Number of recorder shards; workers record into `id % SHARDS`.
const SHARDS: usize = 16;

struct Shared {
    connector: Connector,
    request: HttpRequest,
    connect_to: Option<SocketAddr>,
    timeout: Duration,
    max_body: u64,
    reuse: bool,
    /// Closed model: VUs with an id below this run.
    target: AtomicU64,
    wake: Notify,
    /// The plan ended: finish the request in flight, then exit.
    stop: CancellationToken,
    /// Abandon requests in flight (grace over, or cancelled).
    kill: CancellationToken,
    requests: AtomicU64,
    failed: AtomicU64,
    /// Requests started and not yet recorded.
    in_flight: AtomicU64,
    shards: Vec<Mutex<Recorder>>,
}

impl Shared {
    /// Records into the worker's shard, or the next free one: a worker
    /// never waits on a lock another (possibly descheduled) thread holds.
    fn record(&self, id: u64, f: impl FnOnce(&mut Recorder)) {
        let first = id as usize % SHARDS;
        for k in 0..SHARDS {
            if let Some(Ok(mut rec)) = self.shards.get((first + k) % SHARDS).map(Mutex::try_lock) {
                f(&mut rec);
                return;
            }
        }
        if let Some(shard) = self.shards.get(first) {
            let mut rec = shard.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut rec);
        }
    }
}

/// Runs the load test until its plan ends or `cancel` fires, publishing
/// progress; returns the summary with thresholds evaluated.
pub async fn run(
    config: LoadConfig,
    progress: watch::Sender<Progress>,
    cancel: CancellationToken,
) -> Result<Summary> {
    config.validate()?;
    let tls = config.tls.build()?;
    let connector = Connector::new(tls, config.http_version);
    let url = config.request.url.clone();
    if config.preflight {
        preflight(&connector, &config.request, config.timeout).await?;
    }
    let sh = Arc::new(Shared {
        connector,
        connect_to: config.request.connect_to,
        request: config.request.clone(),
        timeout: config.timeout,
        max_body: config.max_body,
        reuse: config.reuse,
        target: AtomicU64::new(0),
        wake: Notify::new(),
        stop: CancellationToken::new(),
        kill: CancellationToken::new(),
        requests: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        shards: (0..SHARDS)
            .map(|_| Mutex::new(Recorder::default()))
            .collect(),
    });
    let t0 = Instant::now();
    let (planned, model_name) = match &config.model {
        Model::Closed(plan) => (plan.cycle_duration() * plan.repeat, "closed"),
        Model::Open { duration, .. } => (*duration, "open"),
    };
    let mut workers = JoinSet::new();
    let progress = Arc::new(progress);
    let ticker = tokio::spawn(publish(sh.clone(), progress.clone(), t0, planned));
    let (vus_max, open) = match &config.model {
        Model::Closed(plan) => {
            let schedule = plan.schedule();
            (
                drive_closed(&sh, &schedule, t0, &cancel, &mut workers).await,
                None,
            )
        }
        Model::Open {
            rate,
            duration,
            workers: n,
        } => {
            let sent = drive_open(&sh, t0, (*rate, *duration, *n), &cancel, &mut workers).await;
            (sent.workers, Some((*rate, sent)))
        }
    };
    // Let requests in flight finish (bounded by the timeout) unless cancelled.
    sh.stop.cancel();
    sh.wake.notify_waiters();
    if cancel.is_cancelled() {
        sh.kill.cancel();
    }
    let grace = Instant::now() + sh.timeout + Duration::from_millis(100);
    loop {
        if sh.kill.is_cancelled() && !workers.is_empty() {
            workers.abort_all();
        }
        tokio::select! {
            joined = workers.join_next() => if joined.is_none() { break },
            _ = tokio::time::sleep_until(grace), if !sh.kill.is_cancelled() => sh.kill.cancel(),
            _ = cancel.cancelled(), if !sh.kill.is_cancelled() => sh.kill.cancel(),
        }
    }
    let cut_off = sh.in_flight.load(Ordering::Relaxed);
    sh.record(0, |r| r.interrupted += cut_off);
    ticker.abort();
    let elapsed = t0.elapsed();
    let requests = sh.requests.load(Ordering::Relaxed);
    progress.send_replace(Progress {
        elapsed,
        planned,
        vus: 0,
        requests,
        failed: sh.failed.load(Ordering::Relaxed),
        rps: requests as f64 / elapsed.as_secs_f64().max(1e-9),
    });
    let mut total = Recorder::default();
    for shard in &sh.shards {
        total.merge(&shard.lock().unwrap_or_else(|p| p.into_inner()));
    }
    let mut summary = Summary::new(url.to_string(), model_name, elapsed, &total);
    summary.interrupted = cancel.is_cancelled();
    summary.vus_max = vus_max;
    if let Some((rate, sent)) = open {
        summary.target_rate = Some(rate);
        summary.send_lateness = Some(sent.lateness.send_lateness());
        summary.unsent_requests = Some(sent.unsent);
    }
    summary.thresholds = config
        .thresholds
        .iter()
        .map(|t| t.evaluate(&summary))
        .collect();
    Ok(summary)
}

/// Opens (and drops) one connection so an unreachable target fails fast.
async fn preflight(connector: &Connector, request: &HttpRequest, timeout: Duration) -> Result<()> {
    let mut trace = Trace::start();
    let url = &request.url;
    let result = match tokio::time::timeout(
        timeout,
        connector.connect(url, request.connect_to, &mut trace),
    )
    .await
    {
        Ok(r) => r.map(drop),
        Err(_) => Err(ProbeError::timed_out(&trace, url.as_str(), timeout)),
    };
    result.map_err(|source| Error::Unreachable {
        url: url.to_string(),
        source,
    })
}

async fn publish(
    sh: Arc<Shared>,
    progress: Arc<watch::Sender<Progress>>,
    t0: Instant,
    planned: Duration,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last = (t0, 0u64);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let requests = sh.requests.load(Ordering::Relaxed);
        let dt = now.saturating_duration_since(last.0).as_secs_f64();
        let rps = if dt > 0.0 {
            requests.saturating_sub(last.1) as f64 / dt
        } else {
            0.0
        };
        last = (now, requests);
        progress.send_replace(Progress {
            elapsed: now - t0,
            planned,
            vus: sh.target.load(Ordering::Relaxed),
            requests,
            failed: sh.failed.load(Ordering::Relaxed),
            rps,
        });
    }
}

/// Follows the schedule, spawning VUs as needed and moving the target; returns the most VUs wanted.
async fn drive_closed(
    sh: &Arc<Shared>,
    schedule: &Schedule,
    t0: Instant,
    cancel: &CancellationToken,
    workers: &mut JoinSet<()>,
) -> u64 {
    let mut spawned = 0u64;
    let mut max = 0u64;
    loop {
        let t = t0.elapsed();
        if t >= schedule.total() {
            break;
        }
        let want = schedule.vus_at(t);
        while spawned < want {
            workers.spawn(vu(spawned, sh.clone()));
            spawned += 1;
        }
        max = max.max(want);
        sh.target.store(want, Ordering::Relaxed);
        sh.wake.notify_waiters();
        let next = schedule.next_change(t, Duration::from_millis(10));
        tokio::select! {
            _ = tokio::time::sleep_until(t0 + next) => {}
            _ = cancel.cancelled() => break,
        }
    }
    sh.target.store(0, Ordering::Relaxed);
    max
}

/// One closed-model VU: requests back to back while its id is below the target.
async fn vu(id: u64, sh: Arc<Shared>) {
    let mut conn = None;
    loop {
        if sh.stop.is_cancelled() {
            break;
        }
        if id >= sh.target.load(Ordering::Relaxed) {
            // Parked (ramped down or idle gap): keep the connection, wait for work.
            let notified = sh.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if id < sh.target.load(Ordering::Relaxed) || sh.stop.is_cancelled() {
                continue;
            }
            tokio::select! {
                _ = notified => continue,
                _ = sh.stop.cancelled() => break,
            }
        }
        let now = Instant::now();
        if !request(id, &sh, &mut conn, now, now + sh.timeout).await {
            break;
        }
    }
}

/// What the open model's dispatcher did.
struct Sent {
    /// The most workers started.
    workers: u64,
    /// How late each send went out (only its send lateness is filled in).
    lateness: Recorder,
    /// Intended sends not made before the run ended.
    unsent: u64,
}

/// The spans the open model's dispatcher spent waiting for a free worker
/// (all busy, the most started): delay the target caused by holding every
/// worker, which coordinated-omission correction counts in latency. Any
/// other delay between a send's intended time and its send is the
/// generator's own (its timer ticks by the millisecond, its CPU may be
/// busy): reported as send lateness, not counted in latency.
#[derive(Debug, Default)]
struct Waits {
    spans: VecDeque<(Instant, Instant)>,
}

impl Waits {
    /// Records a wait from `from` to `to`.
    fn add(&mut self, from: Instant, to: Instant) {
        if to > from {
            self.spans.push_back((from, to));
        }
    }

    /// A send due at `due` and sent at `sent`: when its latency counts from
    /// (`sent` less the waits in between) and how late the generator itself
    /// was. Sends are asked about in order of `due`; waits that ended before
    /// it are forgotten.
    fn start(&mut self, due: Instant, sent: Instant) -> (Instant, Duration) {
        while self.spans.front().is_some_and(|(_, to)| *to <= due) {
            self.spans.pop_front();
        }
        let held: Duration = self
            .spans
            .iter()
            .map(|(from, to)| (*to).min(sent).saturating_duration_since((*from).max(due)))
            .sum();
        let start = sent.checked_sub(held).unwrap_or(due).max(due);
        (start, start.saturating_duration_since(due))
    }
}

/// How many sends `rate` per second makes in `duration`: one at 0, then
/// every `1/rate`, each strictly before the end (a float product such as
/// 100.00000000000001 is 100).
fn planned_sends(rate: f64, duration: Duration) -> u64 {
    (duration.as_secs_f64() * rate - 1e-9).ceil().max(0.0) as u64
}

/// Open model: hands each send slot, at its intended time, to the worker
/// that went idle last, so the fewest workers (and warm keep-alive
/// connections) carry the rate, as k6's arrival-rate executors reuse their
/// VUs; another worker starts only when all are busy, up to `max`. Slots
/// end at `duration` (or `cancel`).
async fn drive_open(
    sh: &Arc<Shared>,
    t0: Instant,
    (rate, duration, max): (f64, Duration, u64),
    cancel: &CancellationToken,
    workers: &mut JoinSet<()>,
) -> Sent {
    let (idle_tx, mut idle_rx) = mpsc::unbounded_channel::<usize>();
    let mut slots: Vec<mpsc::Sender<Instant>> = Vec::new();
    let mut lateness = Recorder::default();
    let planned = planned_sends(rate, duration);
    let mut dispatched = 0u64;
    let dispatch = async {
        let mut idle: Vec<usize> = Vec::new();
        let mut waits = Waits::default();
        for k in 0..planned {
            let due = t0 + Duration::from_secs_f64(k as f64 / rate);
            // Slots already due (the timer ticks by the millisecond) go out at once.
            if Instant::now() < due {
                tokio::time::sleep_until(due).await;
            }
            // Idle in the order they finished: the top of the stack is the warmest.
            while let Ok(id) = idle_rx.try_recv() {
                idle.push(id);
            }
            let id = match idle.pop() {
                Some(id) => id,
                None if (slots.len() as u64) < max => {
                    let (tx, rx) = mpsc::channel(1);
                    let id = slots.len();
                    workers.spawn(open_worker(id, sh.clone(), rx, idle_tx.clone()));
                    slots.push(tx);
                    sh.target.store(slots.len() as u64, Ordering::Relaxed);
                    id
                }
                // All busy: the slot goes out when a worker is free, the
                // wait counting in its latency.
                None => {
                    let waiting = Instant::now();
                    let Some(id) = idle_rx.recv().await else {
                        break;
                    };
                    waits.add(waiting, Instant::now());
                    id
                }
            };
            let (start, late) = waits.start(due, Instant::now());
            lateness.late(late);
            // An idle worker's one-slot channel is empty; one that was killed is gone.
            if let Some(slot) = slots.get(id) {
                let _ = slot.try_send(start);
            }
            dispatched += 1;
        }
    };
    tokio::select! {
        _ = dispatch => {}
        _ = tokio::time::sleep_until(t0 + duration) => {}
        _ = cancel.cancelled() => {}
    }
    // Dropping the senders lets each worker exit after its request in flight.
    Sent {
        workers: slots.len() as u64,
        lateness,
        unsent: planned.saturating_sub(dispatched),
    }
}

/// One open-model worker: sends each slot it is handed on its own
/// connection (latency from the slot's start, see [`Waits::start`]), then
/// reports itself idle.
async fn open_worker(
    id: usize,
    sh: Arc<Shared>,
    mut slots: mpsc::Receiver<Instant>,
    idle: mpsc::UnboundedSender<usize>,
) {
    let mut conn = None;
    while let Some(start) = slots.recv().await {
        let deadline = Instant::now().max(start) + sh.timeout;
        if !request(id as u64, &sh, &mut conn, start, deadline).await || idle.send(id).is_err() {
            break;
        }
    }
}

/// How one request went.
struct Exchange {
    result: Result<(u16, u64), ProbeError>,
    /// What the request found on its connection (default when none was made).
    connection: ConnectionFacts,
    opened: bool,
}

impl Exchange {
    /// A request that failed to get a connection.
    fn unconnected(error: ProbeError) -> Self {
        Exchange {
            result: Err(error),
            connection: ConnectionFacts::default(),
            opened: true,
        }
    }
}

/// Sends one request (on the worker's connection, opening one if needed) and
/// records it; false when the run was killed meanwhile.
async fn request(
    id: u64,
    sh: &Shared,
    conn: &mut Option<Connection>,
    start: Instant,
    deadline: Instant,
) -> bool {
    // No per-request select on `kill` (it would lock the token's shared
    // mutex twice per request): killing aborts the worker tasks, and the
    // requests then in flight are counted from `in_flight`.
    if sh.kill.is_cancelled() {
        return false;
    }
    let mut trace = Trace::start_at(start);
    sh.in_flight.fetch_add(1, Ordering::Relaxed);
    let ex = exchange(sh, conn, &mut trace, deadline).await;
    sh.in_flight.fetch_sub(1, Ordering::Relaxed);
    sh.requests.fetch_add(1, Ordering::Relaxed);
    let failed = !matches!(ex.result, Ok((status, _)) if status < 400);
    if failed {
        sh.failed.fetch_add(1, Ordering::Relaxed);
    }
    let latency = trace.get(Event::BodyDone).unwrap_or_default();
    let phases = trace.phases();
    sh.record(id, |r| {
        if ex.opened {
            r.connections += 1;
        }
        match ex.result {
            Ok((status, bytes)) => r.response(status, latency, &phases, bytes, ex.connection),
            Err(e) => r.error(e.class, e.message, ex.connection),
        }
    });
    true
}

async fn exchange(
    sh: &Shared,
    slot: &mut Option<Connection>,
    trace: &mut Trace,
    deadline: Instant,
) -> Exchange {
    let url = &sh.request.url;
    let budget = deadline.saturating_duration_since(trace.started());
    if slot.as_ref().is_some_and(Connection::is_closed) {
        *slot = None;
    }
    let opened = slot.is_none();
    let conn = match slot {
        Some(c) => c,
        None => {
            let connected =
                tokio::time::timeout_at(deadline, sh.connector.connect(url, sh.connect_to, trace))
                    .await;
            match connected {
                Ok(Ok(c)) => slot.insert(c),
                Ok(Err(e)) => return Exchange::unconnected(e),
                Err(_) => {
                    return Exchange::unconnected(ProbeError::timed_out(
                        trace,
                        url.as_str(),
                        budget,
                    ))
                }
            }
        }
    };
    let connection = conn.facts();
    let result = match conn.send(&sh.request, trace, budget).await {
        Ok(head) => {
            let status = head.status;
            head.read_body(trace, sh.max_body, budget)
                .await
                .map(|n| (status, n))
        }
        Err(e) => Err(e),
    };
    if result.is_err() || !sh.reuse {
        *slot = None;
    }
    Exchange {
        result,
        connection,
        opened,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_sends_start_at_zero_and_end_before_the_duration() {
        let secs = Duration::from_secs;
        assert_eq!(planned_sends(100.0, secs(1)), 100);
        assert_eq!(planned_sends(3.0, secs(1)), 3);
        assert_eq!(planned_sends(2.5, secs(1)), 3);
        assert_eq!(planned_sends(0.1, secs(1)), 1);
        assert_eq!(planned_sends(3000.0, secs(10)), 30_000);
    }

    /// The generator's own delay is send lateness and stays out of latency;
    /// waiting while the target held every worker counts in latency.
    #[test]
    fn only_the_target_is_charged_for_a_late_send() {
        let t0 = Instant::now();
        let us = |n: u64| t0 + Duration::from_micros(n);
        let d = Duration::from_micros;
        let mut waits = Waits::default();
        // On time: starts when due.
        assert_eq!(waits.start(us(1_000), us(1_000)), (us(1_000), d(0)));
        // The timer woke 800 us late: all of it is lateness.
        assert_eq!(waits.start(us(10_000), us(10_800)), (us(10_800), d(800)));
        // Due at 20 ms, ready at 20.05 ms, every worker busy until 22 ms,
        // sent at 22.05 ms: 1.95 ms are the target's, 0.1 ms the generator's.
        waits.add(us(20_050), us(22_000));
        assert_eq!(waits.start(us(20_000), us(22_050)), (us(20_100), d(100)));
        // The generator stalled until 300 ms, then waited 0.5 ms for a
        // worker: only that wait is the target's, for every send due
        // during the stall.
        waits.add(us(300_000), us(300_500));
        assert_eq!(
            waits.start(us(220_000), us(300_500)),
            (us(300_000), d(80_000))
        );
        assert_eq!(
            waits.start(us(240_000), us(300_600)),
            (us(300_100), d(60_100))
        );
        // Waits that ended before a send was due are forgotten.
        assert_eq!(waits.start(us(301_000), us(301_000)), (us(301_000), d(0)));
        assert!(waits.spans.is_empty());
    }
}
