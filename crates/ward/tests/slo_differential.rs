//! Differential test: random valid SLO specs (seeded, reproducible) run
//! through the real sloth v0.16.0 and through `ward slo generate` in
//! directory mode; every output file must be byte-identical except the
//! header comment line, and every ward output must pass `promtool check
//! rules`. sloth comes from `scripts/install-test-deps.sh`
//! (`scripts/deps.d/sloth.sh`); the test fails if it is missing.
//! Seed: `WARD_SLO_SEED` (default fixed); differences found are fixed or
//! listed in docs/slo-compat.md.

mod slo_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use slo_support::{random_doc, rule_documents, same_except_header, sloth, ward, Flavor, Rng};

struct Batch {
    period: &'static str,
    windows: Option<&'static str>,
    files: usize,
    openslo: bool,
}

fn write_specs(dir: &Path, rng: &mut Rng, files: usize, openslo: bool) -> usize {
    let mut docs = 0;
    for i in 0..files {
        let n_docs = 1 + usize::from(rng.chance(20)) + usize::from(rng.chance(5));
        let mut text = String::new();
        for d in 0..n_docs {
            let flavor = match rng.below(10) {
                0 | 1 => Flavor::K8s,
                2 if openslo => Flavor::OpenSlo,
                _ => Flavor::Prom,
            };
            if d > 0 {
                text.push_str("\n---\n");
            }
            let n = 1 + rng.below(3);
            text.push_str(&random_doc(rng, flavor, n));
            docs += 1;
        }
        let sub = if i % 7 == 0 { "nested/" } else { "" };
        let path = dir.join(format!("{sub}spec-{i:04}.yaml"));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write spec");
    }
    docs
}

#[test]
fn ward_matches_sloth_on_random_specs() {
    let seed = std::env::var("WARD_SLO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_5107_u64);
    let windows_dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/slo/conformance/windows"
    );
    let batches = [
        Batch {
            period: "30d",
            windows: None,
            files: 420,
            openslo: true,
        },
        Batch {
            period: "28d",
            windows: None,
            files: 60,
            openslo: true,
        },
        Batch {
            period: "7d",
            windows: Some(windows_dir),
            files: 60,
            openslo: false,
        },
    ];
    let mut rng = Rng::new(seed);
    let mut total_docs = 0;
    let mut failures = Vec::new();
    let promtool_dir = tempfile::tempdir().expect("tempdir");
    let mut promtool_files = Vec::new();
    for (bi, b) in batches.iter().enumerate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let input = tmp.path().join("in");
        let (out_s, out_w) = (tmp.path().join("sloth"), tmp.path().join("ward"));
        for d in [&input, &out_s, &out_w] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        total_docs += write_specs(&input, &mut rng, b.files, b.openslo);
        let mut args = vec![
            "generate",
            "-i",
            input.to_str().expect("utf8"),
            "--default-slo-period",
            b.period,
        ];
        if let Some(w) = b.windows {
            args.extend(["--slo-period-windows-path", w]);
        }
        let mut sargs = args.clone();
        sargs.extend(["-o", out_s.to_str().expect("utf8")]);
        let r = sloth(tmp.path(), &sargs);
        assert_eq!(
            r.code, 0,
            "sloth failed on batch {bi} (seed {seed}): {}",
            r.stderr
        );
        let mut wargs = vec!["slo".to_string()];
        wargs.extend(args.iter().map(|a| a.to_string()));
        wargs.extend(["-o".to_string(), out_w.to_str().expect("utf8").to_string()]);
        let r = ward(tmp.path(), &wargs, &[]);
        assert_eq!(
            r.code, 0,
            "ward failed on batch {bi} (seed {seed}): {}",
            r.stderr
        );

        let mut files = Vec::new();
        collect(&out_s, &mut files);
        assert_eq!(files.len(), b.files, "sloth wrote one file per spec");
        for f in files {
            let rel = f.strip_prefix(&out_s).expect("prefix");
            let s = std::fs::read_to_string(&f).expect("sloth out");
            let w = std::fs::read_to_string(out_w.join(rel)).unwrap_or_default();
            if let Err(d) = same_except_header(&s, &w) {
                let spec = std::fs::read_to_string(input.join(rel)).unwrap_or_default();
                failures.push(format!(
                    "batch {bi} {}: {d}\n--- spec ---\n{spec}",
                    rel.display()
                ));
            }
            for (i, doc) in rule_documents(&w).into_iter().enumerate() {
                if uses_utf8_label_names(&doc) {
                    // sloth allows UTF-8 label names; this promtool only the legacy charset.
                    continue;
                }
                let p = promtool_dir.path().join(format!(
                    "b{bi}-{}-{i}.yaml",
                    rel.display().to_string().replace('/', "_")
                ));
                std::fs::write(&p, doc).expect("write rules");
                promtool_files.push(p);
            }
        }
    }
    assert!(total_docs >= 500, "only {total_docs} specs generated");
    assert!(
        failures.is_empty(),
        "{} of the generated files differ from sloth (seed {seed}); first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
    for chunk in promtool_files.chunks(200) {
        let out = Command::new("promtool")
            .args(["check", "rules"])
            .args(chunk)
            .output()
            .expect("promtool not found: run scripts/install-test-deps.sh");
        assert!(
            out.status.success(),
            "promtool check rules failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// True when a rule document has a label/annotation key outside `[a-zA-Z_][a-zA-Z0-9_]*`.
fn uses_utf8_label_names(doc: &str) -> bool {
    let mut in_map = false;
    for line in doc.lines() {
        let t = line.trim_start();
        if t == "labels:" || t == "annotations:" {
            in_map = true;
            continue;
        }
        if !in_map {
            continue;
        }
        let Some((k, _)) = t.split_once(':') else {
            continue;
        };
        if t.starts_with("- ")
            || ["expr", "record", "alert", "name", "rules", "interval"].contains(&k)
        {
            in_map = false;
            continue;
        }
        let k = k.trim_matches('"');
        let legacy = k
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if !legacy || k.is_empty() {
            return true;
        }
    }
    false
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
