//! The generation pipeline for one spec document: load, check the SLO
//! group, derive alert windows, run each SLO's plugin chain (validation and
//! rule generation are plugins), name the groups. Mirrors sloth's
//! `pkg/lib` + `internal/app/generate`.

use std::collections::HashSet;

use crate::duration::Duration;
use crate::error::{Error, Result};
use crate::model::{merge, GroupResult, Label, Labels, PluginRef, RuleGroup, SloResult, SloRules};
use crate::plugins::{self, Request};
use crate::rules::{Info, SloIds};
use crate::spec;
use crate::validate::QueryCache;
use crate::windows::Catalog;

/// sloth version this crate reproduces (the default `sloth_version` label).
pub const SLOTH_VERSION: &str = "v0.16.0";

/// Generator settings (sloth's CLI flags, resolved).
#[derive(Debug, Clone)]
pub struct Config {
    /// Alert-window catalog (embedded or `--slo-period-windows-path`).
    pub catalog: Catalog,
    /// `--default-slo-period`.
    pub default_period: Duration,
    /// `--extra-labels`, as (name, value) pairs (a later pair wins).
    pub extra_labels: Vec<(String, String)>,
    /// `--slo-plugins` (CLI-level chain).
    pub cmd_plugins: Vec<PluginRef>,
    /// `--disable-default-slo-plugins`.
    pub disable_default_plugins: bool,
    /// `--disable-alerts`: generate no alert rules.
    pub disable_alerts: bool,
    /// `--disable-recordings`: generate no SLI and metadata recording rules.
    pub disable_recordings: bool,
    /// `sloth_version` label value.
    pub version: String,
    /// `sloth_mode` prefix: `cli`, `api` (sloth's validate) or `ctrl` (its
    /// controller, which reads Kubernetes objects only).
    pub agent: &'static str,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            catalog: Catalog::embedded(),
            default_period: Duration(30 * 24 * 3_600_000_000_000),
            extra_labels: Vec::new(),
            cmd_plugins: Vec::new(),
            disable_default_plugins: false,
            disable_alerts: false,
            disable_recordings: false,
            version: SLOTH_VERSION.to_string(),
            agent: "cli",
        }
    }
}

/// Generates rules from spec documents (shareable between threads).
#[derive(Debug)]
pub struct Generator {
    cfg: Config,
    queries: QueryCache,
}

impl Generator {
    /// Checks the configuration (the default period must be in the catalog).
    pub fn new(cfg: Config) -> Result<Generator> {
        if !cfg.catalog.has(cfg.default_period) {
            return Err(Error::Config(format!(
                "invalid default slo period: window period {} missing",
                cfg.default_period.go()
            )));
        }
        Ok(Generator {
            cfg,
            queries: QueryCache::default(),
        })
    }

    /// Generates one document (already split and cleaned, see [`spec::documents`]).
    /// Paths of keys sloth ignores (`slos[0].alerting.pageAlert`) are
    /// appended to `ignored`, also when generation fails after parsing.
    pub fn generate_doc(
        &self,
        file: &str,
        doc: &str,
        ignored: &mut Vec<String>,
    ) -> Result<GroupResult> {
        let spec_err = |msg: String| Error::Spec {
            file: file.to_string(),
            msg,
        };
        let group = spec::load(doc, self.cfg.default_period, ignored).map_err(spec_err)?;
        if group.slos.is_empty() {
            return Err(spec_err(
                "invalid SLO group: at least one SLO is required".into(),
            ));
        }
        let mut seen = HashSet::new();
        for s in &group.slos {
            if !seen.insert(s.id.as_str()) {
                return Err(Error::Slo {
                    file: file.to_string(),
                    slo: s.id.clone(),
                    field: Some("name".into()),
                    msg: format!("invalid SLO group: SLO ID {:?} is repeated", s.id),
                });
            }
        }
        let mode = match self.cfg.agent {
            "api" => match group.kind {
                crate::model::SpecKind::PrometheusV1 => "api-gen-prom",
                crate::model::SpecKind::K8sV1 => "api-gen-k8s",
                crate::model::SpecKind::OpenSloV1Alpha => "api-gen-openslo",
            },
            "ctrl" => "ctrl-gen-k8s",
            _ => group.kind.cli_mode(),
        };
        let info = Info {
            version: self.cfg.version.as_str().into(),
            mode: mode.into(),
            spec: group.kind.spec_label().into(),
        };
        // Labels are counted per thread: the shared settings' are copied per document.
        let extra: Labels = self
            .cfg
            .extra_labels
            .iter()
            .map(|(k, v)| (Label::from(k.as_str()), Label::from(v.as_str())))
            .collect();
        let mut results = Vec::with_capacity(group.slos.len());
        for mut slo in group.slos {
            if !extra.is_empty() {
                slo.labels = merge(&[&slo.labels, &extra]);
            }
            let slo_err = |field: Option<String>, msg: String| Error::Slo {
                file: file.to_string(),
                slo: slo.id.clone(),
                field,
                msg,
            };
            let alerts = self
                .cfg
                .catalog
                .alerts(slo.period, slo.objective)
                .map_err(|m| {
                    slo_err(
                        Some("period".into()),
                        format!("could not generate SLO alerts: {m}"),
                    )
                })?;
            let chain = plugins::chain(
                &slo,
                &self.cfg.cmd_plugins,
                self.cfg.disable_default_plugins,
            )
            .map_err(|m| slo_err(Some("plugins".into()), m))?;
            let mut rules = SloRules::default();
            {
                let req = Request {
                    info: &info,
                    slo: &slo,
                    ids: &SloIds::new(&slo),
                    alerts: &alerts,
                    queries: &self.queries,
                };
                for p in &chain {
                    p.process(&req, &mut rules).map_err(|e| {
                        slo_err(e.field, format!("slo processor failed: {}", e.msg))
                    })?;
                }
            }
            if rules.sli.name.is_empty() {
                rules.sli.name = format!("sloth-slo-sli-recordings-{}", slo.id);
            }
            if rules.meta.name.is_empty() {
                rules.meta.name = format!("sloth-slo-meta-recordings-{}", slo.id);
            }
            if rules.alerts.name.is_empty() {
                rules.alerts.name = format!("sloth-slo-alerts-{}", slo.id);
            }
            if self.cfg.disable_alerts {
                rules.alerts = RuleGroup::default();
            }
            if self.cfg.disable_recordings {
                rules.sli = RuleGroup::default();
                rules.meta = RuleGroup::default();
            }
            results.push(SloResult { slo, rules, alerts });
        }
        Ok(GroupResult {
            kind: group.kind,
            k8s: group.k8s,
            slos: results,
        })
    }

    /// Generates every document of a file's contents, in order, up to the
    /// first failure (ignored keys: see [`Generator::generate_doc`]).
    pub fn generate_file(
        &self,
        file: &str,
        data: &str,
        ignored: &mut Vec<String>,
    ) -> Result<Vec<GroupResult>> {
        spec::documents(data)
            .iter()
            .map(|d| self.generate_doc(file, d, ignored))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One generator serves every worker thread of `ward slo generate`
    /// (results, whose labels are counted per thread, stay on theirs).
    #[test]
    fn generator_is_shared_between_threads() {
        fn shared<T: Send + Sync>(_: &T) {}
        let gen = Generator::new(Config {
            extra_labels: vec![("a".into(), "1".into()), ("a".into(), "2".into())],
            ..Config::default()
        })
        .unwrap();
        shared(&gen);
        let doc = SPEC;
        let extra = std::thread::scope(|s| {
            s.spawn(|| {
                let res = gen.generate_doc("f", doc, &mut Vec::new()).unwrap();
                res.slos[0].slo.labels.get("a").map(|v| v.to_string())
            })
            .join()
        });
        assert_eq!(extra.unwrap().as_deref(), Some("2"));
    }

    const SPEC: &str = "version: \"prometheus/v1\"\nservice: svc\nslos:\n  - name: avail\n    objective: 99\n    sli: {raw: {error_ratio_query: \"x[{{.window}}]\"}}\n    alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}\n";

    /// The event-weighted period SLI replaces the optimized rule only: the
    /// unoptimized one already reads the events over the period.
    #[test]
    fn the_event_weighted_period_keeps_an_unoptimized_period_rule() {
        let events = "sli: {events: {error_query: \"e[{{.window}}]\", total_query: \"t[{{.window}}]\"}}\n    event_weighted_period: true";
        let gen = Generator::new(Config::default()).unwrap();
        let period_rule = |plugins: &str| {
            let spec = SPEC
                .replace(
                    "sli: {raw: {error_ratio_query: \"x[{{.window}}]\"}}",
                    events,
                )
                .replace("slos:\n", &format!("{plugins}slos:\n"));
            let r = gen.generate_doc("a.yaml", &spec, &mut Vec::new()).unwrap();
            let rules = &r.slos[0].rules.sli.rules;
            let records: Vec<&str> = rules.iter().map(|r| r.record.as_str()).collect();
            assert_eq!(
                records[8..],
                [
                    "slo:sli_total:rate5m",
                    "slo:sli_total:rate30m",
                    "slo:sli_total:rate1h",
                    "slo:sli_total:rate2h",
                    "slo:sli_total:rate6h",
                    "slo:sli_total:rate1d",
                    "slo:sli_total:rate3d",
                    "slo:sli_error:rate5m"
                ]
            );
            rules[7].expr.clone()
        };
        assert!(period_rule("").starts_with("sum_over_time(slo:sli_error:rate5m{"));
        let unoptimized = "slo_plugins:\n  chain:\n    - id: sloth.dev/core/sli_rules/v1\n      config: {disableOptimized: true}\n";
        assert_eq!(period_rule(unoptimized), "(e[30d])\n/\n(t[30d])\n");
    }

    #[test]
    fn disabled_alerts_and_recordings_are_not_generated() {
        let spec = SPEC.replace(
            "alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}",
            "alerting: {name: A, page_alert: {labels: {s: p}}, ticket_alert: {labels: {s: t}}}",
        );
        let rules = |config: Config| {
            let gen = Generator::new(config).unwrap();
            let r = gen.generate_doc("a.yaml", &spec, &mut Vec::new()).unwrap();
            let rules = &r.slos[0].rules;
            (
                rules.sli.rules.len(),
                rules.meta.rules.len(),
                rules.alerts.rules.len(),
            )
        };
        let (sli, meta, alerts) = rules(Config::default());
        assert!(sli > 0 && meta > 0 && alerts > 0);
        let no_alerts = rules(Config {
            disable_alerts: true,
            ..Config::default()
        });
        assert_eq!(no_alerts, (sli, meta, 0));
        let no_recordings = rules(Config {
            disable_recordings: true,
            ..Config::default()
        });
        assert_eq!(no_recordings, (0, 0, alerts));
    }
}
