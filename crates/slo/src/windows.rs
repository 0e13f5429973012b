//! The SLO-period alert-window catalog (`AlertWindows` specs): the embedded
//! Google SRE 30d/28d defaults or a user directory's files, and the
//! multi-window multi-burn-rate alert set derived for one SLO.

use std::collections::HashMap;

use crate::duration::Duration;
use crate::spec::decode::{Mode, Obj};
use crate::yaml::tree;

/// One alert window: share of the budget burnt over the long window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Error budget percent consumed.
    pub error_budget_percent: f64,
    /// Short window.
    pub short: Duration,
    /// Long window.
    pub long: Duration,
}

/// The four windows for one SLO period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windows {
    /// SLO period these windows belong to.
    pub period: Duration,
    /// Page, quick.
    pub page_quick: Window,
    /// Page, slow.
    pub page_slow: Window,
    /// Ticket, quick.
    pub ticket_quick: Window,
    /// Ticket, slow.
    pub ticket_slow: Window,
}

/// One computed alert of the MWMB group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MwmbAlert {
    /// Short window.
    pub short: Duration,
    /// Long window.
    pub long: Duration,
    /// Burn-rate factor.
    pub burn_rate_factor: f64,
    /// Error budget in percent (`100 - objective`).
    pub error_budget: f64,
    /// Share of the error budget, in percent, that burning at the factor
    /// spends over the long window (the catalog's `errorBudgetPercent`).
    pub budget_percent: f64,
}

/// The four alerts of one SLO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MwmbGroup {
    /// Page, quick.
    pub page_quick: MwmbAlert,
    /// Page, slow.
    pub page_slow: MwmbAlert,
    /// Ticket, quick.
    pub ticket_quick: MwmbAlert,
    /// Ticket, slow.
    pub ticket_slow: MwmbAlert,
}

impl MwmbGroup {
    /// sloth's `TimeDurationWindows`: the distinct windows, ascending.
    pub fn windows(&self) -> Vec<Duration> {
        let mut v = vec![
            self.page_quick.short,
            self.page_quick.long,
            self.page_slow.short,
            self.page_slow.long,
            self.ticket_quick.short,
            self.ticket_quick.long,
            self.ticket_slow.short,
            self.ticket_slow.long,
        ];
        v.sort();
        v.dedup();
        v
    }
}

fn factor(period: Duration, w: &Window) -> f64 {
    let hours_required = w.error_budget_percent * period.hours() / 100.0;
    hours_required / w.long.hours()
}

/// The catalog of windows per SLO period.
#[derive(Debug, Clone)]
pub struct Catalog {
    windows: HashMap<Duration, Windows>,
}

const GOOGLE_30D: &str = include_str!("windows/google-30d.yaml");
const GOOGLE_28D: &str = include_str!("windows/google-28d.yaml");

fn window(o: &Obj<'_>) -> Result<Window, String> {
    Ok(Window {
        error_budget_percent: o.float("errorBudgetPercent")?,
        short: o.duration("shortWindow")?,
        long: o.duration("longWindow")?,
    })
}

fn validate_window(w: &Window) -> Result<(), String> {
    if w.long.0 == 0 {
        return Err("long window is required".into());
    }
    if w.short.0 == 0 {
        return Err("short window is required".into());
    }
    if w.error_budget_percent == 0.0 {
        return Err("error budget is required".into());
    }
    Ok(())
}

/// Parses one `AlertWindows` document.
pub fn parse_windows(data: &str) -> Result<Windows, String> {
    if data.is_empty() {
        return Err("spec is required".into());
    }
    let v =
        tree::parse(data).map_err(|e| format!("could not unmarshall YAML spec correctly: {e}"))?;
    let yerr = |e: String| format!("could not unmarshall YAML spec correctly: {e}");
    let root = Obj::new(&v, Mode::YamlV2, "").map_err(yerr)?;
    let spec = root.obj("spec").map_err(yerr)?;
    let page = spec.obj("page").map_err(yerr)?;
    let ticket = spec.obj("ticket").map_err(yerr)?;
    let w = Windows {
        period: spec.duration("sloPeriod").map_err(yerr)?,
        page_quick: window(&page.obj("quick").map_err(yerr)?).map_err(yerr)?,
        page_slow: window(&page.obj("slow").map_err(yerr)?).map_err(yerr)?,
        ticket_quick: window(&ticket.obj("quick").map_err(yerr)?).map_err(yerr)?,
        ticket_slow: window(&ticket.obj("slow").map_err(yerr)?).map_err(yerr)?,
    };
    if root.string("apiVersion").map_err(yerr)? != "sloth.slok.dev/v1"
        || root.string("kind").map_err(yerr)? != "AlertWindows"
    {
        return Err("invalid spec version".into());
    }
    let inv = |e: String| format!("invalid alerting window: {e}");
    if w.period.0 == 0 {
        return Err(inv("slo period is required".into()));
    }
    for (name, win) in [
        ("page quick", &w.page_quick),
        ("page slow", &w.page_slow),
        ("ticket quick", &w.ticket_quick),
        ("ticket slow", &w.ticket_slow),
    ] {
        validate_window(win).map_err(|e| inv(format!("invalid {name}: {e}")))?;
    }
    Ok(w)
}

impl Catalog {
    /// The embedded Google SRE catalog (30d and 28d).
    pub fn embedded() -> Catalog {
        let mut c = Catalog {
            windows: HashMap::new(),
        };
        for data in [GOOGLE_28D, GOOGLE_30D] {
            if let Ok(w) = parse_windows(data) {
                c.windows.insert(w.period, w);
            }
        }
        c
    }

    /// A catalog from `(path, contents)` pairs (replaces the embedded one).
    pub fn from_files(files: &[(String, String)]) -> Result<Catalog, String> {
        let mut c = Catalog {
            windows: HashMap::new(),
        };
        for (path, data) in files {
            let w = parse_windows(data)
                .map_err(|e| format!("could not load {path:?} alert windows: {e}"))?;
            if let Some(prev) = c.windows.get(&w.period) {
                if *prev != w {
                    return Err(format!("{:?} slo period is already loaded", w.period.go()));
                }
                continue;
            }
            c.windows.insert(w.period, w);
        }
        Ok(c)
    }

    /// True when the catalog has windows for `period`.
    pub fn has(&self, period: Duration) -> bool {
        self.windows.contains_key(&period)
    }

    /// The MWMB alerts of an SLO with this period and objective.
    pub fn alerts(&self, period: Duration, objective: f64) -> Result<MwmbGroup, String> {
        let w = self.windows.get(&period).ok_or_else(|| {
            format!(
                "the {} SLO period time window is not supported",
                period.go()
            )
        })?;
        let eb = 100.0 - objective;
        let mk = |win: &Window| MwmbAlert {
            short: win.short,
            long: win.long,
            burn_rate_factor: factor(w.period, win),
            error_budget: eb,
            budget_percent: win.error_budget_percent,
        };
        Ok(MwmbGroup {
            page_quick: mk(&w.page_quick),
            page_slow: mk(&w.page_slow),
            ticket_quick: mk(&w.ticket_quick),
            ticket_slow: mk(&w.ticket_slow),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_match_sloth() {
        let c = Catalog::embedded();
        let day = 24 * 3_600_000_000_000i64;
        let g = c.alerts(Duration(30 * day), 99.9).unwrap();
        assert_eq!(
            crate::gostrconv::format_g(g.page_quick.burn_rate_factor),
            "14.4"
        );
        assert_eq!(
            crate::gostrconv::format_g(g.page_slow.burn_rate_factor),
            "6"
        );
        let g = c.alerts(Duration(28 * day), 99.9).unwrap();
        assert_eq!(
            crate::gostrconv::format_g(g.page_slow.burn_rate_factor),
            "5.6000000000000005"
        );
        assert_eq!(
            crate::gostrconv::format_g(g.ticket_slow.burn_rate_factor),
            "0.9333333333333333"
        );
        assert!(c.alerts(Duration(7 * day), 99.9).is_err());
    }
}
