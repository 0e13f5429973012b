//! A real headless Chromium driven over WebDriver: chromedriver (Debian
//! `chromium-driver`) on a free loopback port, one session, ended on drop.
//!
//! Commands are the W3C WebDriver ones plus chromedriver's Chrome DevTools
//! Protocol passthrough ([`Browser::cdp`]). A command that fails panics with
//! the command and chromedriver's answer: these are test steps.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::net::{accepts, free_port, http_json};
use crate::process::{find_binary, Process};
use crate::{Error, Result};

/// WebDriver key codes for [`Browser::press`].
pub mod keys {
    /// Enter.
    pub const ENTER: &str = "\u{E007}";
    /// Home.
    pub const HOME: &str = "\u{E011}";
    /// End.
    pub const END: &str = "\u{E010}";
    /// Arrow left.
    pub const LEFT: &str = "\u{E012}";
    /// Arrow right.
    pub const RIGHT: &str = "\u{E014}";
}

/// How long one WebDriver command may take (a navigation waits for the page's load).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A headless Chromium session; the session, Chromium and chromedriver end on drop.
pub struct Browser {
    addr: SocketAddr,
    session: String,
    // Fields drop after `Drop::drop` has ended the session.
    _chromedriver: Process,
    _dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a session of headless Chromium with a
    /// window of `width` × `height` CSS pixels.
    pub fn start(width: u32, height: u32) -> Result<Self> {
        let chromedriver = find_binary("chromedriver", "chromedriver")?;
        let chromium = find_binary("chromium", "chromium")?;
        let dir = tempfile::Builder::new()
            .prefix("ward-chromedriver-")
            .tempdir()
            .map_err(|e| Error::io("chromedriver", "creating temp dir", e))?;
        let port = free_port();
        let mut process = Process::spawn(
            "chromedriver",
            &chromedriver,
            [format!("--port={port}")],
            &dir.path().join("chromedriver.log"),
        )?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        process.wait_ready(Duration::from_secs(20), || accepts(addr))?;
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--no-first-run", format!("--window-size={width},{height}")]}}}});
        let answer = http_json(addr, "POST", "/session", &caps.to_string(), COMMAND_TIMEOUT)
            .ok_or_else(|| process.not_ready("new session: no answer"))?;
        let v: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let session = v["value"]["sessionId"]
            .as_str()
            .ok_or_else(|| process.not_ready(format!("new session: {}", answer.body)))?
            .to_string();
        Ok(Self {
            addr,
            session,
            _chromedriver: process,
            _dir: dir,
        })
    }

    /// Runs one command of the session (`path` below `/session/{id}`, `body`
    /// `null` for none) and returns its `value`.
    ///
    /// # Panics
    /// When chromedriver does not answer or answers with an error.
    pub fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let answer = http_json(self.addr, method, &path, &body, COMMAND_TIMEOUT)
            .unwrap_or_else(|| panic!("chromedriver {method} {path}: no answer"));
        assert_eq!(answer.status, 200, "{method} {path}: {}", answer.body);
        let v: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        v["value"].clone()
    }

    /// Loads `url` in the current tab and waits for it to load.
    pub fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `return` gives the result) in the page.
    pub fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// Runs Chrome DevTools Protocol command `cmd` (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    /// Clicks the first element matching `css` like a user would.
    pub fn click(&self, css: &str) {
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

    /// Presses `key` (one of [`keys`]) on the focused element.
    pub fn press(&self, key: &str) {
        self.call(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]}),
        );
    }

    /// Clicks with the mouse at (x, y) CSS pixels of the viewport.
    pub fn click_at(&self, x: f64, y: f64) {
        let (x, y) = (x.round() as i64, y.round() as i64);
        self.call(
            "POST",
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y},
                {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]}),
        );
    }

    /// The visible part of the page as PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call("GET", "/screenshot", Value::Null);
        base64_decode(b64.as_str().unwrap_or_default())
    }

    /// The handle of the current tab.
    pub fn tab(&self) -> String {
        self.call("GET", "/window", Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Opens a new tab and returns its handle (the current tab stays current).
    pub fn new_tab(&self) -> String {
        let tab = self.call("POST", "/window/new", json!({"type": "tab"}));
        tab["handle"].as_str().unwrap_or_default().to_string()
    }

    /// Brings the tab `handle` to the front and makes it current.
    pub fn switch_to(&self, handle: &str) {
        self.call("POST", "/window", json!({ "handle": handle }));
    }
}

impl Drop for Browser {
    /// Ends the session, which ends Chromium, also when the test failed.
    fn drop(&mut self) {
        let _ = http_json(
            self.addr,
            "DELETE",
            &format!("/session/{}", self.session),
            "",
            COMMAND_TIMEOUT,
        );
    }
}

/// Decodes standard base64 (WebDriver's screenshots), skipping padding.
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

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("aGVsbG8="), b"hello");
        assert_eq!(base64_decode("aGVsbG8h"), b"hello!");
        assert_eq!(base64_decode("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
    }
}
