//! cargo-fuzz target: ward_fuzz's `load_scenario` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("load_scenario").expect("a harness").run)(data)
});
