//! cargo-fuzz target: ward_fuzz's `dns_response` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("dns_response").expect("a harness").run)(data)
});
