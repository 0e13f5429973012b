//! The crate's error type: every message names the spec file (and the
//! document, SLO and field when known), followed by sloth's own text.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong while loading, validating or generating SLOs.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A document could not be loaded (YAML, types, unknown spec, loader checks).
    #[error("{file}: {msg}")]
    Spec {
        /// Spec file (as given by the caller).
        file: String,
        /// What failed, with the field path when known.
        msg: String,
    },
    /// An SLO failed validation or generation.
    #[error("{file}: invalid slo {slo:?}{}: {msg}", field.as_ref().map(|f| format!(" (field {f})")).unwrap_or_default())]
    Slo {
        /// Spec file.
        file: String,
        /// SLO id (`<service>-<name>`).
        slo: String,
        /// Spec field, when known.
        field: Option<String>,
        /// sloth's message.
        msg: String,
    },
    /// The same SLO id appears twice across the validated files.
    #[error("{file}: SLO duplicated. SLO{{service={service}, name={name}}}, ID={id} already exists in a file: {other}: already exists")]
    Duplicate {
        /// File with the second occurrence.
        file: String,
        /// Service.
        service: String,
        /// SLO name.
        name: String,
        /// SLO id.
        id: String,
        /// File with the first occurrence.
        other: String,
    },
    /// The alert-window catalog or the default period is unusable.
    #[error("{0}")]
    Config(String),
    /// Nothing to write for a document (sloth: `0 SLO Prometheus rules generated`).
    #[error("{file}: 0 SLO Prometheus rules generated")]
    NoRules {
        /// Spec file.
        file: String,
    },
}
