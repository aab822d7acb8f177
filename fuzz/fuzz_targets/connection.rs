//! Drives a whole `Connection` with arbitrary bytes split at arbitrary points,
//! in both roles, with and without permessage-deflate and reassembly, and
//! with sends interleaved. It must never panic; data never exceeds the
//! message limit; an error leaves it closed; and everything it transmits must
//! parse cleanly in a peer `Connection` of the other role.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rlws_ws::deflate::{DeflateConfig, Params};
use rlws_ws::{CloseCode, Config, Connection, Event, Role, State};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let split = data[0] as usize + 1;
    let flags = data[1];
    let sends = data[2];
    let role = if flags & 1 == 0 { Role::Server } else { Role::Client };
    let peer_role = if role == Role::Server { Role::Client } else { Role::Server };
    let mut config = Config::default();
    config.max_message = 8192;
    config.max_frame = 4096;
    config.reassemble = flags & 2 == 0;
    let params = Params {
        server_no_context_takeover: flags & 8 != 0,
        client_no_context_takeover: flags & 16 != 0,
        server_max_window_bits: 15,
        client_max_window_bits: if flags & 32 != 0 { 8 } else { 15 },
    };
    let mut conn = Connection::new(role, config);
    let mut peer_config = Config::default();
    peer_config.max_message = 1 << 20;
    peer_config.max_frame = 1 << 20;
    let mut peer = Connection::new(peer_role, peer_config);
    if flags & 4 != 0 {
        conn = conn.with_deflate(params, &DeflateConfig::default());
        peer = peer.with_deflate(params, &DeflateConfig::default());
    }
    let now = Instant::now();
    let mut input = data[3..].to_vec();
    for (i, chunk) in input.chunks_mut(split).enumerate() {
        let mut pos = 0;
        loop {
            match conn.read(&mut chunk[pos..]) {
                Err(_) => {
                    assert_eq!(conn.state(), State::Closed);
                    break;
                }
                Ok((n, ev)) => {
                    pos += n;
                    match ev {
                        Some(Event::Data(d)) => {
                            assert!(d.data.len() as u64 <= config.max_message);
                            if config.reassemble {
                                assert!(d.first && d.last);
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
        // Interleave sends, as an application would.
        match (sends >> (i % 8)) & 1 {
            1 => {
                let _ = conn.send_binary(chunk);
                if let Ok(s) = std::str::from_utf8(chunk) {
                    let _ = conn.send_text(s);
                }
            }
            _ if i == 3 => {
                let _ = conn.close(CloseCode(1000), "fuzz", now);
            }
            _ => {}
        }
        // Whatever it transmits is valid for its peer.
        let mut out = conn.poll_transmit().to_vec();
        let len = out.len();
        conn.advance(len);
        let mut p = 0;
        loop {
            match peer.read(&mut out[p..]) {
                Ok((0, None)) => break,
                Ok((n, _)) => p += n,
                Err(e) => panic!("peer refused our output: {e}"),
            }
        }
    }
});
