//! The Grafana dashboards ward ships, defined once in code: a small typed
//! model ([`model`]) and one function per dashboard. [`all`] lists them,
//! [`Dashboard::render`] writes the JSON that goes to `deploy/dashboards/` and
//! to the Helm chart's copy, which it packages as ConfigMaps (both written by
//! `cargo run -p ward-dashboards --example write`). The JSON holds only fields of Grafana's
//! published dashboard schema (checked by the grafana-foundation-sdk in
//! `tests/schema.rs`), every query goes through a `datasource` variable, and
//! every metric name is one ward exports (the nurse's are kubenurse's).
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

mod boards;
pub mod model;

pub use boards::{control_plane, e2e, lookup, nurse, slo};
pub use model::Dashboard;

/// Where the dashboards are written, under `deploy/`: the plain files and
/// the Helm chart's copy.
pub const OUTPUT_DIRS: [&str; 2] = ["dashboards", "helm/ward/dashboards"];

/// Every dashboard ward ships, in file-name order.
pub fn all() -> Vec<Dashboard> {
    vec![control_plane(), e2e(), lookup(), nurse(), slo()]
}
