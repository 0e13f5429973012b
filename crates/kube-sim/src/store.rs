//! The object store: nodes, pods, namespaces, services and EndpointSlices as JSON (validated against the
//! k8s-openapi types), one cluster-wide resourceVersion counter as etcd keeps
//! it, a bounded history of changes for watches that resume from a
//! resourceVersion, and a broadcast of every change to open watches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;

/// How many changes are kept for watches resuming from an older resourceVersion.
pub const HISTORY: usize = 10_000;

/// A resource kind the simulation serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// `Pod`.
    pub kind: &'static str,
    /// `pods`.
    pub plural: &'static str,
    /// `pod`.
    pub singular: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names (for discovery).
    pub short_names: &'static [&'static str],
    /// API group (`""`: core).
    pub group: &'static str,
}

impl Resource {
    /// Its `apiVersion`: `v1`, or `<group>/v1`.
    pub fn api_version(&self) -> String {
        api_version(self.group)
    }
}

/// The `apiVersion` of a group's served version: `v1` for core, else `<group>/v1`.
pub fn api_version(group: &str) -> String {
    match group {
        "" => "v1".to_string(),
        group => format!("{group}/v1"),
    }
}

/// The group of EndpointSlices.
pub const DISCOVERY_GROUP: &str = "discovery.k8s.io";

/// Every resource served (core `v1`, and `discovery.k8s.io/v1` EndpointSlices).
pub const RESOURCES: [Resource; 5] = [
    Resource {
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        group: "",
    },
    Resource {
        kind: "Node",
        plural: "nodes",
        singular: "node",
        namespaced: false,
        short_names: &["no"],
        group: "",
    },
    Resource {
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        group: "",
    },
    Resource {
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        group: "",
    },
    Resource {
        kind: "EndpointSlice",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        group: DISCOVERY_GROUP,
    },
];

/// Looks a resource up by its plural name.
pub fn resource(plural: &str) -> Option<Resource> {
    RESOURCES.iter().copied().find(|r| r.plural == plural)
}

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change to one object.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// The resource's plural name.
    pub plural: &'static str,
    /// What happened.
    pub event: EventType,
    /// The object after the change (for `DELETED`, the last state).
    pub object: Value,
    /// The object before the change (for `MODIFIED`).
    pub old: Option<Value>,
}

type Key = (&'static str, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Change>>,
    uid: u64,
}

/// The shared object store.
pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Change>>,
}

/// A selection of objects: where, and which labels/fields.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Namespace, or `None` for all (or cluster-scoped).
    pub namespace: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
}

impl Selection {
    /// True when `object` is in this selection.
    pub fn matches(&self, object: &Value) -> bool {
        if let Some(ns) = &self.namespace {
            if object["metadata"]["namespace"].as_str() != Some(ns.as_str()) {
                return false;
            }
        }
        let labels: BTreeMap<String, String> = object["metadata"]["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        self.labels.matches(&labels) && self.fields.matches(object)
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    /// The objects.
    pub items: Vec<Value>,
    /// The store's resourceVersion at the time of the list.
    pub rv: u64,
    /// Continue token when more items follow.
    pub next: Option<String>,
}

/// How a watch starts.
pub struct WatchStart {
    /// Events to send first (synthetic `ADDED`s or the replayed history).
    pub initial: Vec<Arc<Change>>,
    /// The resourceVersion the watch is at once `initial` is sent.
    pub rv: u64,
    /// Every later change.
    pub rx: broadcast::Receiver<Arc<Change>>,
}

fn now_rfc3339() -> String {
    use k8s_openapi::chrono::{SecondsFormat, Utc};
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn validate(r: Resource, object: &Value) -> Result<(), ApiError> {
    let checked = match r.kind {
        "Pod" => serde_json::from_value::<Pod>(object.clone()).map(|_| ()),
        "Node" => serde_json::from_value::<Node>(object.clone()).map(|_| ()),
        "Service" => serde_json::from_value::<Service>(object.clone()).map(|_| ()),
        "EndpointSlice" => serde_json::from_value::<EndpointSlice>(object.clone()).map(|_| ()),
        _ => serde_json::from_value::<Namespace>(object.clone()).map(|_| ()),
    };
    checked.map_err(|e| {
        ApiError::bad_request(format!(
            "{} in version \"v1\" cannot be handled as a {}: {e}",
            r.kind, r.kind
        ))
    })
}

/// Applies an RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store at resourceVersion 1.
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                uid: 0,
            }),
            tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, inner: &mut Inner, change: Change) {
        let change = Arc::new(change);
        inner.history.push_back(change.clone());
        while inner.history.len() > HISTORY {
            inner.history.pop_front();
        }
        let _ = self.tx.send(change);
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// One object.
    pub fn get(&self, r: Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.lock()
            .objects
            .get(&(r.plural, ns.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| ApiError::not_found(r.plural, name))
    }

    /// A page of the objects in `sel`, in (namespace, name) order.
    pub fn list(
        &self,
        r: Resource,
        sel: &Selection,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Page, ApiError> {
        let inner = self.lock();
        let after: Option<(String, String)> = match cont.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let (ns, name) = c.split_once('/').ok_or_else(|| {
                    ApiError::bad_request(format!("continue key is not valid: {c}"))
                })?;
                Some((ns.to_string(), name.to_string()))
            }
        };
        let mut items = Vec::new();
        let mut next = None;
        for ((plural, ns, name), object) in inner.objects.iter() {
            if *plural != r.plural {
                continue;
            }
            if let Some((ans, aname)) = &after {
                if (ns, name) <= (ans, aname) {
                    continue;
                }
            }
            if !sel.matches(object) {
                continue;
            }
            if limit.is_some_and(|l| l > 0 && items.len() >= l) {
                next = items.last().map(|o: &Value| {
                    format!(
                        "{}/{}",
                        o["metadata"]["namespace"].as_str().unwrap_or_default(),
                        name_of(o)
                    )
                });
                break;
            }
            items.push(object.clone());
        }
        Ok(Page {
            items,
            rv: inner.rv,
            next,
        })
    }

    /// Creates an object (`metadata.name` or `generateName` required).
    pub fn create(&self, r: Resource, ns: &str, mut object: Value) -> Result<Value, ApiError> {
        validate(r, &object)?;
        let mut inner = self.lock();
        let meta = object
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the body is not an object".into()))?
            .entry("metadata")
            .or_insert_with(|| json!({}));
        let mut name = meta["name"].as_str().unwrap_or_default().to_string();
        if name.is_empty() {
            let prefix = meta["generateName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    r,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            inner.uid += 1;
            name = format!("{prefix}{:05x}", inner.uid & 0xfffff);
        }
        if r.namespaced {
            if ns.is_empty() {
                return Err(ApiError::bad_request(
                    "the namespace of the object does not match the namespace on the request"
                        .into(),
                ));
            }
            if !inner
                .objects
                .contains_key(&("namespaces", String::new(), ns.to_string()))
            {
                return Err(ApiError::not_found("namespaces", ns));
            }
        }
        let ns = if r.namespaced { ns } else { "" };
        let key = (r.plural, ns.to_string(), name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(r.plural, &name));
        }
        inner.rv += 1;
        inner.uid += 1;
        let rv = inner.rv;
        let uid = format!("00000000-0000-4000-8000-{:012x}", inner.uid);
        let meta = object["metadata"]
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("metadata is not an object".into()))?;
        meta.insert("name".into(), json!(name));
        if r.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("resourceVersion".into(), json!(rv.to_string()));
        meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
        let map = object
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the body is not an object".into()))?;
        map.insert("apiVersion".into(), json!(r.api_version()));
        map.insert("kind".into(), json!(r.kind));
        defaults(r, map);
        inner.objects.insert(key, object.clone());
        self.record(
            &mut inner,
            Change {
                rv,
                plural: r.plural,
                event: EventType::Added,
                object: object.clone(),
                old: None,
            },
        );
        Ok(object)
    }

    /// Replaces an object (or only its status when `status_only`); a stale
    /// `metadata.resourceVersion` is a 409 Conflict.
    pub fn replace(
        &self,
        r: Resource,
        ns: &str,
        name: &str,
        object: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        validate(r, &object)?;
        if name_of(&object) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                name_of(&object)
            )));
        }
        let given = object["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from);
        self.update(r, ns, name, given, status_only, |_| Ok(object))
    }

    /// Patches an object with a JSON merge patch (strategic merge and apply
    /// patches are treated as merge patches).
    pub fn patch(
        &self,
        r: Resource,
        ns: &str,
        name: &str,
        patch: &Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        let given = patch["metadata"]["resourceVersion"]
            .as_str()
            .map(String::from);
        let patched = self.update(r, ns, name, given, status_only, |current| {
            let mut next = current.clone();
            merge_patch(&mut next, patch);
            validate(r, &next)?;
            Ok(next)
        })?;
        Ok(patched)
    }

    fn update(
        &self,
        r: Resource,
        ns: &str,
        name: &str,
        given_rv: Option<String>,
        status_only: bool,
        make: impl FnOnce(&Value) -> Result<Value, ApiError>,
    ) -> Result<Value, ApiError> {
        let ns = if r.namespaced { ns } else { "" };
        let mut inner = self.lock();
        let key = (r.plural, ns.to_string(), name.to_string());
        let current = inner
            .objects
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(r.plural, name))?;
        if let Some(given) = given_rv.filter(|g| !g.is_empty()) {
            if current["metadata"]["resourceVersion"].as_str() != Some(given.as_str()) {
                return Err(ApiError::conflict(r.plural, name));
            }
        }
        let wanted = make(&current)?;
        let mut next = current.clone();
        if status_only {
            next["status"] = wanted.get("status").cloned().unwrap_or(Value::Null);
        } else {
            // The main resource cannot change status, identity or bookkeeping.
            for (k, v) in wanted.as_object().into_iter().flatten() {
                if k != "status" && k != "metadata" && k != "kind" && k != "apiVersion" {
                    next[k.as_str()] = v.clone();
                }
            }
            if let (Some(n), Some(w)) = (
                next["metadata"].as_object_mut(),
                wanted["metadata"].as_object(),
            ) {
                for field in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    match w.get(field) {
                        Some(v) => {
                            n.insert(field.into(), v.clone());
                        }
                        None => {
                            n.remove(field);
                        }
                    }
                }
            }
        }
        if next == current {
            return Ok(current);
        }
        inner.rv += 1;
        let rv = inner.rv;
        next["metadata"]["resourceVersion"] = json!(rv.to_string());
        inner.objects.insert(key, next.clone());
        self.record(
            &mut inner,
            Change {
                rv,
                plural: r.plural,
                event: EventType::Modified,
                object: next.clone(),
                old: Some(current),
            },
        );
        Ok(next)
    }

    /// Deletes an object at once (no graceful deletion); deleting a namespace deletes its pods.
    pub fn delete(&self, r: Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        let ns = if r.namespaced { ns } else { "" };
        let mut inner = self.lock();
        let key = (r.plural, ns.to_string(), name.to_string());
        let object = inner
            .objects
            .remove(&key)
            .ok_or_else(|| ApiError::not_found(r.plural, name))?;
        let mut doomed = vec![(r.plural, object.clone())];
        if r.plural == "namespaces" {
            let keys: Vec<Key> = inner
                .objects
                .keys()
                .filter(|(_, kns, _)| kns == name)
                .cloned()
                .collect();
            for k in keys {
                if let Some(o) = inner.objects.remove(&k) {
                    doomed.push((k.0, o));
                }
            }
        }
        for (plural, mut gone) in doomed {
            if plural == "pods" {
                // As kube-apiserver does even with a grace period of 0: the
                // deletion timestamp is written first, then the object goes.
                let before = gone.clone();
                inner.rv += 1;
                let rv = inner.rv;
                gone["metadata"]["resourceVersion"] = json!(rv.to_string());
                gone["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                gone["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                self.record(
                    &mut inner,
                    Change {
                        rv,
                        plural,
                        event: EventType::Modified,
                        object: gone.clone(),
                        old: Some(before),
                    },
                );
            }
            inner.rv += 1;
            let rv = inner.rv;
            gone["metadata"]["resourceVersion"] = json!(rv.to_string());
            self.record(
                &mut inner,
                Change {
                    rv,
                    plural,
                    event: EventType::Deleted,
                    object: gone,
                    old: None,
                },
            );
        }
        Ok(object)
    }

    /// Starts a watch: from now with synthetic `ADDED` events for the current
    /// objects (`rv` is `None` or 0), or replaying the history after `rv`
    /// (410 Expired when it is older than the history).
    pub fn watch(
        &self,
        r: Resource,
        sel: &Selection,
        rv: Option<u64>,
    ) -> Result<WatchStart, ApiError> {
        let inner = self.lock();
        let rx = self.tx.subscribe();
        let initial = match rv.filter(|v| *v != 0) {
            None => inner
                .objects
                .iter()
                .filter(|((p, _, _), o)| *p == r.plural && sel.matches(o))
                .map(|(_, o)| {
                    Arc::new(Change {
                        rv: inner.rv,
                        plural: r.plural,
                        event: EventType::Added,
                        object: o.clone(),
                        old: None,
                    })
                })
                .collect(),
            Some(from) => {
                let oldest = inner.history.front().map(|c| c.rv).unwrap_or(inner.rv + 1);
                if from + 1 < oldest && from < inner.rv {
                    return Err(ApiError::expired(from, inner.rv));
                }
                inner
                    .history
                    .iter()
                    .filter(|c| c.rv > from && c.plural == r.plural)
                    .cloned()
                    .collect()
            }
        };
        Ok(WatchStart {
            initial,
            rv: inner.rv,
            rx,
        })
    }
}

fn defaults(r: Resource, map: &mut Map<String, Value>) {
    match r.kind {
        "Namespace" => {
            map.entry("spec")
                .or_insert_with(|| json!({"finalizers": ["kubernetes"]}));
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        "Pod" => {
            let status = map.entry("status").or_insert_with(|| json!({}));
            if status.get("phase").is_none() {
                status["phase"] = json!("Pending");
            }
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            for (k, v) in [
                ("restartPolicy", json!("Always")),
                ("dnsPolicy", json!("ClusterFirst")),
                ("schedulerName", json!("default-scheduler")),
                ("terminationGracePeriodSeconds", json!(30)),
                ("enableServiceLinks", json!(true)),
                ("preemptionPolicy", json!("PreemptLowerPriority")),
                ("priority", json!(0)),
            ] {
                if spec.get(k).is_none() {
                    spec[k] = v;
                }
            }
        }
        "Service" => {
            // No IP allocator: a ClusterIP Service keeps the clusterIP it was given.
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if spec.get("type").is_none() {
                spec["type"] = json!("ClusterIP");
            }
            if spec.get("sessionAffinity").is_none() {
                spec["sessionAffinity"] = json!("None");
            }
            if let Some(ip) = spec.get("clusterIP").cloned() {
                if spec.get("clusterIPs").is_none() {
                    spec["clusterIPs"] = json!([ip]);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"a": "b"}}})
    }

    #[test]
    fn create_get_conflict_and_not_found() {
        let s = Store::new();
        let r = resource("nodes").unwrap();
        let n = s.create(r, "", node("n1")).unwrap();
        assert_eq!(n["kind"], "Node");
        assert_eq!(s.create(r, "", node("n1")).unwrap_err().code, 409);
        assert_eq!(s.get(r, "", "n2").unwrap_err().code, 404);
        let mut stale = n.clone();
        s.patch(
            r,
            "",
            "n1",
            &json!({"spec": {"unschedulable": true}}),
            false,
        )
        .unwrap();
        stale["spec"] = json!({});
        let e = s.replace(r, "", "n1", stale, false).unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    }

    #[test]
    fn status_patch_touches_only_status_and_main_patch_keeps_status() {
        let s = Store::new();
        let r = resource("nodes").unwrap();
        s.create(r, "", node("n1")).unwrap();
        let p = s
            .patch(
                r,
                "",
                "n1",
                &json!({"spec": {"unschedulable": true}, "status": {"phase": "x"}}),
                true,
            )
            .unwrap();
        assert_eq!(p["status"]["phase"], "x");
        assert!(p["spec"].get("unschedulable").is_none());
        let p = s
            .patch(r, "", "n1", &json!({"status": {"phase": "y"}}), false)
            .unwrap();
        assert_eq!(p["status"]["phase"], "x");
    }

    #[test]
    fn pages_and_watch_history() {
        let s = Store::new();
        let r = resource("nodes").unwrap();
        for i in 0..5 {
            s.create(r, "", node(&format!("n{i}"))).unwrap();
        }
        let sel = Selection::default();
        let p1 = s.list(r, &sel, Some(2), None).unwrap();
        assert_eq!(p1.items.len(), 2);
        let p2 = s.list(r, &sel, Some(10), p1.next.as_deref()).unwrap();
        assert_eq!(p2.items.len(), 3);
        assert!(p2.next.is_none());
        let w = s.watch(r, &sel, Some(p1.rv - 2)).unwrap();
        assert_eq!(w.initial.len(), 2);
        let w = s.watch(r, &sel, None).unwrap();
        assert_eq!(w.initial.len(), 5);
    }
}
