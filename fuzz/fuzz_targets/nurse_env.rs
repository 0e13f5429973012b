//! cargo-fuzz target: ward_fuzz's `nurse_env` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("nurse_env").expect("a harness").run)(data)
});
