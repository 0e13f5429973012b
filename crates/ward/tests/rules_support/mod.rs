//! Shared by the rule tests: the PrometheusRules ward ships, read from the
//! manifests rendered from the chart into deploy/{nurse,lookup,e2e,control-plane}/.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Folders under deploy/ that hold PrometheusRules.
pub(crate) const COMPONENTS: [&str; 4] = ["nurse", "lookup", "e2e", "control-plane"];

/// One PrometheusRule: its name, file and groups.
pub(crate) struct RuleFile {
    /// metadata.name (rule tests load `<name>.rules.yaml`).
    pub(crate) name: String,
    /// The manifest it comes from.
    pub(crate) source: PathBuf,
    /// spec.groups.
    pub(crate) groups: Vec<Value>,
}

impl RuleFile {
    /// Every rule of every group.
    pub(crate) fn rules(&self) -> impl Iterator<Item = &Value> {
        self.groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
    }

    /// The groups as a Prometheus rule file (`groups: …`).
    pub(crate) fn to_rule_file(&self) -> String {
        serde_yaml_ng::to_string(&serde_json::json!({ "groups": self.groups })).unwrap()
    }
}

/// Every YAML document of a file (empty ones skipped).
pub(crate) fn yaml_documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Every PrometheusRule under deploy/<component>/.
pub(crate) fn rule_files() -> Vec<RuleFile> {
    let mut out = Vec::new();
    for component in COMPONENTS {
        let dir = repo().join("deploy").join(component);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            for doc in yaml_documents(&path) {
                if doc["kind"] == "PrometheusRule" {
                    out.push(RuleFile {
                        name: doc["metadata"]["name"].as_str().unwrap().to_string(),
                        source: path.clone(),
                        groups: doc["spec"]["groups"].as_array().unwrap().clone(),
                    });
                }
            }
        }
    }
    assert_eq!(out.len(), 5, "PrometheusRules under deploy/");
    out
}
