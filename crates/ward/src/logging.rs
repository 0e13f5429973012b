//! Logging setup shared by every subcommand: level and format from flags or env.

use tracing_subscriber::EnvFilter;

/// The log filter unless `--log-level` or `WARD_LOG` says otherwise.
pub(crate) const DEFAULT_FILTER: &str = "warn,kube_client=off";

/// Log flags, global to every subcommand.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Log level or tracing filter (e.g. `info`, `ward_nurse=debug`); kube-client's own error
    /// lines are off by default because ward reports those errors itself.
    #[arg(long, env = "WARD_LOG", default_value = DEFAULT_FILTER, global = true)]
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
}
