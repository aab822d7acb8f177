//! `Range` headers on files: the ranges granted lie inside the file and
//! never add up to more than it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::site_fuzz::ranges(data));
