//! The docs check: every `ward …` command in a fenced code block of
//! README.md and docs/*.md (also written `cargo run [--release] -p ward --
//! …`) runs, against loopback servers this test starts, and prints what the
//! doc shows.
//!
//! What a doc shows: the `# ` lines right after a command are its output
//! (stdout, then stderr), compared line by line after [`shape`] (numbers
//! become `N`, runs of blanks one space: timings differ from run to run); a
//! `# …` line stands for any number of lines. A command shown without output
//! must exit 0 (see [`accepted_codes`]).
//!
//! Rules, each explicit and printed when it applies:
//! - [`needs_cluster`]: `nurse`, `e2e` and `keepalive audit` talk to a Kubernetes API server;
//!   without output in the doc they are skipped. With output they run: the
//!   doc then promises what they print without one (a bad kubeconfig).
//! - [`runs_until_stopped`]: agents and long runs (`lab`, the `lookup`
//!   agent, `load`, `keepalive race`) must still be running after
//!   [`RUN_FOR`], then stop on SIGINT within [`STOP_WITHIN`].
//! - [`StandIns`]: the docs' hosts (`10.0.0.5:8080`, `proxy.internal`,
//!   cluster DNS, ...) are replaced by loopback servers, in the command and
//!   back in its output; the environment points lookup's defaults
//!   (hostlookuper's public DNS servers, /etc/resolv.conf) at a loopback DNS
//!   server and the lab at a free port.
//!
//! Every other command must finish within [`DEADLINE`].

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::{repo, ward};
use ward_testkit::backend::Backend;
use ward_testkit::dns::{DnsServer, Record};
use ward_testkit::nginx::Nginx;
use ward_testkit::tcp_proxy::TcpProxy;

/// Subcommands that talk to a Kubernetes API server.
fn needs_cluster(args: &[String]) -> bool {
    match args.first().map(String::as_str) {
        Some("nurse" | "e2e") => true,
        Some("keepalive") => args.get(1).is_some_and(|a| a == "audit"),
        _ => false,
    }
}
/// How long a command that runs until stopped must keep running.
const RUN_FOR: Duration = Duration::from_secs(2);
/// How long it may take to stop after SIGINT (the lookup agent's lameduck included).
const STOP_WITHIN: Duration = Duration::from_secs(15);
/// How long any other command may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// One command of a doc, with the output the doc shows.
#[derive(Debug)]
struct DocCommand {
    /// `file:line`.
    place: String,
    /// The command as the doc writes it (continuation lines joined).
    text: String,
    /// ward's arguments (after `ward` or `cargo run … --`).
    args: Vec<String>,
    /// The doc's output lines, without their `# `.
    output: Vec<String>,
}

/// ward's arguments in a shell command line, if it runs ward.
fn ward_args(words: &[String]) -> Option<Vec<String>> {
    match words {
        [first, rest @ ..] if first == "ward" => Some(rest.to_vec()),
        [cargo, run, rest @ ..] if cargo == "cargo" && run == "run" => {
            let dashes = rest.iter().position(|w| w == "--")?;
            let package = rest[..dashes]
                .windows(2)
                .any(|w| w[0] == "-p" && w[1] == "ward");
            package.then(|| rest[dashes + 1..].to_vec())
        }
        _ => None,
    }
}

/// Every ward command in the fenced code blocks of `text` (a file named `name`).
fn commands_in(name: &str, text: &str) -> Vec<DocCommand> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let first = i;
        let mut command = line.trim().to_string();
        if !(command.starts_with("ward ") || command.starts_with("cargo run ")) {
            continue;
        }
        while command.ends_with('\\') && i < lines.len() {
            command.pop();
            command.push(' ');
            command.push_str(lines[i].trim());
            i += 1;
        }
        let words = shlex::split(&command)
            .unwrap_or_else(|| panic!("{name}:{first}: unbalanced quotes in {command:?}"));
        let Some(args) = ward_args(&words) else {
            continue;
        };
        let mut output = Vec::new();
        while let Some(shown) = lines.get(i).and_then(|l| l.strip_prefix("# ")) {
            output.push(shown.to_string());
            i += 1;
        }
        out.push(DocCommand {
            place: format!("{name}:{first}"),
            text: command,
            args,
            output,
        });
    }
    out
}

/// README.md and docs/*.md, in that order.
fn docs() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files.insert(0, repo().join("README.md"));
    files
}

/// A line as compared: numbers as `N`, blanks collapsed, ends trimmed.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_digit() || *d == '.')
            {
                chars.next();
            }
            out.push('N');
        } else if c.is_whitespace() {
            while chars.peek().is_some_and(|d| d.is_whitespace()) {
                chars.next();
            }
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `actual` lines match the doc's `shown` lines (`…` matching any run).
fn matches(shown: &[String], actual: &[String]) -> bool {
    match shown.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "…" => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| shape(first) == shape(a) && matches(rest, more)),
    }
}

/// Commands that run until stopped, by what the docs use them for.
fn runs_until_stopped(args: &[String]) -> bool {
    match args.first().map(String::as_str) {
        Some("lab" | "load") => true,
        Some("lookup") => args.get(1).is_none_or(|a| a != "once"),
        Some("keepalive") => args.get(1).is_some_and(|a| a == "race"),
        _ => false,
    }
}

/// Exit codes of a command shown without output: 0, and for `keepalive race`
/// also 1 (the race reproduced, which is what it is for).
fn accepted_codes(args: &[String]) -> &'static [i32] {
    match (args.first(), args.get(1)) {
        (Some(k), Some(r)) if k == "keepalive" && r == "race" => &[0, 1],
        _ => &[0],
    }
}

/// Loopback servers standing in for the hosts the docs name.
struct StandIns {
    /// (what the doc writes, what the test runs), longest first.
    swaps: Vec<(String, String)>,
    /// Environment of every command.
    env: Vec<(&'static str, String)>,
    _keep: (
        Backend,
        Backend,
        Nginx,
        TcpProxy,
        DnsServer,
        tempfile::TempDir,
    ),
}

impl StandIns {
    fn start() -> Self {
        // A backend closing connections idle for 1 s, and nginx in front of
        // it with pooled upstream connections (the 502 race's setting).
        let backend = Backend::builder()
            .idle_timeout(Duration::from_secs(1))
            .start()
            .unwrap();
        let proxy = Nginx::builder()
            .http_config(format!(
                "upstream backend {{ server {}; keepalive 32; keepalive_timeout 60s; }}",
                backend.addr()
            ))
            .location(
                "/",
                "proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";",
            )
            .start()
            .unwrap();
        // A middlebox forgetting connections idle 1.5 s before a backend keeping them a minute.
        let patient = Backend::builder()
            .idle_timeout(Duration::from_secs(60))
            .start()
            .unwrap();
        let drop = TcpProxy::with_idle_drop(patient.addr(), Duration::from_millis(1500)).unwrap();
        let dns = DnsServer::unbound()
            .zone("example.org")
            .a("example.org", "127.0.0.1")
            .record(Record::Aaaa("example.org".into(), "::1".into()))
            .start()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, format!("nameserver {}\n", dns.addr())).unwrap();
        let resolv = resolv.display().to_string();
        let listen = format!("127.0.0.1:{}", ward_testkit::net::free_port());
        let swaps = [
            ("http://10.0.0.5:8080", format!("http://{}", backend.addr())),
            (
                "http://proxy.internal",
                format!("http://{}", proxy.http_addr()),
            ),
            ("http://127.0.0.1:41000", format!("http://{}", drop.addr())),
            ("10.96.0.10:53", dns.addr().to_string()),
            ("[2001:db8::53]:853", dns.addr().to_string()),
            ("127.0.0.53:53", dns.addr().to_string()),
            ("/etc/resolv.conf", resolv.clone()),
            (":9090", listen),
        ]
        .map(|(doc, ours)| (doc.to_string(), ours))
        .to_vec();
        let env = vec![
            ("HOSTLOOKUPER_DNS_SERVERS", format!("udp://{}", dns.addr())),
            ("HOSTLOOKUPER_RESOLV_CONF", resolv),
            ("WARD_LAB_LISTEN", "127.0.0.1:0".to_string()),
        ];
        StandIns {
            swaps,
            env,
            _keep: (backend, patient, proxy, drop, dns, dir),
        }
    }

    /// The argument with the docs' hosts replaced by the stand-ins.
    fn to_ours(&self, arg: &str) -> String {
        self.swaps
            .iter()
            .fold(arg.to_string(), |a, (doc, ours)| a.replace(doc, ours))
    }

    /// An output line with the stand-ins named as the doc names them.
    fn to_doc(&self, line: &str) -> String {
        self.swaps
            .iter()
            .fold(line.to_string(), |l, (doc, ours)| l.replace(ours, doc))
    }
}

/// How a command ended.
struct Ended {
    code: Option<i32>,
    lines: Vec<String>,
}

/// Runs one doc command in `dir`; `Err` says what went wrong.
fn check(command: &DocCommand, stand_ins: &StandIns, dir: &Path) -> Result<(), String> {
    let args: Vec<String> = command.args.iter().map(|a| stand_ins.to_ours(a)).collect();
    let mut cmd = ward();
    cmd.args(&args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &stand_ins.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let kill = |signal: &str| {
        let _ = std::process::Command::new("kill")
            .args([signal, &pid])
            .status();
    };
    let received = if runs_until_stopped(&command.args) {
        if let Ok(out) = rx.recv_timeout(RUN_FOR) {
            let out = out.map_err(|e| e.to_string())?;
            return Err(format!(
                "stopped within {RUN_FOR:?} (exit {:?}): {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        kill("-INT");
        rx.recv_timeout(STOP_WITHIN)
            .map_err(|_| format!("still running {STOP_WITHIN:?} after SIGINT"))
    } else {
        rx.recv_timeout(DEADLINE)
            .map_err(|_| format!("still running after {DEADLINE:?}"))
    };
    if received.is_err() {
        kill("-KILL");
    }
    let out = received?.map_err(|e| e.to_string())?;
    let ended = Ended {
        code: out.status.code(),
        lines: [out.stdout, out.stderr]
            .iter()
            .flat_map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(|l| stand_ins.to_doc(l))
                    .collect::<Vec<_>>()
            })
            .collect(),
    };
    if command.output.is_empty() {
        return match ended.code {
            Some(code) if accepted_codes(&command.args).contains(&code) => Ok(()),
            code => Err(format!("exit {code:?}:\n{}", ended.lines.join("\n"))),
        };
    }
    if matches(&command.output, &ended.lines) {
        Ok(())
    } else {
        Err(format!(
            "the doc shows\n  {}\nward printed (exit {:?})\n  {}",
            command.output.join("\n  "),
            ended.code,
            ended.lines.join("\n  ")
        ))
    }
}

#[test]
fn every_command_in_the_docs_prints_what_the_docs_show() {
    let commands: Vec<DocCommand> = docs()
        .iter()
        .flat_map(|path| {
            let name = path
                .strip_prefix(repo())
                .unwrap_or(path)
                .display()
                .to_string();
            commands_in(&name, &std::fs::read_to_string(path).unwrap())
        })
        .collect();
    assert!(commands.len() >= 10, "{commands:#?}");
    let stand_ins = StandIns::start();
    let mut failed = Vec::new();
    for command in &commands {
        if needs_cluster(&command.args) && command.output.is_empty() {
            eprintln!(
                "skipped (needs a cluster): {}: {}",
                command.place, command.text
            );
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        match check(command, &stand_ins, dir.path()) {
            Ok(()) => eprintln!("ok: {}: {}", command.place, command.text),
            Err(why) => failed.push(format!("{}: {}\n{why}", command.place, command.text)),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn output_lines_match_by_shape_and_ellipsis() {
    let doc = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let shown = doc(&["x: 5/5 checks  1.2ms", "…", "end"]);
    assert!(matches(
        &shown,
        &doc(&["x: 4/5 checks 13.25ms", "a", "b", "end"])
    ));
    assert!(matches(&shown, &doc(&["x: 4/5 checks 13.25ms", "end"])));
    assert!(!matches(&shown, &doc(&["x: 4/5 check 13.25ms", "end"])));
    assert!(!matches(
        &shown,
        &doc(&["x: 4/5 checks 13.25ms", "end", "more"])
    ));
    let text = "```sh\n# a comment\nward probe --demo   # note\n# out 1\n# out 2\n\n\
                cargo run --release -p ward -- lab \\\n  --nodes 2\nkubectl get pods\n```\n\
                ward outside a block\n";
    let found = commands_in("x.md", text);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].args, ["probe", "--demo"]);
    assert_eq!(found[0].output, ["out 1", "out 2"]);
    assert_eq!(found[1].args, ["lab", "--nodes", "2"]);
    assert_eq!(found[1].place, "x.md:7");
}
