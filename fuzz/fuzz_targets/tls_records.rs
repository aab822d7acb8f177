//! rlws' TLS record layer: what one end seals the other opens whole,
//! however the bytes are split, and a damaged record is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::tls_fuzz::records(data));
