//! The ClientHello reader that picks a TLS connection's vhost: any bytes
//! from a client give a verdict without panicking, consistently.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rlws::tls_fuzz::client_hello(data));
