#![no_main]
//! `veto_fuzz::policy_toml` under libFuzzer (see crates/veto-fuzz).

libfuzzer_sys::fuzz_target!(init: veto_fuzz::init_panic_hook(), |data: &[u8]| veto_fuzz::policy_toml(data));
