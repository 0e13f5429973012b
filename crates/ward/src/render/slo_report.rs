//! The report of `ward slo report`: a table (one row per SLO, then its burn
//! rate by window), JSON (the report as it is), or a static HTML page with
//! inline SVG charts (no script, no external resource).

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use ward_slo_report::{AlertState, Exhaustion, Report, SloStatus};

use super::{xml, Format, Table};

/// `x` with at most `decimals` decimals, trailing zeros dropped (`2`, `0.875`, `-638.33`).
fn num(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" { "0" } else { s }.to_string()
}

/// A share as a percentage, two decimals at most (`15%`, `-638.33%`); `-` when unknown.
fn percent(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{}%", num(x * 100.0, 2)))
}

/// A burn rate, four decimals at most (`2x`, `0.875x`); `-` when unknown.
fn burn(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{}x", num(x, 4)))
}

/// A duration as Prometheus writes it (`30d`, `4w`, `2d6h`).
fn prom(d: Duration) -> String {
    ward_slo::duration::Duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)).prom()
}

/// When the budget runs out: `2d6h`, `exhausted`, `never`, `-`.
fn exhaustion(e: &Exhaustion) -> String {
    match e {
        Exhaustion::Exhausted => "exhausted".into(),
        Exhaustion::In { seconds } => prom(*seconds),
        Exhaustion::Never => "never".into(),
        Exhaustion::Unknown => "-".into(),
    }
}

fn state(s: AlertState) -> &'static str {
    match s {
        AlertState::Inactive => "inactive",
        AlertState::Pending => "pending",
        AlertState::Firing => "firing",
    }
}

/// The SLO's alerts: `page firing, ticket inactive` (an alert without a
/// severity by its name); `-` when it has no alerting rules.
fn alerts(slo: &SloStatus) -> String {
    if slo.alerts.is_empty() {
        return "-".into();
    }
    let each: Vec<String> = slo
        .alerts
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a.severity.as_deref().unwrap_or(&a.name),
                state(a.state)
            )
        })
        .collect();
    each.join(", ")
}

/// The burn rate of every window: `5m 2x  30m 2x  1h 1.25x`.
fn windows(slo: &SloStatus) -> String {
    let each: Vec<String> = slo
        .windows
        .iter()
        .map(|w| format!("{} {}", w.window, burn(w.burn_rate)))
        .collect();
    each.join("  ")
}

/// The columns of the report's table (and of the page's).
const COLUMNS: [&str; 8] = [
    "SLO",
    "OBJECTIVE",
    "PERIOD",
    "BUDGET LEFT",
    "BURN NOW",
    "PERIOD BURN",
    "EXHAUSTED IN",
    "ALERTS",
];

/// One SLO's cells under [`COLUMNS`].
fn cells(s: &SloStatus) -> [String; 8] {
    [
        s.id.clone(),
        format!("{}%", num(s.objective * 100.0, 4)),
        s.period.map_or("-".into(), prom),
        percent(s.budget_remaining),
        burn(s.current_burn_rate),
        burn(s.period_burn_rate),
        exhaustion(&s.exhaustion),
        alerts(s),
    ]
}

/// The failure that ends `ward slo report`.
pub(crate) fn failure(e: &ward_slo_report::Error, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "ward slo report: {e}")
}

/// Writes the report as a table or JSON.
pub(crate) fn write(report: &Report, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => super::json(report, out),
        Format::Text => {
            let mut t = Table::new(COLUMNS);
            for s in &report.slos {
                t.row(cells(s));
            }
            t.write(out)?;
            writeln!(out)?;
            let mut t = Table::new(["SLO", "BURN RATE BY WINDOW"]);
            for s in &report.slos {
                t.row([s.id.clone(), windows(s)]);
            }
            t.write(out)
        }
    }
}

/// Chart size, in SVG user units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
/// Room for the axis labels.
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 24.0;
/// Room for the budget chart's latest point on the right edge.
const RIGHT: f64 = 8.0;

/// A bar per window, its burn rate, with a dashed line at 1x (the rate that
/// spends the budget exactly over the period).
fn burn_chart(slo: &SloStatus, svg: &mut String) {
    let top = slo
        .windows
        .iter()
        .filter_map(|w| w.burn_rate)
        .fold(1.0_f64, f64::max)
        * 1.15;
    let plot = HEIGHT - BOTTOM - 8.0;
    let y = |v: f64| 8.0 + plot * (1.0 - v.max(0.0) / top);
    let n = slo.windows.len().max(1) as f64;
    let slot = (WIDTH - LEFT) / n;
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="burn" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{} burn rate by window</title>"#,
        xml(&slo.id)
    );
    for (i, w) in slo.windows.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let label_x = x + slot / 2.0;
        if let Some(b) = w.burn_rate {
            let class = if b > 1.0 { "over" } else { "under" };
            let _ = write!(
                svg,
                r#"<rect class="{class}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/><text x="{label_x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + slot * 0.15,
                y(b),
                slot * 0.7,
                (HEIGHT - BOTTOM) - y(b),
                y(b) - 3.0,
                xml(&burn(Some(b)))
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{label_x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            HEIGHT - 6.0,
            xml(&w.window)
        );
    }
    let one = y(1.0);
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{WIDTH}" y2="{:.1}"/><line class="one" x1="{LEFT}" y1="{one:.1}" x2="{WIDTH}" y2="{one:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">1x</text></svg>"#,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM,
        LEFT - 6.0,
        one + 4.0
    );
}

/// The budget remaining over the period (a line from its start to the
/// report's time), with lines at 100% and 0%.
fn budget_chart(slo: &SloStatus, at: f64, svg: &mut String) {
    let period = slo.period.map_or(0.0, |p| p.as_secs_f64());
    let values = slo.budget_history.iter().map(|&(_, v)| v);
    let low = values.clone().fold(0.0_f64, f64::min);
    let high = values.fold(1.0_f64, f64::max);
    let plot = HEIGHT - BOTTOM - 8.0;
    let y = |v: f64| 8.0 + plot * (high - v) / (high - low);
    let x = |t: f64| {
        let start = at - period;
        LEFT + (WIDTH - LEFT - RIGHT) * ((t - start) / period.max(1.0)).clamp(0.0, 1.0)
    };
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="budget" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{} error budget remaining</title>"#,
        xml(&slo.id)
    );
    for (v, label) in [(1.0, "100%"), (0.0, "0%")] {
        let _ = write!(
            svg,
            r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{WIDTH}" y2="{:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            y(v),
            y(v),
            LEFT - 6.0,
            y(v) + 4.0
        );
    }
    if slo.budget_history.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no data</text>"#,
            (LEFT + WIDTH) / 2.0,
            HEIGHT / 2.0
        );
    } else {
        let points: Vec<String> = slo
            .budget_history
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="line" points="{}"/>"#,
            points.join(" ")
        );
        // The latest point as a dot: a history of one point draws no line.
        if let Some(&(t, v)) = slo.budget_history.last() {
            let _ = write!(
                svg,
                r#"<circle class="dot" cx="{:.1}" cy="{:.1}" r="3"/>"#,
                x(t),
                y(v)
            );
        }
    }
    let period = slo.period.map_or("-".into(), prom);
    let _ = write!(
        svg,
        r#"<text x="{LEFT}" y="{:.1}">-{}</text><text x="{WIDTH}" y="{:.1}" text-anchor="end">now</text></svg>"#,
        HEIGHT - 6.0,
        xml(&period),
        HEIGHT - 6.0
    );
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left;border-bottom:1px solid #ddd}\
section{margin-top:2em}svg{width:100%;max-width:640px;display:block;margin:.5em 0}\
svg text{font-size:11px;fill:#444}.over{fill:#d9534f}.under{fill:#5b9bd5}\
.axis{stroke:#999}.one{stroke:#d9534f;stroke-dasharray:4 3}.line{fill:none;stroke:#5b9bd5;stroke-width:2}.dot{fill:#5b9bd5}";

/// Writes the report as one static HTML page: the table, then per SLO its
/// burn rate by window and its budget over the period as inline SVG.
pub(crate) fn html(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let at = UNIX_EPOCH + Duration::from_secs_f64(report.at.max(0.0));
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>SLO report</title><style>{STYLE}</style></head><body>\n<h1>SLO report</h1>\n<p>Prometheus {} at {}</p>\n<table><tr>",
        xml(&report.prometheus),
        crate::logging::iso8601(at)
    );
    for c in COLUMNS {
        let _ = write!(page, "<th>{c}</th>");
    }
    page.push_str("</tr>\n");
    for s in &report.slos {
        page.push_str("<tr>");
        for c in cells(s) {
            let _ = write!(page, "<td>{}</td>", xml(&c));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
    for s in &report.slos {
        let _ = write!(
            page,
            "<section><h2>{}</h2><p>service {}, SLO {}</p><h3>Burn rate by window</h3>",
            xml(&s.id),
            xml(&s.service),
            xml(&s.slo)
        );
        burn_chart(s, &mut page);
        page.push_str("<h3>Error budget remaining over the period</h3>");
        budget_chart(s, report.at, &mut page);
        page.push_str("</section>\n");
    }
    page.push_str("</body></html>\n");
    out.write_all(page.as_bytes())
}

#[cfg(test)]
mod tests {
    use ward_slo_report::{AlertStatus, WindowBurn};

    use super::*;

    fn report() -> Report {
        let window = |window: &str, secs: u64, burn_rate: f64| WindowBurn {
            window: window.into(),
            length: Duration::from_secs(secs),
            error_ratio: Some(burn_rate * 0.001),
            burn_rate: Some(burn_rate),
        };
        Report {
            prometheus: "http://127.0.0.1:9090".into(),
            at: 1_765_000_000.0,
            slos: vec![SloStatus {
                id: "shop-checkout".into(),
                service: "shop".into(),
                slo: "checkout".into(),
                objective: 0.999,
                error_budget: 0.001,
                period: Some(Duration::from_secs(30 * 86_400)),
                budget_remaining: Some(0.15),
                current_burn_rate: Some(2.0),
                period_burn_rate: Some(0.85),
                windows: vec![window("5m", 300, 2.0), window("30d", 30 * 86_400, 0.85)],
                exhaustion: Exhaustion::In {
                    seconds: Duration::from_secs(194_400),
                },
                alerts: vec![
                    AlertStatus {
                        name: "ShopCheckout".into(),
                        severity: Some("page".into()),
                        state: AlertState::Firing,
                    },
                    AlertStatus {
                        name: "ShopCheckoutBudgetExhausted".into(),
                        severity: None,
                        state: AlertState::Inactive,
                    },
                ],
                budget_history: vec![(1_764_990_000.0, 0.2), (1_765_000_000.0, 0.15)],
            }],
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_has_a_row_per_slo_and_its_windows() {
        assert_eq!(
            text(|o| write(&report(), Format::Text, o)),
            "\
SLO            OBJECTIVE  PERIOD  BUDGET LEFT  BURN NOW  PERIOD BURN  EXHAUSTED IN  ALERTS
shop-checkout  99.9%      30d     15%          2x        0.85x        2d6h          page firing, ShopCheckoutBudgetExhausted inactive

SLO            BURN RATE BY WINDOW
shop-checkout  5m 2x  30d 0.85x
"
        );
        assert_eq!(
            (num(-0.0001, 2), num(7.383333, 4), percent(None)),
            ("0".into(), "7.3833".into(), "-".into())
        );
    }

    #[test]
    fn the_page_is_static_and_has_a_chart_per_slo() {
        let page = text(|o| html(&report(), o));
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.contains("<h2>shop-checkout</h2>"), "{page}");
        assert!(page.contains("at 2025-12-06T05:46:40.000Z"), "{page}");
        assert_eq!(page.matches("<svg ").count(), 2, "{page}");
        assert!(page.contains(r#"<polyline class="line" points="#), "{page}");
        assert!(
            page.contains(r#"<circle class="dot" cx="632.0" cy="#),
            "the latest point, at the right edge: {page}"
        );
        for external in ["<script", "src=", "href=", "http://www.w3.org/1999"] {
            assert!(!page.contains(external), "{external} in {page}");
        }
    }
}
