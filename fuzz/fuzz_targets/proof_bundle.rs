#![no_main]
//! `veto_fuzz::proof_bundle` under libFuzzer (see crates/veto-fuzz).

libfuzzer_sys::fuzz_target!(|data: &[u8]| veto_fuzz::proof_bundle(data));
