//! SLO ids across the files of one `validate` run: sloth refuses the same
//! id (`<service>-<name>`) in two specs, naming both files.

use std::collections::HashMap;

use crate::error::Error;
use crate::model::GroupResult;

/// The SLO ids seen so far, each with the file it was first seen in.
#[derive(Debug, Default)]
pub struct SloIds {
    first_seen: HashMap<String, String>,
}

impl SloIds {
    /// Adds the SLOs of one generated document of `file`; returns an
    /// [`Error::Duplicate`] for each id seen before.
    pub fn add(&mut self, file: &str, result: &GroupResult) -> Vec<Error> {
        let mut duplicates = Vec::new();
        for r in &result.slos {
            match self.first_seen.get(&r.slo.id) {
                None => {
                    self.first_seen.insert(r.slo.id.clone(), file.to_string());
                }
                Some(other) => duplicates.push(Error::Duplicate {
                    file: file.to_string(),
                    service: r.slo.service.clone(),
                    name: r.slo.name.clone(),
                    id: r.slo.id.clone(),
                    other: other.clone(),
                }),
            }
        }
        duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Generator};

    const SPEC: &str = "version: \"prometheus/v1\"\nservice: svc\nslos:\n  - name: avail\n    objective: 99\n    sli: {raw: {error_ratio_query: \"x[{{.window}}]\"}}\n    alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}\n";

    #[test]
    fn a_second_file_with_the_same_id_is_a_duplicate_naming_both() {
        let gen = Generator::new(Config::default()).unwrap();
        let result = gen.generate_doc("a.yaml", SPEC, &mut Vec::new()).unwrap();
        let mut ids = SloIds::default();
        assert!(ids.add("a.yaml", &result).is_empty());
        let dup = ids.add("b.yaml", &result);
        assert_eq!(
            dup.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["b.yaml: SLO duplicated. SLO{service=svc, name=avail}, ID=svc-avail already exists in a file: a.yaml: already exists"]
        );
    }
}
