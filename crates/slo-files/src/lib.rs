//! `ward slo generate|validate|test` over files, as sloth's CLI does it, on top
//! of the pure `ward-slo`: the generator's settings from sloth's flag values
//! ([`Settings`]), spec discovery (a recursive walk with include/exclude
//! regexes), reading, and all-or-nothing writing (a temp file renamed into
//! place; in directory mode every output is renamed only after every input
//! generated, on every core). Failures are an [`Error`] whose variant says
//! what failed; the binary picks the exit code from it. Nothing here prints:
//! warnings and per-file validation errors go to the caller's callbacks.
//!
//! ```no_run
//! use ward_slo_files::{generate, GenerateRequest, Settings};
//! let gen = Settings::default().generator("cli")?;
//! let request = GenerateRequest { input: "slos/".into(), out: "rules/".into(), ..Default::default() };
//! generate(&gen, &request, None, &mut |warning| eprintln!("{warning}"))?;
//! # Ok::<(), ward_slo_files::Error>(())
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod test;
mod walk;
mod write;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ward_slo::model::PluginRef;
use ward_slo::windows::Catalog;
use ward_slo::{Config, Generator};

pub use test::{promtool, run_suite, suites, test, CaseResult, SloReport, TestRequest};
pub use walk::discover;

/// Why `generate` or `validate` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec did not load, validate or generate (sloth's message, naming the file).
    #[error(transparent)]
    Spec(Box<ward_slo::Error>),
    /// Keys sloth ignores were found with `strict`.
    #[error("{file}: unknown field {} (--strict)", .fields.join(", "))]
    Strict {
        /// The spec file.
        file: String,
        /// The ignored keys, as paths.
        fields: Vec<String>,
    },
    /// Validation found invalid specs (each reported as it was found).
    #[error("validation failed: {bad} of {files} files have invalid SLO specs")]
    Invalid {
        /// Files with at least one error.
        bad: usize,
        /// Files validated.
        files: usize,
    },
    /// A standard rule file would have no rule at all.
    #[error("{file}: could not store SLOs: 0 SLO Prometheus rules generated")]
    NoRules {
        /// The spec file.
        file: String,
    },
    /// The input cannot be generated as asked: no spec discovered, output
    /// not a directory or the input's own, an unknown transform plugin, a
    /// bad custom windows catalog.
    #[error("{0}")]
    Input(String),
    /// A setting (a flag's value) is unusable.
    #[error("{0}")]
    Setting(String),
    /// The generator refused the settings (the default period is not in the catalog).
    #[error("could not create Prometheus SLO generator: {0}")]
    Generator(Box<ward_slo::Error>),
    /// A tool ward runs (promtool) is missing.
    #[error("{0}")]
    Tool(String),
    /// Reading or writing a file failed.
    #[error("{action}: {source}")]
    Io {
        /// What was being done, naming the file.
        action: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl From<ward_slo::Error> for Error {
    fn from(e: ward_slo::Error) -> Self {
        Error::Spec(Box::new(e))
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_error(action: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let action = action.into();
    move |source| Error::Io { action, source }
}

/// The generator's settings as sloth's flags give them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--default-slo-period`, a Prometheus duration (`30d`).
    pub default_slo_period: String,
    /// `--slo-period-windows-path`: a directory replacing the embedded catalog.
    pub windows_dir: Option<PathBuf>,
    /// `--extra-labels`, each `key=value`.
    pub extra_labels: Vec<String>,
    /// `--slo-plugins`, each a JSON declaration `{"id": …, "priority": …, "config": …}`.
    pub slo_plugins: Vec<String>,
    /// `--disable-default-slo-plugins`.
    pub disable_default_plugins: bool,
    /// `--disable-alerts`.
    pub disable_alerts: bool,
    /// `--disable-recordings`.
    pub disable_recordings: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_slo_period: "30d".into(),
            windows_dir: None,
            extra_labels: Vec::new(),
            slo_plugins: Vec::new(),
            disable_default_plugins: false,
            disable_alerts: false,
            disable_recordings: false,
        }
    }
}

impl Settings {
    /// The generator, with `agent` (`cli` for generate, `api` for validate, as sloth).
    pub fn generator(&self, agent: &'static str) -> Result<Generator> {
        Generator::new(self.config(agent)?).map_err(|e| Error::Generator(Box::new(e)))
    }

    fn config(&self, agent: &'static str) -> Result<Config> {
        let period = ward_slo::duration::parse_prom(&self.default_slo_period)
            .map_err(|e| Error::Setting(format!("invalid SLO period duration: {e}")))?;
        let catalog = match &self.windows_dir {
            None => Catalog::embedded(),
            Some(dir) => Catalog::from_files(&walk::read_windows_dir(dir)?)
                .map_err(|e| Error::Input(format!("could not initialize custom windows: {e}")))?,
        };
        Ok(Config {
            catalog,
            default_period: period,
            extra_labels: extra_labels(&self.extra_labels)?,
            cmd_plugins: plugin_declarations(&self.slo_plugins)?,
            disable_default_plugins: self.disable_default_plugins,
            disable_alerts: self.disable_alerts,
            disable_recordings: self.disable_recordings,
            version: ward_slo::SLOTH_VERSION.to_string(),
            agent,
        })
    }
}

fn extra_labels(raw: &[String]) -> Result<Vec<(String, String)>> {
    raw.iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    Error::Setting(format!("invalid --extra-labels {kv:?}: expected key=value"))
                })
        })
        .collect()
}

fn plugin_declarations(raw: &[String]) -> Result<Vec<PluginRef>> {
    use serde_json::Value;
    raw.iter()
        .map(|s| {
            let bad = |m: &str| {
                Error::Setting(format!(
                    "could not load slo plugin declarations: could not load cmd plugin json config {s:?}: {m}"
                ))
            };
            let v: Value = serde_json::from_str(s).map_err(|e| bad(&e.to_string()))?;
            let Value::Object(o) = v else {
                return Err(bad("expected a JSON object"));
            };
            let id = match o.get("id") {
                Some(Value::String(s)) => s.clone(),
                None | Some(Value::Null) => String::new(),
                Some(_) => return Err(bad("field id: expected a string")),
            };
            let priority = match o.get("priority") {
                None | Some(Value::Null) => 0,
                Some(Value::Number(n)) => n
                    .as_i64()
                    .ok_or_else(|| bad("field priority: expected an integer"))?,
                Some(_) => return Err(bad("field priority: expected an integer")),
            };
            Ok(PluginRef {
                id,
                priority,
                config: o.get("config").cloned(),
            })
        })
        .collect()
}

/// Which discovered files a directory input keeps (regexes on their paths;
/// exclude wins).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// `--fs-exclude`.
    pub exclude: Option<String>,
    /// `--fs-include`.
    pub include: Option<String>,
}

impl Filters {
    fn compile(&self) -> Result<(Option<regex::Regex>, Option<regex::Regex>)> {
        let compile = |r: &Option<String>, what: &str| match r.as_deref() {
            None | Some("") => Ok(None),
            Some(s) => regex::Regex::new(s)
                .map(Some)
                .map_err(|e| Error::Setting(format!("invalid {what} regex: {e}"))),
        };
        Ok((
            compile(&self.exclude, "exclude")?,
            compile(&self.include, "include")?,
        ))
    }

    /// The spec files under `input`, in walk order; none is an error.
    pub fn discover(&self, input: &str) -> Result<Vec<String>> {
        let (exclude, include) = self.compile()?;
        let files = walk::discover(input, exclude.as_ref(), include.as_ref())?;
        if files.is_empty() {
            return Err(Error::Input(format!(
                "{input}: 0 slo specs have been discovered"
            )));
        }
        Ok(files)
    }
}

/// What `generate` reads and where it writes.
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    /// A spec file, or a directory walked recursively.
    pub input: String,
    /// An output file, a directory (for a directory input), or `-` for stdout.
    pub out: String,
    /// Which files of a directory input to generate.
    pub filters: Filters,
    /// Fail on keys sloth ignores, instead of a warning.
    pub strict: bool,
    /// The header comment line of every output.
    pub header: String,
    /// `--k8s-transform-plugin-id` (only
    /// [`ward_slo::plugins::K8S_TRANSFORM_PROMETHEUS_RULE`] exists).
    pub k8s_transform_plugin: String,
}

/// Words `-o` takes as a format everywhere else in ward (`-o json`); sloth's
/// `-o/--out` names the output file instead.
const FORMAT_WORDS: [&str; 5] = ["json", "yaml", "yml", "text", "table"];

/// Refuses an empty `-i/--input`, naming the flag (reading `""` failed
/// with "No such file or directory").
fn require_input(input: &str) -> Result<()> {
    if input.is_empty() {
        return Err(Error::Setting(
            "-i/--input: no SLO spec given (a spec file, or a directory walked recursively)".into(),
        ));
    }
    Ok(())
}

/// A warning when `out` is a bare format word (`-o json`): the rules go to
/// a file of that name, which a ward user rarely means; `./json` is taken
/// as meant, without a warning.
fn out_warning(out: &str) -> Option<String> {
    FORMAT_WORDS.contains(&out).then(|| {
        format!(
            "-o {out}: writing the rules to a file named {out:?} (sloth's -o/--out is the output \
             file; the rules are always Prometheus YAML); write -o ./{out} if that file is meant"
        )
    })
}

/// Keys sloth ignores in `file`: one warning each, or with `strict` the file's error.
fn ignored_fields(file: &str, ignored: &[String], strict: bool) -> Result<Vec<String>> {
    if strict && !ignored.is_empty() {
        return Err(Error::Strict {
            file: file.to_string(),
            fields: ignored.to_vec(),
        });
    }
    Ok(ignored
        .iter()
        .map(|f| format!("{file}: unknown field {f} is ignored, as sloth does"))
        .collect())
}

/// Generates rules from `request.input` into `request.out`; `stdout` is
/// where `-` writes. Nothing is written unless everything generated.
/// Each warning (a key sloth ignores) goes to `on_warning`, in input order.
pub fn generate(
    gen: &Generator,
    request: &GenerateRequest,
    stdout: Option<&mut dyn Write>,
    on_warning: &mut dyn FnMut(String),
) -> Result<()> {
    require_input(&request.input)?;
    if let Some(warning) = out_warning(&request.out) {
        on_warning(warning);
    }
    if request.k8s_transform_plugin != ward_slo::plugins::K8S_TRANSFORM_PROMETHEUS_RULE {
        let id = &request.k8s_transform_plugin;
        return Err(Error::Input(format!(
            "--k8s-transform-plugin-id: could not get k8s transformer plugin {id:?}: plugin {id:?} not found: resource not found"
        )));
    }
    let input = Path::new(&request.input);
    let meta = std::fs::metadata(input).map_err(io_error(format!(
        "reading SLO spec input {:?}",
        request.input
    )))?;
    if meta.is_dir() {
        return generate_dir(gen, request, on_warning);
    }
    let data = walk::read_spec(input)?;
    let mut ignored = Vec::new();
    let generated = gen.generate_file(&request.input, &data, &mut ignored);
    ignored_fields(&request.input, &ignored, request.strict)?
        .into_iter()
        .for_each(&mut *on_warning);
    let results = generated?;
    match (request.out.as_str(), stdout) {
        ("-", Some(stdout)) => {
            let mut buf = Vec::new();
            write::write_results(&results, &request.header, &request.input, &mut buf)?;
            stdout
                .write_all(&buf)
                .and_then(|()| stdout.flush())
                .map_err(io_error("writing to stdout"))
        }
        (out, _) => write::write_atomic(Path::new(out), |w| {
            write::write_results(&results, &request.header, &request.input, w)
        }),
    }
}

fn generate_dir(
    gen: &Generator,
    request: &GenerateRequest,
    on_warning: &mut dyn FnMut(String),
) -> Result<()> {
    let (input, out) = (Path::new(&request.input), Path::new(&request.out));
    let out_meta =
        std::fs::metadata(out).map_err(io_error(format!("output directory {:?}", request.out)))?;
    if !out_meta.is_dir() {
        return Err(Error::Input(format!(
            "the path {:?} is not a directory, however input is a directory",
            request.out
        )));
    }
    let canonical = |p: &Path| std::fs::canonicalize(p).map_err(io_error(p.display().to_string()));
    let same = canonical(input)?;
    if same == canonical(out)? {
        return Err(Error::Input(format!(
            "input and output can't be the same directory: {}",
            same.display()
        )));
    }
    let files = request.filters.discover(&request.input)?;
    write::generate_dir(gen, request, &files, on_warning)
}

/// What `validate` does beyond validating each spec.
#[derive(Debug, Clone, Default)]
pub struct ValidateRequest {
    /// A spec file, or a directory walked recursively.
    pub input: String,
    /// Which files of a directory input to validate.
    pub filters: Filters,
    /// Accept the same SLO id in several specs.
    pub ignore_duplicates: bool,
    /// Count keys sloth ignores as errors.
    pub strict: bool,
}

/// Validates every spec under `request.input`. Each file's errors go to
/// `on_file` as the file is done (with `on_warning` for ignored keys);
/// returns how many SLO specs (documents) were valid, or [`Error::Invalid`].
pub fn validate(
    gen: &Generator,
    request: &ValidateRequest,
    on_warning: &mut dyn FnMut(String),
    on_file: &mut dyn FnMut(&str, &[String]),
) -> Result<usize> {
    require_input(&request.input)?;
    let files = request.filters.discover(&request.input)?;
    let mut ids = ward_slo::duplicates::SloIds::default();
    let mut bad = 0usize;
    let mut total = 0usize;
    for file in &files {
        let data = walk::read_spec(Path::new(file))?;
        let mut errors: Vec<String> = Vec::new();
        let mut ignored = Vec::new();
        for doc in ward_slo::spec::documents(&data) {
            total += 1;
            match gen.generate_doc(file, &doc, &mut ignored) {
                Err(e) => errors.push(e.to_string()),
                Ok(_) if request.ignore_duplicates => {}
                Ok(result) => errors.extend(ids.add(file, &result).iter().map(|e| e.to_string())),
            }
        }
        match ignored_fields(file, &ignored, request.strict) {
            Ok(warnings) => warnings.into_iter().for_each(&mut *on_warning),
            Err(e) => errors.insert(0, e.to_string()),
        }
        if !errors.is_empty() {
            bad += 1;
            on_file(file, &errors);
        }
    }
    if bad > 0 {
        return Err(Error::Invalid {
            bad,
            files: files.len(),
        });
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_sloths_flag_values() {
        assert!(extra_labels(&["nokv".into()]).is_err());
        assert_eq!(
            extra_labels(&["a=b=c".into()]).unwrap(),
            [("a".to_string(), "b=c".to_string())]
        );
        let p = plugin_declarations(&[r#"{"id":"sloth.dev/core/noop/v1","priority":-1}"#.into()])
            .unwrap();
        assert_eq!((p.len(), p[0].priority), (1, -1));
        for bad in ["{", "[]", r#"{"id": 3}"#, r#"{"priority": 1.5}"#] {
            assert!(matches!(
                plugin_declarations(&[bad.into()]),
                Err(Error::Setting(_))
            ));
        }
        let bad_period = Settings {
            default_slo_period: "30x".into(),
            ..Settings::default()
        };
        assert!(matches!(
            bad_period.generator("cli"),
            Err(Error::Setting(_))
        ));
        let missing_window = Settings {
            default_slo_period: "29d".into(),
            ..Settings::default()
        };
        assert!(matches!(
            missing_window.generator("cli"),
            Err(Error::Generator(_))
        ));
    }

    #[test]
    fn strict_turns_ignored_keys_into_the_files_error() {
        let ignored = vec!["slos[0].x".to_string()];
        assert_eq!(
            ignored_fields("f.yaml", &ignored, false).unwrap(),
            ["f.yaml: unknown field slos[0].x is ignored, as sloth does"]
        );
        assert_eq!(
            ignored_fields("f.yaml", &ignored, true)
                .unwrap_err()
                .to_string(),
            "f.yaml: unknown field slos[0].x (--strict)"
        );
    }

    /// A missing input names its flag; a bare format word as `-o` warns.
    #[test]
    fn missing_input_and_format_words_as_out() {
        assert_eq!(
            require_input("").unwrap_err().to_string(),
            "-i/--input: no SLO spec given (a spec file, or a directory walked recursively)"
        );
        assert!(require_input("slo.yaml").is_ok());
        assert!(out_warning("json")
            .unwrap()
            .starts_with("-o json: writing the rules to a file named \"json\""));
        for meant in ["./json", "rules.json", "-", "out"] {
            assert_eq!(out_warning(meant), None, "{meant}");
        }
    }
}
