#![no_main]
//! `veto_fuzz::ledger_export` under libFuzzer (see crates/veto-fuzz).

libfuzzer_sys::fuzz_target!(|data: &[u8]| veto_fuzz::ledger_export(data));
