//! `ward doctor`'s report: one row per finding, worst first, its fix on the
//! row below; or the report as JSON.

use std::io::{self, Write};

use ward_doctor::Report;

use super::{Format, Table};

/// Writes the report as a table or JSON.
pub(crate) fn write(report: &Report, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => super::json(report, out),
        Format::Text => {
            let mut t = Table::new(["SEVERITY", "CHECK", "FINDING"]);
            for f in &report.findings {
                t.row([f.severity.name(), f.check, &f.evidence]);
                if let Some(fix) = &f.fix {
                    t.row(["", "", &format!("fix: {fix}")]);
                }
            }
            t.write(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use ward_doctor::{Finding, Severity};

    use super::*;

    fn report() -> Report {
        Report {
            findings: vec![
                Finding {
                    check: "dns",
                    severity: Severity::Warning,
                    evidence: "8 queries".into(),
                    fix: Some("ndots:1".into()),
                },
                Finding {
                    check: "api-balance",
                    severity: Severity::Skipped,
                    evidence: "needs --prometheus".into(),
                    fix: None,
                },
            ],
        }
    }

    fn text(format: Format) -> String {
        let mut out = Vec::new();
        write(&report(), format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_finding_is_a_row_and_its_fix_the_row_below() {
        assert_eq!(
            text(Format::Text),
            "\
SEVERITY  CHECK        FINDING
warning   dns          8 queries
                       fix: ndots:1
skipped   api-balance  needs --prometheus
"
        );
    }

    #[test]
    fn json_names_each_field() {
        let json: serde_json::Value = serde_json::from_str(&text(Format::Json)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"findings": [
                {"check": "dns", "severity": "warning", "evidence": "8 queries", "fix": "ndots:1"},
                {"check": "api-balance", "severity": "skipped", "evidence": "needs --prometheus", "fix": null},
            ]})
        );
    }
}
