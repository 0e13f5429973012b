use crate::model::{Dashboard, Panel, Variable};

/// The SLO dashboard over sloth's `slo:*` series (what `ward slo generate`
/// and sloth record): the content of sloth's two Grafana dashboards (14643
/// "High level Sloth SLOs", 14348 "SLO / Detail"): SLO and service counts,
/// burn rates, budget remaining over the period, burn rate by window, SLI
/// against the objective, and alert state.
pub fn slo() -> Dashboard {
    let one = r#"sloth_service=~"$service", sloth_slo=~"$slo""#;
    let alerts = |severity: &str| {
        format!("max(ALERTS{{{one}, sloth_severity=\"{severity}\"}}) or on () vector(0)")
    };
    Dashboard {
        file: "slo",
        uid: "ward-slo",
        title: "ward SLOs",
        description: "Service level objectives recorded by `ward slo generate` (sloth-compatible slo:* series): budget remaining, burn rates by window, alert state.",
        tags: vec!["ward", "slo", "sloth"],
        variables: vec![
            Variable::LabelValues {
                name: "service",
                label: "Service",
                metric: "slo:objective:ratio",
                label_name: "sloth_service",
            },
            Variable::LabelValues {
                name: "slo",
                label: "SLO",
                metric: r#"slo:objective:ratio{sloth_service=~"$service"}"#,
                label_name: "sloth_slo",
            },
            Variable::Interval {
                name: "sli_window",
                label: "SLI window",
                values: vec!["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"],
            },
            Variable::Textbox {
                name: "min_burning_rate",
                label: "Min burning rate",
                default: "1",
            },
        ],
        panels: vec![
            Panel::row("All SLOs"),
            Panel::stat("SLOs", "short").query("count(sloth_slo_info)", "SLOs"),
            Panel::stat("Services", "short")
                .query("count(max by (sloth_service) (sloth_slo_info))", "services"),
            Panel::stat("Average burn rate", "percentunit")
                .query("avg(slo:current_burn_rate:ratio)", "avg burn rate"),
            Panel::stat("Warning alerts", "short")
                .query(r#"max(ALERTS{sloth_id!="", sloth_severity="ticket"}) or on () vector(0)"#, "warning"),
            Panel::stat("Critical alerts", "short")
                .query(r#"max(ALERTS{sloth_id!="", sloth_severity="page"}) or on () vector(0)"#, "critical"),
            Panel::bargauge("Budget remaining over the period", "percentunit")
                .describe("slo:period_error_budget_remaining:ratio: 1 - the error ratio over the SLO's period (30 days) divided by the budget.")
                .query("slo:period_error_budget_remaining:ratio", "{{sloth_id}}")
                .size(4, 4),
            Panel::timeseries("Burn rates above ${min_burning_rate}x", "short")
                .describe("slo:current_burn_rate:ratio: the 5m error ratio divided by the budget (1 = spending exactly the budget over the period).")
                .query("slo:current_burn_rate:ratio > ${min_burning_rate}", "{{sloth_id}}")
                .size(8, 8),
            Panel::table("SLOs burning faster than ${min_burning_rate}x", "short")
                .query("slo:current_burn_rate:ratio > ${min_burning_rate}", "")
                .size(8, 8),
            Panel::state_timeline("Burn rate of every SLO", "short")
                .query("slo:current_burn_rate:ratio", "{{sloth_service}}/{{sloth_slo}}")
                .size(8, 8),
            Panel::row("$service / $slo").repeat("slo"),
            Panel::stat("Objective", "percentunit")
                .query(&format!("slo:objective:ratio{{{one}}}"), "{{sloth_id}}"),
            Panel::stat("Burning now", "percentunit")
                .describe("This moment's burn rate (5m window).")
                .query(&format!("slo:current_burn_rate:ratio{{{one}}} or on () vector(0)"), "current burn rate"),
            Panel::stat("Budget remaining (period)", "percentunit")
                .query(&format!("slo:period_error_budget_remaining:ratio{{{one}}} or on () vector(1)"), "remaining"),
            Panel::stat("Warning alert", "short").query(&alerts("ticket"), "warning"),
            Panel::stat("Critical alert", "short").query(&alerts("page"), "critical"),
            Panel::stat("Period", "d")
                .query(&format!("slo:time_period:days{{{one}}}"), "days"),
            Panel::timeseries("SLI over $sli_window and objective", "percentunit")
                .query(&format!("1 - (max(slo:sli_error:ratio_rate${{sli_window}}{{{one}}}) or on () vector(0))"), "SLI")
                .query(&format!("slo:objective:ratio{{{one}}}"), "objective")
                .size(8, 8),
            Panel::timeseries("Burn rate by window", "short")
                .describe("Each window's error ratio divided by the budget: the burn-rate alerts page when 5m and 1h exceed 14.4 (or 30m and 6h exceed 6) and open a ticket when 2h and 1d exceed 3 (or 6h and 3d exceed 1).")
                .query(&format!("{{__name__=~\"slo:sli_error:ratio_rate.*\", {one}}} / on (sloth_id) group_left () slo:error_budget:ratio{{{one}}}"), "{{sloth_window}}")
                .size(8, 8),
            Panel::timeseries("Budget remaining over the period", "percentunit")
                .query(&format!("slo:period_error_budget_remaining:ratio{{{one}}}"), "{{sloth_id}}")
                .size(8, 8),
        ],
    }
}
