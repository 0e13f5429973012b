//! One module per subcommand: each turns its clap `Args` into a library config,
//! calls one library entry point, and hands the report to `render`.

pub(crate) mod completions;
pub(crate) mod e2e;
pub(crate) mod http_flags;
pub(crate) mod keepalive;
pub(crate) mod lab;
pub(crate) mod load;
pub(crate) mod lookup;
pub(crate) mod man;
pub(crate) mod nurse;
pub(crate) mod probe;
pub(crate) mod slo;

/// Test support: parses `argv` (what follows the subcommand's name) into one
/// subcommand's flattened `Args`, as clap's `try_parse_from` would.
#[cfg(test)]
pub(crate) fn try_parse<A: clap::Args>(
    name: &'static str,
    argv: &[&str],
) -> Result<A, clap::Error> {
    let cmd = A::augment_args(clap::Command::new(name));
    let matches = cmd.try_get_matches_from(std::iter::once(name).chain(argv.iter().copied()))?;
    A::from_arg_matches(&matches)
}

/// Every subcommand's `--help` as a user sees it: each default shown, one
/// style for every boolean flag.
#[cfg(test)]
mod help_tests {
    use clap::builder::ValueRange;
    use clap::{Arg, ArgAction, Command, CommandFactory};

    /// Flags that take a value and have none by default: absent, the thing
    /// they configure is simply not used (or comes from elsewhere, as said).
    const NO_DEFAULT: &[(&str, &str)] = &[
        ("data", "no request body"),
        ("cert", "no client certificate"),
        ("key", "no client certificate"),
        ("extra-ca", "no extra CA"),
        ("cert-file", "no HTTPS (needs --use-tls)"),
        ("cert-key", "no HTTPS (needs --use-tls)"),
        ("scenario", "stages from --stage, or a flat run"),
        ("rate", "the closed model (VUs)"),
        ("backend", "--backend-idle instead"),
        ("backend-idle", "measured at --backend"),
        ("otlp-metrics-endpoint", "--otlp-endpoint + /v1/metrics"),
        ("otlp-headers", "no extra headers"),
        ("junit", "no JUnit file"),
        ("fs-exclude", "nothing excluded"),
        ("fs-include", "everything included"),
        (
            "slo-period-windows-path",
            "the built-in 30d and 28d windows",
        ),
        ("dir", "one page on stdout"),
        ("html", "no HTML page"),
    ];

    /// Every command of the tree below `cmd`, with its full name.
    fn commands(cmd: &Command, name: String, out: &mut Vec<(String, Command)>) {
        out.push((name.clone(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            commands(sub, format!("{name} {}", sub.get_name()), out);
        }
    }

    fn all() -> Vec<(String, Command)> {
        let mut root = crate::Cli::command();
        root.build();
        let mut out = Vec::new();
        commands(&root, "ward".into(), &mut out);
        out
    }

    /// The flags a user can give (not `--help`, `--version` or positionals).
    fn flags(cmd: &Command) -> impl Iterator<Item = &Arg> {
        cmd.get_arguments().filter(|a| {
            !a.is_positional()
                && !matches!(
                    a.get_action(),
                    ArgAction::Help
                        | ArgAction::HelpLong
                        | ArgAction::HelpShort
                        | ArgAction::Version
                )
        })
    }

    fn help_text(a: &Arg) -> String {
        a.get_long_help()
            .or(a.get_help())
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    #[test]
    fn every_default_is_in_the_help() {
        let mut missing = Vec::new();
        for (name, mut cmd) in all() {
            let help = cmd.render_long_help().to_string();
            for a in flags(&cmd) {
                let long = a.get_long().unwrap_or_default();
                // clap shows no empty default: such a flag says in its help
                // what empty means, as one without a default does.
                let defaults: Vec<String> = a
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .filter(|v| !v.is_empty())
                    .collect();
                if a.is_required_set() {
                    continue;
                }
                if !defaults.is_empty() {
                    let shown = format!("[default: {}]", defaults.join(","));
                    if a.is_hide_default_value_set() || !help.contains(&shown) {
                        missing.push(format!("{name} --{long}: {shown} not shown"));
                    }
                    continue;
                }
                let repeatable = matches!(a.get_action(), ArgAction::Append)
                    || a.get_value_delimiter().is_some();
                let said = help_text(a).to_ascii_lowercase().contains("default");
                let listed = NO_DEFAULT.iter().any(|(flag, _)| *flag == long);
                if a.get_action().takes_values() && !repeatable && !said && !listed {
                    missing.push(format!(
                        "{name} --{long}: no default shown, none said in the help, not in NO_DEFAULT"
                    ));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    /// One style for every boolean flag: `--flag` turns it on, `--flag=false`
    /// or `--flag=true` say it outright (Go's style, which the drop-in agents
    /// need), the environment variable takes the same words, and the
    /// default is shown.
    #[test]
    fn every_boolean_flag_has_one_style() {
        let mut odd = Vec::new();
        for (name, cmd) in all() {
            for a in flags(&cmd) {
                let boolean = a.get_value_parser().type_id() == clap::value_parser!(bool).type_id()
                    || matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
                if !boolean {
                    continue;
                }
                // `--flag` is true, `--flag=false` false, `--flag=true` true
                // (errors elsewhere, e.g. a missing URL, are ignored).
                let parse = |argv: &[&str]| {
                    cmd.clone()
                        .ignore_errors(true)
                        .try_get_matches_from(std::iter::once("t").chain(argv.iter().copied()))
                        .ok()
                        .and_then(|m| m.get_one::<bool>(a.get_id().as_str()).copied())
                };
                let long = format!("--{}", a.get_long().unwrap_or_default());
                let ok = a.get_num_args() == Some(ValueRange::new(0..=1))
                    && a.is_require_equals_set()
                    && a.get_default_values().len() == 1
                    && parse(&[&long]) == Some(true)
                    && parse(&[&format!("{long}=false")]) == Some(false)
                    && parse(&[&format!("{long}=true")]) == Some(true);
                if !ok {
                    odd.push(format!("{name} --{}", a.get_long().unwrap_or_default()));
                }
            }
        }
        assert!(odd.is_empty(), "not --flag[=true|false]: {odd:?}");
    }
}
