//! cargo-fuzz target: ward_fuzz's `lookup_config` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("lookup_config").expect("a harness").run)(data)
});
