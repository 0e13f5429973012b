//! Spec documents in, [`SloGroup`]s out: sloth's multi-document split,
//! textual spec-type detection (prometheus/v1, then Kubernetes, then
//! OpenSLO) and dispatch to one loader per format.

pub mod decode;
pub mod k8s;
pub mod openslo;
pub mod prometheus;
pub mod unknown;

use std::sync::OnceLock;

use regex::Regex;

use crate::duration::Duration;
use crate::model::SloGroup;

/// sloth's `SplitYAML`: trim, drop column-0 comment lines, split on lines starting `---`.
pub fn split_yaml(data: &str) -> Vec<&str> {
    static COMMENTS: OnceLock<Regex> = OnceLock::new();
    let _ = COMMENTS.get_or_init(|| Regex::new("(?m)^#.*$").expect("static regex"));
    // Removing comment lines keeps their newline; splitting on `^---` follows.
    // We split first on `^---` (comments can't contain a line start) and then
    // blank the comments, which yields the same parts.
    let trimmed = data.trim();
    let mut parts = Vec::new();
    let mut start = 0;
    let bytes = trimmed.as_bytes();
    let mut line_start = 0;
    while line_start <= bytes.len() {
        if trimmed[line_start..].starts_with("---") {
            parts.push(&trimmed[start..line_start]);
            start = line_start + 3;
        }
        match trimmed[line_start..].find('\n') {
            Some(off) => line_start += off + 1,
            None => break,
        }
    }
    parts.push(&trimmed[start..]);
    parts
}

/// One document ready to load: comment lines blanked and trimmed, as sloth passes it on.
pub fn clean_doc(part: &str) -> Option<String> {
    let mut out = String::with_capacity(part.len());
    if part.starts_with('#') || part.contains("\n#") {
        for (i, line) in part.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if !line.starts_with('#') {
                out.push_str(line);
            }
        }
    } else {
        out.push_str(part);
    }
    // Trimmed in place: a document is copied once.
    out.truncate(out.trim_end().len());
    out.drain(..out.len() - out.trim_start().len());
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Splits a file into its non-empty spec documents, like sloth's CLI.
pub fn documents(data: &str) -> Vec<String> {
    split_yaml(data).into_iter().filter_map(clean_doc).collect()
}

/// Which loader a document goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// prometheus/v1.
    Prometheus,
    /// Kubernetes PrometheusServiceLevel.
    K8s,
    /// OpenSLO v1alpha SLO.
    OpenSlo,
}

fn re(cell: &'static OnceLock<Regex>, pat: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pat).expect("static regex"))
}

/// sloth's textual spec detection (`IsSpecType` of each loader, in order).
pub fn detect(doc: &str) -> Option<Detected> {
    static PROM: OnceLock<Regex> = OnceLock::new();
    static K8S_KIND: OnceLock<Regex> = OnceLock::new();
    static K8S_API: OnceLock<Regex> = OnceLock::new();
    static OSLO_KIND: OnceLock<Regex> = OnceLock::new();
    static OSLO_API: OnceLock<Regex> = OnceLock::new();
    if re(&PROM, r#"(?m)^version: +['"]?prometheus/v1['"]?\r?\n? *$"#).is_match(doc) {
        return Some(Detected::Prometheus);
    }
    if re(
        &K8S_KIND,
        r#"(?m)^kind: +['"]?PrometheusServiceLevel['"]? *$"#,
    )
    .is_match(doc)
        && re(
            &K8S_API,
            r#"(?m)^apiVersion: +['"]?sloth.slok.dev/v1['"]? *$"#,
        )
        .is_match(doc)
    {
        return Some(Detected::K8s);
    }
    if re(&OSLO_KIND, r#"(?m)^kind: +['"]?SLO['"]? *$"#).is_match(doc)
        && re(
            &OSLO_API,
            r#"(?m)^apiVersion: +['"]?openslo/v1alpha['"]? *$"#,
        )
        .is_match(doc)
    {
        return Some(Detected::OpenSlo);
    }
    None
}

/// Loads one document into an SLO group (SLI plugins already applied).
/// Paths of keys sloth ignores are appended to `ignored` once the document
/// parsed, also when loading fails after that.
pub fn load(
    doc: &str,
    default_period: Duration,
    ignored: &mut Vec<String>,
) -> Result<SloGroup, String> {
    match detect(doc) {
        Some(Detected::Prometheus) => prometheus::load(doc, default_period, ignored)
            .map_err(|e| format!("tried loading raw prometheus SLOs spec, it couldn't: {e}")),
        Some(Detected::K8s) => k8s::load(doc, default_period, ignored).map_err(|e| {
            format!("tried loading Kubernetes prometheus SLOs spec, it couldn't: {e}")
        }),
        Some(Detected::OpenSlo) => openslo::load(doc, default_period)
            .map_err(|e| format!("tried loading OpenSLO SLOs spec, it couldn't: {e}")),
        None => {
            Err("invalid spec, could not load with any of the supported spec types".to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_sloth() {
        let docs = documents("\n# c\n---\na: 1\n---\n\n---\nb: 2\n# x\n");
        assert_eq!(docs, vec!["a: 1".to_string(), "b: 2".to_string()]);
        assert_eq!(documents("a: 1\n----x\nb: 2"), vec!["a: 1", "-x\nb: 2"]);
    }

    #[test]
    fn detects() {
        assert_eq!(
            detect("version: \"prometheus/v1\"\nservice: x"),
            Some(Detected::Prometheus)
        );
        assert_eq!(detect("version: prometheus/v1 # c\n"), None);
        assert_eq!(detect("version: \"prometheus/v999\""), None);
        assert_eq!(
            detect("apiVersion: sloth.slok.dev/v1\nkind: PrometheusServiceLevel"),
            Some(Detected::K8s)
        );
        assert_eq!(
            detect("apiVersion: openslo/v1alpha\nkind: SLO"),
            Some(Detected::OpenSlo)
        );
    }
}
