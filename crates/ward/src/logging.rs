//! Logging setup shared by every subcommand: level and format from flags or env.

use tracing_subscriber::EnvFilter;

/// The log filter unless `--log-level` or `WARD_LOG` says otherwise.
pub(crate) const DEFAULT_FILTER: &str = "warn,kube_client=off";

/// Log flags, global to every subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Log level or tracing filter (e.g. `info`, `ward_nurse=debug`); kube-client's own error
    /// lines are off by default because ward reports those errors itself.
    #[arg(long, env = "WARD_LOG", default_value = DEFAULT_FILTER, global = true, value_parser = log_filter)]
    pub(crate) log_level: String,
    /// Log format.
    #[arg(long, env = "WARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub(crate) log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// tracing's level names (and its numbers for them).
const LEVELS: [&str; 12] = [
    "off", "error", "warn", "info", "debug", "trace", "0", "1", "2", "3", "4", "5",
];

/// Parses `--log-level`: a comma-separated list of `LEVEL` or `TARGET=LEVEL`
/// directives. A bare word that is no level (`warning`, `verbose`) would be
/// a target filter to tracing, logging nothing anyone asked for: refused.
fn log_filter(s: &str) -> Result<String, String> {
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "{directive:?}: expected a level (off, error, warn, info, debug, trace) or TARGET=LEVEL"
            ));
        }
    }
    EnvFilter::try_new(s).map_err(|e| e.to_string())?;
    Ok(s.to_string())
}

/// What a subcommand changes in the log filter.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tweaks {
    /// Targets that are off unless a log level is asked for (the lab's nurses).
    pub(crate) quiet: &'static [&'static str],
    /// Directives added at any level (`lookup -debug`: `ward_lookup=debug`).
    pub(crate) loud: &'static [&'static str],
}

impl Args {
    /// The filter in force: the one asked for, or the default with the
    /// subcommand's quiet targets off; then its loud directives.
    fn filter(&self, tweaks: Tweaks) -> String {
        let mut filter = self.log_level.clone();
        if filter == DEFAULT_FILTER {
            for target in tweaks.quiet {
                filter.push_str(&format!(",{target}=off"));
            }
        }
        for directive in tweaks.loud {
            filter.push_str(&format!(",{directive}"));
        }
        filter
    }
}

/// Installs the global tracing subscriber; logs go to stderr, filtered as
/// `--log-level` and the subcommand's `tweaks` say.
pub(crate) fn init(args: &Args, tweaks: Tweaks) {
    let filter = EnvFilter::try_new(args.filter(tweaks)).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lab silenced its nurses' logs only when `warn` was asked for:
    /// since the default became `warn,kube_client=off` they drowned its live line.
    #[test]
    fn quiet_targets_are_off_at_the_default_level_only() {
        let args = |level: &str| Args {
            log_level: level.into(),
            log_format: LogFormat::Text,
        };
        let quiet = Tweaks {
            quiet: &["ward_nurse"],
            loud: &[],
        };
        assert_eq!(
            args(DEFAULT_FILTER).filter(quiet),
            "warn,kube_client=off,ward_nurse=off"
        );
        assert_eq!(args("info").filter(quiet), "info");
        assert_eq!(
            args(DEFAULT_FILTER).filter(Tweaks::default()),
            DEFAULT_FILTER
        );
    }

    /// `lookup -debug` logs every lookup at any level, the default included.
    #[test]
    fn loud_directives_apply_at_every_level() {
        let loud = Tweaks {
            quiet: &[],
            loud: &["ward_lookup=debug"],
        };
        let args = |level: &str| Args {
            log_level: level.into(),
            log_format: LogFormat::Text,
        };
        assert_eq!(
            args(DEFAULT_FILTER).filter(loud),
            "warn,kube_client=off,ward_lookup=debug"
        );
        assert_eq!(args("error").filter(loud), "error,ward_lookup=debug");
    }

    /// A level tracing would read as a target (`warning`) is refused, not
    /// silently turned into "log nothing".
    #[test]
    fn log_levels_are_levels_or_target_level_pairs() {
        for good in [
            "warn",
            "INFO",
            "warn,kube_client=off",
            "ward_nurse=debug,info",
            "3",
            "info,",
        ] {
            assert_eq!(log_filter(good).as_deref(), Ok(good), "{good}");
        }
        for bad in ["warning", "verbose", "ward_nurse", "ward_nurse=loud"] {
            let err = log_filter(bad).unwrap_err();
            assert!(err.contains("expected a level"), "{bad}: {err}");
        }
    }
}
