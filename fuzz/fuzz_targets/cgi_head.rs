//! The head a CGI program writes: any output gives a verdict without
//! panicking, and a head found is found the same in the bytes it took.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::site_fuzz::cgi_head(data));
