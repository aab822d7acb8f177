//! Form bodies (urlencoded and multipart): any bytes give fields or an
//! error, the same however the body is cut into pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::site_fuzz::form(data));
