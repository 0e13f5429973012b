//! The generator never panics: arbitrary text and mutated valid specs
//! either generate or return an error, and whatever generates can be
//! written.

use proptest::prelude::*;
use ward_slo::{output, Config, Generator};

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
            let _ = output::write_result(r, "# header", Vec::new());
        }
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
}
