//! cargo-fuzz target: ward_fuzz's `slo_spec` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("slo_spec").expect("a harness").run)(data)
});
