//! cargo-fuzz target: ward_fuzz's `prometheus_answer` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("prometheus_answer").expect("a harness").run)(data)
});
