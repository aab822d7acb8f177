//! The HTTP/2 frame and HPACK-structure check in front of h2: any client
//! byte stream, fed in any piece size, gives a verdict without panicking,
//! and the verdict does not depend on how the bytes were split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlws::h2guard::check_client_bytes;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let step = data[0] as usize % 13 + 1;
    let mut stream = PREFACE.to_vec();
    stream.extend_from_slice(&data[1..]);
    let whole = check_client_bytes(&stream, stream.len());
    let split = check_client_bytes(&stream, step);
    assert_eq!(whole, split);
});
