//! Go's flag spelling, for the subcommands that stand in for Go tools
//! (`ward lookup` for hostlookuper, `ward nurse` for kubenurse): Go's `flag`
//! package reads `-interval 5s` and `--interval 5s` alike and reports a bad
//! flag in one line, and manifests written for those tools must keep working.
//! Every subcommand reports a usage error that way: one line, `ward SUB: …`,
//! exit 2.
//!
//! Which subcommands: those configured as those agents are, every flag of
//! their own a long one (a Go flag set has no short flags) with an
//! environment variable, found in the clap definitions, so this module
//! knows no subcommand by name. Within them (and their subcommands) `-name` and
//! `-name=value` become `--name…` where `name` is one of the command's long
//! flags; short flags (`-o`) and values are left as they are. Other
//! subcommands see their argv unchanged.
//!
//! Go's other rules hold there too: a flag given twice takes its last
//! value; parsing stops at the first argument that is not a flag (or after
//! `--`) and the rest is ignored, as hostlookuper ignores it (said once on
//! stderr), unless the command takes arguments or the word names one of its
//! subcommands (`ward lookup once`); a bad value read from an environment
//! variable is reported naming the variable.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command};

/// What argv invokes, as far as Go's spelling is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// argv with Go single-dash long flags rewritten, cut where Go stops parsing.
    pub(crate) argv: Vec<OsString>,
    /// The top-level subcommand, when it speaks Go's flags.
    pub(crate) go_command: Option<String>,
    /// The command argv invokes, `ward` and its subcommands (`ward keepalive race`).
    pub(crate) command: String,
    /// What Go's flag parsing would leave unparsed (and hostlookuper ignores).
    pub(crate) ignored: Vec<OsString>,
    /// The Go-style command's long flags that have an environment variable, with it.
    pub(crate) env_vars: Vec<(String, String)>,
}

/// Parses argv as `C`, accepting Go's spelling where it applies; exits like
/// clap on help, version and usage errors (usage errors of a Go-style
/// subcommand in one line naming the flag or variable, exit 2). Returns
/// what argv invoked too, for [`log_ignored`] once logging is set up.
pub(crate) fn parse<C: clap::Parser>(argv: Vec<OsString>) -> (C, Invocation) {
    let (parsed, invocation) = try_parse::<C>(argv);
    match parsed {
        Ok(c) => (c, invocation),
        Err(err) => exit(err, &invocation),
    }
}

/// Logs the arguments Go's flag parsing would have left unparsed, which
/// are ignored (hostlookuper ignores them silently).
pub(crate) fn log_ignored(invocation: &Invocation) {
    if let [first, ..] = &invocation.ignored[..] {
        tracing::warn!(
            ignored = ?invocation.ignored,
            "ignoring {:?} and what follows: flag parsing stops at the first argument that is not a flag, as in Go",
            first.to_string_lossy()
        );
    }
}

/// [`parse`] without exiting: the parsed command or clap's error, and what
/// argv invoked.
pub(crate) fn try_parse<C: clap::Parser>(
    argv: Vec<OsString>,
) -> (Result<C, clap::Error>, Invocation) {
    let root = C::command();
    let invocation = rewrite(&root, argv);
    let root = match &invocation.go_command {
        Some(name) => root.mut_subcommand(name, last_value_wins),
        None => root,
    };
    let parsed = root
        .try_get_matches_from(&invocation.argv)
        .and_then(|m| C::from_arg_matches(&m));
    (parsed, invocation)
}

/// Go's flag package: a flag given twice takes its last value (in the
/// command and its subcommands).
fn last_value_wins(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names
        .iter()
        .fold(cmd.args_override_self(true), |cmd, name| {
            cmd.mut_subcommand(name, last_value_wins)
        })
}

fn exit(err: clap::Error, invocation: &Invocation) -> ! {
    let plain = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if plain {
        err.exit()
    }
    let line = one_line(&err);
    let line = match invocation.go_command {
        Some(_) => env_named(&line, &err, invocation),
        None => line,
    };
    eprintln!("{}: {line}", invocation.command);
    std::process::exit(2)
}

/// clap's error in one line: its first paragraph (the message, and the list
/// of missing arguments), without the `error: ` prefix, the tip and the usage.
pub(crate) fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let line = first.join(" ");
    let line = line.trim_start_matches("error: ");
    if line.is_empty() {
        "invalid arguments".to_string()
    } else {
        line.to_string()
    }
}

/// A Go-style command's usage error `line`; when it is a bad value that
/// came from an environment variable (its flag not on the command line),
/// naming the variable instead of the flag.
fn env_named(line: &str, err: &clap::Error, invocation: &Invocation) -> String {
    let line = line.to_string();
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return line;
    };
    let Some(long) = arg
        .strip_prefix("--")
        .map(|a| a.split([' ', '=', '[']).next().unwrap_or(a))
    else {
        return line;
    };
    let on_command_line = invocation.argv.iter().any(|a| {
        a.to_str().is_some_and(|a| {
            a.strip_prefix("--")
                .is_some_and(|a| a == long || a.starts_with(&format!("{long}=")))
        })
    });
    let var = invocation
        .env_vars
        .iter()
        .find_map(|(flag, var)| (flag == long).then_some(var));
    match var {
        Some(var) if !on_command_line && std::env::var_os(var).is_some() => {
            line.replace(&format!("'{arg}'"), &format!("{var} (--{long})"))
        }
        _ => line,
    }
}

/// Each long flag of `cmd` and its subcommands that has an environment
/// variable, with the variable.
fn env_vars(cmd: &Command) -> Vec<(String, String)> {
    let own = cmd.get_arguments().filter_map(|a| {
        Some((
            a.get_long()?.to_string(),
            a.get_env()?.to_string_lossy().into_owned(),
        ))
    });
    own.chain(cmd.get_subcommands().flat_map(env_vars))
        .collect()
}

/// True for clap's own `--help` and `--version`.
fn generated(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

/// A command configured as the Go agents it replaces are: its own flags all
/// long ones (a Go flag set has no short flags), each with its environment
/// variable.
fn speaks_go(cmd: &Command) -> bool {
    let mut own = cmd
        .get_arguments()
        .filter(|a| !generated(a) && !a.is_global_set() && !a.is_positional())
        .peekable();
    own.peek().is_some() && own.all(|a| a.get_short().is_none() && a.get_env().is_some())
}

/// True when the flag's value is the next argument (not `--flag=value` only).
fn value_follows(arg: &Arg) -> bool {
    arg.get_action().takes_values()
        && !arg.is_require_equals_set()
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

fn long<'c>(cmd: &'c Command, name: &str) -> Option<&'c Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|v| v.contains(&name))
    })
}

fn short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// Walks argv through the command tree, rewriting Go-style flags where the
/// top-level subcommand speaks Go.
pub(crate) fn rewrite(root: &Command, mut argv: Vec<OsString>) -> Invocation {
    let mut root = root.clone();
    root.build();
    let mut cmd = &root;
    let mut go_command: Option<String> = None;
    let mut command = root.get_name().to_string();
    let mut env_vars = Vec::new();
    let mut ignored = Vec::new();
    let mut depth = 0;
    let mut i = 1;
    // Go stops at the first argument that is not a flag, unless this command
    // takes arguments (then clap sorts them out).
    let stops_here =
        |cmd: &Command, go: &Option<String>| go.is_some() && cmd.get_positionals().next().is_none();
    while i < argv.len() {
        let Some(arg) = argv[i].to_str().map(str::to_string) else {
            if stops_here(cmd, &go_command) {
                ignored = argv.split_off(i);
                break;
            }
            i += 1;
            continue;
        };
        if arg == "--" {
            if stops_here(cmd, &go_command) {
                ignored = argv.split_off(i);
            }
            break;
        }
        let (flag, has_value) = match arg.split_once('=') {
            Some((f, _)) => (f, true),
            None => (arg.as_str(), false),
        };
        let takes_next = if let Some(name) = flag.strip_prefix("--") {
            long(cmd, name).is_some_and(value_follows)
        } else if let Some(name) = flag.strip_prefix('-').filter(|n| !n.is_empty()) {
            match (name.chars().count(), &go_command) {
                (1, _) => name
                    .chars()
                    .next()
                    .and_then(|c| short(cmd, c))
                    .is_some_and(value_follows),
                (_, Some(_)) => {
                    // An unknown `-name` is reported as `--name`, as Go
                    // names the whole flag.
                    argv[i] = OsString::from(format!("-{arg}"));
                    long(cmd, name).is_some_and(value_follows)
                }
                _ => false,
            }
        } else {
            if let Some(sub) = cmd.find_subcommand(&arg) {
                cmd = sub;
                command.push(' ');
                command.push_str(sub.get_name());
                depth += 1;
                if depth == 1 && speaks_go(sub) {
                    go_command = Some(sub.get_name().to_string());
                    env_vars = self::env_vars(sub);
                }
            } else if stops_here(cmd, &go_command) {
                ignored = argv.split_off(i);
                break;
            }
            false
        };
        i += if takes_next && !has_value { 2 } else { 1 };
    }
    Invocation {
        argv,
        go_command,
        command,
        ignored,
        env_vars,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{CommandFactory, Parser};

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn invoke(args: &[&str]) -> Invocation {
        rewrite(&crate::Cli::command(), os(args))
    }

    #[test]
    fn go_single_dash_flags_are_rewritten_for_go_style_subcommands_only() {
        let i = invoke(&[
            "ward",
            "--log-level",
            "info",
            "lookup",
            "-interval",
            "5s",
            "-dns-servers=udp://[::1]:53",
            "-prom-histogram",
            "-x",
            "--",
            "-hosts",
        ]);
        assert_eq!(
            i.argv,
            os(&[
                "ward",
                "--log-level",
                "info",
                "lookup",
                "--interval",
                "5s",
                "--dns-servers=udp://[::1]:53",
                "--prom-histogram",
                "-x",
            ])
        );
        assert_eq!(i.go_command.as_deref(), Some("lookup"));
        assert_eq!(i.ignored, os(&["--", "-hosts"]), "Go stops at --");
        assert!(i
            .env_vars
            .contains(&("interval".into(), "HOSTLOOKUPER_INTERVAL".into())));
        // probe has short flags: `-interval` is clap's `-i nterval`, left alone.
        let i = invoke(&["ward", "probe", "-interval"]);
        assert_eq!(
            (i.argv, i.go_command, i.ignored),
            (os(&["ward", "probe", "-interval"]), None, vec![])
        );
    }

    /// `ward lookup ARGS…` through [`try_parse`]: Go's rules included.
    fn lookup(args: &[&str]) -> (Result<crate::cmd::lookup::Args, String>, Vec<OsString>) {
        let argv = os(&[&["ward", "lookup"][..], args].concat());
        let (parsed, invocation) = try_parse::<crate::Cli>(argv);
        let parsed = parsed
            .map(|c| match c.command {
                crate::Command::Lookup(a) => a,
                other => panic!("lookup expected, got {other:?}"),
            })
            .map_err(|e| {
                let text = e.render().to_string();
                let line = text.lines().next().unwrap_or_default();
                env_named(line.trim_start_matches("error: "), &e, &invocation)
            });
        (parsed, invocation.ignored)
    }

    #[test]
    fn a_repeated_flag_takes_its_last_value_as_in_go() {
        let (a, _) = lookup(&[
            "-interval",
            "1s",
            "-timeout=3s",
            "-interval=2s",
            "-timeout",
            "4s",
        ]);
        let a = a.unwrap();
        assert_eq!(
            (a.interval, a.timeout),
            (Duration::from_secs(2), Duration::from_secs(4))
        );
        let (a, _) = lookup(&[
            "-debug",
            "-debug=false",
            "-prom-histogram=0",
            "-prom-histogram",
        ]);
        let a = a.unwrap();
        assert!(!a.debug && a.prom_histogram);
    }

    #[test]
    fn parsing_stops_at_the_first_argument_that_is_not_a_flag_as_in_go() {
        // A bool flag takes no separate value: `true` ends the flags, and so
        // `-prom-histogram false` means true, as in hostlookuper.
        let (a, ignored) = lookup(&["-prom-histogram", "false", "-interval", "1s"]);
        let a = a.unwrap();
        assert!(a.prom_histogram);
        assert_eq!(
            a.interval,
            Duration::from_secs(5),
            "after the stop: ignored"
        );
        assert_eq!(ignored, os(&["false", "-interval", "1s"]));
        let (a, ignored) = lookup(&["-debug", "-", "-debug=false"]);
        assert!(a.unwrap().debug);
        assert_eq!(ignored, os(&["-", "-debug=false"]));
        // A subcommand is no stop, and its names are arguments.
        let (a, ignored) = lookup(&["once", "x.test", "-dns-servers", "udp://127.0.0.1:53"]);
        assert!(a.unwrap().command.is_some());
        assert!(ignored.is_empty());
    }

    #[test]
    fn what_go_refuses_is_refused_in_one_line_naming_the_flag() {
        for (args, line) in [
            (
                &["-debug=yes"][..],
                "invalid value 'yes' for '--debug[=<DEBUG>]': invalid boolean value \"yes\" (Go's flag package accepts 1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False)",
            ),
            (
                &["-interval", "0s"],
                "invalid value '0s' for '--interval <INTERVAL>': \"0s\": must be greater than zero",
            ),
            (
                &["-interval=-1s"],
                "invalid value '-1s' for '--interval <INTERVAL>': invalid duration \"-1s\" (expected e.g. 500ms, 5s, 1m30s)",
            ),
            (
                &["-hosts", "a.test,,b.test"],
                "invalid value 'a.test,,b.test' for '--hosts <HOSTS>': host \"\": empty name",
            ),
            (
                &["-dns-servers=udp://127.0.0.1:53,"],
                "invalid value 'udp://127.0.0.1:53,' for '--dns-servers <DNS_SERVERS>': DNS server \"\": empty entry",
            ),
            (&["-nope"], "unexpected argument '--nope' found"),
        ] {
            assert_eq!(lookup(args).0.unwrap_err(), line, "{args:?}");
        }
        // hostlookuper hands -timeout 0 to its DNS library, which then uses its defaults.
        assert_eq!(
            lookup(&["-timeout", "0"]).0.unwrap().timeout,
            Duration::ZERO
        );
    }

    #[test]
    fn values_that_look_like_flags_stay_values() {
        assert_eq!(
            invoke(&["ward", "lookup", "-hosts", "-debug"]).argv,
            os(&["ward", "lookup", "--hosts", "-debug"])
        );
        assert_eq!(
            invoke(&["ward", "lookup", "-timeout", "-1s", "-debug"]).argv,
            os(&["ward", "lookup", "--timeout", "-1s", "--debug"])
        );
    }

    #[test]
    fn subcommands_of_a_go_style_command_and_its_globals_speak_go_too() {
        assert_eq!(
            invoke(&[
                "ward",
                "lookup",
                "once",
                "x.test",
                "-dns-servers",
                "udp://1.1.1.1",
                "-o",
                "json",
                "-output=json"
            ])
            .argv,
            os(&[
                "ward",
                "lookup",
                "once",
                "x.test",
                "--dns-servers",
                "udp://1.1.1.1",
                "-o",
                "json",
                "--output=json"
            ])
        );
        let nurse = invoke(&["ward", "nurse", "-check-interval", "5s"]);
        assert_eq!(nurse.argv, os(&["ward", "nurse", "--check-interval", "5s"]));
        assert_eq!(nurse.go_command.as_deref(), Some("nurse"));
        for other in [
            &["ward", "lab", "-nodes", "3"][..],
            &["ward", "e2e", "run", "-only", "api"],
        ] {
            let i = invoke(other);
            assert_eq!((i.argv, i.go_command), (os(other), None), "{other:?}");
        }
    }

    #[test]
    fn go_and_gnu_spellings_parse_alike() {
        for argv in [
            &[
                "ward",
                "lookup",
                "-interval",
                "200ms",
                "-timeout=1s",
                "-prom-histogram",
                "-debug=true",
            ][..],
            &[
                "ward",
                "lookup",
                "--interval=200ms",
                "--timeout",
                "1s",
                "--prom-histogram=true",
                "--debug",
            ],
        ] {
            let cli = crate::Cli::try_parse_from(invoke(argv).argv).unwrap();
            assert!(matches!(cli.command, crate::Command::Lookup(_)), "{argv:?}");
        }
    }

    /// Every subcommand's usage error is one line naming the command: the
    /// message, and the missing arguments clap lists under it.
    #[test]
    fn usage_errors_are_one_line() {
        let err = |args: &[&str]| {
            let invocation = invoke(args);
            let e = crate::Cli::try_parse_from(&invocation.argv).unwrap_err();
            format!("{}: {}", invocation.command, one_line(&e))
        };
        assert_eq!(
            err(&["ward", "keepalive", "race"]),
            "ward keepalive race: the following required arguments were not provided: \
             --proxy <PROXY> --backend <BACKEND>"
        );
        assert_eq!(
            err(&["ward", "lab", "--bogus"]),
            "ward lab: unexpected argument '--bogus' found"
        );
        assert!(err(&["ward", "lab", "--nodes", "0"])
            .starts_with("ward lab: invalid value '0' for '--nodes <NODES>': must be 1 to 253"));
    }
}
