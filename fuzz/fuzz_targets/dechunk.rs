//! Chunked output as CGI programs may frame it: data or an error, the same
//! however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::site_fuzz::dechunk(data));
