//! Neighbour discovery through watches (kube-rs reflectors, no polling): nurse
//! pods matching the filter in the namespace, and nodes. A pod is a neighbour
//! when it is Running, not terminating, not this pod, and (unless unschedulable
//! nodes are allowed) on an existing, schedulable node. Objects are decoded
//! with only the fields used ([`crate::slim`]), to keep memory flat at scale.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::ring;
use crate::slim::{SlimNode, SlimPod};

/// Objects per page of the initial lists (kube-rs asks for 500). A page is
/// held as JSON while it is decoded; at 1,000 nodes pages of 500 pods and
/// nodes (then decoded whole) left ~20 MB of allocator arenas behind.
const LIST_PAGE: u32 = 50;

/// One eligible neighbour, shaped like kubenurse's `/alive` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbour {
    /// Pod name.
    #[serde(rename = "PodName")]
    pub pod_name: String,
    /// Pod IP (checks go to `http://PodIP:port/alwayshappy`).
    #[serde(rename = "PodIP")]
    pub pod_ip: String,
    /// Node IP.
    #[serde(rename = "HostIP")]
    pub host_ip: String,
    /// Node name (the `path_<node>` label).
    #[serde(rename = "NodeName")]
    pub node_name: String,
    /// Ring position of the node.
    #[serde(rename = "NodeHash")]
    pub node_hash: u64,
}

/// What discovery sees at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// This pod's node, when known.
    pub self_node: Option<String>,
    /// Every eligible neighbour, one per node (sorted by node name).
    pub neighbours: Vec<Neighbour>,
}

impl Snapshot {
    /// The neighbours this node checks: the ring's `limit` nearest, nearest first.
    pub fn selected(&self, limit: i64) -> Vec<Neighbour> {
        let me = self.self_node.as_deref().unwrap_or_default();
        let placed = self
            .neighbours
            .iter()
            .map(|n| (n.node_hash, n.node_name.as_str()));
        ring::nearest(ring::position(me), me, placed, limit)
            .into_iter()
            .filter_map(|node| {
                self.neighbours
                    .binary_search_by(|n| n.node_name.as_str().cmp(node))
                    .ok()
                    .map(|i| self.neighbours[i].clone())
            })
            .collect()
    }
}

/// Who this pod is.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Pod name (downward API), used to exclude self.
    pub pod_name: String,
    /// Node name (downward API), when given.
    pub node_name: Option<String>,
}

/// Running watches of pods and nodes.
pub struct Discovery {
    pods: Store<SlimPod>,
    nodes: Option<Store<SlimNode>>,
    identity: Identity,
    last_error: Arc<Mutex<Option<String>>>,
    /// Bumped by every watch event: the cached snapshot is current while it is unchanged.
    generation: Arc<AtomicU64>,
    cached: Mutex<Option<(u64, Arc<Snapshot>)>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Discovery {
    /// Starts watching pods (`namespace`, empty for all; `selector`, a label
    /// selector) and, unless `allow_unschedulable`, nodes.
    pub fn start(
        client: Client,
        namespace: &str,
        selector: &str,
        allow_unschedulable: bool,
        identity: Identity,
    ) -> Self {
        let last_error = Arc::new(Mutex::new(None));
        let generation = Arc::new(AtomicU64::new(0));
        let pods_api: Api<SlimPod> = if namespace.is_empty() {
            Api::all(client.clone())
        } else {
            Api::namespaced(client.clone(), namespace)
        };
        let mut config = watcher::Config::default().page_size(LIST_PAGE);
        if !selector.is_empty() {
            config = config.labels(selector);
        }
        let (pods, writer) = reflector::store();
        let mut tasks = vec![spawn_watch(
            "pods",
            watcher(pods_api, config)
                .default_backoff()
                .reflect(writer)
                .boxed(),
            last_error.clone(),
            generation.clone(),
        )];
        let nodes = (!allow_unschedulable).then(|| {
            let (store, writer) = reflector::store();
            tasks.push(spawn_watch(
                "nodes",
                watcher(
                    Api::<SlimNode>::all(client),
                    watcher::Config::default().page_size(LIST_PAGE),
                )
                .default_backoff()
                .reflect(writer)
                .boxed(),
                last_error.clone(),
                generation.clone(),
            ));
            store
        });
        Self {
            pods,
            nodes,
            identity,
            last_error,
            generation,
            cached: Mutex::new(None),
            tasks,
        }
    }

    /// The current neighbours; waits up to `wait` for the first sync. The
    /// snapshot is computed again only after a watch event changed the caches.
    pub async fn snapshot(&self, wait: Duration) -> Result<Arc<Snapshot>, String> {
        let synced = async {
            self.pods.wait_until_ready().await.ok();
            if let Some(nodes) = &self.nodes {
                nodes.wait_until_ready().await.ok();
            }
        };
        if tokio::time::timeout(wait, synced).await.is_err() {
            let last = self
                .last_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default();
            return Err(match last {
                Some(e) => format!("discovery not synced: {e}"),
                None => "discovery not synced yet".to_string(),
            });
        }
        // Read before computing: an event during the computation leaves the
        // cache stale-marked, never stale-trusted.
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, snapshot)) = cached.as_ref() {
            if *at == generation {
                return Ok(snapshot.clone());
            }
        }
        let snapshot = Arc::new(self.compute());
        *cached = Some((generation, snapshot.clone()));
        Ok(snapshot)
    }

    fn node(&self, name: &str) -> Option<Arc<SlimNode>> {
        self.nodes.as_ref()?.get(&ObjectRef::new(name))
    }

    fn compute(&self) -> Snapshot {
        let mut self_node = self.identity.node_name.clone();
        let nodes: Option<BTreeMap<String, bool>> = self.nodes.as_ref().map(|s| {
            s.state()
                .iter()
                .map(|n| (n.name_any(), !n.is_unschedulable()))
                .collect()
        });
        let mut by_node: BTreeMap<String, Neighbour> = BTreeMap::new();
        let mut pods = self.pods.state();
        pods.sort_by_key(|p| p.name_any());
        for pod in pods {
            let node_name = pod.spec.node_name.clone().unwrap_or_default();
            if pod.name_any() == self.identity.pod_name {
                self_node.get_or_insert(node_name);
                continue;
            }
            let status = &pod.status;
            let running = status.phase.as_deref() == Some("Running");
            if !running || pod.metadata.deletion_timestamp.is_some() || node_name.is_empty() {
                continue;
            }
            if let Some(nodes) = &nodes {
                if nodes.get(&node_name) != Some(&true) {
                    continue;
                }
            }
            by_node
                .entry(node_name.clone())
                .or_insert_with(|| Neighbour {
                    pod_name: pod.name_any(),
                    pod_ip: status.pod_ip.clone().unwrap_or_default(),
                    host_ip: status.host_ip.clone().unwrap_or_default(),
                    node_hash: ring::position(&node_name),
                    node_name,
                });
        }
        if let Some(me) = &self_node {
            by_node.remove(me);
        }
        Snapshot {
            self_node,
            neighbours: by_node.into_values().collect(),
        }
    }

    /// False while this pod's node is cordoned, unschedulable or gone (true when unknown).
    pub fn own_node_schedulable(&self) -> bool {
        if self.nodes.is_none() {
            return true;
        }
        let me = self.identity.node_name.clone().or_else(|| {
            self.pods
                .state()
                .iter()
                .find(|p| p.name_any() == self.identity.pod_name)
                .and_then(|p| p.spec.node_name.clone())
        });
        match me {
            None => true,
            Some(name) => match self.node(&name) {
                Some(node) => !node.is_unschedulable(),
                None => self.nodes.as_ref().is_some_and(|s| s.is_empty()),
            },
        }
    }
}

fn spawn_watch<S, K>(
    what: &'static str,
    stream: S,
    last_error: Arc<Mutex<Option<String>>>,
    generation: Arc<AtomicU64>,
) -> JoinHandle<()>
where
    S: futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + Unpin + 'static,
    K: Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = stream;
        while let Some(event) = stream.next().await {
            // The reflector has applied the event to its store by now.
            generation.fetch_add(1, Ordering::Release);
            if let Err(e) = event {
                tracing::warn!(error = %e, "watching {what}");
                if let Ok(mut last) = last_error.lock() {
                    *last = Some(format!("watching {what}: {e}"));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbour(node: &str) -> Neighbour {
        Neighbour {
            pod_name: format!("nurse-{node}"),
            pod_ip: "127.0.0.1".into(),
            host_ip: "127.0.0.1".into(),
            node_name: node.into(),
            node_hash: ring::position(node),
        }
    }

    #[test]
    fn selection_follows_the_ring_from_the_cached_positions() {
        let snapshot = Snapshot {
            self_node: Some("node-3".into()),
            neighbours: ["node-1", "node-2", "node-4", "node-5", "node-6"]
                .map(neighbour)
                .into(),
        };
        let picked: Vec<String> = snapshot
            .selected(3)
            .into_iter()
            .map(|n| n.node_name)
            .collect();
        assert_eq!(picked, ["node-5", "node-2", "node-1"]);
        assert_eq!(snapshot.selected(0).len(), 5);
    }
}
