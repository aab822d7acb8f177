//! `rlws::log`: the global subscriber with an emit hook (its own test
//! binary: a process has one global subscriber).

mod common;

use std::sync::mpsc;
use std::time::Duration;

use rlws::log::{LogError, LogLevel, Logging};

#[test]
fn an_emit_hook_gets_every_line_with_its_level_and_a_second_init_is_refused() {
    let (tx, rx) = mpsc::channel::<(LogLevel, String)>();
    Logging::new(LogLevel::DEFAULT)
        .emit(move |level, line| {
            let _ = tx.send((level, line.to_string()));
        })
        .init()
        .expect("the first init installs the subscriber");

    // The library's own line, from starting a context.
    let (ctx, _addr) = common::start(1);
    let wait = |want: &str| loop {
        let (level, line) = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("no line containing {want:?}"));
        if line.contains(want) {
            return (level, line);
        }
    };
    let (level, line) = wait("context started");
    assert_eq!(level, LogLevel::NOTICE);
    assert!(line.starts_with("N: context started threads=1"), "{line}");

    // From another thread, inside a span: its fields come first.
    std::thread::spawn(|| {
        let span = tracing::info_span!("conn", tag = %"h1#3", peer = %"127.0.0.1:4000");
        let _in = span.enter();
        tracing::error!("peer sent garbage");
        tracing::debug!("below the levels set: not shown");
        tracing::warn!(bytes = 12, "short read");
    })
    .join()
    .unwrap();
    let (level, line) = wait("garbage");
    assert_eq!(level, LogLevel::ERR);
    assert_eq!(
        line,
        "E: conn{tag=h1#3 peer=127.0.0.1:4000}: peer sent garbage"
    );
    let (level, line) = wait("short read");
    assert_eq!(level, LogLevel::WARN);
    assert_eq!(
        line,
        "W: conn{tag=h1#3 peer=127.0.0.1:4000}: short read bytes=12"
    );
    ctx.shutdown();

    let again = Logging::new(LogLevel::ALL).init();
    assert!(matches!(again, Err(LogError::AlreadySet)), "{again:?}");
}

/// Every line about a connection carries its tag: the WebSocket's
/// `established` line links `ws#N` to its HTTP connection, peer and
/// protocol, and its later lines (the close) carry `ws#N` too.
#[test]
fn connection_lines_carry_the_connections_tag() {
    let (tx, rx) = mpsc::channel::<String>();
    Logging::directives("rlws=debug")
        .unwrap()
        .emit(move |_, line| {
            let _ = tx.send(line.to_string());
        })
        .init()
        .unwrap();
    let (ctx, addr) = common::start(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = common::raw_connect(addr, "/echo", None).await;
        c.send(&common::frame(0x8, true, &1000u16.to_be_bytes()))
            .await;
        assert_eq!(c.close_code().await, Some(1000));
    });
    let mut lines = Vec::new();
    let tag = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("an established line");
        lines.push(line.clone());
        if line.contains("websocket established") {
            let tag = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("conn="))
                .unwrap_or_else(|| panic!("no conn= in {line}"))
                .to_string();
            assert!(tag.starts_with("ws#"), "{line}");
            assert!(line.contains(" http=http#"), "{line}");
            assert!(line.contains(" peer=127.0.0.1:"), "{line}");
            assert!(line.contains(" protocol=rlws-echo"), "{line}");
            break tag;
        }
    };
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("no close line tagged {tag}: {lines:#?}"));
        if line.contains("peer closed") {
            assert!(line.contains(&format!("conn={tag} ")), "{line}");
            break;
        }
        lines.push(line);
    }
    ctx.shutdown();
}
