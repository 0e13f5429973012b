//! `ward slo test`: the promtool unit tests of every SLO under an input
//! (built by [`ward_slo::alert_tests`] from the rules ward generates), run
//! with promtool, one run per case so each case passes or fails on its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use ward_slo::alert_tests::{self, Case, Suite, ALL_RULES_FILE, RULES_FILE};
use ward_slo::Generator;

use crate::{ignored_fields, io_error, walk, Error, Filters, Result};

/// What `test` reads and which promtool it runs.
#[derive(Debug, Clone, Default)]
pub struct TestRequest {
    /// A spec file, or a directory walked recursively.
    pub input: String,
    /// Which files of a directory input to test.
    pub filters: Filters,
    /// The promtool binary; `None` looks for `promtool` on `PATH`.
    pub promtool: Option<PathBuf>,
    /// Fail on keys sloth ignores, instead of a warning.
    pub strict: bool,
}

/// One case and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// promtool's output when the case failed; `None` when it passed.
    pub failure: Option<String>,
}

/// The cases of one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct SloReport {
    /// The spec file the SLO is in.
    pub file: String,
    /// The SLO id (`sloth_id`).
    pub id: String,
    /// The SLO's period.
    pub period: ward_slo::duration::Duration,
    /// The SLO's objective, in percent.
    pub objective: f64,
    /// Why the SLO has no raw-traffic cases (see [`Suite::raw_skipped`]).
    pub raw_skipped: Option<String>,
    /// Its cases, in [`Suite`] order (none when both alerts are disabled).
    pub cases: Vec<CaseResult>,
}

/// The SLO test suites of every spec under `request.input`, with their
/// files; a warning per key sloth ignores goes to `on_warning`.
pub fn suites(
    gen: &Generator,
    request: &TestRequest,
    on_warning: &mut dyn FnMut(String),
) -> Result<Vec<(String, Suite)>> {
    let mut out = Vec::new();
    for file in request.filters.discover(&request.input)? {
        let data = walk::read_spec(Path::new(&file))?;
        let mut ignored = Vec::new();
        let generated = gen.generate_file(&file, &data, &mut ignored);
        ignored_fields(&file, &ignored, request.strict)?
            .into_iter()
            .for_each(&mut *on_warning);
        for doc in generated? {
            for slo in &doc.slos {
                let suite = alert_tests::suite(slo).map_err(|e| {
                    Error::Input(format!("{file}: slo {:?}: cannot test: {e}", slo.slo.id))
                })?;
                out.push((file.clone(), suite));
            }
        }
    }
    Ok(out)
}

/// The promtool to run: `explicit`, else `promtool` on `PATH`.
pub fn promtool(explicit: Option<&Path>) -> Result<PathBuf> {
    const HOW: &str = "install Prometheus' promtool (Debian/Ubuntu: apt-get install prometheus; or a release from https://prometheus.io/download/) or pass --promtool PATH";
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(Error::Tool(format!(
                "promtool {} not found: {HOW}",
                p.display()
            )))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Tool(format!("promtool not found on PATH: {HOW}")))
}

/// Runs every case of `suite` against `rules` (the suite's own alert rule
/// file, or another to see the cases catch it; the raw-traffic cases read
/// the suite's whole rule file), each in its own promtool run, all
/// at once; one result per case, in order.
pub fn run_suite(promtool: &Path, suite: &Suite, rules: &str) -> Result<Vec<CaseResult>> {
    let dir = tempfile::tempdir().map_err(io_error("creating a directory for promtool"))?;
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).map_err(io_error(format!("writing {}", path.display())))
    };
    write(RULES_FILE, rules)?;
    if !suite.all_rules.is_empty() {
        write(ALL_RULES_FILE, &suite.all_rules)?;
    }
    let run = |i: usize, case: &Case| -> Result<CaseResult> {
        let name = format!("case-{}.yaml", i + 1);
        write(&name, &case.test_file)?;
        let out = Command::new(promtool)
            .args(["test", "rules", &name])
            .current_dir(dir.path())
            .output()
            .map_err(io_error(format!("running {}", promtool.display())))?;
        let failure = (!out.status.success()).then(|| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        Ok(CaseResult {
            case: case.clone(),
            failure,
        })
    };
    std::thread::scope(|s| {
        let running: Vec<_> = suite
            .cases
            .iter()
            .enumerate()
            .map(|(i, case)| s.spawn(move || run(i, case)))
            .collect();
        running
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Tests every SLO under `request.input`: generates its rules and cases,
/// runs them with promtool, reports per SLO (warnings: see [`suites`]).
pub fn test(
    gen: &Generator,
    request: &TestRequest,
    on_warning: &mut dyn FnMut(String),
) -> Result<Vec<SloReport>> {
    let suites = suites(gen, request, on_warning)?;
    let promtool = promtool(request.promtool.as_deref())?;
    suites
        .into_iter()
        .map(|(file, suite)| {
            Ok(SloReport {
                cases: run_suite(&promtool, &suite, &suite.rules)?,
                file,
                id: suite.id,
                period: suite.period,
                objective: suite.objective,
                raw_skipped: suite.raw_skipped,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_promtool_says_how_to_get_it() {
        let e = promtool(Some(Path::new("/nonexistent/promtool"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "promtool /nonexistent/promtool not found: install Prometheus' promtool (Debian/Ubuntu: apt-get install prometheus; or a release from https://prometheus.io/download/) or pass --promtool PATH"
        );
    }
}
