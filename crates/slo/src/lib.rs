//! `ward-slo`: a byte-for-byte compatible re-implementation of sloth
//! v0.16.0's `generate` and `validate` (SLO specs in, Prometheus rules out).
//!
//! Pure: strings in, text out; the binary does file IO. Entry point:
//! [`Generator`] (load + validate + generate one spec file's documents),
//! then [`output::write_result`] to stream a result as YAML.
//!
//! ```
//! use ward_slo::{Config, Generator};
//! let spec = r#"
//! version: "prometheus/v1"
//! service: "svc"
//! slos:
//!   - name: "availability"
//!     objective: 99.9
//!     sli:
//!       events:
//!         error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
//!         total_query: sum(rate(http_requests_total[{{.window}}]))
//!     alerting:
//!       page_alert: {disable: true}
//!       ticket_alert: {disable: true}
//! "#;
//! let gen = Generator::new(Config::default()).unwrap();
//! let mut ignored = Vec::new();
//! let docs = gen.generate_file("spec.yaml", spec, &mut ignored).unwrap();
//! assert!(ignored.is_empty());
//! let out = ward_slo::output::write_result(&docs[0], "# generated", Vec::new()).unwrap();
//! assert!(String::from_utf8(out).unwrap().contains("record: slo:sli_error:ratio_rate30d"));
//! ```
#![deny(missing_docs, clippy::print_stdout, clippy::print_stderr)]

pub mod alert_tests;
pub mod duplicates;
pub mod duration;
pub mod error;
pub mod generate;
pub mod metricsql;
pub use ward_gostrconv as gostrconv;
// The old name, for src/plugins/contrib.rs (another engineer's): remove once
// it says `crate::gostrconv`.
pub(crate) use ward_gostrconv as gofmt;
pub mod model;
pub mod output;
pub mod plugins;
pub mod raw_series;
pub mod rules;
pub mod spec;
pub mod template;
pub mod validate;
pub mod windows;
pub mod yaml;

pub use error::{Error, Result};
pub use generate::{Config, Generator, SLOTH_VERSION};
