//! The generator never panics: arbitrary text and mutated valid specs
//! either generate or return an error, and whatever generates can be
//! written: a `PrometheusRule` always, a rule file unless it has no rule at
//! all (sloth's "0 SLO Prometheus rules generated"), as the header and then
//! YAML that reads back.

use proptest::prelude::*;
use ward_slo::model::{GroupResult, SpecKind};
use ward_slo::output::{self, WriteError};
use ward_slo::{Config, Generator};

const GOOD: &str = r#"version: "prometheus/v1"
service: "svc"
labels: {tier: 2, owner: yes}
slos:
  - name: "avail"
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: |
          sum(rate(http_requests_total[{{ .window }}]))
    alerting:
      name: Avail
      page_alert: {labels: {severity: critical}}
      ticket_alert: {disable: true}
---
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: x, namespace: ns1}
spec:
  service: "svc"
  slos:
    - name: "raw1"
      objective: 95
      sli: {raw: {errorRatioQuery: "1 - avg_over_time(up[{{.window}}])"}}
      alerting: {pageAlert: {disable: true}, ticketAlert: {disable: true}}
"#;

fn run(text: &str) {
    let gen = Generator::new(Config::default()).expect("default config");
    if let Ok(results) = gen.generate_file("fuzz.yaml", text, &mut Vec::new()) {
        for r in &results {
            written(r, text);
        }
    }
}

/// True when some rule group of `r` has a rule.
fn has_rules(r: &GroupResult) -> bool {
    r.slos.iter().any(|s| {
        [&s.rules.sli, &s.rules.meta, &s.rules.alerts]
            .into_iter()
            .chain(&s.rules.extra)
            .any(|g| !g.rules.is_empty())
    })
}

/// Writes `r` (generated from `spec`) and checks what was written.
fn written(r: &GroupResult, spec: &str) {
    match output::write_result(r, "# header", Vec::new()) {
        Ok(bytes) => {
            let out = String::from_utf8(bytes).expect("the output is UTF-8");
            let doc = out
                .strip_prefix("\n---\n# header\n# DO NOT EDIT.\n\n")
                .unwrap_or_else(|| panic!("no header: {out:?}\nspec: {spec:?}"));
            if let Err(e) = ward_slo::yaml::tree::parse(doc) {
                panic!("the output does not read back as YAML: {e}\n{out}\nspec: {spec:?}");
            }
        }
        Err(WriteError::NoRules) => assert!(
            r.kind != SpecKind::K8sV1 && !has_rules(r),
            "NoRules for a {:?} document with rules; spec: {spec:?}",
            r.kind
        ),
        Err(WriteError::Io(e)) => panic!("writing to memory failed: {e}; spec: {spec:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text(text in "\\PC{0,200}") {
        run(&text);
    }

    #[test]
    fn mutated_specs(pos in 0usize..2000, len in 0usize..8, ins in "[-:{}\\[\\]#&*!|>'\"%@` \n\t0-9a-z.]{0,6}") {
        let mut s: Vec<char> = GOOD.chars().collect();
        let p = pos % s.len();
        let end = (p + len).min(s.len());
        s.splice(p..end, ins.chars());
        let text: String = s.into_iter().collect();
        run(&text);
    }
}

#[test]
fn the_seed_spec_generates() {
    let gen = Generator::new(Config::default()).expect("config");
    let r = gen
        .generate_file("seed.yaml", GOOD, &mut Vec::new())
        .expect("generates");
    assert_eq!(r.len(), 2);
    for doc in &r {
        assert!(has_rules(doc));
        written(doc, GOOD);
    }
}
