//! SLI plugins (sloth's `SLIPlugin(ctx, meta, labels, options)`), native:
//! each id returns a raw error-ratio query that still contains `{{.window}}`.

use crate::model::Labels;

/// The `meta` map sloth passes to SLI plugins.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `service`.
    pub service: String,
    /// `slo` (the SLO name).
    pub slo: String,
    /// `objective` formatted with `%f`.
    pub objective: String,
}

/// Supported SLI plugin ids.
pub const IDS: &[&str] = &[];

/// Runs the SLI plugin `id`; errors use sloth's texts.
pub fn run(id: &str, _meta: &Meta, _labels: &Labels, _options: &Labels) -> Result<String, String> {
    Err(format!(
        "could not get plugin: plugin {id:?} not found: resource not found"
    ))
}
