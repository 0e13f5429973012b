//! `ward load`: a staged HTTP load test (closed model with VUs and stages, or
//! open model at a fixed arrival rate), with live progress, a k6-like summary
//! and thresholds that set the exit code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use ward_agent::lifecycle::cancel_on_termination;
use ward_load::plan::{Plan, Stage, DEFAULT_DURATION, DEFAULT_VUS};
use ward_load::run::{LoadConfig, Model, Progress, DEFAULT_WORKERS};
use ward_load::scenario;
use ward_load::threshold::Threshold;

use crate::cmd::http_flags::{request_from, RequestArgs, TlsArgs};
use crate::render::{self, Format};
use crate::runtime::{runtime, Threads};

/// Arguments of `ward load`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL to load (`http://` or `https://`).
    pub(crate) url: String,
    /// Virtual users of a flat run (closed model; default 1), or with `--rate` the most
    /// workers (default 100), each with its own keep-alive connection; a send goes to the
    /// worker idle last and another starts only when all are busy.
    #[arg(long, short = 'u')]
    pub(crate) vus: Option<u64>,
    /// Length of a flat run (default 10s), or of an open-model run (`--rate` needs it).
    #[arg(long, short = 'z', value_parser = ward_duration::parse_positive)]
    pub(crate) duration: Option<Duration>,
    /// A stage `DURATION:TARGET_VUS` ramped linearly from the previous target, like k6 (repeatable).
    #[arg(long = "stage", short = 's')]
    pub(crate) stages: Vec<Stage>,
    /// A scenario file (YAML or JSON): `stages`, `start_vus`, `cycle_idle`, `repeat`.
    #[arg(long, conflicts_with_all = ["stages", "rate"])]
    pub(crate) scenario: Option<PathBuf>,
    /// Idle gap between repeated cycles: `4s` or a random `4s..11s` (0 VUs, connections kept;
    /// default: none, cycles back to back).
    #[arg(long, value_parser = scenario::idle_range)]
    pub(crate) cycle_idle: Option<(Duration, Duration)>,
    /// How many times to run the stages.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub(crate) repeat: u32,
    /// Open model: a constant arrival rate `N/s` (or `N/m`); latency counts from the intended send time.
    #[arg(long, value_parser = scenario::rate, conflicts_with = "stages")]
    pub(crate) rate: Option<f64>,
    /// Open a new connection for every request.
    #[arg(long, value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) no_reuse: bool,
    /// Deadline of one request, including connecting.
    #[arg(long, default_value = "10s", value_parser = ward_duration::parse_positive)]
    pub(crate) timeout: Duration,
    /// Pass/fail threshold such as `p95<200ms`, `p(99)<1s`, `errors<0.1%`, `rps>1000` (repeatable).
    #[arg(long = "threshold", short = 't')]
    pub(crate) thresholds: Vec<String>,
    #[command(flatten)]
    pub(crate) request: RequestArgs,
    #[command(flatten)]
    pub(crate) tls: TlsArgs,
    /// Hide the live progress line.
    #[arg(long, value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) quiet: bool,
    /// Output format of the summary.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
    pub(crate) output: Format,
}

/// The plan of a closed-model run: a scenario file, `--stage`s, or a flat run.
fn plan(args: &Args) -> anyhow::Result<Plan> {
    let mut plan = if let Some(path) = &args.scenario {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--scenario {}: cannot read", path.display()))?;
        scenario::from_yaml(&text)
            .map_err(|e| anyhow::anyhow!("--scenario {}: {e}", path.display()))?
    } else if !args.stages.is_empty() {
        Plan {
            start_vus: args.vus.unwrap_or(0),
            stages: args.stages.clone(),
            cycle_idle: None,
            repeat: 1,
        }
    } else {
        Plan::flat(
            args.vus.unwrap_or(DEFAULT_VUS),
            args.duration.unwrap_or(DEFAULT_DURATION),
        )
    };
    if args.cycle_idle.is_some() {
        plan.cycle_idle = args.cycle_idle;
    }
    if args.repeat > 1 {
        plan.repeat = args.repeat;
    }
    let flag = if args.scenario.is_some() {
        "--scenario"
    } else {
        "--stage"
    };
    plan.validate()
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    Ok(plan)
}

/// Turns the arguments into a library config (no I/O besides reading the scenario file).
pub(crate) fn config(args: &Args) -> anyhow::Result<LoadConfig> {
    let thresholds = args
        .thresholds
        .iter()
        .map(|t| t.parse::<Threshold>().map_err(|e| anyhow::anyhow!("--{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let model = match args.rate {
        Some(rate) => Model::Open {
            rate,
            duration: args
                .duration
                .context("--rate needs --duration (how long to send)")?,
            workers: args.vus.unwrap_or(DEFAULT_WORKERS),
        },
        None => Model::Closed(plan(args)?),
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
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = config(&args)?;
    let runtime = runtime(Threads::PerCore)?;
    let summary = runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        let bar = (!args.quiet).then(|| tokio::spawn(render::load::progress(rx)));
        let summary = ward_load::run::run(config, tx, cancel_on_termination()).await;
        if let Some(bar) = bar {
            let _ = bar.await;
        }
        summary
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    let summary = summary?;
    render::to_stdout(|out| render::load::write(&summary, args.output, out))?;
    Ok(if summary.thresholds_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        crate::cmd::try_parse("load", argv)
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
    fn defaults_rates_and_ranges() {
        let args = parse(&["http://127.0.0.1/"]).unwrap();
        assert_eq!(args.timeout, Duration::from_secs(10));
        assert_eq!(args.repeat, 1);
        let c = config(&args).unwrap();
        assert!(c.reuse);
        let args = parse(&[
            "http://127.0.0.1/",
            "--rate",
            "600/m",
            "-z",
            "1s",
            "--cycle-idle",
            "4s..11s",
        ])
        .unwrap();
        assert_eq!(args.rate, Some(10.0));
        assert_eq!(
            args.cycle_idle,
            Some((Duration::from_secs(4), Duration::from_secs(11)))
        );
        let err = parse(&["http://127.0.0.1/", "--rate", "fast"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--rate"), "{err}");
        assert!(parse(&["http://127.0.0.1/", "--cycle-idle", "11s..4s"]).is_err());
    }

    /// `--help` says the defaults the run really uses (issue 26 item 10).
    #[test]
    fn help_names_the_defaults_the_run_uses() {
        let cmd = <Args as clap::Args>::augment_args(clap::Command::new("load"));
        let help = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            arg.get_long_help().or(arg.get_help()).unwrap().to_string()
        };
        let vus = help("vus");
        assert!(
            vus.contains(&format!("(closed model; default {DEFAULT_VUS})")),
            "{vus}"
        );
        assert!(
            vus.contains(&format!("(default {DEFAULT_WORKERS})")),
            "{vus}"
        );
        let duration = help("duration");
        let secs = DEFAULT_DURATION.as_secs();
        assert!(
            duration.contains(&format!("(default {secs}s)")),
            "{duration}"
        );
        let args = parse(&["http://127.0.0.1/"]).unwrap();
        match config(&args).unwrap().model {
            Model::Closed(plan) => assert_eq!(plan, Plan::flat(DEFAULT_VUS, DEFAULT_DURATION)),
            other => panic!("{other:?}"),
        }
        let args = parse(&["http://127.0.0.1/", "--rate", "5/s", "-z", "1s"]).unwrap();
        match config(&args).unwrap().model {
            Model::Open { workers, .. } => assert_eq!(workers, DEFAULT_WORKERS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_threshold_names_the_flag() {
        let args = parse(&["http://127.0.0.1/", "--threshold", "p95<soon"]).unwrap();
        let err = config(&args).unwrap_err().to_string();
        assert!(err.starts_with("--threshold \"p95<soon\""), "{err}");
    }

    #[test]
    fn scenario_errors_name_the_flag_and_file() {
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
            err.starts_with(&format!("--scenario {}: ", path.display())) && err.contains("vus_max"),
            "{err}"
        );
        std::fs::write(
            &path,
            "{\"stages\": [{\"duration\": \"1s\", \"target\": 2}], \"repeat\": 2}",
        )
        .unwrap();
        match config(&args).unwrap().model {
            Model::Closed(plan) => assert_eq!(plan.repeat, 2),
            other => panic!("{other:?}"),
        }
    }
}
