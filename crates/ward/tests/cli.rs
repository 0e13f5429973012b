//! ward's own command line as a user gets it: shell completions for bash,
//! zsh and fish, and the manual pages, printed by the binary.

mod support;

use support::run;

const SUBCOMMANDS: [&str; 10] = [
    "nurse",
    "probe",
    "load",
    "keepalive",
    "lookup",
    "e2e",
    "lab",
    "slo",
    "completions",
    "man",
];

#[test]
fn completions_for_every_shell_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(["completions", shell]);
        assert_eq!(out.code(), Some(0), "{shell}: {}", out.stderr);
        for sub in SUBCOMMANDS {
            assert!(out.stdout.contains(sub), "{shell}: {sub} missing");
        }
    }
    let out = run(["completions", "csh"]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
}

#[test]
fn man_prints_roff_and_writes_every_page() {
    let out = run(["man"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.stdout.contains(".TH ward 1"), "{}", out.stdout);
    for sub in SUBCOMMANDS {
        assert!(out.stdout.contains(sub), "{sub} missing");
    }
    let out = run(["man", "lookup", "once"]);
    assert!(
        out.stdout.contains(".TH ward-lookup-once 1"),
        "{}",
        out.stdout
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(dir.path().join("ward-keepalive-race.1").is_file());
    let out = run(["man", "nurse", "rung"]);
    assert_eq!(out.code(), Some(2));
    assert_eq!(
        out.stderr,
        "ward: \"rung\": no such subcommand of ward nurse\n"
    );
}

/// A usage error is one line, `ward SUBCOMMAND: what was wrong`, exit 2, for
/// every subcommand (they were clap's three to five lines, with usage and a
/// tip, except for the Go-style agents); a log level that is no level is one
/// (it was accepted, and logged nothing).
#[test]
fn usage_errors_are_one_line_naming_the_command() {
    for (args, command, needle) in [
        (
            &["lab", "--fault", "delay:node-2:200"][..],
            "ward lab",
            "'--fault <FAULTS>'",
        ),
        (
            &["keepalive", "race"],
            "ward keepalive race",
            "--proxy <PROXY>",
        ),
        (&["probe", "--count", "0"], "ward probe", "--count"),
        (&["slo", "validate"], "ward slo validate", "--input"),
        (&["e2e", "run", "--only", "dns"], "ward e2e run", "--only"),
        (&["lookup", "-interval", "5x"], "ward lookup", "--interval"),
        (
            &["--log-level", "warning", "probe", "--demo"],
            "ward probe",
            "--log-level",
        ),
        (&["load"], "ward load", "<URL>"),
    ] {
        let out = run(args);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("{command}: ")) && out.stderr.contains(needle),
            "{args:?}: {}",
            out.stderr
        );
    }
}

/// Every boolean flag reads the same way: `--flag` is true, `--flag=false`
/// and `--flag=true` say it outright, and the help shows its default (they
/// came in four styles: a bare switch, `--live false`, `--debug[=true]` and
/// kubenurse's `--use-tls true`).
#[test]
fn boolean_flags_are_flag_or_flag_equals_value() {
    let help = run(["lab", "--help"]).stdout;
    assert!(help.contains("--live[=<LIVE>]"), "{help}");
    let live = help.split("--live[=<LIVE>]").nth(1).unwrap_or_default();
    assert!(live.contains("[default: true]"), "{help}");
    let out = run(["lab", "--live", "false"]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert_eq!(out.stderr, "ward lab: unexpected argument 'false' found\n");
    for (sub, flag) in [
        (&["load", "--help"][..], "--no-reuse[=<NO_REUSE>]"),
        (&["nurse", "--help"], "--use-tls[=<USE_TLS>]"),
        (
            &["slo", "generate", "--help"],
            "--disable-alerts[=<DISABLE_ALERTS>]",
        ),
    ] {
        let help = run(sub).stdout;
        assert!(help.contains(flag), "{sub:?}: {help}");
    }
}
