//! The cluster DNS as the pods see it: each node's `ward-lookup` prober
//! resolves the API server's and the nurses' Service names through kube-sim's
//! DNS with a pod's resolv.conf, every check interval; each lookup is counted
//! and shown with its node's nurse checks as `dns:NAME`.

use std::net::SocketAddr;
use std::sync::Arc;

use ward_kube_sim::dns::DEFAULT_ZONE;
use ward_lookup::{Lookup, Lookuper};
use ward_nurse::status::Cell;

use crate::{lock, Error, Inner, LabConfig, DNS_CHECK_PREFIX, NAMESPACE, SERVICE};

/// What a pod in the lab's namespace has as /etc/resolv.conf, pointing at the
/// cluster DNS (`IP:PORT` is ward lookup's extension for test resolvers).
pub(crate) fn resolv_conf(dns: SocketAddr) -> String {
    format!(
        "nameserver {dns}\nsearch {NAMESPACE}.svc.{DEFAULT_ZONE} svc.{DEFAULT_ZONE} {DEFAULT_ZONE}\noptions ndots:5 attempts:1\n"
    )
}

/// The names every node's prober resolves, absolute (one query each, no search-path walk).
fn dns_names() -> [String; 2] {
    [
        format!("kubernetes.default.svc.{DEFAULT_ZONE}."),
        format!("{SERVICE}.{NAMESPACE}.svc.{DEFAULT_ZONE}."),
    ]
}

/// One lookup prober per node, in resolv.conf mode (a pod's view: UDP, TCP
/// when truncated); all record into `registry`.
pub(crate) fn lookupers(
    config: &LabConfig,
    resolv_conf: &std::path::Path,
    registry: &Arc<ward_agent::Registry>,
) -> Result<Vec<Lookuper>, Error> {
    let lookup = ward_lookup::Config {
        interval: config.check_interval,
        timeout: config.check_timeout,
        hosts: ward_lookup::config::parse_hosts(&dns_names().join(",")).map_err(Error::Dns)?,
        servers: Vec::new(),
        prom_histogram: false,
        resolv_conf: Some(resolv_conf.to_path_buf()),
        debug: false,
    };
    (0..config.nodes)
        .map(|_| Lookuper::new(lookup.clone(), registry).map_err(Error::Dns))
        .collect()
}

/// The check a lookup is shown as: `dns:NAME` with its latency and error class.
fn dns_cell(lookup: &Lookup) -> (String, Cell) {
    let name = lookup.host.trim_end_matches('.');
    let error = (!lookup.succeeded()).then(|| {
        lookup.message.clone().unwrap_or_else(|| {
            format!(
                "{} for {name}",
                lookup.rcode.as_deref().unwrap_or("no answer")
            )
        })
    });
    (
        format!("{DNS_CHECK_PREFIX}{name}"),
        Cell {
            ok: lookup.succeeded(),
            status: None,
            seconds: lookup.duration.as_secs_f64(),
            class: lookup.failure.map(|f| f.as_str()),
            error,
        },
    )
}

impl Inner {
    /// Every check interval, each live node's lookup prober resolves the names.
    pub(crate) async fn probe_dns(
        self: Arc<Self>,
        lookupers: Vec<Lookuper>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let lookupers = Arc::new(lookupers);
        let schedule = ward_agent::Schedule {
            interval: self.config.check_interval,
            jitter: 0.0,
            round_timeout: lookupers
                .first()
                .map_or(self.config.check_timeout, Lookuper::round_timeout),
        };
        ward_agent::every(schedule, stop, |_, _| {
            let me = self.clone();
            let lookupers = lookupers.clone();
            async move {
                let live: Vec<(usize, String)> = lock(&me.nodes)
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.lifecycle.is_some())
                    .map(|(i, n)| (i, n.name.clone()))
                    .collect();
                // Each node's lookups are recorded as soon as they finish, so a
                // round cut at its deadline keeps what was done.
                let rounds = live.iter().filter_map(|(i, node)| {
                    let l = lookupers.get(*i)?;
                    let me = &me;
                    Some(async move { me.record_dns(node, &l.round().await) })
                });
                futures::future::join_all(rounds).await;
            }
        })
        .await;
    }

    fn record_dns(&self, node: &str, lookups: &[Lookup]) {
        let mut state = lock(&self.state);
        for lookup in lookups {
            let (check, cell) = dns_cell(lookup);
            state
                .tallies
                .entry((node.to_string(), format!("#{check}")))
                .or_default()
                .count(&cell);
            state
                .dns
                .entry(node.to_string())
                .or_default()
                .insert(check, cell);
        }
    }
}
