//! Feeds arbitrary bytes, split at arbitrary points, to the frame parser in
//! both roles. It must never panic, and everything it reports must be
//! consistent: data never exceeds the limits, and a close ends parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlws_ws::{FrameEvent as Event, Limits, Receiver, Role};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = data[0] as usize + 1;
    let role = if data[1] & 1 == 0 { Role::Server } else { Role::Client };
    let limits = Limits { max_frame: 4096, max_message: 8192 };
    let mut rx = Receiver::new(role, limits);
    rx.set_rsv1_allowed(data[1] & 2 != 0);
    let mut input = data[2..].to_vec();
    let mut msg_len = 0u64;
    for chunk in input.chunks_mut(split) {
        let mut pos = 0;
        loop {
            match rx.next(&mut chunk[pos..]) {
                Err(_) => return,
                Ok((n, ev)) => {
                    pos += n;
                    match ev {
                        Some(Event::Data { data, first, last, .. }) => {
                            if first {
                                msg_len = 0;
                            }
                            msg_len += data.len() as u64;
                            assert!(msg_len <= limits.max_message);
                            if last {
                                msg_len = 0;
                            }
                        }
                        Some(Event::Ping(p)) | Some(Event::Pong(p)) => assert!(p.len() <= 125),
                        Some(Event::Close { reason, .. }) => assert!(reason.len() <= 123),
                        None if n == 0 => break,
                        None => {}
                    }
                }
            }
        }
    }
});
