//! The bounded fuzz run of the test command: each target's seeds and a fixed
//! number of mutations of them (a seeded generator: the same inputs on every
//! run, so a failure reproduces), each fed to the target's harness. An input
//! that breaks a promise is written to
//! `$CARGO_TARGET_TMPDIR/fuzz-<target>-<case>.bin` and the test fails naming
//! it; the input then becomes a regression seed. The coverage-guided run is
//! `scripts/fuzz.sh` (cargo-fuzz, nightly).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ward_fuzz::{target, TARGETS};

/// Bytes that steer parsers: separators, quotes, digits, YAML and HTTP punctuation.
const INTERESTING: &[u8] = b"\0\xff\n\r\t :,|\"'{}[]-.0123456789/\\%#&*!?=";

/// One mutation of `input`: a byte changed, bytes inserted, a range removed
/// or repeated, a piece of another seed spliced in, or the end cut off.
fn mutate(rng: &mut StdRng, input: &mut Vec<u8>, seeds: &[&[u8]]) {
    let len = input.len();
    let at = if len == 0 {
        0
    } else {
        rng.random_range(0..len)
    };
    match rng.random_range(0..7) {
        0 if len > 0 => input[at] ^= 1 << rng.random_range(0..8),
        1 if len > 0 => input[at] = INTERESTING[rng.random_range(0..INTERESTING.len())],
        2 => {
            let n = rng.random_range(1..8);
            for _ in 0..n {
                let b = if rng.random_bool(0.5) {
                    INTERESTING[rng.random_range(0..INTERESTING.len())]
                } else {
                    rng.random()
                };
                input.insert(at, b);
            }
        }
        3 if len > 0 => {
            let end = (at + rng.random_range(1..16)).min(len);
            input.drain(at..end);
        }
        4 if len > 0 => {
            let end = (at + rng.random_range(1..32)).min(len);
            let piece = input[at..end].repeat(rng.random_range(2..64));
            input.splice(at..at, piece);
        }
        5 => {
            let other = seeds[rng.random_range(0..seeds.len())];
            if !other.is_empty() {
                let from = rng.random_range(0..other.len());
                let to = (from + rng.random_range(1..64)).min(other.len());
                input.splice(at..at, other[from..to].iter().copied());
            }
        }
        _ => input.truncate(at),
    }
}

/// Feeds the seeds and `cases` mutations of them to the target named `name`.
fn fuzz(name: &str, cases: u32) {
    let t = target(name).unwrap_or_else(|| panic!("no fuzz target {name}"));
    let mut rng = StdRng::seed_from_u64(0x5741_5244);
    let inputs = t
        .seeds
        .iter()
        .map(|s| s.to_vec())
        .chain((0..cases).map(|_| {
            let mut input = t.seeds[rng.random_range(0..t.seeds.len())].to_vec();
            for _ in 0..rng.random_range(1..5) {
                mutate(&mut rng, &mut input, t.seeds);
            }
            input
        }));
    for (case, input) in inputs.enumerate() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (t.run)(&input))) {
            let path =
                PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-{name}-{case}.bin"));
            std::fs::write(&path, &input).expect("writing the failing input");
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "{name}: case {case} failed ({why}); the input is in {}",
                path.display()
            );
        }
    }
}

#[test]
fn slo_spec() {
    fuzz("slo_spec", 3_000);
}

#[test]
fn load_scenario() {
    fuzz("load_scenario", 20_000);
}

#[test]
fn nurse_env() {
    fuzz("nurse_env", 20_000);
}

#[test]
fn lookup_config() {
    fuzz("lookup_config", 10_000);
}

#[test]
fn kube_json() {
    fuzz("kube_json", 50_000);
}

#[test]
fn http_response() {
    fuzz("http_response", 400);
}

#[test]
fn prometheus_answer() {
    fuzz("prometheus_answer", 300);
}

#[test]
fn dns_response() {
    fuzz("dns_response", 3_000);
}

/// Every target has a test above and a cargo-fuzz target in fuzz/.
#[test]
fn every_target_runs_here_and_under_cargo_fuzz() {
    let tests = include_str!("bounded.rs");
    let fuzz_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for t in TARGETS {
        assert!(
            tests.contains(&format!("fn {}() {{\n    fuzz(\"{}\"", t.name, t.name)),
            "{}: no bounded test",
            t.name
        );
        let file = fuzz_dir.join(format!("{}.rs", t.name));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("target(\"{}\")", t.name)),
            "{}",
            file.display()
        );
    }
}
