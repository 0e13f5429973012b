//! Real Prometheus on loopback: scrapes the targets a test names, answers
//! instant queries, and offers `promtool` for rule checks. A Prometheus can
//! start on a backfilled TSDB ([`Builder::backfill`]): series written with
//! `promtool tsdb create-blocks-from openmetrics`, and what recording rules
//! record over them with `promtool tsdb create-blocks-from rules`.

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
    backfill: Option<Backfill>,
    data_dir: Option<PathBuf>,
}

/// Series and rules to write into the TSDB before Prometheus starts.
#[derive(Debug, Clone)]
struct Backfill {
    openmetrics: String,
    rules: Vec<String>,
    start: u64,
    end: u64,
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

    /// Starts on a TSDB that already holds `openmetrics` (an OpenMetrics
    /// text with timestamps, ending in `# EOF`) and every recording rule of
    /// the rule files `rules` (YAML text each) evaluated over it from `start` to `end`
    /// (Unix seconds) every minute, in as many passes as the rules depend on
    /// each other (`promtool` evaluates each rule against the blocks written
    /// before it, not against the rules of its own pass); their alerting
    /// rules are loaded and evaluated live.
    pub fn backfill<R: Into<String>>(
        mut self,
        openmetrics: impl Into<String>,
        rules: impl IntoIterator<Item = R>,
        start: u64,
        end: u64,
    ) -> Self {
        self.backfill = Some(Backfill {
            openmetrics: openmetrics.into(),
            rules: rules.into_iter().map(Into::into).collect(),
            start,
            end,
        });
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

    fn launch(mut self, netns: Option<&NetNs>) -> Result<Prometheus> {
        let binary = match &self.binary {
            Some(path) => path.clone(),
            None => find_binary("prometheus", "prometheus")?,
        };
        let dir = tempfile::Builder::new()
            .prefix("ward-prometheus-")
            .tempdir()
            .map_err(|e| Error::io("prometheus", "creating temp dir", e))?;
        let data = self
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        if let Some(backfill) = self.backfill.take() {
            if let Some(alerts) = backfill.run(&binary, &data, dir.path())? {
                self.rule_files.push(alerts);
            }
        }
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
            format!("--storage.tsdb.path={}", data.display()),
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

impl Prometheus {
    /// Waits until every rule group has been evaluated at least once.
    pub fn wait_rules_evaluated(&self, timeout: Duration) -> Result<()> {
        let evaluated = || {
            let r = http_get(self.addr, "/api/v1/rules")?;
            let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            let groups = v["data"]["groups"].as_array()?;
            groups
                .iter()
                .all(|g| {
                    g["lastEvaluation"]
                        .as_str()
                        .is_some_and(|t| !t.starts_with("0001-"))
                })
                .then_some(())
        };
        wait::until(timeout, evaluated).ok_or_else(|| {
            self.process
                .not_ready(format!("rule groups not all evaluated within {timeout:?}"))
        })
    }
}

impl Backfill {
    /// Writes the series and the recordings into `data`; returns a rule
    /// file with the alerting rules, if there are any.
    fn run(&self, binary: &Path, data: &Path, dir: &Path) -> Result<Option<PathBuf>> {
        let write = |name: &str, text: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| Error::io("prometheus", format!("writing {}", path.display()), e))?;
            Ok(path)
        };
        let series = write("backfill.om", &self.openmetrics)?;
        promtool(
            &[
                "tsdb".as_ref(),
                "create-blocks-from".as_ref(),
                "openmetrics".as_ref(),
                series.as_os_str(),
                data.as_os_str(),
            ],
            None,
        )?;
        let bad = |what: String| Error::NotReady {
            component: "prometheus backfill".into(),
            reason: what,
            log: "(rules)".into(),
            tail: self.rules.join("\n"),
        };
        let mut groups = Vec::new();
        for (i, file) in self.rules.iter().enumerate() {
            let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(file)
                .map_err(|e| bad(format!("rule file {}: {e}", i + 1)))?;
            let more = doc["groups"]
                .as_sequence()
                .ok_or_else(|| bad(format!("rule file {}: no groups", i + 1)))?;
            groups.extend(more.iter().cloned());
        }
        let rules =
            |g: &serde_yaml_ng::Value| g["rules"].as_sequence().cloned().unwrap_or_default();
        let mut pending: Vec<serde_yaml_ng::Value> = groups
            .iter()
            .flat_map(rules)
            .filter(|r| r.get("record").is_some())
            .collect();
        let (start, end) = (self.start.to_string(), self.end.to_string());
        for pass in 1.. {
            if pending.is_empty() {
                break;
            }
            let name =
                |r: &serde_yaml_ng::Value| r["record"].as_str().unwrap_or_default().to_string();
            let names: Vec<String> = pending.iter().map(name).collect();
            let (ready, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|r| {
                let expr = r["expr"].as_str().unwrap_or_default();
                !names.iter().any(|n| *n != name(r) && mentions(expr, n))
            });
            if ready.is_empty() {
                return Err(bad(format!(
                    "recording rules depend on each other: {names:?}"
                )));
            }
            let file = write(
                &format!("backfill-{pass}.yaml"),
                &rule_file(&[(format!("backfill-{pass}"), ready)]),
            )?;
            let out = dir.join(format!("blocks-{pass}"));
            let source = Builder {
                binary: Some(binary.to_path_buf()),
                data_dir: Some(data.to_path_buf()),
                ..Builder::default()
            }
            .start()?;
            promtool(
                &[
                    "tsdb".as_ref(),
                    "create-blocks-from".as_ref(),
                    "rules".as_ref(),
                    "--quiet".as_ref(),
                    format!("--start={start}").as_ref(),
                    format!("--end={end}").as_ref(),
                    format!("--url=http://{}", source.addr()).as_ref(),
                    format!("--output-dir={}", out.display()).as_ref(),
                    file.as_os_str(),
                ],
                None,
            )?;
            drop(source);
            let blocks = std::fs::read_dir(&out)
                .map_err(|e| Error::io("prometheus", format!("reading {}", out.display()), e))?;
            for block in blocks {
                let block = block.map_err(|e| Error::io("prometheus", "listing blocks", e))?;
                std::fs::rename(block.path(), data.join(block.file_name()))
                    .map_err(|e| Error::io("prometheus", "moving a block", e))?;
            }
            pending = later;
        }
        let alerts: Vec<(String, Vec<serde_yaml_ng::Value>)> = groups
            .iter()
            .map(|g| {
                let alerts = rules(g).into_iter().filter(|r| r.get("alert").is_some());
                (
                    g["name"].as_str().unwrap_or_default().to_string(),
                    alerts.collect(),
                )
            })
            .filter(|(_, rules): &(String, Vec<_>)| !rules.is_empty())
            .collect();
        if alerts.is_empty() {
            return Ok(None);
        }
        write("alerts.yaml", &rule_file(&alerts)).map(Some)
    }
}

/// True when `expr` names the metric `name` (not as part of a longer name).
fn mentions(expr: &str, name: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expr.match_indices(name)
        .any(|(i, _)| !expr[..i].ends_with(part) && !expr[i + name.len()..].starts_with(part))
}

/// A rule file with these groups of rules.
fn rule_file(groups: &[(String, Vec<serde_yaml_ng::Value>)]) -> String {
    let groups: Vec<serde_json::Value> = groups
        .iter()
        .map(|(name, rules)| serde_json::json!({"name": name, "rules": rules}))
        .collect();
    // JSON is YAML: no second writer needed.
    serde_json::json!({ "groups": groups }).to_string()
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
