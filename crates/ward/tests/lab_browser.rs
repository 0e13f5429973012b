//! The lab dashboard in a real headless Chromium, driven over WebDriver
//! (testkit's [`Browser`]: chromedriver, Debian `chromium` +
//! `chromium-driver`). Each test starts its own lab (`ward lab`, N = 6
//! nodes, k = 3, 500 ms rounds) with the page open on it (`Dashboard`):
//! the mesh as the matrix, the graph and the ring show it; the graph's
//! keyboard; a path's latency history; a cut node and its recovery; a
//! failed ingress or service check named by the nurse that did not answer;
//! forced colours; a hidden tab; the same page served by a nurse; the SLO
//! and API-server panel before and during an API-server outage. The graph
//! is drawn on a canvas: `window.wardGraphArrows()` says what the last draw
//! drew, and its text alternative counts the arrows. Screenshots are
//! written to `$CARGO_TARGET_TMPDIR/lab-dashboard-*.png`.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use ward_testkit::browser::{keys, Browser};
use ward_testkit::net::{free_port, http_get, http_request};
use ward_testkit::wait;

const NODES: usize = 6;
const K: usize = 3;
const N_K: u64 = (NODES * K) as u64;
const INTERVAL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(400);
/// Two check intervals plus the check timeout that detects a silent peer, and some slack.
const LIMIT: Duration = INTERVAL
    .saturating_mul(2)
    .saturating_add(TIMEOUT)
    .saturating_add(Duration::from_millis(600));

/// A running `ward lab` with its dashboard open in a headless Chromium; the
/// lab is killed on drop.
struct Dashboard {
    browser: Browser,
    lab: Child,
    /// The lab's HTTP address (dashboard, `/status`, `/lab/*`).
    addr: SocketAddr,
    /// The port every nurse listens on, on its own 127.0.0.x.
    nurse_port: u16,
}

impl Dashboard {
    /// Starts the lab, opens its dashboard and waits for N x k checked cells, all ok.
    fn start() -> Self {
        // Free on 127.0.0.1, so almost surely on 127.0.0.2.. too (the lab says so if not).
        let nurse_port = free_port();
        let mut lab = support::ward()
            .args(["lab", "--listen", "127.0.0.1:0", "--live=false"])
            .args(["--duration", "60s", "--nodes", &NODES.to_string()])
            .args(["--neighbour-limit", &K.to_string()])
            .args(["--check-interval", "500ms", "--check-timeout", "400ms"])
            .args(["--nurse-port", &nurse_port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(lab.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        let url = url.trim().to_string();
        let addr = url
            .trim_start_matches("http://")
            .trim_end_matches("/ui")
            .parse()
            .unwrap_or_else(|e| panic!("the lab's first line {url:?}: {e}"));
        let browser = Browser::start(1400, 1000).unwrap();
        browser.open(&url);
        let page = Self {
            browser,
            lab,
            addr,
            nurse_port,
        };
        wait::expect(
            "N x k checked cells, all ok",
            Duration::from_secs(15),
            || cells(&page, "node-3") == (N_K, 0),
        );
        page
    }

    /// POSTs to the lab's API (`/lab/fault?spec=…`, `/lab/clear?spec=…`); it must answer 204.
    fn lab_api(&self, path: &str) {
        let answer = http_request(self.addr, "POST", path, "");
        assert_eq!(answer.as_ref().map(|r| r.status), Some(204), "{answer:?}");
    }

    /// Selects `node` in the graph with the keyboard: its Tab stop, the right
    /// arrow key until `node` has the focus, Enter.
    fn select_with_keyboard(&self, node: &str) {
        self.script("document.querySelector('#graph [tabindex=\"0\"]').focus()");
        let order = graph_order(self);
        let steps = order.iter().position(|n| n == node).unwrap();
        for _ in 0..steps {
            self.press(keys::RIGHT);
        }
        assert_eq!(graph_focus(self)[0], json!(node));
        self.press(keys::ENTER);
    }

    /// Clicks a matrix cell into `node` and waits until its path's latency
    /// chart shows two rounds; returns the path, `from → node`.
    fn select_path_into(&self, node: &str) -> String {
        let from = self.script(&format!(
            "return document.querySelector('#matrix [data-state][data-to=\"{node}\"]').dataset.from"
        ));
        let from = from.as_str().expect("a checker of the node").to_string();
        self.click(&format!(
            "#matrix [data-from=\"{from}\"][data-to=\"{node}\"]"
        ));
        let path = format!("{from} → {node}");
        wait::expect(
            "the path's history over 2 rounds",
            Duration::from_secs(10),
            || {
                let (shown, points, _) = path_history(self);
                shown == path && points >= 2
            },
        );
        path
    }

    /// Writes a screenshot to `$CARGO_TARGET_TMPDIR/lab-dashboard-NAME.png`.
    fn screenshot(&self, name: &str) -> PathBuf {
        let path =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-dashboard-{name}.png"));
        std::fs::write(&path, self.browser.screenshot()).unwrap();
        path
    }
}

impl Deref for Dashboard {
    type Target = Browser;

    fn deref(&self) -> &Browser {
        &self.browser
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.lab.kill();
        let _ = self.lab.wait();
    }
}

/// (checked cells, failed cells into `node`) as the page's matrix shows them.
fn cells(d: &Browser, node: &str) -> (u64, u64) {
    let v = d.script(&format!(
        "return [document.querySelectorAll('#matrix [data-state]').length, \
         document.querySelectorAll('#matrix [data-state=fail][data-to=\"{node}\"]').length]"
    ));
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// The graph's arrows into `node` as its canvas last drew them: (state, text mark, dash pattern) each.
fn arrows_into(d: &Browser, node: &str) -> Vec<(String, String, String)> {
    let v = d.script(&format!(
        "return window.wardGraphArrows().filter(a => a.to === '{node}').map(a => [a.state, a.mark, a.dash])"
    ));
    let text = |x: &Value| x.as_str().unwrap_or_default().to_string();
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| (text(&e[0]), text(&e[1]), text(&e[2])))
                .collect()
        })
        .unwrap_or_default()
}

/// An arrow that reads ok: solid without a mark, or (slow on a loaded machine) dashed with `!`.
fn arrow_ok((state, mark, dash): &(String, String, String)) -> bool {
    match state.as_str() {
        "ok" => mark.is_empty() && dash.is_empty(),
        "slow" => mark == "!" && !dash.is_empty(),
        _ => false,
    }
}

/// The graph's node buttons in ring order.
fn graph_order(d: &Browser) -> Vec<String> {
    let order =
        d.script("return [...document.querySelectorAll('#graph .gnode')].map(b => b.dataset.node)");
    let order: Vec<String> = order
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .map(String::from)
        .collect();
    assert_eq!(order.len(), NODES, "{order:?}");
    order
}

/// The graph node button that has the keyboard focus, and the nodes in the graph's Tab order (tabindex 0).
fn graph_focus(d: &Browser) -> Value {
    d.script(
        "return [document.activeElement.matches('#graph .gnode') ? document.activeElement.dataset.node : null, \
         [...document.querySelectorAll('#graph [tabindex=\"0\"]')].map(b => b.dataset.node)]",
    )
}

/// (path shown, rounds in its history, failed rounds) of the path latency chart.
fn path_history(d: &Browser) -> (String, u64, u64) {
    let v = d.script(
        "const s = document.getElementById('pathhist'); \
         return [s.dataset.path || '', +(s.dataset.points || 0), +(s.dataset.failed || 0)]",
    );
    (
        v[0].as_str().unwrap_or_default().to_string(),
        v[1].as_u64().unwrap_or(0),
        v[2].as_u64().unwrap_or(0),
    )
}

/// Milliseconds since the Unix epoch, as the page's `Date.now()` counts them.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The graph's arrows (colour, opacity) as its canvas last drew them, each with whether it
/// touches the selected node and its state.
fn arrow_inks(d: &Browser) -> Vec<(String, f64, bool, String)> {
    let v = d.script(
        "return window.wardGraphArrows().map(a => [a.colour, a.alpha, a.highlighted, a.state])",
    );
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e[0].as_str().unwrap_or_default().to_string(),
                        e[1].as_f64().unwrap_or(-1.0),
                        e[2].as_bool().unwrap_or(false),
                        e[3].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// For each `[selector, property, _]` in `want`, the same triple with the computed
/// value of the first element `selector` matches ("missing" when none does).
fn svg_colours(d: &Browser, want: &Value) -> Value {
    d.script(&format!(
        "return {want}.map(([s, p]) => {{ const e = document.querySelector(s); \
           return [s, p, e ? getComputedStyle(e)[p] : 'missing']; }})"
    ))
}

/// The matrix shows N x k checked cells and the graph N node buttons and N x k
/// arrows drawn on its canvas, all ok (its text alternative counts them); the
/// first update built the top of the page and the views below it in the task
/// after it (its time in `deferredMs`); the ring's nodes are one Tab stop whose
/// arrow keys move to the next node clockwise.
#[test]
fn the_page_shows_the_whole_mesh() {
    let d = Dashboard::start();
    // The first update built the views at the top; those below it (the checks table, the errors,
    // the history chart, the ring) were built in the task right after it, whose time only the
    // first update's record has.
    let first = d.script(
        "const u = window.wardUpdates; \
         return [u[0].updateMs, u[0].deferredMs, u.slice(1).filter(x => 'deferredMs' in x).length, \
         document.querySelectorAll('#other [role=row]').length, document.getElementById('ringinfo').textContent]",
    );
    assert!(
        first[0].as_f64().is_some_and(|ms| ms > 0.0)
            && first[1].as_f64().is_some_and(|ms| ms > 0.0),
        "first update and its deferred views: {first}"
    );
    assert_eq!(
        first.as_array().map(|a| &a[2..]),
        Some(
            &[
                json!(0),
                json!(NODES + 1),
                json!(format!(
                    "{NODES} nodes, k = {K}, total checks n × k = {N_K}."
                ))
            ][..]
        ),
        "{first}"
    );
    // The ring's nodes: one Tab stop; the arrow keys move to the next node clockwise.
    let ring = d.script(
        "const n = [...document.querySelectorAll('#ring g.node')]; n[0].focus(); \
         return [n.length, n.filter(g => g.tabIndex === 0).length, n.map(g => g.dataset.node)]",
    );
    assert_eq!((&ring[0], &ring[1]), (&json!(NODES), &json!(1)), "{ring}");
    d.press(keys::RIGHT);
    let focused = d.script("return document.activeElement.dataset.node");
    assert_eq!(focused, ring[2][1], "{ring}");
    let graph = d.script(
        "const a = window.wardGraphArrows(); \
         return [document.querySelectorAll('#graph button.gnode').length, a.length, \
         a.filter(e => e.state === 'ok' || e.state === 'slow').length, \
         document.getElementById('graphsummary').textContent]",
    );
    assert_eq!(
        graph.as_array().map(|a| &a[..3]),
        Some(&[json!(NODES), json!(N_K), json!(N_K)][..]),
        "graph: node buttons, arrows drawn, ok (or slow) arrows drawn"
    );
    let summary = graph[3].as_str().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("{N_K} arrows: ")) && summary.contains(", 0 ✗ failed."),
        "{summary}"
    );
    let healthy = arrows_into(&d, "node-3");
    assert_eq!(healthy.len(), K, "arrows into node-3: {healthy:?}");
    assert!(healthy.iter().all(arrow_ok), "{healthy:?}");
    let update = d.script("return [window.wardLastUpdateMs, window.wardLastUpdate]");
    assert!(update[0].as_f64().is_some_and(|ms| ms >= 0.0), "{update}");
    eprintln!("last dashboard update: {}", update[1]);
}

/// The graph's nodes are one Tab stop (the first node in ring order); the
/// arrow keys move around the circle, Home and End to the ends; Enter selects
/// the focused node, which lists its k + k paths and highlights its 2k arrows.
#[test]
fn the_keyboard_moves_around_the_graph_and_selects_a_node() {
    let d = Dashboard::start();
    let order = graph_order(&d);
    d.script("document.querySelector('#graph [tabindex=\"0\"]').focus()");
    assert_eq!(graph_focus(&d), json!([order[0], [order[0]]]));
    d.press(keys::RIGHT);
    assert_eq!(graph_focus(&d), json!([order[1], [order[1]]]));
    d.press(keys::LEFT);
    d.press(keys::LEFT);
    assert_eq!(
        graph_focus(&d),
        json!([order[NODES - 1], [order[NODES - 1]]])
    );
    d.press(keys::HOME);
    assert_eq!(graph_focus(&d), json!([order[0], [order[0]]]));
    d.press(keys::END);
    assert_eq!(
        graph_focus(&d),
        json!([order[NODES - 1], [order[NODES - 1]]])
    );
    // To node-3 with the arrow keys (from the last node, around the circle).
    let steps = order.iter().position(|n| n == "node-3").unwrap() + 1;
    for _ in 0..steps {
        d.press(keys::RIGHT);
    }
    d.press(keys::ENTER);
    let selected = d.script(
        "return [document.activeElement.dataset.node, \
         [...document.querySelectorAll('#graph .gnode.sel')].map(b => b.dataset.node + ' ' + b.getAttribute('aria-pressed')), \
         document.querySelectorAll('#graph [tabindex=\"0\"]').length, \
         window.wardGraphArrows().filter(a => a.highlighted).length, \
         document.querySelectorAll('#graphpaths td[data-check]').length, \
         document.getElementById('graphinfo').textContent]",
    );
    assert_eq!(
        selected,
        json!([
            "node-3",
            ["node-3 true"],
            1,
            2 * K,
            2 * K,
            format!("node-3 checks {K} nodes and is checked by {K} (select a path for its latency over time):")
        ])
    );
}

/// With node-3 selected, an arrow out of it clicked on the canvas and a path
/// into it clicked in the matrix show that path's latency over the last rounds.
#[test]
fn a_clicked_arrow_or_cell_shows_its_path_history() {
    let d = Dashboard::start();
    d.select_with_keyboard("node-3");
    let out = d.script(
        "const r = document.getElementById('graphcanvas').getBoundingClientRect(); \
         const a = window.wardGraphArrows().find(a => a.from === 'node-3'); \
         return [a.to, r.left + a.x, r.top + a.y]",
    );
    d.click_at(out[1].as_f64().unwrap(), out[2].as_f64().unwrap());
    let clicked = format!("node-3 → {}", out[0].as_str().unwrap());
    wait::expect(
        "the clicked arrow's history",
        Duration::from_secs(10),
        || path_history(&d).0 == clicked,
    );

    let path = d.select_path_into("node-3");
    let info = d.script("return document.getElementById('pathinfo').textContent");
    let info = info.as_str().unwrap_or_default();
    assert!(
        info.starts_with(&format!("{path}: last ")) && info.contains(" failed"),
        "{info}"
    );
    d.screenshot("healthy");
}

/// Cutting node-3 from the page's fault panel turns its incoming cells and
/// arrows failed (arrows also by dash and a ✗ mark, red on the canvas, and in
/// the text alternative and the node's label) within two check intervals plus
/// the check timeout that detects a silent peer, and the selected path's
/// history records the failures; clearing it turns them back.
#[test]
fn a_cut_node_fails_on_the_page_and_recovers() {
    let d = Dashboard::start();
    d.select_with_keyboard("node-3");
    let path = d.select_path_into("node-3");
    let (_, _, failed_before) = path_history(&d);
    d.script(
        "document.getElementById('fkind').value = 'cut'; \
         document.getElementById('fnode').value = 'node-3'; \
         document.querySelector('#faultform button[type=submit]').click();",
    );
    let took = wait::expect("node-3's incoming cells failed", LIMIT * 2, || {
        cells(&d, "node-3") == (N_K, K as u64)
    });
    eprintln!(
        "cut visible in the page after {took:?} (two intervals + timeout = {:?})",
        INTERVAL * 2 + TIMEOUT
    );
    let cut = wait::expect_value("node-3's arrows drawn failed", LIMIT, || {
        let cut = arrows_into(&d, "node-3");
        cut.iter()
            .all(|(state, _, _)| state == "fail")
            .then_some(cut)
    });
    assert_eq!(cut.len(), K, "{cut:?}");
    for (state, mark, dash) in &cut {
        assert_eq!((state.as_str(), mark.as_str()), ("fail", "✗"), "{cut:?}");
        assert!(!dash.is_empty(), "a failed arrow is dashed: {cut:?}");
    }
    // On the canvas: each failed arrow's ✗ is red; in text: the summary and the node's label.
    let red = d.script(
        "const c = document.getElementById('graphcanvas'), s = c.width / c.clientWidth, ctx = c.getContext('2d'); \
         return window.wardGraphArrows().filter(a => a.to === 'node-3').map(a => { \
           const p = ctx.getImageData(Math.round(a.x * s) - 3, Math.round(a.y * s) - 3, 7, 7).data; \
           for (let i = 0; i < p.length; i += 4) if (p[i] > 150 && p[i + 1] < 90 && p[i + 2] < 90 && p[i + 3] > 200) return true; \
           return false; })",
    );
    assert_eq!(red, json!(vec![true; K]), "a red ✗ on each failed arrow");
    let text = d.script(
        "return [document.getElementById('graphsummary').textContent, \
         document.querySelector('#graph .gnode[data-node=\"node-3\"]').getAttribute('aria-label')]",
    );
    let summary = text[0].as_str().unwrap_or_default();
    assert!(
        summary.contains(&format!(", {K} ✗ failed. ✗ Failed: ")),
        "{summary}"
    );
    let checkers =
        d.script("return window.wardGraphArrows().filter(a => a.to === 'node-3').map(a => a.from)");
    for checker in checkers.as_array().unwrap() {
        let checker = checker.as_str().unwrap_or_default();
        assert!(
            summary.contains(&format!("{checker} → node-3")),
            "{summary}"
        );
    }
    assert!(
        text[1]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!(", {K} failing into it"))),
        "{text}"
    );
    wait::expect("the cut in the path's history", LIMIT * 2, || {
        let (shown, _, failed) = path_history(&d);
        shown == path && failed > failed_before
    });
    let shot = d.screenshot("cut");
    eprintln!("screenshot: {}", shot.display());

    d.script("document.querySelector(\"button[data-clear='cut:node-3']\").click();");
    let took = wait::expect("node-3's cells recovered", LIMIT * 2, || {
        cells(&d, "node-3") == (N_K, 0)
    });
    eprintln!("recovery visible after {took:?}");
    wait::expect("node-3's arrows ok again", LIMIT * 2, || {
        arrows_into(&d, "node-3").iter().all(arrow_ok)
    });
}

/// The SLO panel's rows: `[data-slo or data-api-check, cell texts…]` each.
fn panel_rows(d: &Browser, table: &str) -> Vec<Vec<String>> {
    let rows = d.script(&format!(
        "return [...document.querySelectorAll('#{table} tbody tr')].map(tr => \
           [tr.dataset.slo || tr.dataset.apiCheck, ...[...tr.children].map(c => c.textContent)])"
    ));
    serde_json::from_value(rows).unwrap_or_default()
}

#[test]
fn the_slo_panel_shows_budget_and_burn_from_the_labs_own_series() {
    let d = Dashboard::start();
    let healthy = wait::expect_value(
        "every SLO with data and the API server checked",
        Duration::from_secs(15),
        || {
            let slos = panel_rows(&d, "slos");
            let api = panel_rows(&d, "apiserver");
            (slos.len() == 5
                && slos.iter().all(|r| r[6] == "✓ ok")
                && api.len() == 2
                && api.iter().all(|r| r[2] != "–"))
            .then_some((slos, api))
        },
    );
    let (slos, api) = healthy;
    let names: Vec<&str> = slos.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "api-server-checks",
            "ingress-service-checks",
            "neighbour-checks",
            "check-latency",
            "dns-availability"
        ]
    );
    assert_eq!(
        slos[0][1..],
        [
            "ward-nurse / api-server-checks",
            "99.9 %",
            "100.0 %",
            "0.00",
            "0.00",
            "✓ ok"
        ]
    );
    assert_eq!(api[0][0], "api_server_direct");
    assert_eq!(api[0][3], "0.0 %", "{api:?}");
    // Six nurses, a round every 500 ms (with jitter): about 12 checks/s, over the
    // time the lab has run, not over a minute it has not.
    let per_second: f64 = api[0][2].parse().unwrap();
    assert!((4.0..24.0).contains(&per_second), "{api:?}");
    // The page shows what /lab/slo computed.
    let json: Value = serde_json::from_str(&http_get(d.addr, "/lab/slo").unwrap().body).unwrap();
    assert_eq!(json["windows"], json!(["1m", "5m"]));
    assert_eq!(json["slos"][4]["service"], "ward-lookup");

    d.lab_api("/lab/fault?spec=api-down");
    let burning = wait::expect_value("the API-server SLO burning fast", LIMIT * 3, || {
        let slos = panel_rows(&d, "slos");
        (slos.first()?.get(6)? == "✗ fast burn").then_some(slos)
    });
    let budget: f64 = burning[0][3].trim_end_matches(" %").parse().unwrap();
    assert!(budget < 0.0, "the budget overspent: {burning:?}");
    assert_eq!(
        burning[2][6], "✓ ok",
        "neighbours still answer each other: {burning:?}"
    );
    let api = panel_rows(&d, "apiserver");
    assert_ne!(api[0][3], "0.0 %", "API-server errors shown: {api:?}");
    d.script("document.getElementById('slopanel').scrollIntoView()");
    let shot = d.screenshot("slo");
    eprintln!("screenshot: {}", shot.display());
}

/// The line under the own-checks table, and its failed ingress and service
/// cells: (node, check, text, label) each.
fn own_checks(d: &Browser) -> (String, Vec<[String; 4]>) {
    let v = d.script(
        "return [document.getElementById('owninfo').textContent, \
         [...document.querySelectorAll('#other .fail[data-check^=\"me_\"]')] \
           .map(e => [e.dataset.from, e.dataset.check, e.textContent, String(e._label ?? '')])]",
    );
    let text = |x: &Value| x.as_str().unwrap_or_default().to_string();
    let cells = v[1]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| [text(&c[0]), text(&c[1]), text(&c[2]), text(&c[3])])
        .collect();
    (text(&v[0]), cells)
}

/// With node-3 cut, a service check the lab sent to node-3 fails on its
/// caller's row, and the page blames node-3, not the caller: the cell reads
/// "✗ via node-3" (its label: the error, then the backend), the line under
/// the table says "me_service failed via node-3 (checked from …)" naming
/// the callers, and that the ingress skips node-3; no failed ingress or
/// service cell names another backend.
#[test]
fn a_failed_own_check_names_the_nurse_that_did_not_answer() {
    let d = Dashboard::start();
    // (The ingress may skip a nurse that was slow while the lab started.)
    wait::expect("the own checks' line", Duration::from_secs(10), || {
        own_checks(&d)
            .0
            .starts_with("No ingress or service check failed.")
    });
    d.lab_api("/lab/fault?spec=cut:node-3");
    // A service connection goes to node-3 with p = 1/6 per node and round.
    let (info, failed) = wait::expect_value(
        "a service check failed via node-3, the ingress skipping node-3",
        Duration::from_secs(30),
        || {
            let (info, failed) = own_checks(&d);
            (info.contains("me_service failed via node-3 (checked from ")
                && info.ends_with(" The ingress skips node-3 (failed within its fail_timeout)."))
            .then_some((info, failed))
        },
    );
    eprintln!("{info}");
    assert!(!failed.is_empty(), "{info}");
    for [from, check, text, label] in &failed {
        assert_eq!(text, "✗ via node-3", "{from} {check}: {label}");
        assert!(
            label.starts_with(&format!(
                "{from} {check} failed via node-3: timeout_first_byte"
            )),
            "{label}"
        );
        assert!(
            info.contains(&format!("{check} failed via node-3")),
            "{info}"
        );
    }
    let shot = d.screenshot("via");
    eprintln!("screenshot: {}", shot.display());
}

/// With node-3 selected and a path into it that failed for a while: under
/// forced colours (emulated over CDP) the canvas redraws its arrows in the
/// system colours an element gets for CanvasText (ok and slow), Highlight
/// (failed) and GrayText (not touching node-3, opaque), and its pixels have
/// them; the SVG charts and ring take the same system colours; back in the
/// page's own colours (faded arrows translucent) when forced colours end.
#[test]
fn forced_colours_redraw_in_system_colours() {
    let d = Dashboard::start();
    d.select_with_keyboard("node-3");
    let path = d.select_path_into("node-3");
    // A failed round in the path's history, so that its chart has a fail mark.
    d.lab_api("/lab/fault?spec=cut:node-3");
    wait::expect("the cut in the path's history", LIMIT * 2, || {
        let (shown, _, failed) = path_history(&d);
        shown == path && failed > 0
    });
    d.lab_api("/lab/clear?spec=cut:node-3");
    wait::expect("node-3's arrows ok again", LIMIT * 2, || {
        arrows_into(&d, "node-3").iter().all(arrow_ok)
    });

    let normal: &[(&str, &str)] = &[("ok", "#3a8a55"), ("slow", "#b36b00"), ("fail", "#c01818")];
    let own = |inks: &[(String, f64, bool, String)]| {
        inks.iter().all(|(colour, alpha, highlighted, state)| {
            normal.contains(&(state.as_str(), colour.as_str()))
                && *alpha == if *highlighted { 1.0 } else { 0.12 }
        })
    };
    assert!(own(&arrow_inks(&d)), "{:?}", arrow_inks(&d));
    d.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "forced-colors", "value": "active"}]}),
    );
    let system = d.script(
        "const e = document.createElement('span'); e.style.forcedColorAdjust = 'none'; document.body.append(e); \
         const c = k => { e.style.color = k; return getComputedStyle(e).color; }; \
         const r = [matchMedia('(forced-colors: active)').matches, c('CanvasText'), c('Highlight'), c('GrayText'), c('Canvas')]; e.remove(); return r",
    );
    let [text, highlight, gray, canvas] =
        [1, 2, 3, 4].map(|i: usize| system[i].as_str().unwrap_or_default().to_string());
    assert_eq!(system[0], json!(true), "forced colours emulated: {system}");
    assert_ne!(text, gray, "{system}");
    let forced = |inks: &[(String, f64, bool, String)]| {
        inks.iter().all(|(colour, alpha, highlighted, state)| {
            let want = match (highlighted, state.as_str()) {
                (false, _) => &gray,
                (true, "fail") => &highlight,
                _ => &text,
            };
            colour == want && *alpha == 1.0
        })
    };
    wait::expect(
        "arrows drawn in system colours",
        Duration::from_secs(5),
        || forced(&arrow_inks(&d)),
    );
    // On the canvas: a pixel of each arrow out of node-3 (ok or slow, so CanvasText) near its mark point.
    let rgb: Vec<u8> = text
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(", ")
        .filter_map(|x| x.parse().ok())
        .collect();
    assert_eq!(rgb.len(), 3, "CanvasText: {text}");
    let drawn = d.script(&format!(
        "const c = document.getElementById('graphcanvas'), s = c.width / c.clientWidth, ctx = c.getContext('2d'); \
         return window.wardGraphArrows().filter(a => a.from === 'node-3').map(a => {{ \
           const p = ctx.getImageData(Math.round(a.x * s) - 3, Math.round(a.y * s) - 3, 7, 7).data; \
           for (let i = 0; i < p.length; i += 4) if (Math.abs(p[i] - {}) < 40 && Math.abs(p[i + 1] - {}) < 40 && Math.abs(p[i + 2] - {}) < 40 && p[i + 3] > 200) return true; \
           return false; }})",
        rgb[0], rgb[1], rgb[2]
    ));
    d.screenshot("forced-colours");
    assert_eq!(
        drawn,
        json!(vec![true; K]),
        "CanvasText on each arrow out of node-3"
    );
    // The charts and the ring (SVG, which the browser leaves alone) take the same system colours.
    let want = json!([
        ["#history .s-p50", "stroke", text],
        ["#history .s-max", "stroke", text],
        ["#pathhist .s-path", "stroke", text],
        ["#pathhist .failmark", "fill", highlight],
        ["#history .axis", "fill", text],
        ["#ring .node.sel circle", "fill", highlight],
        ["#ring .node:not(.sel) circle", "stroke", text],
        ["#ring .node:not(.sel) circle", "fill", canvas],
    ]);
    assert_eq!(svg_colours(&d, &want), want);
    d.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "forced-colors", "value": "none"}]}),
    );
    wait::expect(
        "arrows in the page's colours again",
        Duration::from_secs(5),
        || own(&arrow_inks(&d)),
    );
    let own_svg = json!([
        ["#history .s-p50", "stroke", "rgb(6, 69, 173)"],
        ["#pathhist .failmark", "fill", "rgb(155, 17, 17)"],
        ["#ring .node:not(.sel) circle", "fill", "rgb(255, 255, 255)"],
    ]);
    assert_eq!(svg_colours(&d, &own_svg), own_svg);
}

/// Hidden behind another tab, the page renders nothing but keeps recording
/// the rounds it polls: shown again, the selected path's history has them
/// (one poll after showing adds at most one round, so two or more were
/// recorded while hidden).
#[test]
fn a_hidden_page_records_rounds_without_rendering() {
    let d = Dashboard::start();
    d.select_path_into("node-3");
    let dashboard = d.tab();
    let rounds_before = path_history(&d).1;
    let tab = d.new_tab();
    d.switch_to(&tab);
    let hidden_from = unix_ms();
    let round = || {
        http_get(d.addr, "/status")
            .and_then(|r| serde_json::from_str::<Value>(&r.body).ok())
            .and_then(|v| v["nodes"]["node-1"]["round"].as_u64())
            .unwrap_or(0)
    };
    let hidden_at = round();
    wait::expect("6 rounds while the page is hidden", LIMIT * 6, || {
        round() >= hidden_at + 6
    });
    let hidden_to = unix_ms();
    d.switch_to(&dashboard);
    let shown = d.script(
        "return [document.hidden, window.wardUpdates.map(u => u.at), \
         +(document.getElementById('pathhist').dataset.points || 0)]",
    );
    assert_eq!(
        shown[0],
        json!(false),
        "the dashboard's tab is in front again"
    );
    let rendered_while_hidden: Vec<&Value> = shown[1]
        .as_array()
        .unwrap()
        .iter()
        .filter(|at| {
            at.as_u64()
                .is_some_and(|at| at > hidden_from && at < hidden_to)
        })
        .collect();
    assert!(
        rendered_while_hidden.is_empty(),
        "updates while hidden (from {hidden_from} to {hidden_to}): {rendered_while_hidden:?}"
    );
    let rounds_after = shown[2].as_u64().unwrap_or(0);
    assert!(
        rounds_after >= rounds_before + 2,
        "rounds in the path's history: {rounds_before} before hiding, {rounds_after} when shown"
    );
}

/// The same page served by one nurse (node-1 on 127.0.0.2): the mesh from its
/// /check_all, the history of its own paths from its /status.
#[test]
fn a_nurse_serves_the_same_page() {
    let d = Dashboard::start();
    d.open(&format!("http://127.0.0.2:{}/ui", d.nurse_port));
    wait::expect(
        "the nurse's page: N x k cells",
        Duration::from_secs(15),
        || cells(&d, "node-3").0 == N_K,
    );
    let source = d.script("return document.getElementById('source').textContent");
    assert!(
        source.as_str().is_some_and(|s| s.starts_with("nurse · ")),
        "{source}"
    );
    d.click("#matrix [data-state][data-from=\"node-1\"]");
    wait::expect("node-1's own path history", Duration::from_secs(10), || {
        let (shown, points, _) = path_history(&d);
        shown.starts_with("node-1 → ") && points >= 2
    });
}
