//! Logging setup shared by every subcommand: level and format from flags or env.

use tracing_subscriber::EnvFilter;

/// Log flags, global to every subcommand.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Log level or tracing filter (e.g. `info`, `ward_nurse=debug`); kube-client's own error
    /// lines are off by default because ward reports those errors itself.
    #[arg(
        long,
        env = "WARD_LOG",
        default_value = "warn,kube_client=off",
        global = true
    )]
    pub log_level: String,
    /// Log format.
    #[arg(long, env = "WARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber; logs go to stderr.
pub fn init(args: &Args) {
    let filter = EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
