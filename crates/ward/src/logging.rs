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

impl Args {
    /// The filter in force: the one asked for, or the default with the
    /// subcommand's `quiet` targets off.
    fn filter(&self, quiet: &[&str]) -> String {
        let mut filter = self.log_level.clone();
        if filter == DEFAULT_FILTER {
            for target in quiet {
                filter.push_str(&format!(",{target}=off"));
            }
        }
        filter
    }
}

/// Installs the global tracing subscriber; logs go to stderr. `quiet`
/// names log targets that are off unless a log level is asked for.
pub(crate) fn init(args: &Args, quiet: &[&str]) {
    let filter = EnvFilter::try_new(args.filter(quiet)).unwrap_or_else(|_| EnvFilter::new("warn"));
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
        assert_eq!(
            args(DEFAULT_FILTER).filter(&["ward_nurse"]),
            "warn,kube_client=off,ward_nurse=off"
        );
        assert_eq!(args("info").filter(&["ward_nurse"]), "info");
        assert_eq!(args(DEFAULT_FILTER).filter(&[]), DEFAULT_FILTER);
    }
}
