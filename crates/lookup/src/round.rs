//! One round of `ward lookup`: every host at every server, all at once or
//! paced over a spread, each query bounded by the timeout, plus (in
//! resolv.conf mode) every host through the libc search path; each lookup
//! recorded in the metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{join_all, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use rustls::ClientConfig;
use tokio::time::{sleep_until, Instant};
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

/// A paced round starts its lookups in steps of this much: the lookups of a
/// step share one timer wake-up, and their answers arrive close together.
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
        let direct = self.config.timeout;
        let walk = self
            .resolv
            .as_ref()
            .map(|r| {
                self.config
                    .hosts
                    .iter()
                    .map(|h| r.worst_case(&h.name, r.timeout.min(self.config.timeout)) * 2)
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
        join_all(self.lookups()).await
    }

    /// Runs one round with the lookups' starts spread evenly over `spread`
    /// in steps of 50 ms, as hostlookuper's per-pair start jitter spreads its
    /// queries, so no server gets every query of a round in one burst;
    /// records them and keeps none: only the lookups in flight are held.
    pub async fn paced_round(&self, spread: Duration) {
        let count = (self.direct.len() + self.through_resolv.len()).max(1) as u32;
        let start = Instant::now();
        let due_of = |i: usize| {
            let offset = spread * i as u32 / count;
            start + PACE_STEP * (offset.as_nanos() / PACE_STEP.as_nanos()) as u32
        };
        let mut waiting = self.lookups().enumerate();
        let mut next = waiting.next();
        let mut running = FuturesUnordered::new();
        loop {
            let due = next.as_ref().map(|(i, _)| due_of(*i));
            tokio::select! {
                () = sleep_until(due.unwrap_or(start)), if due.is_some() => {
                    while let Some((_, lookup)) = next.take_if(|(i, _)| Some(due_of(*i)) <= due) {
                        running.push(lookup);
                        next = waiting.next();
                    }
                }
                Some(_) = running.next(), if !running.is_empty() => {}
                else => break,
            }
        }
    }

    /// Every lookup of a round, not started: each host at each server, then
    /// (in resolv.conf mode) each host through the search path; each records
    /// and logs itself when done.
    fn lookups(&self) -> impl Iterator<Item = impl Future<Output = Lookup> + '_> + '_ {
        let hosts = &self.config.hosts;
        let servers = &self.config.servers;
        let direct = self.direct.iter().map(move |(h, s, m)| {
            Either::Left(async move {
                let lookup = direct_lookup(
                    &hosts[*h],
                    &servers[*s],
                    self.config.timeout,
                    self.tls.as_ref(),
                )
                .await;
                m.record(&lookup);
                self.log(&lookup);
                lookup
            })
        });
        let resolved = self.through_resolv.iter().filter_map(move |(h, m)| {
            let conf = self.resolv.as_ref()?;
            Some(Either::Right(async move {
                let lookup = stub::lookup(conf, &hosts[*h], self.config.timeout).await;
                m.record(&lookup);
                self.log(&lookup);
                lookup
            }))
        });
        direct.chain(resolved)
    }

    fn log(&self, l: &Lookup) {
        if l.transport_error {
            tracing::warn!(host = %l.host, dns_server = %l.server, error = l.message.as_deref().unwrap_or(""), "dns lookup failed");
        } else if self.config.debug {
            tracing::info!(host = %l.host, dns_server = %l.server, time = ?l.duration, rcode = l.rcode.as_deref().unwrap_or(""), answers = l.answers.len(), queries = l.queries.len(), "lookup result");
        } else {
            tracing::debug!(host = %l.host, dns_server = %l.server, time = ?l.duration, rcode = l.rcode.as_deref().unwrap_or(""), "lookup result");
        }
    }
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
