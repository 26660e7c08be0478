#![no_main]
//! `veto_fuzz::policy_toml` under libFuzzer (see crates/veto-fuzz).

libfuzzer_sys::fuzz_target!(|data: &[u8]| veto_fuzz::policy_toml(data));
