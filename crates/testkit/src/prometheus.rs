//! Real Prometheus on loopback: scrapes the targets a test names, answers
//! instant queries, and offers `promtool` for rule checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::net::{free_port, http_get, http_request};
use crate::netns::NetNs;
use crate::process::{find_binary, Process};
use crate::tcp_proxy::TcpProxy;
use crate::{wait, Error, Result};

/// The port a Prometheus started with [`Builder::start_in`] listens on, on
/// every address of its namespace (pods push OTLP to `<node address>:9090`).
pub const NETNS_PORT: u16 = 9090;

/// Configures a Prometheus before it starts.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    targets: Vec<(String, SocketAddr)>,
    scrape_configs: Vec<String>,
    rule_files: Vec<PathBuf>,
    scrape_interval: Option<Duration>,
    binary: Option<PathBuf>,
    args: Vec<String>,
}

impl Builder {
    /// Scrapes `addr` (its `/metrics`) as job `job`.
    pub fn scrape(mut self, job: impl Into<String>, addr: SocketAddr) -> Self {
        self.targets.push((job.into(), addr));
        self
    }

    /// Adds a scrape job written as YAML, one list item of `scrape_configs`
    /// indented by two spaces (`  - job_name: pods\n    kubernetes_sd_configs: …`).
    pub fn scrape_config(mut self, yaml: impl Into<String>) -> Self {
        self.scrape_configs.push(yaml.into());
        self
    }

    /// Loads a rule file.
    pub fn rule_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rule_files.push(path.into());
        self
    }

    /// Scrape and rule evaluation interval (default 1 s).
    pub fn interval(mut self, every: Duration) -> Self {
        self.scrape_interval = Some(every);
        self
    }

    /// Runs this Prometheus binary instead of `prometheus` from PATH.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Adds a command-line flag.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Starts Prometheus on a free 127.0.0.1 port and waits (up to 20 s) for `/-/ready`.
    pub fn start(self) -> Result<Prometheus> {
        self.launch(None)
    }

    /// Starts Prometheus inside `netns` on port [`NETNS_PORT`] of every
    /// address there (so it scrapes and receives from inside the namespace);
    /// the test reaches it through a loopback forwarder, [`Prometheus::addr`].
    pub fn start_in(self, netns: &NetNs) -> Result<Prometheus> {
        self.launch(Some(netns))
    }

    fn launch(self, netns: Option<&NetNs>) -> Result<Prometheus> {
        let binary = match &self.binary {
            Some(path) => path.clone(),
            None => find_binary("prometheus", "prometheus")?,
        };
        let dir = tempfile::Builder::new()
            .prefix("ward-prometheus-")
            .tempdir()
            .map_err(|e| Error::io("prometheus", "creating temp dir", e))?;
        let every = self.scrape_interval.unwrap_or(Duration::from_secs(1));
        let mut conf = format!(
            "global:\n  scrape_interval: {ms}ms\n  evaluation_interval: {ms}ms\n",
            ms = every.as_millis()
        );
        if !self.rule_files.is_empty() {
            conf.push_str("rule_files:\n");
            for f in &self.rule_files {
                conf.push_str(&format!("  - {}\n", f.display()));
            }
        }
        conf.push_str("scrape_configs:\n");
        for (job, addr) in &self.targets {
            conf.push_str(&format!(
                "  - job_name: {job:?}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            ));
        }
        for job in &self.scrape_configs {
            conf.push_str(job.trim_end());
            conf.push('\n');
        }
        if self.targets.is_empty() && self.scrape_configs.is_empty() {
            conf.push_str("  []\n");
        }
        let conf_path = dir.path().join("prometheus.yml");
        std::fs::write(&conf_path, conf)
            .map_err(|e| Error::io("prometheus", "writing prometheus.yml", e))?;
        let (listen, forward) = match netns {
            None => (SocketAddr::from(([127, 0, 0, 1], free_port())), None),
            Some(ns) => (
                SocketAddr::from(([0, 0, 0, 0], NETNS_PORT)),
                Some(ns.forward(SocketAddr::from(([127, 0, 0, 1], NETNS_PORT)))?),
            ),
        };
        let addr = forward.as_ref().map_or(listen, TcpProxy::addr);
        let log = dir.path().join("prometheus.log");
        let args = [
            format!("--config.file={}", conf_path.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address={listen}"),
            "--web.enable-lifecycle".to_string(),
        ]
        .into_iter()
        .chain(self.args.iter().cloned())
        .collect();
        let mut process = Process::spawn_in(netns, "prometheus", &binary, args, &log)?;
        process.wait_ready(Duration::from_secs(20), || {
            http_get(addr, "/-/ready").is_some_and(|r| r.status == 200)
        })?;
        Ok(Prometheus {
            addr,
            process,
            _forward: forward,
            _dir: dir,
        })
    }
}

/// A running Prometheus; stopped and its folder removed on drop.
pub struct Prometheus {
    addr: SocketAddr,
    process: Process,
    _forward: Option<TcpProxy>,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts configuring a Prometheus.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Address of its HTTP API.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs an instant query and returns the `data.result` array.
    pub fn query(&self, expr: &str) -> Result<Vec<serde_json::Value>> {
        query(self.addr, expr).map_err(|e| self.process.not_ready(e))
    }

    /// Waits until `expr` returns at least one series, returning them.
    pub fn wait_for_series(&self, expr: &str, timeout: Duration) -> Result<Vec<serde_json::Value>> {
        wait::until(timeout, || self.query(expr).ok().filter(|r| !r.is_empty())).ok_or_else(|| {
            self.process
                .not_ready(format!("no series for {expr:?} within {timeout:?}"))
        })
    }
}

/// Runs an instant query against the Prometheus API at `addr` (one this
/// module started, or one in a cluster behind a forwarder) and returns the
/// `data.result` array, or what went wrong.
pub fn query(addr: SocketAddr, expr: &str) -> std::result::Result<Vec<serde_json::Value>, String> {
    let body = format!("query={}", urlencode(expr));
    let response = http_request(addr, "POST", "/api/v1/query", &body)
        .ok_or_else(|| format!("query {expr:?}: no response"))?;
    let value: serde_json::Value = serde_json::from_str(&response.body)
        .map_err(|e| format!("query {expr:?}: bad JSON: {e}"))?;
    match value["data"]["result"].as_array() {
        Some(r) if response.status == 200 => Ok(r.clone()),
        _ => Err(format!(
            "query {expr:?}: HTTP {}: {}",
            response.status, response.body
        )),
    }
}

/// Runs `promtool check rules FILE`; returns its combined output, or an error with it.
pub fn promtool_check_rules(file: &Path) -> Result<String> {
    promtool(
        &["check".as_ref(), "rules".as_ref(), file.as_os_str()],
        None,
    )
}

/// Runs `promtool test rules FILE` in `dir` (where the test file's
/// `rule_files` are); returns its combined output, or an error with it.
pub fn promtool_test_rules(dir: &Path, file: &str) -> Result<String> {
    promtool(
        &["test".as_ref(), "rules".as_ref(), file.as_ref()],
        Some(dir),
    )
}

/// Runs `promtool ARGS…` (in `dir`); its stdout+stderr, as an error when it fails.
fn promtool(args: &[&std::ffi::OsStr], dir: Option<&Path>) -> Result<String> {
    let promtool = find_binary("promtool", "promtool")?;
    let what = args
        .iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = Command::new(promtool);
    command.args(args);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let out = command
        .output()
        .map_err(|e| Error::io("promtool", "running it", e))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(Error::NotReady {
            component: "promtool".into(),
            reason: format!("{what} failed"),
            log: "(stdout+stderr)".into(),
            tail: text,
        })
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
