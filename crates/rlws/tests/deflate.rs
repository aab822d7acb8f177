//! permessage-deflate on the server, over real sockets.

mod common;

use common::*;
use rlws_ws::deflate::{Deflater, Inflater};

/// A compressed client frame (RSV1 set) holding `payload` deflated.
fn compressed_frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut z = Vec::new();
    Deflater::new(15, 6, true).compress(payload, &mut z);
    let mut f = frame(op, true, &z);
    f[0] |= 0x40;
    f
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut i = Inflater::new(false);
    let mut out = Vec::new();
    i.inflate(data, &mut out, 1 << 26).unwrap();
    i.finish(&mut out, 1 << 26).unwrap();
    out
}

#[tokio::test]
async fn negotiates_and_echoes_compressed_messages() {
    let (_ctx, addr) = start(1);
    let mut c = raw_connect_ext(
        addr,
        "/echo",
        None,
        Some("permessage-deflate; client_max_window_bits"),
    )
    .await;
    assert!(
        c.head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate"),
        "{}",
        c.head
    );
    for msg in ["Hello", "", &"compress me ".repeat(5000)] {
        c.send(&compressed_frame(1, msg.as_bytes())).await;
        let (op, p) = c.frame().await.unwrap();
        assert_eq!(op, 1);
        assert_eq!(c.last_b0 & 0x40, 0x40, "echo is compressed");
        assert_eq!(inflate(&p), msg.as_bytes());
    }
    // Uncompressed messages are fine too on a deflate connection.
    c.send(&frame(2, true, b"plain")).await;
    let (op, p) = c.frame().await.unwrap();
    assert_eq!(op, 2);
    assert_eq!(inflate(&p), b"plain");
}

#[tokio::test]
async fn a_small_frame_that_inflates_past_the_limit_is_1009() {
    let (_ctx, addr) = start(1);
    // The mirror protocol takes 64 KiB messages; 4 MiB of zeros deflate to a few KiB.
    let mut c = raw_connect_ext(
        addr,
        "/",
        Some("lws-mirror-protocol"),
        Some("permessage-deflate"),
    )
    .await;
    let bomb = compressed_frame(1, &vec![b'a'; 4 << 20]);
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    c.send(&bomb).await;
    assert_eq!(c.close_code().await, Some(1009));
}

#[tokio::test]
async fn compressed_bad_utf8_and_corrupt_data() {
    let (_ctx, addr) = start(1);
    let mut c = raw_connect_ext(addr, "/echo", None, Some("permessage-deflate")).await;
    c.send(&compressed_frame(1, &[b'a', 0xC0, 0xAF])).await;
    assert_eq!(c.close_code().await, Some(1007));
    let mut c = raw_connect_ext(addr, "/echo", None, Some("permessage-deflate")).await;
    let mut f = frame(2, true, &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    f[0] |= 0x40;
    c.send(&f).await;
    assert_eq!(c.close_code().await, Some(1007));
}

#[tokio::test]
async fn bad_offers_are_declined_and_rsv1_then_refused() {
    let (_ctx, addr) = start(1);
    for offer in [
        "permessage-deflate; foo=1",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=99",
        "x-webkit-deflate-frame",
    ] {
        let mut c = raw_connect_ext(addr, "/echo", None, Some(offer)).await;
        assert!(
            !c.head
                .to_ascii_lowercase()
                .contains("sec-websocket-extensions"),
            "{offer}: {}",
            c.head
        );
        c.send(&compressed_frame(1, b"x")).await;
        assert_eq!(c.close_code().await, Some(1002), "{offer}");
    }
    // The second offer is taken when the first cannot be.
    let c = raw_connect_ext(
        addr,
        "/echo",
        None,
        Some("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10"),
    )
    .await;
    assert!(c.head.contains("server_max_window_bits=10"), "{}", c.head);
}

#[tokio::test]
async fn small_messages_can_skip_compression() {
    // dumb-increment negotiates the extension but sends its short numbers plain.
    let (_ctx, addr) = start(1);
    let mut c = raw_connect_ext(
        addr,
        "/",
        Some("dumb-increment-protocol"),
        Some("permessage-deflate"),
    )
    .await;
    assert!(
        c.head.to_ascii_lowercase().contains("permessage-deflate"),
        "{}",
        c.head
    );
    let (op, p) = c.frame().await.unwrap();
    assert_eq!(op, 1);
    assert_eq!(c.last_b0 & 0x40, 0, "short message sent uncompressed");
    assert_eq!(p, b"0");
}

#[tokio::test]
async fn a_quiet_connection_forgets_its_compression_context_and_stays_readable() {
    let (_ctx, addr) = start(1);
    // Context takeover in both directions: the client's inflater keeps its
    // window for the whole connection.
    let mut c = raw_connect_ext(addr, "/echo", None, Some("permessage-deflate")).await;
    assert!(
        c.head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate\r\n"),
        "{}",
        c.head
    );
    // Text that compresses little by itself, and to almost nothing when
    // it was seen before.
    let msg: String = (0..200u32)
        .map(|i| format!("item {i} weighs {} g; ", i.wrapping_mul(7919) % 1000))
        .collect();
    let mut inflater = Inflater::new(false);
    let mut echo = async |c: &mut Raw| {
        c.send(&compressed_frame(1, msg.as_bytes())).await;
        let (op, p) = c.frame().await.unwrap();
        assert_eq!((op, c.last_b0 & 0x40), (1, 0x40));
        let mut out = Vec::new();
        inflater.inflate(&p, &mut out, 1 << 20).unwrap();
        inflater.finish(&mut out, 1 << 20).unwrap();
        assert_eq!(out, msg.as_bytes());
        p.len()
    };
    let first = echo(&mut c).await;
    let again = echo(&mut c).await;
    assert!(
        again < first / 4,
        "the second echo refers back: {first} then {again}"
    );
    // Quiet for more than two of the server's one-second sweeps: its
    // compressor is dropped, and the next echo starts from scratch, still
    // readable by an inflater that kept the context.
    tokio::time::sleep(std::time::Duration::from_millis(3200)).await;
    let fresh = echo(&mut c).await;
    assert_eq!(fresh, first, "compressed without the earlier history");
    let after = echo(&mut c).await;
    assert!(after < first / 4, "the context builds up again: {after}");
}
