//! `ward load`: a staged HTTP load test (closed model with VUs and stages, or
//! open model at a fixed arrival rate), with live progress, a k6-like summary
//! and thresholds that set the exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use ward_load::plan::{Plan, Stage};
use ward_load::run::{LoadConfig, Model, Progress};
use ward_load::stats::{Distribution, Summary};
use ward_load::threshold::Threshold;

use crate::cmd::http_flags::{request_from, RequestArgs, TlsArgs};
use ward_agent::lifecycle::cancel_on_termination;

use crate::cmd::runtime::{runtime, Threads};
use crate::render::{self, millis, Format, Table};

/// Arguments of `ward load`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to load (`http://` or `https://`).
    pub url: String,
    /// Virtual users for a flat run (closed model); workers (connections) with `--rate`.
    #[arg(long, short = 'u')]
    pub vus: Option<u64>,
    /// Length of a flat run, or of an open-model (`--rate`) run.
    #[arg(long, short = 'z', value_parser = ward_duration::parse)]
    pub duration: Option<Duration>,
    /// A stage `DURATION:TARGET_VUS` ramped linearly from the previous target, like k6 (repeatable).
    #[arg(long = "stage", short = 's', value_parser = parse_stage)]
    pub stages: Vec<Stage>,
    /// A scenario file (YAML or JSON): `stages`, `start_vus`, `cycle_idle`, `repeat`.
    #[arg(long, conflicts_with_all = ["stages", "rate"])]
    pub scenario: Option<PathBuf>,
    /// Idle gap between repeated cycles: `4s` or a random `4s..11s` (0 VUs, connections kept).
    #[arg(long, value_parser = parse_idle_range)]
    pub cycle_idle: Option<(Duration, Duration)>,
    /// How many times to run the stages.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub repeat: u32,
    /// Open model: a constant arrival rate `N/s` (or `N/m`); latency counts from the intended send time.
    #[arg(long, value_parser = parse_rate, conflicts_with = "stages")]
    pub rate: Option<f64>,
    /// Open a new connection for every request.
    #[arg(long)]
    pub no_reuse: bool,
    /// Deadline of one request, including connecting.
    #[arg(long, default_value = "10s", value_parser = ward_duration::parse)]
    pub timeout: Duration,
    /// Pass/fail threshold such as `p95<200ms`, `p(99)<1s`, `errors<0.1%`, `rps>1000` (repeatable).
    #[arg(long = "threshold", short = 't')]
    pub thresholds: Vec<String>,
    #[command(flatten)]
    pub request: RequestArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// Hide the live progress line.
    #[arg(long)]
    pub quiet: bool,
    /// Output format of the summary.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// Parses `5s:100` into a stage.
pub fn parse_stage(input: &str) -> Result<Stage, String> {
    let (d, t) = input.split_once(':').ok_or_else(|| {
        format!("invalid stage {input:?} (expected DURATION:TARGET, e.g. 30s:100)")
    })?;
    let duration = ward_duration::parse(d).map_err(|e| format!("invalid stage {input:?}: {e}"))?;
    let target = t
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("invalid stage {input:?}: target {t:?} is not a VU count"))?;
    Ok(Stage { duration, target })
}

/// Parses `4s` or `4s..11s`.
pub fn parse_idle_range(input: &str) -> Result<(Duration, Duration), String> {
    let (a, b) = input.split_once("..").unwrap_or((input, input));
    let min = ward_duration::parse(a).map_err(|e| e.to_string())?;
    let max = ward_duration::parse(b).map_err(|e| e.to_string())?;
    if min > max {
        return Err(format!("invalid range {input:?}: {a} is above {b}"));
    }
    Ok((min, max))
}

/// Parses `100/s`, `100`, `6000/m` into requests per second.
pub fn parse_rate(input: &str) -> Result<f64, String> {
    let bad = || format!("invalid rate {input:?} (expected e.g. 100/s or 6000/m)");
    let (n, per) = input.split_once('/').unwrap_or((input, "s"));
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let per = match per.trim() {
        "s" | "1s" => 1.0,
        "m" | "1m" => 60.0,
        "h" | "1h" => 3600.0,
        other => ward_duration::parse(other)
            .map_err(|_| bad())?
            .as_secs_f64(),
    };
    let rate = n / per;
    if !(rate.is_finite() && rate > 0.0) {
        return Err(bad());
    }
    Ok(rate)
}

/// A scenario file: one cycle of stages and how to repeat it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    /// VUs at the start of each cycle.
    #[serde(default, alias = "startVUs")]
    start_vus: u64,
    stages: Vec<ScenarioStage>,
    #[serde(default, alias = "cycleIdle")]
    cycle_idle: Option<String>,
    #[serde(default)]
    repeat: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioStage {
    duration: String,
    target: u64,
}

fn read_scenario(path: &PathBuf) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--scenario {}: cannot read", path.display()))?;
    let scenario: Scenario = serde_yaml_ng::from_str(&text)
        .map_err(|e| anyhow::anyhow!("--scenario {}: {e}", path.display()))?;
    let mut stages = Vec::new();
    for (i, s) in scenario.stages.iter().enumerate() {
        let duration = ward_duration::parse(&s.duration).map_err(|e| {
            anyhow::anyhow!("--scenario {}: stages[{i}].duration: {e}", path.display())
        })?;
        stages.push(Stage {
            duration,
            target: s.target,
        });
    }
    let cycle_idle = scenario
        .cycle_idle
        .as_deref()
        .map(parse_idle_range)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--scenario {}: cycle_idle: {e}", path.display()))?;
    Ok(Plan {
        start_vus: scenario.start_vus,
        stages,
        cycle_idle,
        repeat: scenario.repeat.unwrap_or(1),
    })
}

/// Turns the arguments into a library config (no I/O besides reading the scenario file).
pub fn config(args: &Args) -> anyhow::Result<LoadConfig> {
    let thresholds = args
        .thresholds
        .iter()
        .map(|t| t.parse::<Threshold>().map_err(|e| anyhow::anyhow!("--{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let model = if let Some(rate) = args.rate {
        let duration = args
            .duration
            .context("--rate needs --duration (how long to send)")?;
        Model::Open {
            rate,
            duration,
            workers: args.vus.unwrap_or(100),
        }
    } else {
        let mut plan = if let Some(path) = &args.scenario {
            read_scenario(path)?
        } else if !args.stages.is_empty() {
            Plan {
                start_vus: args.vus.unwrap_or(0),
                stages: args.stages.clone(),
                cycle_idle: None,
                repeat: 1,
            }
        } else {
            Plan::flat(
                args.vus.unwrap_or(1),
                args.duration.unwrap_or(Duration::from_secs(10)),
            )
        };
        if args.cycle_idle.is_some() {
            plan.cycle_idle = args.cycle_idle;
        }
        if args.repeat > 1 {
            plan.repeat = args.repeat;
        }
        plan.validate().map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}",
                if args.scenario.is_some() {
                    "--scenario"
                } else {
                    "--stage"
                }
            )
        })?;
        Model::Closed(plan)
    };
    let request = request_from(&args.request, &args.url, "GET")?;
    let mut config =
        LoadConfig::new(request.url.clone(), model).map_err(|e| anyhow::anyhow!("{e}"))?;
    config.request = request;
    config.http_version = args.request.http_version();
    config.tls = args.tls.config();
    config.reuse = !args.no_reuse;
    config.timeout = args.timeout;
    config.thresholds = thresholds;
    Ok(config)
}

/// Runs the load test and prints the summary; exit 1 when a threshold failed.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    let runtime = runtime(Threads::PerCore)?;
    let summary = runtime.block_on(async {
        let cancel = cancel_on_termination();
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        let bar = (!args.quiet).then(|| tokio::spawn(show_progress(rx)));
        let summary = ward_load::run::run(config, tx, cancel).await;
        if let Some(bar) = bar {
            let _ = bar.await;
        }
        summary
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    let summary = summary?;
    let mut out = std::io::stdout().lock();
    match args.output {
        Format::Json => render::json(&summary, &mut out)?,
        Format::Text => write_summary(&summary, &mut out)?,
    }
    out.flush()?;
    Ok(if summary.thresholds_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Draws the live line (elapsed, VUs, requests, req/s, failures) until the sender is dropped.
async fn show_progress(mut rx: tokio::sync::watch::Receiver<Progress>) {
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    while rx.changed().await.is_ok() {
        let p = rx.borrow_and_update().clone();
        bar.set_message(format!(
            "{:.1}s/{:.0}s  vus {}  {} requests  {:.0} req/s  {} failed",
            p.elapsed.as_secs_f64(),
            p.planned.as_secs_f64(),
            p.vus,
            p.requests,
            p.rps,
            p.failed
        ));
        bar.tick();
    }
    bar.finish_and_clear();
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The k6-like text summary.
pub fn write_summary(s: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    let model = match s.target_rate {
        Some(rate) => format!("open model, {rate:.1} req/s target, {} workers", s.vus_max),
        None => format!("closed model, up to {} VUs", s.vus_max),
    };
    writeln!(
        out,
        "ward load {}  ({model}, {:.1}s{})",
        s.url,
        s.duration.as_secs_f64(),
        if s.interrupted { ", interrupted" } else { "" }
    )?;
    if !s.thresholds.is_empty() {
        writeln!(out, "\nTHRESHOLDS")?;
        for t in &s.thresholds {
            let observed = if t.expression.contains(['%'])
                || t.expression.starts_with("err")
                || t.expression.starts_with("fail")
            {
                pct(t.observed)
            } else if t.observed.fract() == 0.0 || t.expression.starts_with("r") {
                format!("{:.1}", t.observed)
            } else {
                millis(Duration::from_secs_f64(t.observed.max(0.0)))
            };
            writeln!(
                out,
                "  {} {}  (observed {observed})",
                if t.passed { "✓" } else { "✗" },
                t.expression
            )?;
        }
    }
    writeln!(out, "\nHTTP")?;
    writeln!(
        out,
        "  requests    {}  {:.1}/s",
        s.requests, s.requests_per_second
    )?;
    writeln!(
        out,
        "  failed      {}  {} of {}  (on reused connections: {}, on fresh: {})",
        pct(s.failure_rate),
        s.failed,
        s.requests,
        s.failed_on_reused_connections,
        s.failed_on_fresh_connections
    )?;
    writeln!(out, "  status      {}", render::counts(&s.status_codes))?;
    if !s.errors.is_empty() {
        writeln!(out, "  errors      {}", render::counts(&s.errors))?;
    }
    if s.interrupted_requests > 0 {
        writeln!(
            out,
            "  interrupted {} requests in flight at the end",
            s.interrupted_requests
        )?;
    }
    writeln!(out, "\nLATENCY")?;
    let mut table = Table::new(["", "avg", "min", "p50", "p90", "p95", "p99", "max"]);
    let row = |name: &str, d: &Distribution| {
        [
            name.to_string(),
            millis(d.avg),
            millis(d.min),
            millis(d.p50),
            millis(d.p90),
            millis(d.p95),
            millis(d.p99),
            millis(d.max),
        ]
    };
    table.row(row("  duration", &s.latency));
    for name in ward_load::stats::PHASES {
        if let Some(d) = s.phases.get(name) {
            table.row(row(&format!("  {name}"), d));
        }
    }
    table.write(out)?;
    writeln!(out, "\nNETWORK")?;
    writeln!(
        out,
        "  connections {} opened   data received {} bytes",
        s.connections_opened, s.data_received_bytes
    )?;
    if let Some(e) = &s.last_error {
        writeln!(out, "  last error  {e}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("load").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn stages_parse_like_k6() {
        let args = parse(&["http://127.0.0.1/", "-s", "5s:100", "--stage", "1m:0"]).unwrap();
        assert_eq!(args.stages.len(), 2);
        assert_eq!(args.stages[1].duration, Duration::from_secs(60));
        let err = parse(&["http://127.0.0.1/", "--stage", "5s"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--stage") && err.contains("5s"), "{err}");
        assert!(parse(&["http://127.0.0.1/", "--stage", "5x:10"]).is_err());
        assert!(parse(&["http://127.0.0.1/", "--stage", "5s:many"]).is_err());
    }

    #[test]
    fn defaults_and_rates() {
        let args = parse(&["http://127.0.0.1/"]).unwrap();
        assert_eq!(args.timeout, Duration::from_secs(10));
        assert_eq!(args.repeat, 1);
        let c = config(&args).unwrap();
        assert!(c.reuse);
        assert_eq!(parse_rate("100/s"), Ok(100.0));
        assert_eq!(parse_rate("600/m"), Ok(10.0));
        assert!(parse_rate("fast").is_err());
        assert_eq!(
            parse_idle_range("4s..11s"),
            Ok((Duration::from_secs(4), Duration::from_secs(11)))
        );
        assert!(parse_idle_range("11s..4s").is_err());
    }

    #[test]
    fn bad_threshold_names_the_flag() {
        let args = parse(&["http://127.0.0.1/", "--threshold", "p95<soon"]).unwrap();
        let err = config(&args).unwrap_err().to_string();
        assert!(err.starts_with("--threshold \"p95<soon\""), "{err}");
    }

    #[test]
    fn scenario_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.yaml");
        std::fs::write(
            &path,
            "stages:\n  - duration: 1s\n    target: 2\nvus_max: 3\n",
        )
        .unwrap();
        let args = parse(&["http://127.0.0.1/", "--scenario", path.to_str().unwrap()]).unwrap();
        let err = config(&args).unwrap_err().to_string();
        assert!(
            err.contains("--scenario") && err.contains("vus_max"),
            "{err}"
        );
        std::fs::write(
            &path,
            "{\"startVUs\": 1, \"stages\": [{\"duration\": \"1s\", \"target\": 2}], \"cycle_idle\": \"1s..2s\", \"repeat\": 2}",
        )
        .unwrap();
        let c = config(&args).unwrap();
        match c.model {
            Model::Closed(plan) => {
                assert_eq!(plan.repeat, 2);
                assert_eq!(plan.start_vus, 1);
                assert_eq!(
                    plan.cycle_idle,
                    Some((Duration::from_secs(1), Duration::from_secs(2)))
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
