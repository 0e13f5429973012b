//! Logging setup shared by every subcommand: level and format from flags or
//! env. The JSON format is the one hostlookuper's logger (zap's production
//! encoder, as postfinance/flash configures it) writes: one flat object a
//! line, `{"level":"INFO","ts":"2026-12-07T14:20:01.123Z","msg":"…",…}`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
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
    /// Log format (default: text; `ward lookup`: json when stdout is not a
    /// terminal, as hostlookuper).
    #[arg(long, env = "WARD_LOG_FORMAT", value_enum, global = true)]
    pub(crate) log_format: Option<LogFormat>,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with zap's keys (`level`, `ts`, `msg`).
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

/// What a subcommand changes in the logging defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tweaks {
    /// Log targets that are off unless a log level is asked for (the lab's nurses).
    pub(crate) quiet: &'static [&'static str],
    /// Directives added at any level (`lookup -debug`: `ward_lookup=debug`).
    pub(crate) loud: &'static [&'static str],
    /// JSON unless stdout is a terminal (hostlookuper's logger does this).
    pub(crate) json_off_terminal: bool,
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

    /// The format in force: the one asked for, else the subcommand's default.
    fn format(&self, tweaks: Tweaks, stdout_is_terminal: bool) -> LogFormat {
        match self.log_format {
            Some(f) => f,
            None if tweaks.json_off_terminal && !stdout_is_terminal => LogFormat::Json,
            None => LogFormat::Text,
        }
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
    match args.format(tweaks, std::io::IsTerminal::is_terminal(&std::io::stdout())) {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.event_format(ZapJson).init(),
    }
}

/// zap's production JSON line: `level` (upper case), `ts` (ISO 8601, UTC,
/// milliseconds), `msg`, then the event's fields.
struct ZapJson;

impl<S, N> FormatEvent<S, N> for ZapJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let msg = fields
            .0
            .iter()
            .position(|(k, _)| *k == "message")
            .map(|i| fields.0.remove(i).1)
            .unwrap_or(Value::from(""));
        let head = [
            ("level", Value::from(event.metadata().level().as_str())),
            ("ts", Value::from(iso8601(SystemTime::now()))),
            ("msg", msg),
        ];
        let mut line = String::from("{");
        for (i, (key, value)) in head.into_iter().chain(fields.0).enumerate() {
            if i > 0 {
                line.push(',');
            }
            line.push_str(&Value::from(key).to_string());
            line.push(':');
            line.push_str(&value.to_string());
        }
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// An event's fields as JSON values, in the order written.
struct Fields(Vec<(&'static str, Value)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name(), format!("{value:?}").into()));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), value.into()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), value.into()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), value.into()));
    }
}

/// `2006-01-02T15:04:05.000Z`: zap's ISO 8601 time encoder, in UTC.
pub(crate) fn iso8601(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn args(level: &str, format: Option<LogFormat>) -> Args {
        Args {
            log_level: level.into(),
            log_format: format,
        }
    }

    /// The lab silenced its nurses' logs only when `warn` was asked for:
    /// since the default became `warn,kube_client=off` they drowned its live line.
    #[test]
    fn quiet_targets_are_off_at_the_default_level_only() {
        let quiet = Tweaks {
            quiet: &["ward_nurse"],
            ..Default::default()
        };
        assert_eq!(
            args(DEFAULT_FILTER, None).filter(quiet),
            "warn,kube_client=off,ward_nurse=off"
        );
        assert_eq!(args("info", None).filter(quiet), "info");
        assert_eq!(
            args(DEFAULT_FILTER, None).filter(Tweaks::default()),
            DEFAULT_FILTER
        );
    }

    /// `lookup -debug` logs every lookup at any level, the default included.
    #[test]
    fn loud_directives_apply_at_every_level() {
        let loud = Tweaks {
            loud: &["ward_lookup=debug"],
            ..Default::default()
        };
        assert_eq!(
            args(DEFAULT_FILTER, None).filter(loud),
            "warn,kube_client=off,ward_lookup=debug"
        );
        assert_eq!(args("error", None).filter(loud), "error,ward_lookup=debug");
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

    #[test]
    fn json_is_the_default_off_a_terminal_where_the_subcommand_says_so() {
        let go = Tweaks {
            json_off_terminal: true,
            ..Default::default()
        };
        let a = args(DEFAULT_FILTER, None);
        assert_eq!(a.format(go, false), LogFormat::Json);
        assert_eq!(a.format(go, true), LogFormat::Text);
        assert_eq!(a.format(Tweaks::default(), false), LogFormat::Text);
        let asked = args(DEFAULT_FILTER, Some(LogFormat::Text));
        assert_eq!(asked.format(go, false), LogFormat::Text);
    }

    #[test]
    fn timestamps_are_zaps_iso8601() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_653_201_123);
        assert_eq!(iso8601(at), "2026-12-07T14:20:01.123Z");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(leap), "2000-02-29T00:00:00.000Z");
    }
}
