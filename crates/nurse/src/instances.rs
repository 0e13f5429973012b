//! The API-server instances behind the `kubernetes` Service: a watch of its
//! EndpointSlices in `default` (kube-apiserver's endpoint reconciler keeps
//! them), read each round by the `api_server_instance` checks, which go to
//! each address directly instead of through the Service's load balancing.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::task::JoinHandle;

/// The namespace of the `kubernetes` Service.
pub const NAMESPACE: &str = "default";
/// The label selector of the `kubernetes` Service's EndpointSlices.
pub const SELECTOR: &str = "kubernetes.io/service-name=kubernetes";
/// The TLS name every instance is verified as (its certificate need not name its address).
pub const SERVER_NAME: &str = "kubernetes.default.svc";
/// The most instances checked: the series are per instance, so their number stays bounded.
pub const MAX_INSTANCES: usize = 16;

/// A running watch of the `kubernetes` Service's EndpointSlices.
pub struct Instances {
    slices: Store<EndpointSlice>,
    last_error: Arc<Mutex<Option<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Instances {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Instances {
    /// Starts watching `default/kubernetes`'s EndpointSlices.
    pub fn start(client: Client) -> Self {
        let api: Api<EndpointSlice> = Api::namespaced(client, NAMESPACE);
        let (slices, writer) = reflector::store();
        let last_error = Arc::new(Mutex::new(None));
        let errors = last_error.clone();
        let mut stream = watcher(api, watcher::Config::default().labels(SELECTOR))
            .default_backoff()
            .reflect(writer)
            .boxed();
        let task = tokio::spawn(async move {
            while let Some(event) = stream.next().await {
                let mut last = errors.lock().unwrap_or_else(|p| p.into_inner());
                match event {
                    Err(e) => {
                        tracing::warn!(error = %e, "watching the kubernetes Service's EndpointSlices");
                        *last = Some(format!(
                            "watching {NAMESPACE}/kubernetes EndpointSlices: {e}"
                        ));
                    }
                    Ok(_) => *last = None,
                }
            }
        });
        Self {
            slices,
            last_error,
            task,
        }
    }

    /// The instances' addresses now (sorted, at most [`MAX_INSTANCES`]).
    /// Before the first sync it waits up to `wait`, unless the watch has
    /// already failed (then every round would wait for nothing).
    pub async fn addresses(&self, wait: Duration) -> Result<Vec<SocketAddr>, String> {
        let failed = || {
            self.last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        let synced = match failed() {
            Some(_) => matches!(self.slices.wait_until_ready().now_or_never(), Some(Ok(()))),
            None => matches!(
                tokio::time::timeout(wait, self.slices.wait_until_ready()).await,
                Ok(Ok(()))
            ),
        };
        if !synced {
            return Err(failed().unwrap_or_else(|| {
                format!("{NAMESPACE}/kubernetes EndpointSlices not synced yet")
            }));
        }
        let slices = self.slices.state();
        let mut all = addresses(slices.iter().map(|s| s.as_ref()));
        if all.is_empty() {
            return Err(format!(
                "no ready address in the {NAMESPACE}/kubernetes EndpointSlices"
            ));
        }
        if all.len() > MAX_INSTANCES {
            tracing::warn!(
                instances = all.len(),
                checked = MAX_INSTANCES,
                "more API-server instances than are checked"
            );
            all.truncate(MAX_INSTANCES);
        }
        Ok(all)
    }
}

/// Every ready address of the slices with the port named `https` (the
/// `kubernetes` Service's only port), sorted and without duplicates.
pub fn addresses<'a>(slices: impl Iterator<Item = &'a EndpointSlice>) -> Vec<SocketAddr> {
    let mut all: Vec<SocketAddr> = slices
        .flat_map(|slice| {
            let port = slice
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some("https"))
                .and_then(|p| p.port)
                .and_then(|p| u16::try_from(p).ok());
            slice.endpoints.iter().filter_map(move |e| {
                let ready = e.conditions.as_ref().and_then(|c| c.ready) != Some(false);
                Some((ready, port?, &e.addresses))
            })
        })
        .filter(|(ready, _, _)| *ready)
        .flat_map(|(_, port, addresses)| {
            addresses
                .iter()
                .filter_map(move |a| a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port)))
        })
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(value: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn ready_addresses_of_the_https_port_sorted_and_unique() {
        let a = slice(serde_json::json!({
            "metadata": {"name": "kubernetes"},
            "addressType": "IPv4",
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.0.0.3"], "conditions": {"ready": true}},
                {"addresses": ["10.0.0.1"]},
                {"addresses": ["10.0.0.2"], "conditions": {"ready": false}},
                {"addresses": ["not-an-ip"]},
            ],
        }));
        let b = slice(serde_json::json!({
            "metadata": {"name": "kubernetes-2"},
            "addressType": "IPv4",
            "ports": [{"name": "https", "port": 6443}],
            "endpoints": [{"addresses": ["10.0.0.1"]}],
        }));
        let no_port = slice(serde_json::json!({
            "metadata": {"name": "other"},
            "addressType": "IPv4",
            "ports": [{"name": "metrics", "port": 9090}],
            "endpoints": [{"addresses": ["10.0.0.9"]}],
        }));
        let got: Vec<String> = addresses([a, b, no_port].iter())
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(got, ["10.0.0.1:6443", "10.0.0.3:6443"]);
    }
}
