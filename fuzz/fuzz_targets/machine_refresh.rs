//! The refresh machine's handling of every input a provider, a store or a host controls, starting
//! from one of its transcripts' configs (keyhole_fuzz::run_machine lists the properties checked)
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| keyhole_fuzz::run_machine("refresh", data));
