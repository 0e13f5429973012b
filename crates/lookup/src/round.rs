//! The lookups of `ward lookup`: every host at every server, each query
//! bounded by the timeout, plus (in resolv.conf mode) every host through the
//! libc search path; each lookup recorded in the metrics. Either one round,
//! all at once (`ward lookup once`), or each pair on its own cadence (the
//! agent).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use rustls::ClientConfig;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use ward_agent::Registry;
use ward_probe::dns::{DnsFailure, DnsProto};
use ward_probe::tls::TlsConfig;

use crate::config::{Config, HostSpec, ServerSpec, RESOLV_CONF_SERVER_LABEL};
use crate::error::{Error, Result};
use crate::metrics::PairMetrics;
use crate::query::{self, To};
use crate::report::{Lookup, Query, QueryOutcome};
use crate::resolv::ResolvConf;
use crate::stub;

/// Pairs start on a grid of this step: the lookups of a step share one
/// timer wake-up, and their answers arrive close together.
const PACE_STEP: Duration = Duration::from_millis(50);

/// Runs rounds of lookups and records them; built once, used every interval.
#[derive(Debug)]
pub struct Lookuper {
    config: Config,
    resolv: Option<ResolvConf>,
    tls: Option<Arc<ClientConfig>>,
    direct: Vec<(usize, usize, PairMetrics)>,
    through_resolv: Vec<(usize, PairMetrics)>,
}

impl Lookuper {
    /// Validates `config`, reads its resolv.conf, and creates the series
    /// hostlookuper creates at start in `registry`.
    pub fn new(config: Config, registry: &Arc<Registry>) -> Result<Self> {
        config.validate()?;
        let resolv = match &config.resolv_conf {
            Some(path) => Some(ResolvConf::read(path)?),
            None => None,
        };
        let tls = if config.servers.iter().any(|s| s.proto == DnsProto::Tls) {
            Some(TlsConfig::default().build().map_err(Error::Tls)?)
        } else {
            None
        };
        let mut direct = Vec::new();
        let mut through_resolv = Vec::new();
        for (h, host) in config.hosts.iter().enumerate() {
            for (s, server) in config.servers.iter().enumerate() {
                direct.push((h, s, PairMetrics::new(registry, &host.label, &server.label)));
            }
            if resolv.is_some() {
                let m = PairMetrics::new(registry, &host.label, RESOLV_CONF_SERVER_LABEL);
                through_resolv.push((h, m.with_resolver()));
            }
        }
        Ok(Self {
            config,
            resolv,
            tls,
            direct,
            through_resolv,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The parsed resolv.conf, in resolv.conf mode.
    pub fn resolv_conf(&self) -> Option<&ResolvConf> {
        self.resolv.as_ref()
    }

    /// A deadline no healthy round reaches: the slowest possible lookup plus a second.
    pub fn round_timeout(&self) -> Duration {
        let direct = self.config.query_timeout();
        let walk = self
            .resolv
            .as_ref()
            .map(|r| {
                self.config
                    .hosts
                    .iter()
                    .map(|h| r.worst_case(&h.name, r.timeout.min(self.config.query_timeout())) * 2)
                    .max()
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        direct.max(walk) + Duration::from_secs(1)
    }

    /// One round with a lookuper of its own and metrics kept nowhere: what
    /// `ward lookup once` runs. Returns the lookuper (its servers and
    /// resolv.conf describe the lookups) and the lookups.
    pub async fn once(config: Config) -> Result<(Self, Vec<Lookup>)> {
        let lookuper = Self::new(config, &crate::metrics::registry(false))?;
        let lookups = lookuper.round().await;
        Ok((lookuper, lookups))
    }

    /// Runs one round: all lookups in parallel; records and returns them.
    pub async fn round(&self) -> Vec<Lookup> {
        join_all((0..self.pairs()).map(|i| self.lookup(i)))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Runs every host x server pair (and, in resolv.conf mode, every host
    /// through the search path) on its own cadence until `stop`, as
    /// hostlookuper's goroutine per pair does: pair `i` starts `spread x i /
    /// pairs` after the start (on the 50 ms steps, so pairs of one step share
    /// a timer wake-up) and then every `interval` on that grid, whatever the
    /// other pairs do. A lookup still running when its next tick comes is
    /// followed at once by the next one when it ends (a Go ticker keeps one
    /// missed tick and drops the others), so a server that never answers
    /// slows only its own pairs. `first_pass` is called once every pair has
    /// completed a lookup. Only the lookups in flight are held. An interval
    /// below [`ward_agent::schedule::MIN_INTERVAL`] runs at that floor.
    pub async fn run(
        &self,
        interval: Duration,
        spread: Duration,
        stop: CancellationToken,
        first_pass: impl FnOnce(),
    ) {
        let pairs = self.pairs();
        if pairs == 0 {
            return stop.cancelled().await;
        }
        let interval = interval.max(ward_agent::schedule::MIN_INTERVAL);
        let start = Instant::now();
        let origin = |i: usize| {
            let offset = spread * i as u32 / pairs as u32;
            start + PACE_STEP * (offset.as_nanos() / PACE_STEP.as_nanos()) as u32
        };
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> =
            (0..pairs).map(|i| Reverse((origin(i), i))).collect();
        let mut first_pass = Some(first_pass);
        let mut waiting_first = pairs;
        let mut done_once = vec![false; pairs];
        let deadline = self.round_timeout();
        let mut running = FuturesUnordered::new();
        loop {
            let next = due.peek().map(|Reverse((at, _))| *at);
            tokio::select! {
                () = stop.cancelled() => return,
                () = sleep_until(next.unwrap_or(start)), if next.is_some() => {
                    let now = Instant::now();
                    while let Some(Reverse((at, i))) = due.peek().copied() {
                        if at > now {
                            break;
                        }
                        due.pop();
                        let lookup = tokio::time::timeout(deadline, self.lookup(i));
                        running.push(async move {
                            let _ = lookup.await;
                            (i, at)
                        });
                    }
                }
                Some((i, started)) = running.next(), if !running.is_empty() => {
                    let now = Instant::now();
                    due.push(Reverse((next_tick(origin(i), started, interval, now), i)));
                    if !std::mem::replace(&mut done_once[i], true) {
                        waiting_first -= 1;
                        if waiting_first == 0 {
                            if let Some(f) = first_pass.take() {
                                f();
                            }
                        }
                    }
                }
            }
        }
    }

    /// Lookup `i` of a round, not started: the host x server pairs in
    /// order, then (in resolv.conf mode) each host through the search path;
    /// it records and logs itself when done. `None` past the last one.
    async fn lookup(&self, i: usize) -> Option<Lookup> {
        let hosts = &self.config.hosts;
        let (lookup, metrics) = if let Some((h, s, m)) = self.direct.get(i) {
            let server = &self.config.servers[*s];
            let lookup = direct_lookup(
                &hosts[*h],
                server,
                self.config.query_timeout(),
                self.tls.as_ref(),
            )
            .await;
            (lookup, m)
        } else {
            let (h, m) = self.through_resolv.get(i - self.direct.len())?;
            let conf = self.resolv.as_ref()?;
            (
                stub::lookup(conf, &hosts[*h], self.config.query_timeout()).await,
                m,
            )
        };
        metrics.record(&lookup);
        self.log(&lookup);
        Some(lookup)
    }

    /// How many lookups a round has.
    fn pairs(&self) -> usize {
        self.direct.len() + self.through_resolv.len()
    }

    fn log(&self, l: &Lookup) {
        if l.transport_error {
            tracing::error!(host = %l.host, dnsServer = %l.server, err = l.message.as_deref().unwrap_or(""), "dns lookup failed");
        } else if self.config.debug {
            tracing::info!(host = %l.host, dns_server = %l.server, time = ?l.duration, rcode = l.rcode.as_deref().unwrap_or(""), answers = l.answers.len(), queries = l.queries.len(), "lookup result");
        } else {
            tracing::debug!(host = %l.host, dns_server = %l.server, time = ?l.duration, rcode = l.rcode.as_deref().unwrap_or(""), "lookup result");
        }
    }
}

/// When a pair whose ticks fall on `origin + k x interval` looks up next,
/// its lookup started at `started` having ended at `now`: at its next tick
/// after `started`, or at once if that tick passed while the lookup ran (a
/// Go ticker holds one missed tick and drops the rest).
fn next_tick(origin: Instant, started: Instant, interval: Duration, now: Instant) -> Instant {
    let since = started.saturating_duration_since(origin);
    let ticks = (since.as_nanos() / interval.as_nanos()) as u32;
    let next = origin + interval * (ticks + 1);
    next.max(now)
}

/// hostlookuper's lookup: the host's record type(s) at one server, as an absolute name.
pub(crate) async fn direct_lookup(
    host: &HostSpec,
    server: &ServerSpec,
    timeout: Duration,
    tls: Option<&Arc<ClientConfig>>,
) -> Lookup {
    let to = To {
        host: &server.host,
        port: server.port,
        proto: server.proto,
        label: &server.label,
    };
    let queries = join_all(
        host.kind
            .types()
            .into_iter()
            .map(|t| query::send(to, &host.name, t, timeout, tls)),
    )
    .await;
    combine(host, &server.label, queries)
}

/// One lookup out of parallel queries (one per record type): any transport
/// error fails it; otherwise NOERROR if any type answered NOERROR.
fn combine(host: &HostSpec, server: &str, queries: Vec<Query>) -> Lookup {
    let mut lookup = Lookup {
        host: host.label.clone(),
        server: server.to_string(),
        duration: Duration::ZERO,
        rcode: None,
        failure: None,
        transport_error: false,
        answers: Vec::new(),
        queries: Vec::new(),
        message: None,
    };
    let mut rcodes = Vec::new();
    let mut truncated = false;
    for q in &queries {
        match &q.outcome {
            QueryOutcome::Error { class, message } if !lookup.transport_error => {
                lookup.transport_error = true;
                lookup.failure = Some(*class);
                lookup.message = Some(message.clone());
            }
            QueryOutcome::Error { .. } => {}
            QueryOutcome::Answer(a) => {
                lookup.duration = lookup.duration.max(q.rtt.unwrap_or_default());
                lookup.answers.extend(a.answers.iter().cloned());
                rcodes.push(a.rcode.clone());
                truncated |= a.truncated;
            }
        }
    }
    if !lookup.transport_error {
        let rcode = rcodes
            .iter()
            .find(|r| *r == "NOERROR")
            .or(rcodes.first())
            .cloned()
            .unwrap_or_else(|| "NOERROR".into());
        lookup.failure = DnsFailure::of_answer(&ward_probe::dns::DnsAnswer {
            rcode: rcode.clone(),
            answers: Vec::new(),
            truncated,
        });
        lookup.rcode = Some(rcode);
    }
    lookup.queries = queries;
    lookup
}
