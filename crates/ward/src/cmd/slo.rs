//! `ward slo generate|validate`: a drop-in for `sloth generate` and
//! `sloth validate` (v0.16.0): same flags, same `SLOTH_*` env vars, same
//! bytes out; and `ward slo test`, which proves the generated alerts with
//! promtool. Specs are `ward-slo`'s, files `ward-slo-files`'; this module
//! turns flags into their settings and maps the error to the exit code
//! (0 ok, 1 a spec/validation failure or a failed test case, 2 usage, IO
//! or a missing promtool). `ward slo report` is [`report`]'s.

mod controller;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::BoolishValueParser;
use ward_slo_files::{Error, Filters, GenerateRequest, Settings, ValidateRequest};

use crate::render;

/// Arguments of `ward slo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: SloCommand,
}

/// `ward slo` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SloCommand {
    /// Generates Prometheus SLO rules (sloth generate).
    Generate(GenerateArgs),
    /// Validates SLO specs (sloth validate).
    Validate(ValidateArgs),
    /// Proves each SLO's generated alerts with promtool unit tests (ward only).
    Test(TestArgs),
    /// Reports each SLO's error budget, burn rates and alerts from a Prometheus (ward only).
    Report(report::Args),
    /// Writes a PrometheusRule for every PrometheusServiceLevel in the cluster (sloth kubernetes-controller).
    Controller(controller::Args),
}

/// Flags shared by generate and validate.
#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    /// Filter regex to ignore matched discovered SLO file paths (directory input).
    #[arg(short = 'e', long = "fs-exclude", env = "SLOTH_FS_EXCLUDE")]
    pub(crate) fs_exclude: Option<String>,
    /// Filter regex to include matched discovered SLO file paths; exclude wins (directory input).
    #[arg(short = 'n', long = "fs-include", env = "SLOTH_FS_INCLUDE")]
    pub(crate) fs_include: Option<String>,
    #[command(flatten)]
    pub(crate) generator: GeneratorFlags,
    /// Fail on spec keys sloth would silently ignore (ward only; default: warn).
    #[arg(long = "strict", env = "WARD_SLO_STRICT", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) strict: bool,
}

/// The generator's flags, shared by every subcommand that generates rules.
#[derive(Debug, clap::Args)]
pub(crate) struct GeneratorFlags {
    /// Extra labels added to all generated recording rules ('key=value', repeatable).
    #[arg(
        short = 'l',
        long = "extra-labels",
        env = "SLOTH_EXTRA_LABELS",
        value_delimiter = '\n'
    )]
    pub(crate) extra_labels: Vec<String>,
    /// Paths of sloth Go plugins (accepted for compatibility; only native plugin ids run).
    #[arg(
        short = 'p',
        long = "plugins-path",
        env = "SLOTH_PLUGINS_PATH",
        value_delimiter = '\n'
    )]
    pub(crate) plugins_path: Vec<PathBuf>,
    /// Directory with a custom SLO period windows catalog (replaces the default one).
    #[arg(
        long = "slo-period-windows-path",
        env = "SLOTH_SLO_PERIOD_WINDOWS_PATH"
    )]
    pub(crate) slo_period_windows_path: Option<PathBuf>,
    /// The default SLO period (Prometheus duration).
    #[arg(
        long = "default-slo-period",
        env = "SLOTH_DEFAULT_SLO_PERIOD",
        default_value = "30d"
    )]
    pub(crate) default_slo_period: String,
    /// SLO plugins chain declaration in JSON '{"id": "foo","priority": 0,"config": {}}' (repeatable).
    #[arg(
        short = 's',
        long = "slo-plugins",
        env = "SLOTH_SLO_PLUGINS",
        value_delimiter = '\n'
    )]
    pub(crate) slo_plugins: Vec<String>,
    /// Disables the default SLO plugins (validate, SLI, metadata and alert rules).
    #[arg(
        long = "disable-default-slo-plugins",
        env = "SLOTH_DISABLE_DEFAULT_SLO_PLUGINS",
        value_parser = BoolishValueParser::new(),
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true"
    )]
    pub(crate) disable_default_slo_plugins: bool,
}

/// Arguments of `ward slo generate`.
#[derive(Debug, clap::Args)]
pub(crate) struct GenerateArgs {
    /// SLO spec input file or directory (directories are walked recursively; out must be a directory).
    #[arg(short = 'i', long = "input", env = "SLOTH_INPUT")]
    pub(crate) input: String,
    /// Output file, directory, or `-` for stdout (sloth's flag: a file, not a format;
    /// the rules are Prometheus YAML).
    #[arg(short = 'o', long = "out", env = "SLOTH_OUT", default_value = "-")]
    pub(crate) out: String,
    /// Disables recording rules generation.
    #[arg(long = "disable-recordings", env = "SLOTH_DISABLE_RECORDINGS", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) disable_recordings: bool,
    /// Disables alert rules generation.
    #[arg(long = "disable-alerts", env = "SLOTH_DISABLE_ALERTS", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) disable_alerts: bool,
    /// The plugin that turns Kubernetes specs into objects (only the Prometheus Operator one exists).
    #[arg(
        long = "k8s-transform-plugin-id",
        env = "SLOTH_K8S_TRANSFORM_PLUGIN_ID",
        default_value = ward_slo::plugins::K8S_TRANSFORM_PROMETHEUS_RULE
    )]
    pub(crate) k8s_transform_plugin_id: String,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// Arguments of `ward slo validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// SLO spec input file or directory (walked recursively).
    #[arg(short = 'i', long = "input", env = "SLOTH_INPUT")]
    pub(crate) input: String,
    /// Don't fail when the same SLO id appears in several specs.
    #[arg(long = "ignore-slo-duplicates", env = "SLOTH_IGNORE_SLO_DUPLICATES", value_parser = BoolishValueParser::new(), num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub(crate) ignore_slo_duplicates: bool,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// Arguments of `ward slo test`.
#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// SLO spec input file or directory (walked recursively).
    #[arg(short = 'i', long = "input", env = "SLOTH_INPUT")]
    pub(crate) input: String,
    /// Report format.
    #[arg(
        short = 'o',
        long = "output",
        env = "WARD_SLO_TEST_OUTPUT",
        value_enum,
        default_value_t
    )]
    pub(crate) output: render::slo::TestFormat,
    /// The promtool binary (default: `promtool` on PATH).
    #[arg(long = "promtool", env = "WARD_PROMTOOL")]
    pub(crate) promtool: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) common: Common,
}

impl GeneratorFlags {
    fn settings(&self) -> Settings {
        if !self.plugins_path.is_empty() {
            tracing::warn!(
                "--plugins-path is accepted but Go plugin files are not loaded; only native plugin ids run"
            );
        }
        Settings {
            default_slo_period: self.default_slo_period.clone(),
            windows_dir: self.slo_period_windows_path.clone(),
            extra_labels: self.extra_labels.clone(),
            slo_plugins: self.slo_plugins.clone(),
            disable_default_plugins: self.disable_default_slo_plugins,
            ..Settings::default()
        }
    }
}

impl Common {
    fn settings(&self) -> Settings {
        self.generator.settings()
    }

    fn filters(&self) -> Filters {
        Filters {
            exclude: self.fs_exclude.clone(),
            include: self.fs_include.clone(),
        }
    }
}

/// The generated-by header line of ward's output.
pub(crate) fn header_line() -> String {
    ward_slo::output::header_line(&format!(
        "ward slo (sloth {} compatible)",
        ward_slo::SLOTH_VERSION
    ))
}

/// Runs `ward slo`: exit 0, 1 for a spec or validation failure, 2 for usage or IO.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut warn = |line: String| {
        let _ = render::slo::warning(&line, &mut std::io::stderr().lock());
    };
    let outcome = match args.command {
        SloCommand::Generate(a) => generate(a, &mut warn),
        SloCommand::Validate(a) => validate(a, &mut warn),
        SloCommand::Test(a) => test(a, &mut warn),
        SloCommand::Report(a) => return report::run(a),
        SloCommand::Controller(a) => return controller::run(a),
    };
    Ok(match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            let _ = render::slo::failure(&e, &mut std::io::stderr().lock());
            ExitCode::from(exit_code(&e))
        }
    })
}

/// 1 when the specs are at fault, 2 for usage and IO.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Spec(_)
        | Error::Strict { .. }
        | Error::Invalid { .. }
        | Error::NoRules { .. }
        | Error::Input(_) => 1,
        Error::Setting(_) | Error::Generator(_) | Error::Tool(_) | Error::Io { .. } => 2,
    }
}

/// Generates rules (always true: a failure is an error).
fn generate(a: GenerateArgs, warn: &mut dyn FnMut(String)) -> Result<bool, Error> {
    let settings = Settings {
        disable_alerts: a.disable_alerts,
        disable_recordings: a.disable_recordings,
        ..a.common.settings()
    };
    let request = GenerateRequest {
        filters: a.common.filters(),
        strict: a.common.strict,
        header: header_line(),
        k8s_transform_plugin: a.k8s_transform_plugin_id,
        input: a.input,
        out: a.out,
    };
    let stdout = &mut std::io::stdout().lock();
    match ward_slo_files::generate(&settings.generator("cli")?, &request, Some(stdout), warn) {
        // `ward slo generate | head`: the reader left; no failure of ours.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(true)
        }
        other => other.map(|()| true),
    }
}

fn validate(a: ValidateArgs, warn: &mut dyn FnMut(String)) -> Result<bool, Error> {
    let request = ValidateRequest {
        filters: a.common.filters(),
        ignore_duplicates: a.ignore_slo_duplicates,
        strict: a.common.strict,
        input: a.input,
    };
    let stderr = &mut std::io::stderr();
    let valid = ward_slo_files::validate(
        &a.common.settings().generator("api")?,
        &request,
        warn,
        &mut |_, errors| {
            let _ = render::slo::file_errors(errors, &mut stderr.lock());
        },
    )?;
    let _ = render::slo::validated(valid, &mut stderr.lock());
    Ok(true)
}

/// Runs the promtool unit tests of every SLO; false when a case failed.
fn test(a: TestArgs, warn: &mut dyn FnMut(String)) -> Result<bool, Error> {
    let request = ward_slo_files::TestRequest {
        filters: a.common.filters(),
        promtool: a.promtool,
        strict: a.common.strict,
        input: a.input,
    };
    let reports = ward_slo_files::test(&a.common.settings().generator("cli")?, &request, warn)?;
    let written = render::to_stdout(|out| render::slo::test_report(&reports, a.output, out));
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Io {
            action: "writing to stdout".into(),
            source: e,
        }),
        _ => Ok(reports
            .iter()
            .flat_map(|r| &r.cases)
            .all(|c| c.failure.is_none())),
    }
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
        assert_eq!(g.common.generator.extra_labels, vec!["a=b", "c=d"]);
        assert!(g.disable_alerts && !g.disable_recordings);
        assert_eq!(g.common.generator.default_slo_period, "28d");
        let t = T::try_parse_from(["x", "generate", "-i", "x"]).unwrap();
        let SloCommand::Generate(g) = t.cmd else {
            panic!()
        };
        assert_eq!(g.out, "-");
        assert_eq!(g.common.generator.default_slo_period, "30d");
        assert!(T::try_parse_from(["x", "validate"]).is_err());
        let t = T::try_parse_from([
            "x",
            "test",
            "-i",
            "s.yaml",
            "-o",
            "junit",
            "--promtool",
            "/p",
        ])
        .unwrap();
        let SloCommand::Test(a) = t.cmd else { panic!() };
        assert_eq!(
            (a.input.as_str(), a.output),
            ("s.yaml", render::slo::TestFormat::Junit)
        );
        assert_eq!(a.promtool, Some(PathBuf::from("/p")));
        let t = T::try_parse_from(["x", "test", "-i", "s.yaml"]).unwrap();
        let SloCommand::Test(a) = t.cmd else { panic!() };
        assert_eq!(
            (a.output, a.promtool),
            (render::slo::TestFormat::Text, None)
        );
        assert!(T::try_parse_from(["x", "test", "-i", "s.yaml", "-o", "xml"]).is_err());
        assert!(T::try_parse_from(["x", "generate", "--bogus"]).is_err());
        assert!(
            T::try_parse_from(["x", "generate"]).is_err(),
            "-i is required"
        );
    }

    #[test]
    fn specs_at_fault_exit_1_usage_and_io_exit_2() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        for (e, code) in [
            (Error::Invalid { bad: 1, files: 1 }, 1),
            (Error::NoRules { file: "f".into() }, 1),
            (Error::Input("no spec".into()), 1),
            (Error::Setting("bad flag".into()), 2),
            (
                Error::Io {
                    action: "reading f".into(),
                    source: io(),
                },
                2,
            ),
        ] {
            assert_eq!(exit_code(&e), code, "{e}");
        }
    }
}
