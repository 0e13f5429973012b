//! The lab dashboard in a real headless Chromium, driven over WebDriver
//! (chromedriver, Debian `chromium` + `chromium-driver`): the matrix shows
//! N x k checked cells and the graph N node buttons and N x k arrows drawn on
//! its canvas (`window.wardGraphArrows()` says what the last draw drew; its
//! text alternative counts them); the graph's nodes are one Tab stop whose
//! arrow keys move around the circle; a node selected with the keyboard shows
//! its 2k paths; an arrow clicked on the canvas and a path clicked in the
//! matrix show their latency over the last rounds. Cutting a node from the
//! page's fault panel turns its incoming cells and arrows failed (arrows also
//! by dash and a ✗ mark, red on the canvas) within two check intervals (plus
//! the check timeout that detects a silent peer) and the selected path's
//! history records the failures; clearing it turns them back. The first
//! update builds the top of the page and the views below it in the task after
//! it (its time in `deferredMs`). Under forced colours (emulated over CDP) the
//! canvas redraws in the system colours, and back when they end. Screenshots
//! are written to `$CARGO_TARGET_TMPDIR/lab-dashboard-*.png`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ward_testkit::net::{accepts, free_port};
use ward_testkit::process::{find_binary, Process};

const NODES: usize = 6;
const K: usize = 3;
const INTERVAL: Duration = Duration::from_millis(500);
const TIMEOUT: Duration = Duration::from_millis(400);

/// One WebDriver request; chromedriver keeps connections open, so the body is read by Content-Length.
fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    let code = status.split_whitespace().nth(1)?.parse().ok()?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut buf = vec![0; length];
    reader.read_exact(&mut buf).ok()?;
    Some((code, String::from_utf8_lossy(&buf).into_owned()))
}

struct Driver {
    addr: SocketAddr,
    session: String,
}

impl Driver {
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, text) = http_request(self.addr, method, &path, &body)
            .unwrap_or_else(|| panic!("chromedriver {method} {path}: no answer"));
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{method} {path}: {text}");
        v["value"].clone()
    }

    /// Runs Chrome DevTools Protocol command `cmd` (chromedriver's `goog/cdp/execute`).
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Clicks the first element matching `css` like a user would.
    fn click(&self, css: &str) {
        let found = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.call("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Presses `key` (a WebDriver key code such as [`ENTER`]) on the focused element.
    fn press(&self, key: &str) {
        self.call(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]}),
        );
    }

    /// Clicks with the mouse at (x, y) CSS pixels of the viewport.
    fn click_at(&self, x: f64, y: f64) {
        let (x, y) = (x.round() as i64, y.round() as i64);
        self.call(
            "POST",
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y},
                {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]}),
        );
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.call("GET", "/screenshot", Value::Null);
        let bytes = base64_decode(b64.as_str().unwrap_or_default());
        let path =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lab-dashboard-{name}.png"));
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Driver {
    /// Ends the session, which ends Chromium, also when the test failed.
    fn drop(&mut self) {
        let _ = http_request(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            "",
        );
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter_map(val) {
        acc = (acc << 6) | c;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// (checked cells, failed cells into `node`) as the page's matrix shows them.
fn cells(d: &Driver, node: &str) -> (u64, u64) {
    let v = d.script(&format!(
        "return [document.querySelectorAll('#matrix [data-state]').length, \
         document.querySelectorAll('#matrix [data-state=fail][data-to=\"{node}\"]').length]"
    ));
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

/// WebDriver key codes.
const ENTER: &str = "\u{E007}";
const HOME: &str = "\u{E011}";
const END: &str = "\u{E010}";
const LEFT: &str = "\u{E012}";
const RIGHT: &str = "\u{E014}";

/// The graph's arrows into `node` as its canvas last drew them: (state, text mark, dash pattern) each.
fn arrows_into(d: &Driver, node: &str) -> Vec<(String, String, String)> {
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

/// The graph node button that has the keyboard focus, and the nodes in the graph's Tab order (tabindex 0).
fn graph_focus(d: &Driver) -> Value {
    d.script(
        "return [document.activeElement.matches('#graph .gnode') ? document.activeElement.dataset.node : null, \
         [...document.querySelectorAll('#graph [tabindex=\"0\"]')].map(b => b.dataset.node)]",
    )
}

/// (path shown, rounds in its history, failed rounds) of the path latency chart.
fn path_history(d: &Driver) -> (String, u64, u64) {
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

fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    wait_value(what, limit, || f().then_some(()));
    start.elapsed()
}

fn wait_value<T>(what: &str, limit: Duration, f: impl FnMut() -> Option<T>) -> T {
    ward_testkit::wait::until(limit, f).unwrap_or_else(|| panic!("{what}: not within {limit:?}"))
}

/// The graph's arrows (colour, opacity) as its canvas last drew them, each with whether it
/// touches the selected node and its state.
fn arrow_inks(d: &Driver) -> Vec<(String, f64, bool, String)> {
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

/// With node-3 selected: under forced colours (emulated over CDP) the canvas redraws its arrows in
/// the system colours an element gets for CanvasText (ok and slow), Highlight (failed) and
/// GrayText (not touching node-3, opaque), and its pixels have them; the SVG charts and ring
/// take the same system colours; back in the page's own colours (faded arrows translucent) when
/// forced colours end.
fn forced_colours(d: &Driver) {
    let normal: &[(&str, &str)] = &[("ok", "#3a8a55"), ("slow", "#b36b00"), ("fail", "#c01818")];
    let own = |inks: &[(String, f64, bool, String)]| {
        inks.iter().all(|(colour, alpha, highlighted, state)| {
            normal.contains(&(state.as_str(), colour.as_str()))
                && *alpha == if *highlighted { 1.0 } else { 0.12 }
        })
    };
    assert!(own(&arrow_inks(d)), "{:?}", arrow_inks(d));
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
    wait(
        "arrows drawn in system colours",
        Duration::from_secs(5),
        || forced(&arrow_inks(d)),
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
    assert_eq!(svg_colours(d, &want), want);
    d.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "forced-colors", "value": "none"}]}),
    );
    wait(
        "arrows in the page's colours again",
        Duration::from_secs(5),
        || own(&arrow_inks(d)),
    );
    let own_svg = json!([
        ["#history .s-p50", "stroke", "rgb(6, 69, 173)"],
        ["#pathhist .failmark", "fill", "rgb(155, 17, 17)"],
        ["#ring .node:not(.sel) circle", "fill", "rgb(255, 255, 255)"],
    ]);
    assert_eq!(svg_colours(d, &own_svg), own_svg);
}

/// For each `[selector, property, _]` in `want`, the same triple with the computed
/// value of the first element `selector` matches ("missing" when none does).
fn svg_colours(d: &Driver, want: &Value) -> Value {
    d.script(&format!(
        "return {want}.map(([s, p]) => {{ const e = document.querySelector(s); \
           return [s, p, e ? getComputedStyle(e)[p] : 'missing']; }})"
    ))
}

#[test]
fn the_dashboard_shows_the_mesh_and_a_cut_node_in_a_real_browser() {
    let chromedriver = find_binary("chromedriver", "chromedriver")
        .expect("chromedriver (Debian chromium-driver; scripts/install-test-deps.sh installs it)");
    // Free on 127.0.0.1, so almost surely on 127.0.0.2.. too (the lab says so if not).
    let nurse_port = free_port();
    let mut lab = Command::new(env!("CARGO_BIN_EXE_ward"))
        .args([
            "lab",
            "--listen",
            "127.0.0.1:0",
            "--live",
            "false",
            "--duration",
            "60s",
        ])
        .args([
            "--nodes",
            &NODES.to_string(),
            "--neighbour-limit",
            &K.to_string(),
        ])
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

    let port = free_port();
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chromedriver.log");
    let _driver_process = Process::spawn(
        "chromedriver",
        &chromedriver,
        [format!("--port={port}")],
        &log,
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait("chromedriver listening", Duration::from_secs(20), || {
        accepts(addr)
    });
    let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--no-first-run", "--window-size=1400,1000"]}}}});
    let (_, text) = http_request(addr, "POST", "/session", &caps.to_string()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("new session: {text}"))
        .to_string();
    let d = Driver { addr, session };
    d.call("POST", "/url", json!({"url": url}));

    let n_k = (NODES * K) as u64;
    wait(
        "N x k checked cells, all ok",
        Duration::from_secs(15),
        || cells(&d, "node-3") == (n_k, 0),
    );
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
                    "{NODES} nodes, k = {K}, total checks n × k = {n_k}."
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
    d.press(RIGHT);
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
        Some(&[json!(NODES), json!(n_k), json!(n_k)][..]),
        "graph: node buttons, arrows drawn, ok (or slow) arrows drawn"
    );
    let summary = graph[3].as_str().unwrap_or_default();
    assert!(
        summary.starts_with(&format!("{n_k} arrows: ")) && summary.contains(", 0 ✗ failed."),
        "{summary}"
    );
    let healthy = arrows_into(&d, "node-3");
    assert_eq!(healthy.len(), K, "arrows into node-3: {healthy:?}");
    assert!(healthy.iter().all(arrow_ok), "{healthy:?}");

    // Keyboard: the graph's nodes are one Tab stop (the first node in ring order); arrow keys move
    // around the circle, Home and End to the ends.
    let order =
        d.script("return [...document.querySelectorAll('#graph .gnode')].map(b => b.dataset.node)");
    let order: Vec<&str> = order
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(order.len(), NODES, "{order:?}");
    d.script("document.querySelector('#graph [tabindex=\"0\"]').focus()");
    assert_eq!(graph_focus(&d), json!([order[0], [order[0]]]));
    d.press(RIGHT);
    assert_eq!(graph_focus(&d), json!([order[1], [order[1]]]));
    d.press(LEFT);
    d.press(LEFT);
    assert_eq!(
        graph_focus(&d),
        json!([order[NODES - 1], [order[NODES - 1]]])
    );
    d.press(HOME);
    assert_eq!(graph_focus(&d), json!([order[0], [order[0]]]));
    d.press(END);
    assert_eq!(
        graph_focus(&d),
        json!([order[NODES - 1], [order[NODES - 1]]])
    );
    // To node-3 with the arrow keys, Enter selects it and lists its k + k paths.
    let steps = order.iter().position(|n| *n == "node-3").unwrap() + 1;
    for _ in 0..steps {
        d.press(RIGHT);
    }
    d.press(ENTER);
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

    // A click on an arrow out of node-3, on the canvas, shows that path's latency over time.
    let out = d.script(
        "const r = document.getElementById('graphcanvas').getBoundingClientRect(); \
         const a = window.wardGraphArrows().find(a => a.from === 'node-3'); \
         return [a.to, r.left + a.x, r.top + a.y]",
    );
    d.click_at(out[1].as_f64().unwrap(), out[2].as_f64().unwrap());
    let clicked = format!("node-3 → {}", out[0].as_str().unwrap());
    wait(
        "the clicked arrow's history",
        Duration::from_secs(10),
        || path_history(&d).0 == clicked,
    );

    // A click on a cell into node-3 shows that path's latency over the last rounds.
    let from = d.script(
        "return document.querySelector('#matrix [data-state][data-to=\"node-3\"]').dataset.from",
    );
    let from = from.as_str().expect("a checker of node-3").to_string();
    d.click(&format!(
        "#matrix [data-from=\"{from}\"][data-to=\"node-3\"]"
    ));
    let path = format!("{from} → node-3");
    wait(
        "the path's history over 2 rounds",
        Duration::from_secs(10),
        || {
            let (shown, points, _) = path_history(&d);
            shown == path && points >= 2
        },
    );
    let (_, _, failed_before) = path_history(&d);
    let info = d.script("return document.getElementById('pathinfo').textContent");
    let info = info.as_str().unwrap_or_default();
    assert!(
        info.starts_with(&format!("{path}: last ")) && info.contains(" failed"),
        "{info}"
    );
    d.screenshot("healthy");

    // Cut node-3 from the page's own fault panel.
    d.script(
        "document.getElementById('fkind').value = 'cut'; \
         document.getElementById('fnode').value = 'node-3'; \
         document.querySelector('#faultform button[type=submit]').click();",
    );
    let limit = INTERVAL * 2 + TIMEOUT + Duration::from_millis(600);
    let took = wait("node-3's incoming cells failed", limit * 2, || {
        cells(&d, "node-3") == (n_k, K as u64)
    });
    eprintln!(
        "cut visible in the page after {took:?} (two intervals + timeout = {:?})",
        INTERVAL * 2 + TIMEOUT
    );
    let cut = wait_value("node-3's arrows drawn failed", limit, || {
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
    wait("the cut in the path's history", limit * 2, || {
        let (shown, _, failed) = path_history(&d);
        shown == path && failed > failed_before
    });
    let shot = d.screenshot("cut");
    eprintln!("screenshot: {}", shot.display());

    d.script("document.querySelector(\"button[data-clear='cut:node-3']\").click();");
    let took = wait("node-3's cells recovered", limit * 2, || {
        cells(&d, "node-3") == (n_k, 0)
    });
    eprintln!("recovery visible after {took:?}");
    wait("node-3's arrows ok again", limit * 2, || {
        arrows_into(&d, "node-3").iter().all(arrow_ok)
    });
    forced_colours(&d);
    let update = d.script("return [window.wardLastUpdateMs, window.wardLastUpdate]");
    assert!(update[0].as_f64().is_some_and(|ms| ms >= 0.0), "{update}");
    eprintln!("last dashboard update: {}", update[1]);

    // Hidden behind another tab, the page renders nothing but keeps recording the rounds it
    // polls: shown again, the selected path's history has them (one poll after showing adds
    // at most one round, so two or more were recorded while hidden).
    let dashboard = d.call("GET", "/window", Value::Null);
    let rounds_before = path_history(&d).1;
    let tab = d.call("POST", "/window/new", json!({"type": "tab"}));
    d.call("POST", "/window", json!({"handle": tab["handle"]}));
    let hidden_from = unix_ms();
    let lab_addr: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/ui")
        .parse()
        .unwrap();
    let round = || {
        http_request(lab_addr, "GET", "/status", "")
            .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
            .and_then(|v| v["nodes"]["node-1"]["round"].as_u64())
            .unwrap_or(0)
    };
    let hidden_at = round();
    wait("6 rounds while the page is hidden", limit * 6, || {
        round() >= hidden_at + 6
    });
    let hidden_to = unix_ms();
    d.call("POST", "/window", json!({"handle": dashboard}));
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

    // The same page served by one nurse (node-1 on 127.0.0.2): the mesh from its /check_all,
    // the history of its own paths from its /status.
    d.call(
        "POST",
        "/url",
        json!({"url": format!("http://127.0.0.2:{nurse_port}/ui")}),
    );
    wait(
        "the nurse's page: N x k cells",
        Duration::from_secs(15),
        || cells(&d, "node-3").0 == n_k,
    );
    let source = d.script("return document.getElementById('source').textContent");
    assert!(
        source.as_str().is_some_and(|s| s.starts_with("nurse · ")),
        "{source}"
    );
    d.click("#matrix [data-state][data-from=\"node-1\"]");
    wait("node-1's own path history", Duration::from_secs(10), || {
        let (shown, points, _) = path_history(&d);
        shown.starts_with("node-1 → ") && points >= 2
    });
    drop(d);
    let _ = lab.kill();
    let _ = lab.wait();
}
