//! sloth's internal SLO model (`pkg/common/model`): what every spec format
//! is mapped to before validation and rule generation, and the generated
//! rule groups. Plain data; no parsing or printing here.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::duration::Duration;
use crate::windows::MwmbGroup;

/// A label name or value: shared text, so that label sets copied from one
/// another (every rule of an SLO carries its labels) share their strings
/// (counted without atomics: results stay on the thread that made them).
pub type Label = Rc<str>;

/// Label or annotation set (merged with "later wins", printed in yaml.v2 order).
pub type Labels = BTreeMap<Label, Label>;

/// Which spec format a document was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecKind {
    /// `version: prometheus/v1`.
    PrometheusV1,
    /// Kubernetes `sloth.slok.dev/v1` `PrometheusServiceLevel`.
    K8sV1,
    /// OpenSLO `openslo/v1alpha` `SLO`.
    OpenSloV1Alpha,
}

impl SpecKind {
    /// The `sloth_spec` label value.
    pub fn spec_label(self) -> &'static str {
        match self {
            SpecKind::PrometheusV1 => "prometheus/v1",
            SpecKind::K8sV1 => "sloth.slok.dev/v1",
            SpecKind::OpenSloV1Alpha => "openslo/v1alpha",
        }
    }

    /// The `sloth_mode` label value for CLI generation.
    pub fn cli_mode(self) -> &'static str {
        match self {
            SpecKind::PrometheusV1 => "cli-gen-prom",
            SpecKind::K8sV1 => "cli-gen-k8s",
            SpecKind::OpenSloV1Alpha => "cli-gen-openslo",
        }
    }
}

/// Object metadata of a Kubernetes spec, copied to the generated `PrometheusRule`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct K8sMeta {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.labels` (`None` when absent).
    pub labels: Option<Labels>,
    /// `metadata.annotations` (`None` when absent).
    pub annotations: Option<Labels>,
}

/// An events SLI: error and total queries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    /// Query counting bad events, with `{{.window}}`.
    pub error_query: String,
    /// Query counting all events, with `{{.window}}`.
    pub total_query: String,
}

/// ward's latency SLI: the requests of a histogram slower than a bucket
/// bound are errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    /// Histogram metric name (without `_bucket`).
    pub histogram: String,
    /// The bucket bound, as written (the `le` label value).
    pub threshold: String,
    /// Label matchers (`job="api"`), possibly empty.
    pub selector: String,
}

/// The SLI of an SLO (an SLI plugin has already become `raw`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sli {
    /// Events SLI.
    pub events: Option<Events>,
    /// Raw error-ratio query.
    pub raw: Option<String>,
    /// The latency SLI `events` was made from (ward's extension).
    pub latency: Option<Latency>,
}

/// Page or ticket alert metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertMeta {
    /// Alert disabled: nothing else matters.
    pub disable: bool,
    /// Alert name.
    pub name: String,
    /// Alert labels (common merged with per-severity).
    pub labels: Labels,
    /// Alert annotations (common merged with per-severity).
    pub annotations: Labels,
    /// `for:` of the alert rule (ward's spec extension; zero: none, as sloth).
    pub for_: Duration,
}

/// One SLO plugin declaration of a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginRef {
    /// Plugin id, e.g. `sloth.dev/contrib/info_labels/v1`.
    pub id: String,
    /// Priority: < 0 runs before the default plugins, >= 0 after.
    pub priority: i64,
    /// Raw JSON config (`None` when absent).
    pub config: Option<serde_json::Value>,
}

/// The SLO plugin chain of one SLO (group chain plus SLO chain).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloPlugins {
    /// Drop default and CLI-level plugins.
    pub override_plugins: bool,
    /// Declared plugins in declaration order.
    pub plugins: Vec<PluginRef>,
}

/// One SLO after mapping from its spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slo {
    /// `<service>-<name>`.
    pub id: String,
    /// SLO name.
    pub name: String,
    /// Service name.
    pub service: String,
    /// Informative description (not emitted).
    pub description: String,
    /// SLO period.
    pub period: Duration,
    /// Objective in percent, (0, 100].
    pub objective: f64,
    /// SLO labels (group merged with SLO).
    pub labels: Labels,
    /// The SLI.
    pub sli: Sli,
    /// Page alert.
    pub page: AlertMeta,
    /// Ticket alert.
    pub ticket: AlertMeta,
    /// SLO plugins.
    pub plugins: SloPlugins,
    /// ward's extension: record the events SLI's total query per alert
    /// window (`slo:sli_total:rate<window>`).
    pub record_traffic: bool,
    /// ward's extension: the period SLI from the events summed over the
    /// period instead of the mean of the short-window ratios (records
    /// traffic too).
    pub event_weighted_period: bool,
}

/// All SLOs of one spec document.
#[derive(Debug, Clone, PartialEq)]
pub struct SloGroup {
    /// Spec format.
    pub kind: SpecKind,
    /// Kubernetes metadata (only for [`SpecKind::K8sV1`]).
    pub k8s: Option<K8sMeta>,
    /// The SLOs in spec order.
    pub slos: Vec<Slo>,
}

/// One Prometheus rule (recording or alerting).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    /// Recording rule name (empty for alerts).
    pub record: String,
    /// Alert name (empty for recording rules).
    pub alert: String,
    /// PromQL expression.
    pub expr: String,
    /// `for:` (Prometheus duration string, empty when unset).
    pub for_: String,
    /// Write `for:` in the Kubernetes form too. sloth drops `for:` there
    /// (its plugins' alerts lose it, and ward keeps that); the `for:` of
    /// ward's spec extension is kept.
    pub for_in_k8s: bool,
    /// `keep_firing_for:` (empty when unset).
    pub keep_firing_for: String,
    /// Labels, one map shared by rules with the same labels (copy on
    /// write: change them through `Rc::make_mut`).
    pub labels: Rc<Labels>,
    /// Annotations.
    pub annotations: Labels,
    /// Rules with the same non-zero value share one label map in sloth (Go
    /// map aliasing), so an in-place label edit on one shows on all of them.
    pub shared_labels: u8,
}

impl Rule {
    /// A recording rule with these labels, every other field empty (unlike
    /// `..Rule::default()`, no label map is allocated to be dropped).
    pub fn recording(record: String, expr: String, labels: Rc<Labels>) -> Rule {
        Rule {
            record,
            alert: String::new(),
            expr,
            for_: String::new(),
            for_in_k8s: false,
            keep_firing_for: String::new(),
            labels,
            annotations: Labels::new(),
            shared_labels: 0,
        }
    }
}

/// A named rule group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval (zero when unset).
    pub interval: Duration,
    /// Rules in order.
    pub rules: Vec<Rule>,
}

/// Rules generated for one SLO.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SloRules {
    /// SLI error-ratio recording rules.
    pub sli: RuleGroup,
    /// Metadata recording rules.
    pub meta: RuleGroup,
    /// Multi-window multi-burn-rate alerts.
    pub alerts: RuleGroup,
    /// Groups added by plugins.
    pub extra: Vec<RuleGroup>,
}

/// Generated rules of one SLO, with the SLO they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SloResult {
    /// The SLO (labels include CLI extra labels).
    pub slo: Slo,
    /// Its rules.
    pub rules: SloRules,
    /// The alert windows and burn-rate factors its alerts were made from.
    pub alerts: MwmbGroup,
}

/// Everything generated from one spec document.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupResult {
    /// Spec format of the document.
    pub kind: SpecKind,
    /// Kubernetes metadata (only for [`SpecKind::K8sV1`]).
    pub k8s: Option<K8sMeta>,
    /// Per-SLO results in spec order.
    pub slos: Vec<SloResult>,
}

/// Merges label sets, later sets winning (sloth's `MergeLabels`).
pub fn merge(sets: &[&Labels]) -> Labels {
    let mut out = Labels::new();
    for s in sets {
        for (k, v) in s.iter() {
            out.insert(Label::clone(k), Label::clone(v));
        }
    }
    out
}
