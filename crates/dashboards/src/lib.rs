//! The Grafana dashboards ward ships, defined once in code: a small typed
//! model ([`model`]) and one function per dashboard. [`all`] lists them,
//! [`Dashboard::to_json`] writes the JSON that goes to `deploy/dashboards/`
//! (`cargo run -p ward-dashboards --example write`; the Helm chart packages
//! the same files as ConfigMaps). The JSON holds only fields of Grafana's
//! published dashboard schema (checked by the grafana-foundation-sdk in
//! `tests/schema.rs`), every query goes through a `datasource` variable, and
//! every metric name is one ward exports (the nurse's are kubenurse's).
#![deny(missing_docs)]

mod boards;
pub mod model;

pub use boards::{control_plane, e2e, lookup, nurse, slo};
pub use model::Dashboard;

/// Every dashboard ward ships, in file-name order.
pub fn all() -> Vec<Dashboard> {
    vec![control_plane(), e2e(), lookup(), nurse(), slo()]
}
