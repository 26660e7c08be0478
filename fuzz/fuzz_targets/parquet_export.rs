#![no_main]
//! `veto_fuzz::parquet_export` under libFuzzer (see crates/veto-fuzz).

libfuzzer_sys::fuzz_target!(|data: &[u8]| veto_fuzz::parquet_export(data));
