//! SLO plugins, native: sloth's plugin ids, config keys and chain
//! semantics (priority < 0 before the default plugins, >= 0 after, stable
//! order; `overridePrevious` drops defaults and CLI-level plugins). sloth
//! runs Go plugin files in an interpreter; here every supported id is Rust
//! code (`core` for the defaults, `contrib` for sloth's contrib set) and an
//! unknown id is an error naming it. `sli` holds the SLI plugins.

pub mod contrib;
pub mod sli;

use crate::model::{PluginRef, Slo, SloRules};
use crate::rules::{self, Info, SloIds};
use crate::validate;
use crate::windows::MwmbGroup;

/// What a processor sees of the SLO being generated.
pub struct Request<'a> {
    /// Generator info (`sloth_slo_info` labels).
    pub info: &'a Info,
    /// The SLO (labels include CLI extra labels).
    pub slo: &'a Slo,
    /// Its id labels and their filter.
    pub ids: &'a SloIds,
    /// Its alert windows and factors.
    pub alerts: &'a MwmbGroup,
    /// PromQL verdicts already known (shared by every SLO of a generator).
    pub queries: &'a validate::QueryCache,
}

/// A processor failure: optional spec field and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessError {
    /// Spec field the failure is about, when known.
    pub field: Option<String>,
    /// Message (sloth's text where sloth has one).
    pub msg: String,
}

impl From<String> for ProcessError {
    fn from(msg: String) -> Self {
        ProcessError { field: None, msg }
    }
}

/// One step of an SLO's plugin chain.
#[derive(Debug, Clone)]
pub enum Processor {
    /// `sloth.dev/core/validate/v1` (PromQL) and
    /// `sloth.dev/contrib/validate_victoria_metrics/v1` (MetricsQL).
    Validate(validate::Dialect),
    /// `sloth.dev/core/sli_rules/v1`.
    SliRules {
        /// `disableOptimized`.
        disable_optimized: bool,
    },
    /// `sloth.dev/core/metadata_rules/v1`.
    MetadataRules,
    /// `sloth.dev/core/alert_rules/v1`.
    AlertRules,
    /// `sloth.dev/core/noop/v1` and `sloth.dev/core/debug/v1` (debug only logs in sloth).
    Noop,
    /// A contrib plugin.
    Contrib(contrib::Contrib),
}

/// Id of the one Kubernetes transform plugin (PrometheusRule output): `--k8s-transform-plugin-id`.
pub const K8S_TRANSFORM_PROMETHEUS_RULE: &str =
    "sloth.dev/k8stransform/prom-operator-prometheus-rule/v1";

/// Every SLO plugin id ward runs natively: sloth's core and contrib plugins.
pub fn slo_plugin_ids() -> impl Iterator<Item = &'static str> {
    CORE_IDS.iter().chain(contrib::IDS).copied()
}

/// True for an id of a plugin sloth v0.16.0 ships that ward knows (SLO or Kubernetes transform).
pub fn is_known_plugin_id(id: &str) -> bool {
    id == K8S_TRANSFORM_PROMETHEUS_RULE || slo_plugin_ids().any(|known| known == id)
}

/// Ids of the core plugins.
pub const CORE_IDS: &[&str] = &[
    "sloth.dev/core/validate/v1",
    "sloth.dev/core/sli_rules/v1",
    "sloth.dev/core/metadata_rules/v1",
    "sloth.dev/core/alert_rules/v1",
    "sloth.dev/core/noop/v1",
    "sloth.dev/core/debug/v1",
];

fn config_obj(p: &PluginRef) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    // sloth marshals an absent config as JSON `null`: plugin defaults apply.
    match &p.config {
        None | Some(serde_json::Value::Null) => Ok(serde_json::Map::new()),
        Some(serde_json::Value::Object(m)) => Ok(m.clone()),
        Some(other) => Err(format!(
            "could create SLO plugin {:?}: json: cannot unmarshal {} into Go value of type PluginConfig",
            p.id,
            json_kind(other)
        )),
    }
}

/// The Go JSON type name of a value, for error messages.
pub fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Builds the processor for one declared plugin.
pub fn build(p: &PluginRef) -> Result<Processor, String> {
    match p.id.as_str() {
        "sloth.dev/core/validate/v1" => Ok(Processor::Validate(validate::Dialect::PromQl)),
        // Takes no config; sloth ignores whatever is given.
        contrib::VALIDATE_VICTORIA_METRICS => Ok(Processor::Validate(validate::Dialect::MetricsQl)),
        "sloth.dev/core/sli_rules/v1" => {
            let cfg = config_obj(p)?;
            let disable_optimized = match cfg.get("disableOptimized") {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(format!(
                        "could create SLO plugin {:?}: json: cannot unmarshal {} into Go struct field PluginConfig.disableOptimized of type bool",
                        p.id,
                        json_kind(other)
                    ))
                }
            };
            Ok(Processor::SliRules { disable_optimized })
        }
        "sloth.dev/core/metadata_rules/v1" => Ok(Processor::MetadataRules),
        "sloth.dev/core/alert_rules/v1" => Ok(Processor::AlertRules),
        "sloth.dev/core/noop/v1" | "sloth.dev/core/debug/v1" => Ok(Processor::Noop),
        id if contrib::IDS.contains(&id) => contrib::build(p).map(Processor::Contrib),
        id => Err(format!(
            "could not get SLO plugin {id:?}: plugin {id:?} not found: resource not found"
        )),
    }
}

/// The default chain: validate, SLI rules (optimized), metadata rules, alert rules.
pub fn defaults() -> Vec<Processor> {
    vec![
        Processor::Validate(validate::Dialect::PromQl),
        Processor::SliRules {
            disable_optimized: false,
        },
        Processor::MetadataRules,
        Processor::AlertRules,
    ]
}

/// Assembles an SLO's chain like sloth's `generateSLO`.
pub fn chain(
    slo: &Slo,
    cmd_plugins: &[PluginRef],
    disable_defaults: bool,
) -> Result<Vec<Processor>, String> {
    let mut declared: Vec<&PluginRef> = Vec::new();
    if !slo.plugins.override_plugins {
        declared.extend(cmd_plugins.iter());
    }
    declared.extend(slo.plugins.plugins.iter());
    declared.sort_by_key(|p| p.priority); // stable
    let mut pre = Vec::new();
    let mut post = Vec::new();
    for p in declared {
        let proc = build(p)?;
        if p.priority < 0 {
            pre.push(proc);
        } else {
            post.push(proc);
        }
    }
    let mut out = pre;
    if !slo.plugins.override_plugins && !disable_defaults {
        out.extend(defaults());
    }
    out.extend(post);
    Ok(out)
}

impl Processor {
    /// Runs this processor on the shared result.
    pub fn process(&self, req: &Request<'_>, res: &mut SloRules) -> Result<(), ProcessError> {
        match self {
            Processor::Validate(dialect) => {
                validate::validate_slo_in(req.slo, *dialect, req.queries).map_err(|e| {
                    ProcessError {
                        field: Some(e.field),
                        msg: format!("invalid slo {:?}: {}", req.slo.id, e.msg),
                    }
                })
            }
            Processor::SliRules { disable_optimized } => {
                res.sli.rules = rules::sli_rules(req.slo, req.ids, req.alerts, *disable_optimized)?;
                Ok(())
            }
            Processor::MetadataRules => {
                res.meta.rules = rules::metadata_rules(req.info, req.slo, req.ids, req.alerts);
                Ok(())
            }
            Processor::AlertRules => {
                res.alerts.rules = rules::alert_rules(req.slo, req.ids, req.alerts);
                Ok(())
            }
            Processor::Noop => Ok(()),
            Processor::Contrib(c) => c.process(req, res).map_err(ProcessError::from),
        }
    }
}
