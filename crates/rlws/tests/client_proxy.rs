//! HTTP and WebSocket clients through real proxies: tinyproxy (HTTP
//! `CONNECT`, and forwarding for plain `http://`) and microsocks (SOCKS5),
//! each with and without credentials, for http, https, ws and wss.

mod common;

use common::*;
use rlws::client::{
    connect, ClientConfig, ConnectError, ErrorKind, HttpClient, Message, Proxy, ProxyError,
};
use rlws_testkit::{Microsocks, Tinyproxy};

struct Backends {
    _ctx: rlws::Context,
    ca: TestCa,
    plain: u16,
    tls: u16,
}

async fn backends() -> Backends {
    let (ctx, addr) = start(1);
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let tls = tls_proxy(&cert, &key, addr).await;
    Backends {
        _ctx: ctx,
        ca,
        plain: addr.port(),
        tls: tls.port(),
    }
}

/// An HTTP GET and a WebSocket echo over each scheme through `proxy`;
/// returns the first failure's error kind, if any.
async fn through(b: &Backends, proxy: &Proxy) -> Result<(), String> {
    let tls = rlws::TlsClientOptions {
        ca_pem: Some(b.ca.pem().into_bytes()),
        ..Default::default()
    };
    let client = HttpClient::builder()
        .tls(tls.clone())
        .proxy(Some(proxy.clone()))
        .build()
        .unwrap();
    for url in [
        format!("http://127.0.0.1:{}/", b.plain),
        format!("https://localhost:{}/", b.tls),
    ] {
        let r = client
            .get(&url)
            .await
            .map_err(|e| format!("{url}: {e} ({:?})", e.kind()))?;
        assert_eq!(r.status(), http::StatusCode::OK, "{url}");
        let page = r.text().await.map_err(|e| e.to_string())?;
        assert!(page.contains("<html"), "{url}: the test page");
    }
    for url in [
        format!("ws://127.0.0.1:{}/echo", b.plain),
        format!("wss://localhost:{}/echo", b.tls),
    ] {
        let mut cfg = ClientConfig::new(&url).unwrap();
        cfg.tls = tls.clone();
        cfg.proxy = Some(proxy.clone());
        let mut ws = connect(cfg).await.map_err(|e| format!("{url}: {e}"))?;
        ws.send(Message::Text("through the proxy".into()))
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap().unwrap(),
            Message::Text("through the proxy".into())
        );
        ws.close(1000, "").await.unwrap();
    }
    Ok(())
}

fn expect_proxy_error(r: Result<(), String>, what: &str) {
    let e = r.expect_err(what);
    assert!(e.contains("proxy"), "{what}: {e}");
}

#[tokio::test]
async fn tinyproxy_with_and_without_basic_auth() {
    let b = backends().await;
    let open = Tinyproxy::start(None);
    let p = Proxy::http("127.0.0.1", open.port);
    through(&b, &p).await.unwrap();
    let log = open.log();
    assert!(
        log.contains(&format!("CONNECT localhost:{}", b.tls)),
        "{log}"
    );
    assert!(
        log.contains(&format!("GET http://127.0.0.1:{}/", b.plain)),
        "{log}"
    );

    let guarded = Tinyproxy::start(Some(("rlws", "s3cret")));
    let url = format!("http://rlws:s3cret@127.0.0.1:{}", guarded.port);
    through(&b, &Proxy::parse(&url).unwrap()).await.unwrap();
    // Wrong or missing credentials: a proxy error (407), for every scheme.
    let wrong = Proxy::http("127.0.0.1", guarded.port).with_auth("rlws", "wrong");
    let client = HttpClient::builder()
        .proxy(Some(wrong.clone()))
        .build()
        .unwrap();
    let e = client
        .get(&format!("https://localhost:{}/", b.tls))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
    let mut cfg = ClientConfig::new(&format!("ws://127.0.0.1:{}/echo", b.plain)).unwrap();
    cfg.proxy = Some(Proxy::http("127.0.0.1", guarded.port));
    match connect(cfg).await {
        Err(ConnectError::Proxy(ProxyError::Auth)) => {}
        other => panic!("expected a proxy auth error, got {other:?}"),
    }
    let forwarded = client
        .get(&format!("http://127.0.0.1:{}/", b.plain))
        .await
        .unwrap();
    // A forwarding proxy answers a plain request itself (tinyproxy: 401).
    assert!(
        matches!(forwarded.status().as_u16(), 401 | 407),
        "{}",
        forwarded.status()
    );

    // With the proxy gone, the same settings fail to reach it.
    let port = open.port;
    drop(open);
    expect_proxy_error(
        through(&b, &Proxy::http("127.0.0.1", port)).await,
        "proxy stopped",
    );
}

#[tokio::test]
async fn microsocks_with_and_without_a_password() {
    let b = backends().await;
    let open = Microsocks::start(None);
    through(&b, &Proxy::socks5("127.0.0.1", open.port))
        .await
        .unwrap();

    let guarded = Microsocks::start(Some(("rlws", "s3cret")));
    let url = format!("socks5h://rlws:s3cret@127.0.0.1:{}", guarded.port);
    through(&b, &Proxy::parse(&url).unwrap()).await.unwrap();
    for p in [
        Proxy::socks5("127.0.0.1", guarded.port).with_auth("rlws", "wrong"),
        Proxy::socks5("127.0.0.1", guarded.port),
    ] {
        let client = HttpClient::builder().proxy(Some(p)).build().unwrap();
        let e = client
            .get(&format!("http://127.0.0.1:{}/", b.plain))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        assert!(e.to_string().contains("credentials"), "{e}");
    }
    // A target the proxy cannot reach: its SOCKS5 reply code.
    let refusing = Refusing::new();
    let client = HttpClient::builder()
        .proxy(Some(Proxy::socks5("127.0.0.1", open.port)))
        .build()
        .unwrap();
    let e = client
        .get(&format!("http://127.0.0.1:{}/", refusing.addr.port()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");

    let port = open.port;
    drop(open);
    expect_proxy_error(
        through(&b, &Proxy::socks5("127.0.0.1", port)).await,
        "proxy stopped",
    );
}
