//! The index of a zip archive served from: any bytes give members whose
//! data lies inside the archive, or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::site_fuzz::zip_index(data));
