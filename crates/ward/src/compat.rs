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

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{Arg, Command};

/// What argv invokes, as far as Go's spelling is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// argv with Go single-dash long flags rewritten.
    pub(crate) argv: Vec<OsString>,
    /// The top-level subcommand, when it speaks Go's flags.
    pub(crate) go_command: Option<String>,
    /// The command argv invokes, `ward` and its subcommands (`ward keepalive race`).
    pub(crate) command: String,
}

/// Parses argv as `C`, accepting Go's spelling where it applies; exits like
/// clap on help and version, and with one line naming the command and the
/// flag on a usage error (exit 2).
pub(crate) fn parse<C: clap::Parser>(argv: Vec<OsString>) -> C {
    let invocation = rewrite(&C::command(), argv);
    C::try_parse_from(&invocation.argv).unwrap_or_else(|err| exit(err, &invocation.command))
}

fn exit(err: clap::Error, command: &str) -> ! {
    let plain = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if plain {
        err.exit()
    }
    eprintln!("{command}: {}", one_line(&err));
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
    let mut depth = 0;
    let mut i = 1;
    while i < argv.len() {
        let Some(arg) = argv[i].to_str().map(str::to_string) else {
            i += 1;
            continue;
        };
        if arg == "--" {
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
                (_, Some(_)) => match long(cmd, name) {
                    Some(a) => {
                        argv[i] = OsString::from(format!("-{arg}"));
                        value_follows(a)
                    }
                    None => false,
                },
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
                }
            }
            false
        };
        i += if takes_next && !has_value { 2 } else { 1 };
    }
    Invocation {
        argv,
        go_command,
        command,
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            invoke(&[
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
                "-hosts"
            ]),
            Invocation {
                argv: os(&[
                    "ward",
                    "--log-level",
                    "info",
                    "lookup",
                    "--interval",
                    "5s",
                    "--dns-servers=udp://[::1]:53",
                    "--prom-histogram",
                    "-x",
                    "--",
                    "-hosts"
                ]),
                go_command: Some("lookup".into()),
                command: "ward lookup".into(),
            }
        );
        // probe has short flags: `-interval` is clap's `-i nterval`, left alone.
        assert_eq!(
            invoke(&["ward", "probe", "-interval"]),
            Invocation {
                argv: os(&["ward", "probe", "-interval"]),
                go_command: None,
                command: "ward probe".into(),
            }
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
