//! A client `Connection` against a server `Connection` in memory: the bytes
//! one transmits are fed to the other, split wherever a test says, so every
//! race and split is deterministic.

use std::time::{Duration, Instant};

use rlws_ws::deflate::{self, DeflateConfig};
use rlws_ws::{CloseCode, Config, Connection, DataKind, Event, Outgoing, Role, State};

/// An event with its data copied out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data {
        kind: DataKind,
        data: Vec<u8>,
        first: bool,
        last: bool,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>, String),
    Error(u16),
}

fn text(s: &str) -> Ev {
    Ev::Data {
        kind: DataKind::Text,
        data: s.as_bytes().to_vec(),
        first: true,
        last: true,
    }
}

fn binary(b: &[u8]) -> Ev {
    Ev::Data {
        kind: DataKind::Binary,
        data: b.to_vec(),
        first: true,
        last: true,
    }
}

/// Takes everything `from` has to transmit.
fn wire(from: &mut Connection) -> Vec<u8> {
    let bytes = from.poll_transmit().to_vec();
    from.advance(bytes.len());
    bytes
}

/// Feeds `bytes` to `to` in pieces of `step` bytes; the events it reports.
fn feed(to: &mut Connection, bytes: &[u8], step: usize) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut data = bytes.to_vec();
    for chunk in data.chunks_mut(step.max(1)) {
        let mut pos = 0;
        loop {
            let (n, ev) = match to.read(&mut chunk[pos..]) {
                Ok(r) => r,
                Err(e) => {
                    out.push(Ev::Error(e.code.0));
                    return out;
                }
            };
            pos += n;
            match ev {
                None if n == 0 => break,
                None => {}
                Some(Event::Data(d)) => out.push(Ev::Data {
                    kind: d.kind,
                    data: d.data.to_vec(),
                    first: d.first,
                    last: d.last,
                }),
                Some(Event::Ping(p)) => out.push(Ev::Ping(p.to_vec())),
                Some(Event::Pong(p)) => out.push(Ev::Pong(p.to_vec())),
                Some(Event::Close { code, reason }) => {
                    out.push(Ev::Close(code.map(|c| c.0), reason.to_string()))
                }
            }
        }
    }
    out
}

/// Joins data pieces into whole messages.
fn joined(events: Vec<Ev>) -> Vec<Ev> {
    let mut out: Vec<Ev> = Vec::new();
    for e in events {
        if let (
            Some(Ev::Data {
                data: buf,
                last: l @ false,
                ..
            }),
            Ev::Data { data, last, .. },
        ) = (out.last_mut(), &e)
        {
            buf.extend_from_slice(data);
            *l = *last;
            continue;
        }
        out.push(e);
    }
    out
}

fn pair(config: Config) -> (Connection, Connection) {
    (
        Connection::new(Role::Client, config),
        Connection::new(Role::Server, config),
    )
}

fn fragments() -> Config {
    let mut c = Config::default();
    c.reassemble = false;
    c
}

/// A client and server with permessage-deflate as the handshake would agree it.
fn deflate_pair(offer: DeflateConfig, config: Config) -> (Connection, Connection) {
    let header = deflate::client_offer(&offer);
    let (server_params, answer) =
        deflate::negotiate_server(&header, &DeflateConfig::default()).expect("server accepts");
    let client_params = deflate::client_accept(Some(&answer), &offer)
        .expect("client accepts the answer")
        .expect("deflate on");
    assert_eq!(client_params, server_params);
    (
        Connection::new(Role::Client, config).with_deflate(client_params, &offer),
        Connection::new(Role::Server, config)
            .with_deflate(server_params, &DeflateConfig::default()),
    )
}

#[test]
fn messages_arrive_whole_at_every_split_point_in_both_directions() {
    let long: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    for step in (1..40).chain([127, 128, 1000, 65_536, usize::MAX]) {
        let (mut client, mut server) = pair(Config::default());
        client.send_text("héllo wörld").unwrap();
        client.send_binary(&long).unwrap();
        client.send_binary(b"").unwrap();
        client
            .send(
                Outgoing::Fragment {
                    kind: DataKind::Text,
                    first: true,
                    fin: false,
                },
                "frag".as_bytes(),
            )
            .unwrap();
        client
            .send(
                Outgoing::Fragment {
                    kind: DataKind::Text,
                    first: false,
                    fin: true,
                },
                "ment€".as_bytes(),
            )
            .unwrap();
        let bytes = wire(&mut client);
        if step < 1000 && step > 20 {
            // The long message makes small steps slow; a few are enough.
            continue;
        }
        let got = feed(&mut server, &bytes, step);
        assert_eq!(
            got,
            vec![
                text("héllo wörld"),
                binary(&long),
                binary(b""),
                text("fragment€")
            ],
            "client to server, step {step}"
        );
        server.send_text("back").unwrap();
        server.send_binary(&long[..300]).unwrap();
        let bytes = wire(&mut server);
        assert_eq!(
            feed(&mut client, &bytes, step),
            vec![text("back"), binary(&long[..300])],
            "server to client, step {step}"
        );
    }
}

#[test]
fn a_ping_inside_a_fragmented_message_is_answered_and_the_message_stays_whole() {
    for step in 1..30 {
        let (mut client, mut server) = pair(Config::default());
        let frag = |first, fin| Outgoing::Fragment {
            kind: DataKind::Binary,
            first,
            fin,
        };
        client.send(frag(true, false), b"abc").unwrap();
        client.send_ping(b"are you there").unwrap();
        client.send(frag(false, false), b"def").unwrap();
        client.send(Outgoing::Pong, b"unsolicited").unwrap();
        client.send(frag(false, true), b"ghi").unwrap();
        let got = feed(&mut server, &wire(&mut client), step);
        assert_eq!(
            got,
            vec![
                Ev::Ping(b"are you there".to_vec()),
                Ev::Pong(b"unsolicited".to_vec()),
                binary(b"abcdefghi"),
            ],
            "step {step}"
        );
        // The pong went into the server's queue by itself.
        assert_eq!(
            feed(&mut client, &wire(&mut server), step),
            vec![Ev::Pong(b"are you there".to_vec())]
        );
    }
}

#[test]
fn fragment_delivery_reports_position_in_the_message() {
    let (mut client, mut server) = pair(fragments());
    client
        .send(
            Outgoing::Fragment {
                kind: DataKind::Text,
                first: true,
                fin: false,
            },
            b"0123456789",
        )
        .unwrap();
    client
        .send(
            Outgoing::Fragment {
                kind: DataKind::Text,
                first: false,
                fin: true,
            },
            b"abcdef",
        )
        .unwrap();
    let mut bytes = wire(&mut client);
    // First frame: 2-byte header + 4-byte mask + 10 bytes. Feed 6 + 4 bytes.
    let (n, ev) = server.read(&mut bytes[..10]).unwrap();
    assert_eq!(n, 10);
    match ev {
        Some(Event::Data(d)) => {
            assert_eq!(d.data, b"0123");
            assert!(d.first && !d.last && !d.fin);
            assert_eq!(d.remaining, 6);
        }
        other => panic!("{other:?}"),
    }
    let got = feed(&mut server, &bytes[10..], usize::MAX);
    assert_eq!(
        got,
        vec![
            Ev::Data {
                kind: DataKind::Text,
                data: b"456789".to_vec(),
                first: false,
                last: false
            },
            Ev::Data {
                kind: DataKind::Text,
                data: b"abcdef".to_vec(),
                first: false,
                last: true
            },
        ]
    );
}

#[test]
fn closing_from_both_sides_at_once_ends_both_without_a_third_frame() {
    for step in [1, 3, 1000] {
        let (mut client, mut server) = pair(Config::default());
        let now = Instant::now();
        client.close(CloseCode(1000), "client done", now).unwrap();
        server.close(CloseCode(1001), "server done", now).unwrap();
        assert_eq!(client.state(), State::CloseSent);
        let to_server = wire(&mut client);
        let to_client = wire(&mut server);
        assert_eq!(
            feed(&mut server, &to_server, step),
            vec![Ev::Close(Some(1000), "client done".into())]
        );
        assert_eq!(
            feed(&mut client, &to_client, step),
            vec![Ev::Close(Some(1001), "server done".into())]
        );
        for c in [&mut client, &mut server] {
            assert_eq!(c.state(), State::Closed);
            assert!(c.poll_transmit().is_empty(), "no reply to a crossed close");
            assert_eq!(c.poll_timeout(), None);
        }
        assert!(client.send_text("late").is_err());
    }
}

#[test]
fn the_close_reply_echoes_the_code_and_goes_out_after_what_was_sent_before_it() {
    let (mut client, mut server) = pair(Config::default());
    client
        .close(CloseCode(4001), "bye", Instant::now())
        .unwrap();
    let got = feed(&mut server, &wire(&mut client), usize::MAX);
    assert_eq!(got, vec![Ev::Close(Some(4001), "bye".into())]);
    assert_eq!(server.state(), State::CloseReceived);
    assert!(server.wants_transmit());
    // An answer queued after the close arrived still goes out, ahead of the reply.
    server.send_text("last words").unwrap();
    let reply = wire(&mut server);
    assert_eq!(
        feed(&mut client, &reply, 1),
        vec![text("last words"), Ev::Close(Some(4001), String::new())]
    );
    assert_eq!(server.state(), State::Closed);
    assert_eq!(client.state(), State::Closed);
    assert_eq!(client.peer_close_code(), Some(CloseCode(4001)));
    assert!(server.send_text("too late").is_err());
}

#[test]
fn an_empty_close_is_answered_with_an_empty_close() {
    let (mut client, mut server) = pair(Config::default());
    let mut frame = Vec::new();
    rlws_ws::frame::encode_close(&mut frame, None, "", Some([1, 2, 3, 4]));
    assert_eq!(
        feed(&mut server, &frame, usize::MAX),
        vec![Ev::Close(None, String::new())]
    );
    assert_eq!(
        feed(&mut client, &wire(&mut server), usize::MAX),
        vec![Ev::Close(None, String::new())]
    );
}

#[test]
fn data_after_our_close_still_arrives_and_the_deadline_ends_the_wait() {
    let mut config = Config::default();
    config.close_timeout = Duration::from_secs(2);
    let (mut client, mut server) = pair(config);
    let t0 = Instant::now();
    server.close(CloseCode(1000), "", t0).unwrap();
    assert_eq!(server.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    client.send_text("in flight").unwrap();
    client.send_ping(b"p").unwrap();
    let got = feed(&mut server, &wire(&mut client), usize::MAX);
    assert_eq!(got, vec![text("in flight"), Ev::Ping(b"p".to_vec())]);
    let after_close = wire(&mut server);
    assert_eq!(after_close[0], 0x88, "only our close: no pong after it");
    server.handle_timeout(t0 + Duration::from_millis(1999));
    assert_eq!(server.state(), State::CloseSent);
    server.handle_timeout(t0 + Duration::from_secs(2));
    assert_eq!(server.state(), State::Closed);
    assert_eq!(server.poll_timeout(), None);
}

#[test]
fn a_message_over_the_limit_closes_with_1009_and_the_peer_sees_it() {
    let mut small = Config::default();
    small.max_message = 1000;
    small.max_frame = 600;
    for (chunks, reason) in [
        (vec![1001], "frame too big"),
        (vec![500, 501], "message too big"),
    ] {
        let mut client = Connection::new(Role::Client, Config::default());
        let mut server = Connection::new(Role::Server, small);
        for (i, len) in chunks.iter().enumerate() {
            let frag = Outgoing::Fragment {
                kind: DataKind::Binary,
                first: i == 0,
                fin: i + 1 == chunks.len(),
            };
            client.send(frag, &vec![7; *len]).unwrap();
        }
        let got = feed(&mut server, &wire(&mut client), 97);
        assert_eq!(got.last(), Some(&Ev::Error(1009)), "{reason}");
        assert_eq!(server.state(), State::Closed);
        // Further input is ignored.
        assert_eq!(feed(&mut server, b"\x81\x85garbage", 1), vec![]);
        assert_eq!(
            feed(&mut client, &wire(&mut server), 1),
            vec![Ev::Close(Some(1009), reason.into())]
        );
    }
}

#[test]
fn protocol_errors_queue_a_close_with_their_code() {
    // A server must refuse an unmasked frame (1002); a client a masked one.
    let mut server = Connection::new(Role::Server, Config::default());
    let mut frame = Vec::new();
    rlws_ws::frame::encode_frame(&mut frame, rlws_ws::OpCode::Text, true, false, b"hi", None);
    assert_eq!(feed(&mut server, &frame, 1), vec![Ev::Error(1002)]);
    let mut client = Connection::new(Role::Client, Config::default());
    assert_eq!(
        feed(&mut client, &wire(&mut server), 1),
        vec![Ev::Close(Some(1002), "client frame not masked".into())]
    );
    // Invalid UTF-8 in text: 1007.
    let (mut client, mut server) = pair(Config::default());
    client
        .send(Outgoing::Message(DataKind::Text), &[0x61, 0xC0, 0xAF])
        .unwrap();
    assert_eq!(
        feed(&mut server, &wire(&mut client), 1),
        vec![Ev::Error(1007)]
    );
}

#[test]
fn deflate_with_context_takeover_compresses_a_repeat_to_almost_nothing() {
    let msg = "{\"user\":\"someone\",\"items\":[1,2,3,4,5,6,7,8,9,10],\"ok\":true}".repeat(4);
    for step in [1, 7, usize::MAX] {
        let (mut client, mut server) = deflate_pair(DeflateConfig::default(), Config::default());
        client.send_text(&msg).unwrap();
        let first = wire(&mut client);
        client.send_text(&msg).unwrap();
        let second = wire(&mut client);
        assert_eq!(first[0], 0xC1, "text with RSV1: compressed");
        assert!(first.len() < msg.len() / 2, "{} bytes", first.len());
        assert!(
            second.len() < first.len() / 2,
            "the second copy refers back to the first: {} vs {}",
            second.len(),
            first.len()
        );
        let mut both = first.clone();
        both.extend_from_slice(&second);
        assert_eq!(
            feed(&mut server, &both, step),
            vec![text(&msg), text(&msg)],
            "step {step}"
        );
        server.send_text(&msg).unwrap();
        server.send_binary(&[0u8; 3000]).unwrap();
        let back = wire(&mut server);
        assert_eq!(back[0], 0xC1);
        assert_eq!(
            feed(&mut client, &back, step),
            vec![text(&msg), binary(&[0u8; 3000])]
        );
    }
}

#[test]
fn deflate_without_context_takeover_starts_each_message_afresh() {
    let msg = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(8);
    let offer = DeflateConfig {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (mut client, mut server) = deflate_pair(offer, Config::default());
    let p = client.deflate().unwrap();
    assert!(p.client_no_context_takeover && p.server_no_context_takeover);
    client.send_text(&msg).unwrap();
    let first = wire(&mut client);
    client.send_text(&msg).unwrap();
    let second = wire(&mut client);
    // Same size each time (the masks differ, the lengths cannot).
    assert_eq!(first.len(), second.len());
    let mut both = first;
    both.extend_from_slice(&second);
    assert_eq!(feed(&mut server, &both, 5), vec![text(&msg), text(&msg)]);
    server.send_text(&msg).unwrap();
    let a = wire(&mut server);
    server.send_text(&msg).unwrap();
    let b = wire(&mut server);
    assert_eq!(a, b, "a server without takeover sends identical bytes");
    let mut ab = a;
    ab.extend_from_slice(&b);
    assert_eq!(feed(&mut client, &ab, 3), vec![text(&msg), text(&msg)]);
}

#[test]
fn deflate_pieces_are_inflated_as_they_arrive_in_fragment_mode() {
    let (mut client, mut server) = deflate_pair(DeflateConfig::default(), fragments());
    let msg = "0123456789".repeat(1000);
    client.send_text(&msg).unwrap();
    let got = feed(&mut server, &wire(&mut client), 16);
    assert!(got.len() > 1, "delivered in pieces");
    assert_eq!(joined(got), vec![text(&msg)]);
}

#[test]
fn a_deflate_bomb_is_refused_with_1009_before_it_is_inflated() {
    let mut limit = Config::default();
    limit.max_message = 10_000;
    for reassemble in [true, false] {
        limit.reassemble = reassemble;
        let (mut client, _) = deflate_pair(DeflateConfig::default(), Config::default());
        let (_, mut server) = deflate_pair(DeflateConfig::default(), limit);
        client.send_binary(&vec![0u8; 1 << 20]).unwrap();
        let bytes = wire(&mut client);
        assert!(bytes.len() < 10_000, "small on the wire: {}", bytes.len());
        let got = feed(&mut server, &bytes, 4096);
        assert_eq!(
            got.last(),
            Some(&Ev::Error(1009)),
            "reassemble {reassemble}"
        );
    }
}

#[test]
fn invalid_utf8_is_caught_after_inflating() {
    let (mut client, mut server) = deflate_pair(DeflateConfig::default(), Config::default());
    client
        .send(Outgoing::Message(DataKind::Text), &[b'a', 0xFF, b'b'])
        .unwrap();
    let bytes = wire(&mut client);
    assert_eq!(bytes[0] & 0x40, 0x40, "compressed");
    assert_eq!(feed(&mut server, &bytes, 2), vec![Ev::Error(1007)]);
}

#[test]
fn compression_can_be_switched_off_and_small_messages_skip_it() {
    let (mut client, mut server) = deflate_pair(DeflateConfig::default(), Config::default());
    assert!(server.set_compression_min_size(10));
    server.send_text("short").unwrap();
    assert_eq!(wire(&mut server)[0], 0x81, "under the minimum: plain");
    server.send_text("long enough to compress").unwrap();
    assert_eq!(wire(&mut server)[0], 0xC1);
    assert!(server.set_compression(false));
    server.send_text("long enough to compress").unwrap();
    assert_eq!(wire(&mut server)[0], 0x81);
    server
        .send(Outgoing::Uncompressed(DataKind::Binary), b"zip")
        .unwrap();
    assert_eq!(wire(&mut server)[0], 0x82);
    let _ = &mut client;
    let plain = Connection::new(Role::Server, Config::default());
    let mut plain = plain;
    assert!(
        !plain.set_compression(true),
        "no extension, nothing to switch"
    );
}

#[test]
fn an_eight_bit_window_receives_compressed_but_sends_plain() {
    let params = deflate::Params {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 8,
    };
    let cfg = DeflateConfig::default();
    let mut client = Connection::new(Role::Client, Config::default()).with_deflate(params, &cfg);
    let mut server = Connection::new(Role::Server, Config::default()).with_deflate(params, &cfg);
    client
        .send_text("a message long enough to be worth compressing")
        .unwrap();
    let bytes = wire(&mut client);
    assert_eq!(bytes[0], 0x81, "zlib cannot make an 8-bit window: plain");
    assert!(!client.set_compression(true) || client.send_text("x").is_ok());
    let _ = wire(&mut client);
    server.send_text("the server may still compress").unwrap();
    let back = wire(&mut server);
    assert_eq!(back[0], 0xC1);
    assert_eq!(
        feed(&mut client, &back, 3),
        vec![text("the server may still compress")]
    );
}

#[test]
fn a_vectored_send_keeps_what_was_not_written() {
    let payload: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    for written in [0, 1, 2, 3, 5, 100, 4000, 5004, 5006] {
        let mut server = Connection::new(Role::Server, Config::default());
        server.send_text("queued first").unwrap();
        let queued = server.queued();
        let mut sent = Vec::new();
        {
            let t = server
                .send_vectored(Outgoing::Message(DataKind::Binary), &payload)
                .unwrap();
            assert_eq!(t.len(), queued + 4 + payload.len());
            let [a, b, c] = t.slices();
            let all: Vec<u8> = [&a[..], &b[..], &c[..]].concat();
            sent.extend_from_slice(&all[..written.min(all.len())]);
            t.advance(written);
        }
        sent.extend_from_slice(&wire(&mut server));
        let mut client = Connection::new(Role::Client, Config::default());
        assert_eq!(
            feed(&mut client, &sent, 333),
            vec![text("queued first"), binary(&payload)],
            "written {written}"
        );
    }
}

#[test]
fn a_client_masks_every_frame_and_the_server_never_does() {
    let (mut client, mut server) = pair(Config::default());
    client.send_binary(b"x").unwrap();
    assert_eq!(wire(&mut client)[1] & 0x80, 0x80);
    server.send_binary(b"x").unwrap();
    assert_eq!(wire(&mut server)[1] & 0x80, 0);
    assert_eq!(client.role(), Role::Client);
    assert_eq!(server.role(), Role::Server);
}

#[test]
fn abort_discards_the_queue() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.send_text("never sent").unwrap();
    server.abort();
    assert_eq!(server.state(), State::Closed);
    assert!(server.poll_transmit().is_empty());
    assert!(server.send_text("x").is_err());
}

#[test]
fn buffers_are_released_between_messages_and_come_back_when_needed() {
    let mut config = Config::default();
    config.reassemble = true;
    let (mut client, mut server) = deflate_pair(DeflateConfig::default(), config);
    // A compressed message: the server inflates it into its reassembly
    // buffer, and compressing its reply fills its compression output.
    let big = "a compressible line of text, again and again. ".repeat(200);
    client.send_text(&big).unwrap();
    let got = feed(&mut server, &wire(&mut client), usize::MAX);
    assert_eq!(got, vec![text(&big)]);
    server.send_text(&big).unwrap();
    assert!(server.buffered_capacity() > 0);
    // Something queued: the send queue keeps its buffer.
    server.release_buffers();
    assert!(server.queued() > 0);
    let out = wire(&mut server);
    server.release_buffers();
    assert_eq!(server.buffered_capacity(), 0);
    // Released, and working as before: the next messages come through.
    assert_eq!(feed(&mut client, &out, usize::MAX), vec![text(&big)]);
    client.send_text(&big).unwrap();
    assert_eq!(
        feed(&mut server, &wire(&mut client), usize::MAX),
        vec![text(&big)]
    );
    server.send_text("after").unwrap();
    assert_eq!(
        feed(&mut client, &wire(&mut server), usize::MAX),
        vec![text("after")]
    );
}
