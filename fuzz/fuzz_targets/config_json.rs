//! The configuration reader's JSON parser: any input gives a value or a
//! positioned error, never a panic or unbounded recursion, and positions
//! stay inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlws_conf::json::{parse, Kind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(v) => {
            assert!(v.pos.line >= 1 && v.pos.col >= 1);
            if let Kind::Obj(members) = &v.kind {
                for (_, kpos, val) in members {
                    assert!(kpos.line <= val.pos.line);
                }
            }
        }
        Err(e) => {
            assert!(e.pos.line >= 1 && e.pos.col >= 1);
            assert!(e.pos.line as usize <= text.lines().count().max(1) + 1);
        }
    }
});
