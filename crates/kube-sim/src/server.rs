//! The HTTP side: discovery (`/version`, `/api`, `/api/v1`, `/apis`,
//! `/apis/discovery.k8s.io/v1`), the core/v1 and discovery.k8s.io/v1 paths
//! of the served resources (list, watch, get, create, replace,
//! merge patch, delete, and the `status` subresource), and watch streams with
//! bookmarks, as kube-rs' client and watcher expect them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{
    api_version, resource, Change, EventType, Resource, Selection, Store, DISCOVERY_GROUP,
    RESOURCES,
};

/// What the handlers share.
pub struct Shared {
    /// The objects.
    pub store: Store,
    /// Time between watch bookmarks.
    pub bookmark_interval: Duration,
    /// The `gitVersion` reported by `/version`.
    pub git_version: String,
    /// Cancelled when the server goes down (ends open watches).
    pub connections: std::sync::Mutex<CancellationToken>,
    /// Requests received so far (every path and verb, watches included).
    pub requests: AtomicU64,
    /// Every answer waits this long first, in milliseconds (0: none).
    pub delay_ms: AtomicU64,
}

impl Shared {
    fn connections(&self) -> CancellationToken {
        self.connections
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }
}

/// The router serving the simulated API.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn json_response(code: StatusCode, v: &Value) -> Response {
    (code, axum::Json(v)).into_response()
}

fn discovery(shared: &Shared, path: &str) -> Option<Value> {
    Some(match path {
        "/version" => {
            let minor = shared
                .git_version
                .trim_start_matches('v')
                .split('.')
                .nth(1)
                .unwrap_or("34")
                .to_string();
            serde_json::to_value(k8s_openapi::apimachinery::pkg::version::Info {
                major: "1".into(),
                minor,
                git_version: shared.git_version.clone(),
                git_commit: "0000000000000000000000000000000000000000".into(),
                git_tree_state: "clean".into(),
                build_date: "2026-01-01T00:00:00Z".into(),
                go_version: "go1.24.0".into(),
                compiler: "gc".into(),
                platform: "linux/amd64".into(),
                ..Default::default()
            })
            .ok()?
        }
        "/api" => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}],
        }),
        "/apis" => {
            let version = json!({"groupVersion": api_version(DISCOVERY_GROUP), "version": "v1"});
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": DISCOVERY_GROUP, "versions": [version], "preferredVersion": version},
            ]})
        }
        "/api/v1" => resource_list(""),
        p if p.strip_prefix("/apis/") == Some(api_version(DISCOVERY_GROUP).as_str()) => {
            resource_list(DISCOVERY_GROUP)
        }
        "/healthz" | "/readyz" | "/livez" => Value::String("ok".into()),
        _ => return None,
    })
}

/// The APIResourceList of one group's `v1`.
fn resource_list(group: &str) -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "shortNames": r.short_names,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        }));
        if r.group.is_empty() && (r.kind != "Namespace" || r.namespaced) {
            resources.push(json!({
                "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    json!({"kind": "APIResourceList", "groupVersion": api_version(group), "resources": resources})
}

/// Which object(s) a path names.
struct Target {
    r: Resource,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let (group, rest) = match path.strip_prefix("/api/v1/") {
        Some(rest) => ("", rest),
        None => (
            DISCOVERY_GROUP,
            path.strip_prefix("/apis/")?
                .strip_prefix(DISCOVERY_GROUP)?
                .strip_prefix("/v1/")?,
        ),
    };
    let seg: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let target = |plural: &str, ns: Option<&str>, name: Option<&str>, status: bool| {
        let r = resource(plural).filter(|r| r.group == group)?;
        if ns.is_some() != r.namespaced && !(ns.is_none() && name.is_none()) {
            return None;
        }
        Some(Target {
            r,
            namespace: ns.map(String::from),
            name: name.map(String::from),
            status,
        })
    };
    match seg.as_slice() {
        [plural] => target(plural, None, None, false),
        ["namespaces", ns, "status"] => target("namespaces", None, Some(ns), true),
        ["namespaces", ns, plural] => target(plural, Some(ns), None, false),
        [plural, name] => target(plural, None, Some(name), false),
        [plural, name, "status"] => target(plural, None, Some(name), true),
        ["namespaces", ns, plural, name] => target(plural, Some(ns), Some(name), false),
        ["namespaces", ns, plural, name, "status"] => target(plural, Some(ns), Some(name), true),
        _ => None,
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let delay = shared.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if method == Method::GET {
        if let Some(v) = discovery(&shared, uri.path()) {
            if let Value::String(s) = v {
                return s.into_response();
            }
            return json_response(StatusCode::OK, &v);
        }
    }
    let Some(t) = parse_path(uri.path()) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "the server could not find the requested resource", "reason": "NotFound",
                "details": {}, "code": 404}),
        );
    };
    match serve(&shared, &method, &headers, &q, &body, t).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn selection(t: &Target, q: &BTreeMap<String, String>) -> Result<Selection, ApiError> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    Ok(Selection {
        namespace: t.namespace.clone(),
        labels: LabelSelector::parse(get("labelSelector")).map_err(ApiError::bad_request)?,
        fields: FieldSelector::parse(get("fieldSelector"), t.r.kind)
            .map_err(ApiError::bad_request)?,
    })
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

async fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    headers: &HeaderMap,
    q: &BTreeMap<String, String>,
    body: &Bytes,
    t: Target,
) -> Result<Response, ApiError> {
    let ns = t.namespace.clone().unwrap_or_default();
    let store = &shared.store;
    let ok = |v: Value| json_response(StatusCode::OK, &v);
    match (method.clone(), &t.name) {
        (Method::GET, None) => {
            let sel = selection(&t, q)?;
            let watching = q.get("watch").is_some_and(|w| w == "true" || w == "1");
            if watching {
                return watch(shared, t.r, sel, q);
            }
            let limit = q.get("limit").and_then(|l| l.parse().ok());
            let page = store.list(t.r, &sel, limit, q.get("continue").map(String::as_str))?;
            let items: Vec<Value> = page
                .items
                .into_iter()
                .map(|mut o| {
                    if let Some(m) = o.as_object_mut() {
                        m.remove("kind");
                        m.remove("apiVersion");
                    }
                    o
                })
                .collect();
            let mut meta = json!({"resourceVersion": page.rv.to_string()});
            if let Some(next) = page.next {
                meta["continue"] = json!(next);
            }
            Ok(ok(json!({
                "kind": format!("{}List", t.r.kind),
                "apiVersion": t.r.api_version(),
                "metadata": meta,
                "items": items,
            })))
        }
        (Method::POST, None) => {
            let created = store.create(t.r, &ns, parse_body(body)?)?;
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (Method::GET, Some(name)) => Ok(ok(store.get(t.r, &ns, name)?)),
        (Method::PUT, Some(name)) => Ok(ok(store.replace(
            t.r,
            &ns,
            name,
            parse_body(body)?,
            t.status,
        )?)),
        (Method::PATCH, Some(name)) => {
            let ct = headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let base = ct.split(';').next().unwrap_or_default().trim();
            match base {
                "application/merge-patch+json"
                | "application/strategic-merge-patch+json"
                | "application/apply-patch+yaml" => {}
                other => return Err(ApiError::unsupported_media(other)),
            }
            let patch = parse_body(body)?;
            if base == "application/apply-patch+yaml" && store.get(t.r, &ns, name).is_err() {
                let mut object = patch;
                object["metadata"]["name"] = json!(name);
                let created = store.create(t.r, &ns, object)?;
                return Ok(json_response(StatusCode::CREATED, &created));
            }
            Ok(ok(store.patch(t.r, &ns, name, &patch, t.status)?))
        }
        (Method::DELETE, Some(name)) => Ok(ok(store.delete(t.r, &ns, name)?)),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn line(v: &Value) -> Result<Bytes, Infallible> {
    let mut text = v.to_string();
    text.push('\n');
    Ok(Bytes::from(text))
}

fn bookmark(r: Resource, rv: u64, annotations: Option<Value>) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(a) = annotations {
        meta["annotations"] = a;
    }
    json!({"type": "BOOKMARK", "object": {"kind": r.kind, "apiVersion": r.api_version(), "metadata": meta}})
}

/// The event a watch with `sel` sees for a change (objects moving in or out
/// of the selection are `ADDED`/`DELETED`), if any.
fn event_for(c: &Change, r: Resource, sel: &Selection) -> Option<Value> {
    if c.plural != r.plural {
        return None;
    }
    let now = sel.matches(&c.object);
    let before = c.old.as_ref().is_some_and(|o| sel.matches(o));
    let kind = match (c.event, before, now) {
        (EventType::Modified, true, true) => EventType::Modified,
        (EventType::Modified, false, true) => EventType::Added,
        (EventType::Modified, true, false) => EventType::Deleted,
        (EventType::Modified, false, false) => return None,
        (e, _, true) => e,
        (_, _, false) => return None,
    };
    Some(json!({"type": kind.as_str(), "object": c.object}))
}

fn watch(
    shared: &Arc<Shared>,
    r: Resource,
    sel: Selection,
    q: &BTreeMap<String, String>,
) -> Result<Response, ApiError> {
    let rv = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?,
        ),
    };
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|v| v == "true");
    let initial_events = q.get("sendInitialEvents").is_some_and(|v| v == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let (mut tx, rx) = futures::channel::mpsc::channel::<Result<Bytes, Infallible>>(256);
    let expired = |e: ApiError| json!({"type": "ERROR", "object": e.to_status()});
    let start = match shared
        .store
        .watch(r, &sel, if initial_events { None } else { rv })
    {
        Ok(s) => s,
        Err(e) => {
            let body = line(&expired(e)).unwrap_or_default();
            return Ok((StatusCode::OK, [(CONTENT_TYPE, "application/json")], body).into_response());
        }
    };
    let cancel = shared.connections();
    let interval = shared.bookmark_interval;
    tokio::spawn(async move {
        let mut rv = start.rv;
        for c in &start.initial {
            let event = if c.old.is_none() && c.event == EventType::Added {
                Some(json!({"type": "ADDED", "object": c.object}))
            } else {
                event_for(c, r, &sel)
            };
            if let Some(e) = event {
                if tx.send(line(&e)).await.is_err() {
                    return;
                }
            }
        }
        if initial_events {
            let b = bookmark(r, rv, Some(json!({"k8s.io/initial-events-end": "true"})));
            if tx.send(line(&b)).await.is_err() {
                return;
            }
        }
        let mut rx = start.rx;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let out = tokio::select! {
                _ = &mut deadline => break,
                _ = cancel.cancelled() => break,
                _ = tick.tick(), if bookmarks => Some(bookmark(r, rv, None)),
                c = rx.recv() => match c {
                    Ok(c) if c.rv > rv => {
                        rv = c.rv;
                        event_for(&c, r, &sel)
                    }
                    Ok(_) => None,
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
                },
            };
            if let Some(e) = out {
                if tx.send(line(&e)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok((
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(rx),
    )
        .into_response())
}
