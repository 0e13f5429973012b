//! cargo-fuzz target: ward_fuzz's `kube_json` harness.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (ward_fuzz::target("kube_json").expect("a harness").run)(data)
});
