//! The nurse's HTTP endpoints, as kubenurse serves them: `/alive`,
//! `/alwayshappy`, `/ready`, `/metrics`, and a 301 to `/alive` for everything
//! else; plus goldpinger's on-demand mesh: `/check` (this node checks its
//! neighbours now) and `/check_all` (every node's `/check`, as a matrix);
//! and for the dashboard, `/status` (the last round and the ring) and `/ui`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use futures::future::join_all;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::time::Instant;
use ward_agent::{Lifecycle, Registry};
use ward_probe::http::{AcceptStatus, HttpRequest};
use ward_probe::Prober;

use crate::metrics::INCOMING_CHECKS;
use crate::round::{Checker, RoundResult, ORIGIN_HEADER};
use crate::status::{ring_entries, Cell, NodeStatus, StatusPage};

/// How long an incoming neighbour origin counts.
pub const INCOMING_TTL: Duration = Duration::from_secs(60);

/// State shared by the endpoints and the round loop.
pub struct Shared {
    /// Readiness and lameduck.
    pub lifecycle: Arc<Lifecycle>,
    /// The last completed round.
    pub last: RwLock<Option<Arc<RoundResult>>>,
    /// Runs checks (for `/check`).
    pub checker: Arc<Checker>,
    /// Fetches other nurses' `/check` (for `/check_all`).
    pub prober: Arc<Prober>,
    /// Origins seen on `/alwayshappy`, with when.
    pub incoming: Mutex<HashMap<String, Instant>>,
    /// The `hostname` field of `/alive`.
    pub hostname: String,
    /// Metrics.
    pub registry: Arc<Registry>,
    /// Rounds completed.
    pub rounds: AtomicU64,
    /// The last round as `/status` shows it: this node (when known) and its status.
    pub status: RwLock<Option<(Option<String>, Arc<NodeStatus>)>>,
    /// Time between rounds (for `/status`).
    pub interval: Duration,
    /// Neighbours per node (for `/status`).
    pub neighbour_limit: i64,
    /// Called with every finished round's status (the lab collects them).
    pub on_round: Option<RoundHook>,
}

/// Receives each finished round's status: this node (when known) and what it saw.
pub type RoundHook = Arc<dyn Fn(Option<String>, Arc<NodeStatus>) + Send + Sync>;

impl Shared {
    /// Publishes a finished round.
    pub fn publish(&self, result: RoundResult) {
        let round = self.rounds.fetch_add(1, Ordering::Relaxed) + 1;
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let (node, status) = NodeStatus::from_round(&self.hostname, round, at_ms, &result);
        let status = Arc::new(status);
        if let Some(hook) = &self.on_round {
            hook(node.clone(), status.clone());
        }
        *self.status.write().unwrap_or_else(|p| p.into_inner()) = Some((node, status));
        *self.last.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(result));
    }

    /// The last finished round.
    pub fn last(&self) -> Option<Arc<RoundResult>> {
        self.last.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Drops origins older than [`INCOMING_TTL`] and sets the incoming-checks gauge.
    pub fn refresh_incoming(&self) {
        let mut seen = self.incoming.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| at.elapsed() <= INCOMING_TTL);
        self.registry
            .gauge(INCOMING_CHECKS, &[])
            .set(seen.len() as f64);
    }
}

/// The router serving every endpoint.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/alive", any(alive))
        .route("/alwayshappy", any(always_happy))
        .route("/ready", any(ready))
        .route("/check", get(check))
        .route("/check_all", get(check_all))
        .route("/status", get(status))
        .route("/ui", get(crate::ui::dashboard))
        .with_state(shared.clone())
        .merge(ward_agent::metrics_router(shared.registry.clone()))
        .fallback(|| async { (StatusCode::MOVED_PERMANENTLY, [(LOCATION, "/alive")]) })
}

/// Go's canonical header key: `user-agent` → `User-Agent`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// JSON the way Go's `json.Encoder` with `SetIndent("", " ")` writes it (HTML characters escaped).
fn go_json(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b" "),
    );
    let text = match value.serialize(&mut ser) {
        Ok(()) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) => format!("{{\"error\": {:?}}}", e.to_string()),
    };
    let mut escaped = text
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    escaped.push('\n');
    escaped
}

#[derive(Serialize)]
struct Alive<'a> {
    hostname: &'a str,
    headers: BTreeMap<String, Vec<String>>,
    user_agent: String,
    request_uri: String,
    remote_addr: String,
    last_check_result: BTreeMap<&'a str, Entry<'a>>,
}

/// A value of `last_check_result`: a check's result, or the neighbours
/// (each with kubenurse's struct field order).
#[derive(Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Text(&'a str),
    Neighbours(&'a [crate::discovery::Neighbour]),
}

async fn alive(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(last) = shared.last() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        alive_body(&shared.hostname, &headers, &uri, peer, &last),
    )
        .into_response()
}

/// kubenurse's `/alive` text: the request as Go's server sees it (its
/// header map has no `Host`: Go moves it to `Request.Host`), the last
/// round's results with their keys sorted as Go writes a map, and the
/// neighbours' fields in the order of kubenurse's struct.
fn alive_body(
    hostname: &str,
    headers: &HeaderMap,
    uri: &Uri,
    peer: SocketAddr,
    last: &RoundResult,
) -> String {
    let mut canonical_headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        if name == axum::http::header::HOST {
            continue;
        }
        canonical_headers
            .entry(canonical(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let mut result: BTreeMap<&str, Entry> = last
        .checks
        .iter()
        .map(|(k, v)| (k.as_str(), Entry::Text(v)))
        .collect();
    if let Some(snapshot) = &last.neighbourhood {
        result.insert("neighbourhood", Entry::Neighbours(&snapshot.neighbours));
    }
    result.insert(
        "neighbourhood_state",
        Entry::Text(&last.neighbourhood_state),
    );
    go_json(&Alive {
        hostname,
        user_agent: headers
            .get("user-agent")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default(),
        headers: canonical_headers,
        request_uri: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        remote_addr: peer.to_string(),
        last_check_result: result,
    })
}

/// The most distinct origins remembered at once (an unauthenticated caller
/// can send any header: this bounds the memory it can make the nurse hold).
pub const MAX_ORIGINS: usize = 100_000;
/// The longest origin remembered (a DNS name's limit); longer ones are ignored.
pub const MAX_ORIGIN_LEN: usize = 253;

/// Notes `origin` as seen now, unless it is empty, longer than
/// [`MAX_ORIGIN_LEN`], or new while [`MAX_ORIGINS`] are already remembered.
fn note_origin(seen: &mut HashMap<String, Instant>, origin: &str, now: Instant) {
    if origin.is_empty() || origin.len() > MAX_ORIGIN_LEN {
        return;
    }
    if seen.len() < MAX_ORIGINS || seen.contains_key(origin) {
        seen.insert(origin.to_string(), now);
    }
}

async fn always_happy(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> StatusCode {
    if let Some(origin) = headers.get(ORIGIN_HEADER).and_then(|v| v.to_str().ok()) {
        let mut seen = shared.incoming.lock().unwrap_or_else(|p| p.into_inner());
        note_origin(&mut seen, origin, Instant::now());
    }
    StatusCode::OK
}

async fn ready(State(shared): State<Arc<Shared>>) -> StatusCode {
    let node_ok = shared
        .checker
        .discovery()
        .is_none_or(|d| d.own_node_schedulable());
    if shared.lifecycle.is_lameduck() || !node_ok {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

/// The `/status` page of one nurse: its last round and the ring it knows.
pub fn status_page(shared: &Shared) -> StatusPage {
    let mut nodes = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    if let Some(last) = shared.last() {
        if let Some(snapshot) = &last.neighbourhood {
            names.extend(snapshot.neighbours.iter().map(|n| n.node_name.clone()));
        }
    }
    if let Some((node, status)) = shared
        .status
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    {
        let node = node.unwrap_or_else(|| shared.hostname.clone());
        names.push(node.clone());
        nodes.insert(node, (*status).clone());
    }
    StatusPage {
        source: "nurse",
        interval_seconds: shared.interval.as_secs_f64(),
        neighbour_limit: shared.neighbour_limit,
        ring: ring_entries(&names),
        nodes,
        faults: Vec::new(),
        api_server_up: None,
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(status_page(&shared)).into_response()
}

async fn check_value(shared: &Shared) -> Value {
    match shared.checker.neighbourhood().await {
        Ok((snapshot, selected)) => {
            let results = shared.checker.check_neighbours(&selected).await;
            let cells: BTreeMap<String, Cell> = results
                .iter()
                .map(|(k, o)| (k.clone(), Cell::from(o)))
                .collect();
            json!({ "node": snapshot.self_node, "checks": cells })
        }
        Err(e) => json!({ "error": e }),
    }
}

async fn check(State(shared): State<Arc<Shared>>) -> Response {
    let value = check_value(&shared).await;
    let status = if value.get("error").is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, axum::Json(value)).into_response()
}

async fn check_all(State(shared): State<Arc<Shared>>) -> Response {
    let (snapshot, _) = match shared.checker.neighbourhood().await {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "error": e })),
            )
                .into_response()
        }
    };
    let own = check_value(&shared);
    let others = snapshot.neighbours.iter().filter_map(|n| {
        let url = shared.checker.neighbour_url(n, "/check")?;
        let node = n.node_name.clone();
        let prober = shared.prober.clone();
        Some(async move {
            let mut request = HttpRequest::get(url);
            request.accept = AcceptStatus::Exact(vec![200]);
            let (outcome, body) = prober.fetch_http(&request).await;
            let value = match outcome.error {
                None => serde_json::from_slice::<Value>(&body)
                    .unwrap_or_else(|e| json!({ "error": format!("bad /check answer: {e}") })),
                Some(e) => json!({ "error": e.message }),
            };
            (node, value)
        })
    });
    let (own, others) = futures::join!(own, join_all(others));
    let mut nodes: BTreeMap<String, Value> = others.into_iter().collect();
    if let Some(me) = &snapshot.self_node {
        nodes.insert(me.clone(), own);
    }
    axum::Json(json!({ "nodes": nodes })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_origins_are_bounded_in_number_and_length() {
        let mut seen = HashMap::new();
        let t0 = Instant::now();
        note_origin(&mut seen, "", t0);
        note_origin(&mut seen, &"a".repeat(MAX_ORIGIN_LEN + 1), t0);
        assert!(seen.is_empty());
        note_origin(&mut seen, &"a".repeat(MAX_ORIGIN_LEN), t0);
        assert_eq!(seen.len(), 1);
        for i in 1..MAX_ORIGINS {
            note_origin(&mut seen, &format!("pod-{i}"), t0);
        }
        assert_eq!(seen.len(), MAX_ORIGINS);
        // Full: a new origin is dropped, a known one is still refreshed.
        let t1 = t0 + Duration::from_secs(1);
        note_origin(&mut seen, "one-too-many", t1);
        assert_eq!(seen.len(), MAX_ORIGINS);
        assert!(!seen.contains_key("one-too-many"));
        note_origin(&mut seen, "pod-7", t1);
        assert_eq!(seen["pod-7"], t1);
    }

    #[test]
    fn go_canonical_header_keys() {
        assert_eq!(canonical("user-agent"), "User-Agent");
        assert_eq!(
            canonical("kubenurse-neighbour-origin"),
            "Kubenurse-Neighbour-Origin"
        );
        assert_eq!(canonical("accept"), "Accept");
    }

    #[test]
    fn alive_is_kubenurses_text() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "10.0.0.1:8080".parse().unwrap());
        headers.insert("user-agent", "curl/8.5.0".parse().unwrap());
        headers.insert("accept", "*/*".parse().unwrap());
        let last = RoundResult {
            checks: BTreeMap::from([
                ("api_server_direct".into(), "ok".into()),
                ("path_kind-worker2".into(), "ok".into()),
            ]),
            neighbourhood: Some(Arc::new(crate::discovery::Snapshot {
                self_node: Some("kind-worker".into()),
                neighbours: vec![crate::discovery::Neighbour {
                    pod_name: "kubenurse-8fh2x".into(),
                    pod_ip: "10.244.2.5".into(),
                    host_ip: "172.18.0.3".into(),
                    node_name: "kind-worker2".into(),
                    node_hash: 13234443386785301234,
                }],
            })),
            neighbourhood_state: "ok".into(),
            ..RoundResult::default()
        };
        let body = alive_body(
            "kubenurse-x2bwx",
            &headers,
            &"/alive".parse().unwrap(),
            "10.244.1.1:53422".parse().unwrap(),
            &last,
        );
        assert_eq!(
            body,
            r#"{
 "hostname": "kubenurse-x2bwx",
 "headers": {
  "Accept": [
   "*/*"
  ],
  "User-Agent": [
   "curl/8.5.0"
  ]
 },
 "user_agent": "curl/8.5.0",
 "request_uri": "/alive",
 "remote_addr": "10.244.1.1:53422",
 "last_check_result": {
  "api_server_direct": "ok",
  "neighbourhood": [
   {
    "PodName": "kubenurse-8fh2x",
    "PodIP": "10.244.2.5",
    "HostIP": "172.18.0.3",
    "NodeName": "kind-worker2",
    "NodeHash": 13234443386785301234
   }
  ],
  "neighbourhood_state": "ok",
  "path_kind-worker2": "ok"
 }
}
"#
        );
    }

    #[test]
    fn go_json_uses_one_space_and_escapes_html() {
        let v = json!({"a": ["<b>&"], "n": 13234443386785301234u64});
        assert_eq!(
            go_json(&v),
            "{\n \"a\": [\n  \"\\u003cb\\u003e\\u0026\"\n ],\n \"n\": 13234443386785301234\n}\n"
        );
    }
}
