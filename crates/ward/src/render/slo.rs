//! `ward slo`'s messages on stderr (the rules themselves are `ward-slo`'s
//! bytes): a warning per key sloth ignores, a line per invalid file, the
//! validation total, and the failure that ends the command; and the report
//! of `ward slo test` (a table, JSON or JUnit XML).

use std::io::{self, Write};

use serde::Serialize;
use ward_slo::alert_tests::{Case, MARGIN};
use ward_slo_files::{CaseResult, Error, SloReport};

use super::{xml, Table};

/// A warning: a key sloth ignores (the run goes on).
pub(crate) fn warning(line: &str, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "ward slo: warning: {line}")
}

/// The errors of one invalid file, on one line.
pub(crate) fn file_errors(errors: &[String], out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "{}", errors.join("; "))
}

/// The end of a successful validation: how many SLO specs were valid.
pub(crate) fn validated(specs: usize, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "Validation succeeded slo-specs={specs}")
}

/// The failure that ends `ward slo`.
pub(crate) fn failure(e: &Error, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "ward slo: {e}")
}

/// Output format of `ward slo test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum TestFormat {
    /// A table, then promtool's output for each failed case.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML: a test suite per SLO, a test case per case.
    Junit,
}

/// A number with at most four decimals (`14.4`, `5.6`, `0.9333`).
fn short(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Which alerts fire: `nothing fires`, `page fires`, `page, ticket fire`.
fn fire(expected: &[&str]) -> String {
    match expected {
        [] => "nothing fires".into(),
        [one] => format!("{one} fires"),
        many => format!("{} fire", many.join(", ")),
    }
}

/// What a case expects, with the check before `for:` has passed if any:
/// `page fires`, `page fires; nothing fires at 1h4m22s500ms`.
fn expectation(c: &Case) -> String {
    match &c.pending {
        None => fire(&c.expected),
        Some((t, pending)) => format!("{}; {} at {}", fire(&c.expected), fire(pending), t.prom()),
    }
}

/// What a case feeds promtool: `recorded` SLI recordings or `raw` counters.
fn inputs(c: &Case) -> &'static str {
    if c.raw {
        "raw"
    } else {
        "recorded"
    }
}

/// A case in one line: `recorded page quick 5m/1h: burn 14.544x (1% above 14.4x) for 1h: page fires`.
fn case_name(c: &Case) -> String {
    format!(
        "{} {} {} {}/{}: burn {}x ({}% {} {}x) for {}: {}",
        inputs(c),
        c.severity,
        c.pair,
        c.short.prom(),
        c.long.prom(),
        short(c.burn_rate),
        short(MARGIN * 100.0),
        if c.above() { "above" } else { "below" },
        short(c.threshold),
        c.at.prom(),
        expectation(c)
    )
}

/// (cases, failed) over every SLO.
fn totals(reports: &[SloReport]) -> (usize, usize) {
    let cases = reports.iter().flat_map(|r| &r.cases);
    let failed = cases.clone().filter(|c| c.failure.is_some()).count();
    (cases.count(), failed)
}

/// JSON form of one case.
#[derive(Serialize)]
struct CaseJson<'a> {
    name: String,
    inputs: &'static str,
    severity: &'a str,
    pair: &'a str,
    short_window: String,
    long_window: String,
    budget_percent: f64,
    threshold: f64,
    burn_rate: f64,
    at: String,
    expected_firing: &'a [&'static str],
    pending: Option<PendingJson<'a>>,
    passed: bool,
    failure: Option<&'a str>,
}

impl<'a> From<&'a CaseResult> for CaseJson<'a> {
    fn from(r: &'a CaseResult) -> Self {
        let c = &r.case;
        CaseJson {
            name: case_name(c),
            inputs: inputs(c),
            severity: c.severity,
            pair: c.pair,
            short_window: c.short.prom(),
            long_window: c.long.prom(),
            budget_percent: c.budget_percent,
            threshold: c.threshold,
            burn_rate: c.burn_rate,
            at: c.at.prom(),
            expected_firing: &c.expected,
            pending: c.pending.as_ref().map(|(t, firing)| PendingJson {
                at: t.prom(),
                expected_firing: firing,
            }),
            passed: r.failure.is_none(),
            failure: r.failure.as_deref(),
        }
    }
}

/// JSON form of the check before an alert's `for:` has passed.
#[derive(Serialize)]
struct PendingJson<'a> {
    at: String,
    expected_firing: &'a [&'static str],
}

/// JSON form of one SLO.
#[derive(Serialize)]
struct SloJson<'a> {
    file: &'a str,
    id: &'a str,
    period: String,
    objective: f64,
    raw_skipped: Option<&'a str>,
    cases: Vec<CaseJson<'a>>,
}

/// JSON form of the whole report.
#[derive(Serialize)]
struct ReportJson<'a> {
    slos: Vec<SloJson<'a>>,
    cases: usize,
    passed: usize,
    failed: usize,
}

/// Writes the report of `ward slo test`.
pub(crate) fn test_report(
    reports: &[SloReport],
    format: TestFormat,
    out: &mut impl Write,
) -> io::Result<()> {
    let (cases, failed) = totals(reports);
    match format {
        TestFormat::Text => {
            let mut t = Table::new([
                "SLO", "INPUTS", "ALERT", "WINDOWS", "BUDGET", "BURN", "AFTER", "EXPECTED",
                "RESULT",
            ]);
            for r in reports {
                if r.cases.is_empty() {
                    t.row([
                        r.id.as_str(),
                        "-",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "no alerts enabled",
                    ]);
                }
                for c in &r.cases {
                    let k = &c.case;
                    t.row([
                        r.id.clone(),
                        inputs(k).into(),
                        format!("{} {}", k.severity, k.pair),
                        format!("{}/{}", k.short.prom(), k.long.prom()),
                        format!("{}%", short(k.budget_percent)),
                        format!(
                            "{}x {} {}x",
                            short(k.burn_rate),
                            if k.above() { ">" } else { "<" },
                            short(k.threshold)
                        ),
                        k.at.prom(),
                        expectation(k),
                        if c.failure.is_some() { "FAIL" } else { "pass" }.into(),
                    ]);
                }
            }
            t.write(out)?;
            let plural =
                |n: usize, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
            writeln!(
                out,
                "{}, {}: {} passed, {failed} failed",
                plural(reports.len(), "SLO"),
                plural(cases, "case"),
                cases - failed
            )?;
            for r in reports {
                if let Some(why) = &r.raw_skipped {
                    writeln!(out, "{}: no raw-traffic cases: {why}", r.id)?;
                }
            }
            for r in reports {
                for c in &r.cases {
                    if let Some(f) = &c.failure {
                        writeln!(out, "\nFAIL {}: {}", r.id, case_name(&c.case))?;
                        for line in f.lines() {
                            writeln!(out, "  {line}")?;
                        }
                    }
                }
            }
            Ok(())
        }
        TestFormat::Json => super::json(
            &ReportJson {
                slos: reports
                    .iter()
                    .map(|r| SloJson {
                        file: &r.file,
                        id: &r.id,
                        period: r.period.prom(),
                        objective: r.objective,
                        raw_skipped: r.raw_skipped.as_deref(),
                        cases: r.cases.iter().map(CaseJson::from).collect(),
                    })
                    .collect(),
                cases,
                passed: cases - failed,
                failed,
            },
            out,
        ),
        TestFormat::Junit => {
            writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
            writeln!(
                out,
                r#"<testsuites name="ward slo test" tests="{cases}" failures="{failed}">"#
            )?;
            for r in reports {
                let (n, f) = totals(std::slice::from_ref(r));
                write!(
                    out,
                    r#"  <testsuite name="{}" file="{}" tests="{n}" failures="{f}""#,
                    xml(&r.id),
                    xml(&r.file)
                )?;
                if r.cases.is_empty() {
                    writeln!(out, "/>")?;
                    continue;
                }
                writeln!(out, ">")?;
                for c in &r.cases {
                    let open = format!(
                        r#"    <testcase classname="{}" name="{}""#,
                        xml(&r.id),
                        xml(&case_name(&c.case))
                    );
                    match &c.failure {
                        None => writeln!(out, "{open}/>")?,
                        Some(f) => writeln!(
                            out,
                            "{open}>\n      <failure message=\"promtool test rules failed\">{}</failure>\n    </testcase>",
                            xml(f)
                        )?,
                    }
                }
                writeln!(out, "  </testsuite>")?;
            }
            writeln!(out, "</testsuites>")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn junit_text_is_escaped() {
        assert_eq!(
            xml("a<b && \"c\" 'd'\u{1b}[0m\n"),
            "a&lt;b &amp;&amp; &quot;c&quot; &apos;d&apos;[0m\n"
        );
        assert_eq!(
            (short(14.4 * 1.01), short(5.6000000000000005), short(2.0)),
            ("14.544".into(), "5.6".into(), "2".into())
        );
    }

    #[test]
    fn messages_are_one_line_each() {
        assert_eq!(
            text(|o| warning("u.yaml: unknown field x is ignored, as sloth does", o)),
            "ward slo: warning: u.yaml: unknown field x is ignored, as sloth does\n"
        );
        assert_eq!(
            text(|o| file_errors(&["a".into(), "b".into()], o)),
            "a; b\n"
        );
        assert_eq!(
            text(|o| validated(3, o)),
            "Validation succeeded slo-specs=3\n"
        );
        let e = Error::Invalid { bad: 1, files: 2 };
        assert_eq!(
            text(|o| failure(&e, o)),
            "ward slo: validation failed: 1 of 2 files have invalid SLO specs\n"
        );
    }
}
