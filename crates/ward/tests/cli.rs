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
