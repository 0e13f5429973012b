//! The lab dashboard in a real headless Chromium, driven over WebDriver
//! (chromedriver, Debian `chromium` + `chromium-driver`): the matrix shows
//! N x k checked cells; cutting a node from the page's fault panel turns its
//! incoming cells failed within two check intervals (plus the check timeout
//! that detects a silent peer), and clearing it turns them back. Screenshots
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

    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
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

/// (checked cells, failed cells into `node`) as the page shows them.
fn cells(d: &Driver, node: &str) -> (u64, u64) {
    let v = d.script(&format!(
        "return [document.querySelectorAll('td[data-state]').length, \
         document.querySelectorAll('td[data-state=fail][data-to=\"{node}\"]').length]"
    ));
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    ward_testkit::wait::until(limit, || f().then_some(()))
        .unwrap_or_else(|| panic!("{what}: not within {limit:?}"));
    start.elapsed()
}

#[test]
fn the_dashboard_shows_the_mesh_and_a_cut_node_in_a_real_browser() {
    let chromedriver = find_binary("chromedriver", "chromedriver")
        .expect("chromedriver (Debian chromium-driver; scripts/install-test-deps.sh installs it)");
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
    let ring = d.script("return document.querySelectorAll('#ring g.node').length");
    assert_eq!(ring, json!(NODES));
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
    let shot = d.screenshot("cut");
    eprintln!("screenshot: {}", shot.display());

    d.script("document.querySelector(\"button[data-clear='cut:node-3']\").click();");
    let took = wait("node-3's cells recovered", limit * 2, || {
        cells(&d, "node-3") == (n_k, 0)
    });
    eprintln!("recovery visible after {took:?}");
    let update = d.script("return window.wardLastUpdate");
    eprintln!("last dashboard update: {update}");
    let _ = http_request(addr, "DELETE", &format!("/session/{}", d.session), "");
    let _ = lab.kill();
    let _ = lab.wait();
}
