//! What the `ward nurse` tests share: a nurse started as a user starts it
//! (its log in the test's folder, fast rounds, no jitter), and its
//! `/alive` and `/metrics` read back.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use ward_testkit::net::http_get;
use ward_testkit::process::Process;

/// The last round's result per check, from `/alive`; `None` before the first round.
pub(crate) fn alive(addr: SocketAddr) -> Option<serde_json::Map<String, Value>> {
    let r = http_get(addr, "/alive")?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    v.get("last_check_result")?.as_object().cloned()
}

/// The `/metrics` text (empty when the nurse does not answer).
pub(crate) fn metrics(addr: SocketAddr) -> String {
    http_get(addr, "/metrics")
        .map(|r| r.body)
        .unwrap_or_default()
}

/// The value of one exact series (`name{labels}`), 0 when absent.
pub(crate) fn counter(addr: SocketAddr, series: &str) -> u64 {
    metrics(addr)
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0)
}

/// Starts `ward nurse` as `name` listening on `addr` (rounds every 300 ms,
/// no jitter, no shutdown delay) with `env` on top, its log in
/// `dir/<name>.log`; returns once `/alwayshappy` answers.
pub(crate) fn nurse(dir: &Path, name: &str, addr: SocketAddr, env: &[(&str, &str)]) -> Process {
    let listen = addr.to_string();
    let mut all: Vec<(&str, &str)> = vec![
        ("POD_NAME", name),
        ("WARD_NURSE_LISTEN", &listen),
        ("WARD_NURSE_JITTER", "0"),
        ("KUBENURSE_CHECK_INTERVAL", "300ms"),
        ("KUBENURSE_SHUTDOWN_DURATION", "0s"),
    ];
    all.extend_from_slice(env);
    let mut p = Process::spawn_with(
        "ward nurse",
        super::ward_bin(),
        ["nurse"],
        &dir.join(format!("{name}.log")),
        &all,
    )
    .unwrap();
    p.wait_ready(Duration::from_secs(10), || {
        http_get(addr, "/alwayshappy").is_some()
    })
    .unwrap();
    p
}
