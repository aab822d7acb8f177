//! The streaming UTF-8 validator must agree with the standard library on
//! every input however it is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlws_ws::utf8::Utf8Stream;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let step = data[0] as usize % 7 + 1;
    let body = &data[1..];
    let mut v = Utf8Stream::new();
    let mut ok = true;
    for c in body.chunks(step) {
        if v.feed(c).is_err() {
            ok = false;
            break;
        }
    }
    if ok {
        ok = v.finish().is_ok();
    }
    assert_eq!(ok, std::str::from_utf8(body).is_ok());
});
