//! The one error type of the load crate: bad configuration, and targets that
//! cannot be reached before a run starts. Failures of single requests during a
//! run are not errors: they are counted in the summary.

use ward_probe::ProbeError;

/// Why a load test, probe or race could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range or inconsistent.
    #[error("{what}: {reason}")]
    Config {
        /// The setting concerned (`--stage`, `rate`, `stages[2].target`, …).
        what: String,
        /// What was expected.
        reason: String,
    },
    /// A value as the user typed it (a stage, a range, a rate) does not parse.
    #[error("invalid {what} {input:?}: {reason}")]
    Value {
        /// What the value is (`stage`, `range`, `rate`).
        what: &'static str,
        /// The text given.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// A scenario file is not YAML (or JSON) of the expected shape (on one
    /// line: a key the parser quotes may hold a line break).
    #[error("{}", one_line(&.0.to_string()))]
    Scenario(#[from] serde_yaml_ng::Error),
    /// A threshold expression could not be parsed.
    #[error("threshold {input:?}: {reason}")]
    Threshold {
        /// The expression given.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// The target could not be reached before the run started.
    #[error("target {url}: {source}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The classified failure.
        #[source]
        source: ProbeError,
    },
    /// The TLS settings were rejected.
    #[error("TLS configuration: {0}")]
    Tls(#[from] ward_probe::ConfigError),
    /// No Kubernetes client could be built (no kubeconfig, no in-cluster service account).
    #[error("no Kubernetes client (kubeconfig or in-cluster service account): {0}")]
    Kube(#[from] kube::Error),
}

/// `text` with its line breaks written as `\\n` and `\\r`.
fn one_line(text: &str) -> String {
    text.replace('\n', "\\n").replace('\r', "\\r")
}

impl Error {
    /// A [`Error::Config`] naming the setting.
    pub fn config(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            what: what.into(),
            reason: reason.into(),
        }
    }
}

impl Error {
    /// A [`Error::Value`] naming what the value is.
    pub fn value(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        Error::Value {
            what,
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
