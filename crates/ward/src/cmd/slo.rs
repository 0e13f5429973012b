//! `ward slo generate|validate`: a drop-in for `sloth generate` and
//! `sloth validate` (v0.16.0): same flags, same `SLOTH_*` env vars, same
//! bytes out. Spec logic lives in `ward-slo`; this module resolves flags,
//! reads and writes files (see `slo/fs.rs`) and maps outcomes to exit codes
//! (0 ok, 1 a spec/validation failure, 2 usage or IO error).

mod fs;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ward_slo::duration::parse_prom;
use ward_slo::model::PluginRef;
use ward_slo::windows::Catalog;
use ward_slo::{Config, Generator};

/// Arguments of `ward slo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SloCommand,
}

/// `ward slo` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SloCommand {
    /// Generates Prometheus SLO rules (sloth generate).
    Generate(GenerateArgs),
    /// Validates SLO specs (sloth validate).
    Validate(ValidateArgs),
}

/// Flags shared by generate and validate.
#[derive(Debug, clap::Args)]
pub struct Common {
    /// Filter regex to ignore matched discovered SLO file paths (directory input).
    #[arg(short = 'e', long = "fs-exclude", env = "SLOTH_FS_EXCLUDE")]
    pub fs_exclude: Option<String>,
    /// Filter regex to include matched discovered SLO file paths; exclude wins (directory input).
    #[arg(short = 'n', long = "fs-include", env = "SLOTH_FS_INCLUDE")]
    pub fs_include: Option<String>,
    /// Extra labels added to all generated recording rules ('key=value', repeatable).
    #[arg(
        short = 'l',
        long = "extra-labels",
        env = "SLOTH_EXTRA_LABELS",
        value_delimiter = '\n'
    )]
    pub extra_labels: Vec<String>,
    /// Paths of sloth Go plugins (accepted for compatibility; only native plugin ids run).
    #[arg(
        short = 'p',
        long = "plugins-path",
        env = "SLOTH_PLUGINS_PATH",
        value_delimiter = '\n'
    )]
    pub plugins_path: Vec<PathBuf>,
    /// Directory with a custom SLO period windows catalog (replaces the default one).
    #[arg(
        long = "slo-period-windows-path",
        env = "SLOTH_SLO_PERIOD_WINDOWS_PATH"
    )]
    pub slo_period_windows_path: Option<PathBuf>,
    /// The default SLO period (Prometheus duration).
    #[arg(
        long = "default-slo-period",
        env = "SLOTH_DEFAULT_SLO_PERIOD",
        default_value = "30d"
    )]
    pub default_slo_period: String,
    /// SLO plugins chain declaration in JSON '{"id": "foo","priority": 0,"config": {}}' (repeatable).
    #[arg(
        short = 's',
        long = "slo-plugins",
        env = "SLOTH_SLO_PLUGINS",
        value_delimiter = '\n'
    )]
    pub slo_plugins: Vec<String>,
    /// Disables the default SLO plugins (validate, SLI, metadata and alert rules).
    #[arg(
        long = "disable-default-slo-plugins",
        env = "SLOTH_DISABLE_DEFAULT_SLO_PLUGINS"
    )]
    pub disable_default_slo_plugins: bool,
    /// Fail on spec keys sloth would silently ignore (ward only; default: warn).
    #[arg(long = "strict", env = "WARD_SLO_STRICT")]
    pub strict: bool,
}

/// Keys sloth ignores in `file` (found while generating): one warning line
/// each, or (with `--strict`) the error for the file.
fn ignored_fields(file: &str, ignored: &[String], strict: bool) -> Result<Vec<String>, String> {
    if strict && !ignored.is_empty() {
        return Err(format!(
            "{file}: unknown field {} (--strict)",
            ignored.join(", ")
        ));
    }
    Ok(ignored
        .iter()
        .map(|f| format!("ward slo: warning: {file}: unknown field {f} is ignored, as sloth does"))
        .collect())
}

/// Prints [`ignored_fields`]' warnings, or returns its error.
fn report_ignored(file: &str, ignored: &[String], strict: bool) -> Result<(), String> {
    for w in ignored_fields(file, ignored, strict)? {
        eprintln!("{w}");
    }
    Ok(())
}

/// Arguments of `ward slo generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// SLO spec input file or directory (directories are walked recursively; out must be a directory).
    #[arg(short = 'i', long = "input", env = "SLOTH_INPUT", default_value = "")]
    pub input: String,
    /// Output file, directory, or `-` for stdout.
    #[arg(short = 'o', long = "out", env = "SLOTH_OUT", default_value = "-")]
    pub out: String,
    /// Disables recording rules generation.
    #[arg(long = "disable-recordings", env = "SLOTH_DISABLE_RECORDINGS")]
    pub disable_recordings: bool,
    /// Disables alert rules generation.
    #[arg(long = "disable-alerts", env = "SLOTH_DISABLE_ALERTS")]
    pub disable_alerts: bool,
    /// The plugin that turns Kubernetes specs into objects (only the Prometheus Operator one exists).
    #[arg(
        long = "k8s-transform-plugin-id",
        env = "SLOTH_K8S_TRANSFORM_PLUGIN_ID",
        default_value = ward_slo::plugins::K8S_TRANSFORM_PROMETHEUS_RULE
    )]
    pub k8s_transform_plugin_id: String,
    #[command(flatten)]
    pub common: Common,
}

/// Arguments of `ward slo validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// SLO spec input file or directory (walked recursively).
    #[arg(short = 'i', long = "input", env = "SLOTH_INPUT")]
    pub input: String,
    /// Don't fail when the same SLO id appears in several specs.
    #[arg(long = "ignore-slo-duplicates", env = "SLOTH_IGNORE_SLO_DUPLICATES")]
    pub ignore_slo_duplicates: bool,
    #[command(flatten)]
    pub common: Common,
}

/// A failure with its exit code: 1 for spec problems, 2 for usage/IO.
struct Failure {
    code: u8,
    msg: String,
}

fn spec_fail(msg: impl Into<String>) -> Failure {
    Failure {
        code: 1,
        msg: msg.into(),
    }
}

fn io_fail(e: anyhow::Error) -> Failure {
    Failure {
        code: 2,
        msg: format!("{e:#}"),
    }
}

/// Runs `ward slo`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = match args.command {
        SloCommand::Generate(a) => generate(a),
        SloCommand::Validate(a) => validate(a),
    };
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(f) => {
            eprintln!("ward slo: {}", f.msg);
            Ok(ExitCode::from(f.code))
        }
    }
}

fn parse_extra_labels(raw: &[String]) -> Result<Vec<(String, String)>, Failure> {
    let mut l = Vec::new();
    for kv in raw {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(Failure {
                code: 2,
                msg: format!("invalid --extra-labels {kv:?}: expected key=value"),
            });
        };
        l.push((k.to_string(), v.to_string()));
    }
    Ok(l)
}

fn parse_cmd_plugins(raw: &[String]) -> Result<Vec<PluginRef>, Failure> {
    let mut out = Vec::new();
    for s in raw {
        let bad = |m: String| {
            Failure {
            code: 2,
            msg: format!("could not load slo plugin declarations: could not load cmd plugin json config {s:?}: {m}"),
        }
        };
        let v: serde_json::Value = serde_json::from_str(s).map_err(|e| bad(e.to_string()))?;
        let serde_json::Value::Object(o) = v else {
            return Err(bad("expected a JSON object".into()));
        };
        let id = match o.get("id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            None | Some(serde_json::Value::Null) => String::new(),
            Some(_) => return Err(bad("field id: expected a string".into())),
        };
        let priority = match o.get("priority") {
            None | Some(serde_json::Value::Null) => 0,
            Some(serde_json::Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| bad("field priority: expected an integer".into()))?,
            Some(_) => return Err(bad("field priority: expected an integer".into())),
        };
        out.push(PluginRef {
            id,
            priority,
            config: o.get("config").cloned(),
        });
    }
    Ok(out)
}

fn build_config(c: &Common, agent: &'static str) -> Result<Config, Failure> {
    let period = parse_prom(&c.default_slo_period).map_err(|e| Failure {
        code: 2,
        msg: format!("invalid SLO period duration: {e}"),
    })?;
    let catalog = match &c.slo_period_windows_path {
        None => Catalog::embedded(),
        Some(dir) => {
            let files = fs::read_windows_dir(dir).map_err(io_fail)?;
            Catalog::from_files(&files)
                .map_err(|e| spec_fail(format!("could not initialize custom windows: {e}")))?
        }
    };
    if !c.plugins_path.is_empty() {
        tracing::warn!(
            "--plugins-path is accepted but Go plugin files are not loaded; only native plugin ids run"
        );
    }
    Ok(Config {
        catalog,
        default_period: ward_slo::duration::Duration(period.0),
        extra_labels: parse_extra_labels(&c.extra_labels)?,
        cmd_plugins: parse_cmd_plugins(&c.slo_plugins)?,
        disable_default_plugins: c.disable_default_slo_plugins,
        version: ward_slo::SLOTH_VERSION.to_string(),
        agent,
    })
}

/// The generated-by header line of ward's output.
pub fn header_line() -> String {
    ward_slo::output::header_line(&format!(
        "ward slo (sloth {} compatible)",
        ward_slo::SLOTH_VERSION
    ))
}

fn generator(c: &Common, agent: &'static str) -> Result<Generator, Failure> {
    let cfg = build_config(c, agent)?;
    Generator::new(cfg).map_err(|e| Failure {
        code: 2,
        msg: format!("could not create Prometheus SLO generator: {e}"),
    })
}

fn generate(a: GenerateArgs) -> Result<(), Failure> {
    if a.k8s_transform_plugin_id != ward_slo::plugins::K8S_TRANSFORM_PROMETHEUS_RULE {
        let id = &a.k8s_transform_plugin_id;
        return Err(spec_fail(format!(
            "--k8s-transform-plugin-id: could not get k8s transformer plugin {id:?}: plugin {id:?} not found: resource not found"
        )));
    }
    let input = Path::new(&a.input);
    let meta = std::fs::metadata(input)
        .with_context(|| format!("reading SLO spec input {:?}", a.input))
        .map_err(io_fail)?;
    let gen = generator(&a.common, "cli")?;
    let opts = fs::GenOptions {
        disable_alerts: a.disable_alerts,
        disable_recordings: a.disable_recordings,
        header: header_line(),
    };
    if meta.is_dir() {
        let out = Path::new(&a.out);
        let out_meta = std::fs::metadata(out)
            .with_context(|| format!("output directory {:?}", a.out))
            .map_err(io_fail)?;
        if !out_meta.is_dir() {
            return Err(spec_fail(format!(
                "the path {:?} is not a directory, however input is a directory",
                a.out
            )));
        }
        let (ia, oa) = (
            std::fs::canonicalize(input).map_err(|e| io_fail(e.into()))?,
            std::fs::canonicalize(out).map_err(|e| io_fail(e.into()))?,
        );
        if ia == oa {
            return Err(spec_fail(format!(
                "input and output can't be the same directory: {}",
                ia.display()
            )));
        }
        let files = discover(&a.input, &a.common)?;
        fs::generate_dir(&gen, &opts, &a.input, &files, out, a.common.strict)
    } else {
        let data = fs::read_spec(input).map_err(io_fail)?;
        let mut ignored = Vec::new();
        let generated = gen.generate_file(&a.input, &data, &mut ignored);
        report_ignored(&a.input, &ignored, a.common.strict).map_err(spec_fail)?;
        let results = generated.map_err(|e| spec_fail(e.to_string()))?;
        if a.out == "-" {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            let mut buf = Vec::new();
            fs::write_results(&results, &opts, &a.input, &mut buf)?;
            match lock.write_all(&buf).and_then(|()| lock.flush()) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(io_fail(e.into())),
            }
        } else {
            fs::write_atomic(Path::new(&a.out), |w| {
                fs::write_results(&results, &opts, &a.input, w)
            })
        }
    }
}

fn discover(input: &str, c: &Common) -> Result<Vec<String>, Failure> {
    let compile = |r: &Option<String>, what: &str| -> Result<Option<regex::Regex>, Failure> {
        match r {
            None => Ok(None),
            Some(s) if s.is_empty() => Ok(None),
            Some(s) => regex::Regex::new(s).map(Some).map_err(|e| Failure {
                code: 2,
                msg: format!("invalid {what} regex: {e}"),
            }),
        }
    };
    let exclude = compile(&c.fs_exclude, "exclude")?;
    let include = compile(&c.fs_include, "include")?;
    let files = fs::discover(input, exclude.as_ref(), include.as_ref())
        .context("could not discover files")
        .map_err(io_fail)?;
    if files.is_empty() {
        return Err(spec_fail(format!(
            "{input}: 0 slo specs have been discovered"
        )));
    }
    Ok(files)
}

fn validate(a: ValidateArgs) -> Result<(), Failure> {
    let gen = generator(&a.common, "api")?;
    let files = discover(&a.input, &a.common)?;
    let mut first_seen: HashMap<String, String> = HashMap::new();
    let mut bad_files = 0usize;
    let mut total = 0usize;
    for file in &files {
        let data = fs::read_spec(Path::new(file)).map_err(io_fail)?;
        let mut errs: Vec<String> = Vec::new();
        let mut ignored = Vec::new();
        for doc in ward_slo::spec::documents(&data) {
            total += 1;
            match gen.generate_doc(file, &doc, &mut ignored) {
                Err(e) => errs.push(e.to_string()),
                Ok(res) => {
                    if a.ignore_slo_duplicates {
                        continue;
                    }
                    for r in &res.slos {
                        match first_seen.get(&r.slo.id) {
                            None => {
                                first_seen.insert(r.slo.id.clone(), file.clone());
                            }
                            Some(other) => errs.push(
                                ward_slo::Error::Duplicate {
                                    file: file.clone(),
                                    service: r.slo.service.clone(),
                                    name: r.slo.name.clone(),
                                    id: r.slo.id.clone(),
                                    other: other.clone(),
                                }
                                .to_string(),
                            ),
                        }
                    }
                }
            }
        }
        if let Err(e) = report_ignored(file, &ignored, a.common.strict) {
            errs.insert(0, e);
        }
        if !errs.is_empty() {
            bad_files += 1;
            eprintln!("{}", errs.join("; "));
        }
    }
    if bad_files > 0 {
        return Err(spec_fail(format!(
            "validation failed: {bad_files} of {} files have invalid SLO specs",
            files.len()
        )));
    }
    eprintln!("Validation succeeded slo-specs={total}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        cmd: SloCommand,
    }

    #[test]
    fn parses_sloth_flags() {
        let t = T::try_parse_from([
            "x",
            "generate",
            "-i",
            "in.yaml",
            "-o",
            "out.yaml",
            "-l",
            "a=b",
            "-l",
            "c=d",
            "--default-slo-period",
            "28d",
            "--disable-alerts",
        ])
        .unwrap();
        let SloCommand::Generate(g) = t.cmd else {
            panic!()
        };
        assert_eq!(g.input, "in.yaml");
        assert_eq!(g.common.extra_labels, vec!["a=b", "c=d"]);
        assert!(g.disable_alerts && !g.disable_recordings);
        assert_eq!(g.common.default_slo_period, "28d");
        let t = T::try_parse_from(["x", "generate", "-i", "x"]).unwrap();
        let SloCommand::Generate(g) = t.cmd else {
            panic!()
        };
        assert_eq!(g.out, "-");
        assert_eq!(g.common.default_slo_period, "30d");
        assert!(T::try_parse_from(["x", "validate"]).is_err());
        assert!(T::try_parse_from(["x", "generate", "--bogus"]).is_err());
    }

    #[test]
    fn extra_labels_and_plugins() {
        assert!(parse_extra_labels(&["nokv".into()]).is_err());
        let p = parse_cmd_plugins(&[r#"{"id":"sloth.dev/core/noop/v1","priority":-1}"#.into()])
            .unwrap_or_default();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].priority, -1);
        assert!(parse_cmd_plugins(&["{".into()]).is_err());
    }
}
