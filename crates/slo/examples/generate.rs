//! Generates rules for every spec file given on the command line and writes
//! them to stdout, timing nothing: a minimal driver for profiling the library.
//!
//! `cargo run --release -p ward-slo --example generate -- spec.yaml... > rules.yaml`

use std::io::Write;

fn main() {
    let gen = match ward_slo::Generator::new(ward_slo::Config::default()) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for path in std::env::args().skip(1) {
        let data = match std::fs::read_to_string(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(2);
            }
        };
        match gen.generate_file(&path, &data, &mut Vec::new()) {
            Ok(results) => {
                for r in &results {
                    if let Err(e) = ward_slo::output::write_result(r, "# generated", &mut out) {
                        eprintln!("{path}: {e:?}");
                        std::process::exit(1);
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
    let _ = out.flush();
}
