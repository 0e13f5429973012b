//! The status the controller writes on a PrometheusServiceLevel: sloth's
//! fields (`processedSLOs`, `promOpRulesGenerated`,
//! `promOpRulesGeneratedSLOs`, `lastPromOpRulesSuccessfulGenerated`,
//! `observedGeneration`, with sloth's meaning) plus ward's `generatedRules`
//! and a `Ready` condition whose message says what was written or what is
//! wrong with the spec. Unchanged facts keep their timestamps, so writing the
//! status again changes nothing and triggers no further round.

use serde_json::{json, Value};

/// What a round did with one object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Its PrometheusRule holds `rules` rules; `written` when this round
    /// created or updated it.
    Generated {
        /// Rules in the PrometheusRule.
        rules: usize,
        /// Created or updated by this round.
        written: bool,
    },
    /// The spec is invalid (the message names the field); no rules written.
    Invalid(String),
    /// A PrometheusRule of the same name exists that this object does not own.
    Conflict(String),
}

impl Outcome {
    /// The `result` label of `ward_slo_controller_reconciles_total`.
    pub(crate) fn result(&self) -> &'static str {
        match self {
            Outcome::Generated { .. } => "ok",
            Outcome::Invalid(_) => "invalid",
            Outcome::Conflict(_) => "conflict",
        }
    }
}

/// The next status, or `None` when `previous` already says it all.
pub(crate) fn next(
    previous: &Value,
    generation: i64,
    slos: usize,
    outcome: &Outcome,
    rule_name: &str,
    now: &str,
) -> Option<Value> {
    let (ok, reason, message, rules) = match outcome {
        Outcome::Generated { rules, .. } => (
            true,
            "RulesGenerated",
            format!("{rules} rules for {slos} SLOs in PrometheusRule {rule_name}"),
            *rules,
        ),
        Outcome::Invalid(m) => (false, "InvalidSpec", m.clone(), 0),
        Outcome::Conflict(m) => (false, "RuleConflict", m.clone(), 0),
    };
    let written = matches!(outcome, Outcome::Generated { written: true, .. });
    let last_success = match &previous["lastPromOpRulesSuccessfulGenerated"] {
        Value::String(t) if !written => Some(t.clone()),
        _ if ok => Some(now.to_string()),
        _ => None,
    };
    let previous_ready = previous["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let status_text = if ok { "True" } else { "False" };
    let transition = match previous_ready {
        Some(c) if c["status"] == status_text => c["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let mut status = json!({
        "observedGeneration": generation,
        "processedSLOs": slos,
        "promOpRulesGenerated": ok,
        "promOpRulesGeneratedSLOs": if ok { slos } else { 0 },
        "generatedRules": rules,
        "conditions": [{
            "type": "Ready",
            "status": status_text,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": transition,
        }],
    });
    if let Some(t) = last_success {
        status["lastPromOpRulesSuccessfulGenerated"] = json!(t);
    }
    (status != *previous).then_some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-12-08T00:00:00Z";
    const T1: &str = "2026-12-08T00:01:00Z";

    #[test]
    fn a_round_that_changes_nothing_writes_nothing() {
        let done = Outcome::Generated {
            rules: 17,
            written: true,
        };
        let first = next(&Value::Null, 1, 1, &done, "shop/checkout", T0).unwrap();
        assert_eq!(first["lastPromOpRulesSuccessfulGenerated"], T0);
        assert_eq!(
            first["conditions"][0]["message"],
            "17 rules for 1 SLOs in PrometheusRule shop/checkout"
        );
        let same = Outcome::Generated {
            rules: 17,
            written: false,
        };
        assert_eq!(next(&first, 1, 1, &same, "shop/checkout", T1), None);
    }

    #[test]
    fn an_invalid_spec_keeps_the_last_success_and_says_why() {
        let done = Outcome::Generated {
            rules: 17,
            written: true,
        };
        let first = next(&Value::Null, 1, 1, &done, "shop/checkout", T0).unwrap();
        let bad =
            Outcome::Invalid("shop/checkout: invalid slo \"x\" (field errorQuery): bad".into());
        let s = next(&first, 2, 1, &bad, "shop/checkout", T1).unwrap();
        assert_eq!(
            (
                &s["promOpRulesGenerated"],
                &s["promOpRulesGeneratedSLOs"],
                &s["generatedRules"],
                &s["observedGeneration"]
            ),
            (&json!(false), &json!(0), &json!(0), &json!(2))
        );
        assert_eq!(s["lastPromOpRulesSuccessfulGenerated"], T0);
        let ready = &s["conditions"][0];
        assert_eq!(
            (
                &ready["status"],
                &ready["reason"],
                &ready["lastTransitionTime"]
            ),
            (&json!("False"), &json!("InvalidSpec"), &json!(T1))
        );
        assert_eq!(
            ready["message"],
            "shop/checkout: invalid slo \"x\" (field errorQuery): bad"
        );
    }
}
