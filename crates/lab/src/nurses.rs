//! The nurses: one real `ward-nurse` per node on its own loopback address,
//! configured as it would be in the node's pod, started (and restarted after
//! a kill), each round's results recorded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ward_agent::Lifecycle;
use ward_nurse::config::Toggles;
use ward_nurse::status::NodeStatus;
use ward_nurse::{Hooks, NurseConfig};

use crate::{lock, Error, Inner, NodeRun, LABEL, NAMESPACE};

/// One nurse's finished round, as the lab recorded it.
#[derive(Debug, Clone)]
pub struct Round {
    /// The node.
    pub node: String,
    /// What its nurse saw: every check's result.
    pub status: Arc<NodeStatus>,
    /// For its `me_ingress` and `me_service` checks: the nurses the request
    /// went to, in order (the ingress may have tried several).
    pub via: BTreeMap<String, Vec<String>>,
}

/// How long a nurse's round may take (as `ward_nurse` bounds it): a request
/// noted longer ago than that belongs to an earlier round.
fn round_deadline(check_timeout: Duration) -> Duration {
    check_timeout + Duration::from_secs(2)
}

impl Inner {
    fn nurse_config(&self, node: &NodeRun) -> NurseConfig {
        let c = &self.config;
        // The caller in the path, as an ingress logs the client's address.
        let base = format!("http://{}/from/{}", self.addr, node.name);
        NurseConfig {
            ingress_url: format!("{base}/ingress"),
            service_url: format!("{base}/service"),
            namespace: NAMESPACE.into(),
            neighbour_filter: format!("{}={}", LABEL.0, LABEL.1),
            neighbour_limit: c.neighbour_limit,
            check_interval: c.check_interval,
            jitter: 0.5,
            check_timeout: c.check_timeout,
            shutdown_duration: Duration::ZERO,
            service_account_ca: self.files.path().join("ca.crt"),
            token_file: self.files.path().join("token"),
            api_server_host: "127.0.0.1".into(),
            api_server_port: self.sim.addr().port(),
            api_server_dns: "localhost".into(),
            pod_name: format!("ward-nurse-{}", node.name),
            node_name: Some(node.name.clone()),
            listen: SocketAddr::from((node.ip, self.nurse_port)),
            neighbour_port: self.nurse_port,
            toggles: Toggles {
                api_server_instances: true,
                ..Toggles::default()
            },
            ..NurseConfig::default()
        }
    }

    pub(crate) fn start_nurse(self: &Arc<Self>, i: usize) -> Result<(), Error> {
        let mut nodes = lock(&self.nodes);
        let Some(node) = nodes.get_mut(i) else {
            return Ok(());
        };
        let config = self.nurse_config(node);
        let client = self.sim.client()?;
        let lifecycle = Lifecycle::new();
        node.lifecycle = Some(lifecycle.clone());
        let me = Arc::downgrade(self);
        let name = node.name.clone();
        let hooks = Hooks {
            faults: Some(node.faults.clone()),
            listener: node.listener.take(),
            on_round: Some(Arc::new(move |_node, status| {
                if let Some(inner) = me.upgrade() {
                    inner.record(&name, status);
                }
            })),
        };
        let name = node.name.clone();
        tokio::spawn(async move {
            if let Err(e) = ward_nurse::run_with(config, Some(client), lifecycle, hooks).await {
                tracing::error!(node = %name, error = %e, "nurse stopped");
            }
        });
        Ok(())
    }

    fn record(&self, node: &str, status: Arc<NodeStatus>) {
        let mut via = self
            .router
            .take(node, round_deadline(self.config.check_timeout));
        via.retain(|check, _| status.checks.contains_key(check));
        let mut state = lock(&self.state);
        state.rounds += 1;
        for (check, cell) in &status.checks {
            let to = check.strip_prefix("path_").unwrap_or(check).to_string();
            let key = (
                node.to_string(),
                if check.starts_with("path_") {
                    to
                } else {
                    format!("#{check}")
                },
            );
            state.tallies.entry(key).or_default().count(cell);
        }
        state.statuses.insert(node.to_string(), status.clone());
        state.via.insert(node.to_string(), via.clone());
        drop(state);
        // No receiver is fine: nobody subscribed.
        let _ = self.rounds.send(Round {
            node: node.to_string(),
            status,
            via,
        });
    }
}
