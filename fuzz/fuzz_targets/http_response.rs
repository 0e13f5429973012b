//! cargo-fuzz target: ward_fuzz's `http_response` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("http_response").expect("a harness").run)(data)
});
