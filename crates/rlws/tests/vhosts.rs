//! Vhosts, TLS (SNI, ALPN, mTLS, cipher and version settings) and HTTP/2
//! (by ALPN and by prior knowledge, WebSockets over extended CONNECT), over
//! real sockets with certificates made for each test.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::TestCa;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rlws::builtin::TestSite;
use rlws::{ClientAuth, Context, TlsServerOptions, Vhost};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn tls_vhost(name: &str, ca: &TestCa, names: &[&str]) -> Vhost {
    let (cert, key) = ca.leaf(names);
    Vhost::new(name, any())
        .site(TestSite)
        .tls(TlsServerOptions::new(cert, key))
        .header("x-vhost", name)
}

struct Client<'a> {
    ca: &'a TestCa,
    alpn: Vec<&'static str>,
    cert: Option<(String, String)>,
    tls12_only: bool,
}

impl<'a> Client<'a> {
    fn new(ca: &'a TestCa) -> Self {
        Client {
            ca,
            alpn: vec!["http/1.1"],
            cert: None,
            tls12_only: false,
        }
    }

    fn config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.ca.pem().as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let versions: &[&'static rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
        let mut cfg = match &self.cert {
            Some((c, k)) => b
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(c.as_bytes())
                        .collect::<Result<_, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(k.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        };
        cfg.alpn_protocols = self.alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
        cfg
    }

    /// TLS to `addr` with SNI `sni`; the certificate must be valid for it.
    async fn connect(&self, addr: SocketAddr, sni: &str) -> std::io::Result<TlsStream<TcpStream>> {
        let c = tokio_rustls::TlsConnector::from(Arc::new(self.config()));
        let s = TcpStream::connect(addr).await?;
        c.connect(ServerName::try_from(sni.to_string()).unwrap(), s)
            .await
    }

    /// An HTTP/1.1 GET over TLS; the whole response, or the error.
    async fn get(&self, addr: SocketAddr, sni: &str, host: &str) -> std::io::Result<String> {
        let mut s = self.connect(addr, sni).await?;
        s.write_all(
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        Ok(String::from_utf8_lossy(&out).to_string())
    }
}

fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn sni_picks_certificate_and_vhost_exact_and_parent_domain() {
    let ca = TestCa::new("sni ca");
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(tls_vhost("a.test", &ca, &["a.test"]))
        .vhost(tls_vhost("b.test", &ca, &["b.test", "*.b.test"]))
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("a.test").unwrap();
    assert_eq!(ctx.vhost_addr("b.test"), Some(addr), "one shared socket");
    assert_eq!(ctx.local_addrs().len(), 1);
    let c = Client::new(&ca);
    // Each name gets its own certificate (the client checks it) and vhost.
    let r = c.get(addr, "a.test", "a.test").await.unwrap();
    assert_eq!(
        (status(&r), header(&r, "x-vhost")),
        (200, Some("a.test")),
        "{r}"
    );
    let r = c.get(addr, "b.test", "b.test:443").await.unwrap();
    assert_eq!(
        (status(&r), header(&r, "x-vhost")),
        (200, Some("b.test")),
        "{r}"
    );
    // cats.b.test is served by vhost b.test with its wildcard certificate.
    let r = c.get(addr, "cats.b.test", "cats.b.test").await.unwrap();
    assert_eq!(
        (status(&r), header(&r, "x-vhost")),
        (200, Some("b.test")),
        "{r}"
    );
    // An unknown name gets the default vhost (the first on the socket),
    // whose certificate does not cover it: the client refuses.
    let e = c.get(addr, "c.test", "c.test").await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");
    // Host naming another vhost than the one SNI chose: 421.
    let r = c.get(addr, "a.test", "b.test").await.unwrap();
    assert_eq!(status(&r), 421, "{r}");
    // Host naming no vhost: served by the SNI vhost.
    let r = c.get(addr, "a.test", "unknown.example").await.unwrap();
    assert_eq!(
        (status(&r), header(&r, "x-vhost")),
        (200, Some("a.test")),
        "{r}"
    );
}

#[tokio::test]
async fn host_picks_vhost_on_a_shared_cleartext_port() {
    let dir = std::env::temp_dir().join(format!("rlws-vh-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("two")).unwrap();
    std::fs::write(dir.join("two/index.html"), "site two\n").unwrap();
    let ctx = rlws::test_site()
        .threads(2)
        .vhost(
            Vhost::new("one.test", any())
                .site(TestSite)
                .header("x-vhost", "one"),
        )
        .vhost(
            Vhost::new("two.test", any())
                .site(TestSite)
                .site(rlws::Files::new(dir.join("two")))
                .header("x-vhost", "two")
                .header("cache-control", "no-store"),
        )
        .start()
        .unwrap();
    let shared = ctx.vhost_addr("one.test").unwrap();
    assert_eq!(ctx.vhost_addr("TWO.test"), Some(shared));
    let get = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let r = common::http_raw(shared, &get("two.test")).await;
    assert_eq!(
        (status(&r), header(&r, "x-vhost")),
        (200, Some("two")),
        "{r}"
    );
    assert!(r.ends_with("site two\n"), "{r}");
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let r = common::http_raw(shared, &get("www.two.test:8080")).await;
    assert_eq!(header(&r, "x-vhost"), Some("two"), "{r}");
    let r = common::http_raw(shared, &get("one.test")).await;
    assert_eq!(header(&r, "x-vhost"), Some("one"), "{r}");
    assert!(
        r.contains("<html"),
        "one.test serves the embedded site: {r}"
    );
    // Unknown names go to the socket's default vhost.
    let r = common::http_raw(shared, &get("nobody.test")).await;
    assert_eq!(
        (status(&r), header(&r, "x-vhost")),
        (200, Some("one")),
        "{r}"
    );
    // A strict default vhost refuses unknown names, but serves its own
    // and routes other names on its socket as usual.
    drop(ctx);
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(
            Vhost::new("strict.test", any())
                .site(TestSite)
                .header("x-vhost", "strict")
                .strict_host_check(true),
        )
        .vhost(
            Vhost::new("other.test", any())
                .site(TestSite)
                .header("x-vhost", "other"),
        )
        .start()
        .unwrap();
    let a = ctx.local_addrs()[0];
    let r = common::http_raw(a, &get("nobody.test")).await;
    assert_eq!(status(&r), 421, "{r}");
    let r = common::http_raw(a, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status(&r), 421, "no Host at all: {r}");
    let r = common::http_raw(a, &get("strict.test")).await;
    assert_eq!(header(&r, "x-vhost"), Some("strict"), "{r}");
    let r = common::http_raw(a, &get("other.test")).await;
    assert_eq!(header(&r, "x-vhost"), Some("other"), "{r}");
    // WebSocket upgrades are routed the same way.
    // WebSocket upgrades too: Host 127.0.0.1 names no vhost.
    let r = common::http_raw(
        a,
        "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert_eq!(status(&r), 421, "{r}");
}

#[tokio::test]
async fn vhosts_offer_their_own_protocols() {
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(
            Vhost::new("echo.test", any())
                .site(TestSite)
                .protocols(&["rlws-echo"])
                .ws_path("/e", "rlws-echo"),
        )
        .vhost(
            Vhost::new("counter.test", any())
                .site(TestSite)
                .protocols(&["dumb-increment-protocol"]),
        )
        .start()
        .unwrap();
    let a = ctx.local_addrs()[0];
    let handshake = |host: &str, proto: Option<&str>, path: &str| {
        let p = proto
            .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
            .unwrap_or_default();
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{p}\r\n"
        )
    };
    let head = |host: &str, proto: Option<&str>, path: &str| {
        let req = handshake(host, proto, path);
        async move {
            let mut s = TcpStream::connect(a).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 2048];
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        }
    };
    let r = head("counter.test", Some("dumb-increment-protocol"), "/").await;
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    // echo.test does not offer the counter, and its default is echo.
    let r = head("echo.test", Some("dumb-increment-protocol"), "/").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = head("echo.test", None, "/").await;
    assert!(r.starts_with("HTTP/1.1 101"), "{r}");
    let r = head("counter.test", Some("rlws-echo"), "/").await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    // A ws path naming a protocol the vhost does not offer is a start error.
    let e = rlws::test_site()
        .vhost(
            Vhost::new("x.test", any())
                .site(TestSite)
                .protocols(&["rlws-echo"])
                .ws_path("/c", "dumb-increment-protocol"),
        )
        .start()
        .err()
        .unwrap();
    assert!(e.to_string().contains("does not offer"), "{e}");
}

#[tokio::test]
async fn client_certificates_required_and_optional() {
    let ca = TestCa::new("server ca");
    let clients = TestCa::new("client ca");
    let stranger = TestCa::new("other ca");
    let (cert, key) = ca.leaf(&["m.test", "o.test"]);
    let mut required = TlsServerOptions::new(cert.clone(), key.clone());
    required.client_ca_pem = Some(clients.pem().into_bytes());
    required.client_auth = ClientAuth::Required;
    let mut optional = required.clone();
    optional.client_auth = ClientAuth::Optional;
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(Vhost::new("m.test", any()).site(TestSite).tls(required))
        .vhost(
            Vhost::new("o.test", "127.0.0.2:0".parse().unwrap())
                .site(TestSite)
                .tls(optional),
        )
        .start()
        .unwrap();
    let m = ctx.vhost_addr("m.test").unwrap();
    let o = ctx.vhost_addr("o.test").unwrap();
    assert_ne!(m, o);
    let mut good = Client::new(&ca);
    good.cert = Some(clients.leaf(&["alice"]));
    let r = good.get(m, "m.test", "m.test").await.unwrap();
    assert_eq!(status(&r), 200, "{r}");
    // No certificate, or one from another CA: the server aborts the handshake.
    let none = Client::new(&ca);
    assert!(none.get(m, "m.test", "m.test").await.is_err());
    let mut wrong = Client::new(&ca);
    wrong.cert = Some(stranger.leaf(&["mallory"]));
    assert!(wrong.get(m, "m.test", "m.test").await.is_err());
    // Optional: served without one, refused with a bad one.
    let r = none.get(o, "o.test", "o.test").await.unwrap();
    assert_eq!(status(&r), 200, "{r}");
    let r = good.get(o, "o.test", "o.test").await.unwrap();
    assert_eq!(status(&r), 200, "{r}");
    assert!(wrong.get(o, "o.test", "o.test").await.is_err());
}

#[tokio::test]
async fn bad_tls_settings_fail_at_start_with_the_vhost_named() {
    let ca = TestCa::new("ca");
    let (cert, key) = ca.leaf(&["x.test"]);
    let start = |o: TlsServerOptions| {
        rlws::test_site()
            .vhost(Vhost::new("x.test", any()).site(TestSite).tls(o))
            .start()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = start(TlsServerOptions::new("not pem", key.clone()));
    assert!(
        e.contains("vhost x.test") && e.contains("certificate"),
        "{e}"
    );
    let e = start(TlsServerOptions::new(cert.clone(), "junk"));
    assert!(e.contains("vhost x.test") && e.contains("key"), "{e}");
    let (_, other_key) = ca.leaf(&["y.test"]);
    let e = start(TlsServerOptions::new(cert.clone(), other_key));
    assert!(e.contains("vhost x.test"), "mismatched key: {e}");
    let mut o = TlsServerOptions::new(cert.clone(), key.clone());
    o.ciphers = Some("RC4-MD5:DES-CBC3-SHA".into());
    let e = start(o);
    assert!(e.contains("ciphers"), "{e}");
    let mut o = TlsServerOptions::new(cert.clone(), key.clone());
    o.groups = Some("brainpool".into());
    assert!(start(o).contains("brainpool"));
    let mut o = TlsServerOptions::new(cert.clone(), key.clone());
    o.client_auth = ClientAuth::Required;
    assert!(start(o).contains("CA"));
    let e =
        TlsServerOptions::from_files("/nonexistent/cert.pem", "/nonexistent/key.pem").unwrap_err();
    assert!(e.contains("/nonexistent/cert.pem"), "{e}");
    // A TLS and a cleartext vhost cannot share a socket.
    let e = rlws::test_site()
        .vhost(
            Vhost::new("x.test", any())
                .site(TestSite)
                .tls(TlsServerOptions::new(cert, key)),
        )
        .vhost(Vhost::new("y.test", any()).site(TestSite))
        .start()
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("TLS socket"), "{e}");
}

#[tokio::test]
async fn versions_ciphers_and_handshake_timeout() {
    let ca = TestCa::new("ca");
    let (cert, key) = ca.leaf(&["v.test"]);
    let mut only13 = TlsServerOptions::new(cert.clone(), key.clone());
    only13.min_version = Some("1.3".into());
    let mut one_suite = TlsServerOptions::new(cert, key);
    one_suite.ciphers = Some("ECDHE-ECDSA-CHACHA20-POLY1305:!aNULL:HIGH-nothing".into());
    one_suite.groups = Some("P-384".into());
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(Vhost::new("v.test", any()).site(TestSite).tls(only13))
        .vhost(
            Vhost::new("v.test", "127.0.0.2:0".parse().unwrap())
                .site(TestSite)
                .tls(one_suite)
                .tls_handshake_timeout(Duration::from_millis(300)),
        )
        .start()
        .unwrap();
    let a13 = ctx.local_addrs()[0];
    let a12 = ctx.local_addrs()[1];
    let mut c12 = Client::new(&ca);
    c12.tls12_only = true;
    assert!(c12.connect(a13, "v.test").await.is_err(), "TLS 1.2 refused");
    assert!(Client::new(&ca).connect(a13, "v.test").await.is_ok());
    let s = c12.connect(a12, "v.test").await.unwrap();
    let suite = s.get_ref().1.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(
        format!("{suite:?}"),
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
    );
    let group = s
        .get_ref()
        .1
        .negotiated_key_exchange_group()
        .unwrap()
        .name();
    assert_eq!(group, rustls::NamedGroup::secp384r1);
    // A client that never starts its handshake is dropped after the timeout.
    let mut idle = TcpStream::connect(a12).await.unwrap();
    let mut b = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut b)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "closed after the handshake timeout"
    );
}

async fn h2_client<I>(io: I) -> hyper::client::conn::http2::SendRequest<Empty<Bytes>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(conn);
    send
}

async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    uri: &str,
) -> (u16, hyper::HeaderMap, Bytes) {
    let req = hyper::Request::get(uri).body(Empty::new()).unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

#[tokio::test]
async fn http2_by_alpn_and_by_prior_knowledge() {
    let ca = TestCa::new("ca");
    let (c1, k1) = ca.leaf(&["h1only.test"]);
    let ctx = rlws::test_site()
        .threads(1)
        .vhost(tls_vhost("h.test", &ca, &["h.test"]))
        .vhost(tls_vhost("k.test", &ca, &["k.test"]))
        .vhost(
            Vhost::new("plain.test", "127.0.0.3:0".parse().unwrap())
                .site(TestSite)
                .header("x-vhost", "plain"),
        )
        .vhost(
            Vhost::new("h1only.test", "127.0.0.2:0".parse().unwrap())
                .site(TestSite)
                .tls(TlsServerOptions::new(c1, k1))
                .http2(false),
        )
        .start()
        .unwrap();
    let tls_addr = ctx.vhost_addr("h.test").unwrap();
    let plain = ctx.vhost_addr("plain.test").unwrap();
    let h1only = ctx.vhost_addr("h1only.test").unwrap();
    // ALPN h2 over TLS.
    let mut c = Client::new(&ca);
    c.alpn = vec!["h2", "http/1.1"];
    let tls = c.connect(tls_addr, "h.test").await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut send = h2_client(tls).await;
    let (st, h, body) = h2_get(&mut send, "https://h.test/").await;
    assert_eq!(st, 200);
    assert_eq!(h.get("x-vhost").unwrap(), "h.test");
    assert!(String::from_utf8_lossy(&body).contains("<html"));
    // Many requests on one connection, concurrently.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut s = send.clone();
        tasks.push(tokio::spawn(async move {
            h2_get(&mut s, "https://h.test/nope").await.0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 404);
    }
    // :authority naming another vhost on the socket than SNI chose: 421.
    assert_eq!(h2_get(&mut send, "https://k.test/").await.0, 421);
    assert_eq!(h2_get(&mut send, "https://www.h.test/").await.0, 200);
    // Prior knowledge (h2c) on the cleartext socket; HTTP/1.1 still works there.
    let mut send = h2_client(TcpStream::connect(plain).await.unwrap()).await;
    let (st, h, _) = h2_get(&mut send, "http://plain.test/").await;
    assert_eq!(
        (st, h.get("x-vhost").unwrap().to_str().unwrap()),
        (200, "plain")
    );
    let r = common::http_raw(
        plain,
        "GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(header(&r, "x-vhost"), Some("plain"), "{r}");
    // A vhost with HTTP/2 off does not offer it in ALPN.
    let tls = c.connect(h1only, "h1only.test").await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn websockets_over_http2_share_one_connection() {
    let ca = TestCa::new("ca");
    let ctx: Context = rlws::test_site()
        .threads(1)
        .vhost(tls_vhost("ws.test", &ca, &["ws.test"]).ws_path("/echo", "rlws-echo"))
        .start()
        .unwrap();
    let addr = ctx.local_addrs()[0];
    let mut c = Client::new(&ca);
    c.alpn = vec!["h2"];
    let tls = c.connect(addr, "ws.test").await.unwrap();
    let mut send = h2_client(tls).await;
    // One request first, so the server's SETTINGS (with extended CONNECT) are in.
    assert_eq!(h2_get(&mut send, "https://ws.test/").await.0, 200);
    // Negotiation happens in the CONNECT headers (no key, no accept).
    let mut req = hyper::Request::builder()
        .method(hyper::Method::CONNECT)
        .uri("https://ws.test/echo")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-extensions", "permessage-deflate")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("sec-websocket-accept").is_none());
    assert!(resp.headers().get("upgrade").is_none());
    assert_eq!(
        resp.headers().get("sec-websocket-extensions").unwrap(),
        "permessage-deflate"
    );
    drop(resp);
    // Three sockets without compression (the test client has none).
    let mut sockets = Vec::new();
    for _ in 0..3 {
        let mut req = hyper::Request::builder()
            .method(hyper::Method::CONNECT)
            .uri("https://ws.test/echo")
            .header("sec-websocket-version", "13")
            .body(Empty::new())
            .unwrap();
        req.extensions_mut()
            .insert(hyper::ext::Protocol::from_static("websocket"));
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let up = hyper::upgrade::on(resp).await.unwrap();
        let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(up),
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None,
        )
        .await;
        sockets.push(ws);
    }
    // All of them echo, interleaved, on the one connection.
    for round in 0..3 {
        for (i, ws) in sockets.iter_mut().enumerate() {
            ws.send(Message::text(format!("s{i} r{round}")))
                .await
                .unwrap();
        }
        for (i, ws) in sockets.iter_mut().enumerate() {
            let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(m, Message::text(format!("s{i} r{round}")));
        }
    }
    let big = vec![7u8; 300_000];
    sockets[1].send(Message::binary(big.clone())).await.unwrap();
    let m = sockets[1].next().await.unwrap().unwrap();
    assert_eq!(m.into_data(), big);
    // Closing one leaves the others working.
    sockets[0].close(None).await.unwrap();
    sockets[2].send(Message::text("still")).await.unwrap();
    assert_eq!(
        sockets[2].next().await.unwrap().unwrap(),
        Message::text("still")
    );
    // A CONNECT without the version header is refused.
    let mut req = hyper::Request::builder()
        .method(hyper::Method::CONNECT)
        .uri("https://ws.test/echo")
        .body(Empty::new())
        .unwrap();
    req.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 426);
}
