//! `wss://` with the async client: a CA made for the test, the platform's
//! roots (which do not trust it), a wrong name, and the insecure mode.

mod common;

use common::*;
use rlws::client::{connect, ClientConfig, ConnectError, Message};

#[tokio::test]
async fn wss_echo_and_certificate_checks() {
    let (_ctx, backend) = start(1);
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["127.0.0.1", "localhost"]);
    let tls = tls_proxy(&cert, &key, backend).await;
    let url = format!("wss://127.0.0.1:{}/echo", tls.port());

    // Trusted through the given CA: echo works, compression too.
    let mut cfg = ClientConfig::new(&url).unwrap();
    cfg.tls.ca_pem = Some(ca.pem().into_bytes());
    let mut ws = connect(cfg.clone()).await.expect("wss connects");
    assert!(ws.deflate().is_some());
    let big = Message::Binary((0..1_000_000u32).map(|i| (i * 7) as u8).collect());
    for m in [Message::Text("over TLS".into()), big] {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), m);
    }
    ws.close(1000, "").await.unwrap();

    // A host name in the URL, checked against the certificate's names.
    let mut by_name = ClientConfig::new(&format!("wss://localhost:{}/echo", tls.port())).unwrap();
    by_name.tls.ca_pem = Some(ca.pem().into_bytes());
    let mut ws = connect(by_name).await.expect("wss://localhost connects");
    ws.send(Message::Text("by name".into())).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("by name".into())
    );

    // The platform's roots do not know the test CA.
    let e = connect(ClientConfig::new(&url).unwrap())
        .await
        .expect_err("untrusted certificate must fail");
    match &e {
        ConnectError::Tls(t) => assert!(
            matches!(
                t.rustls(),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                ))
            ),
            "{t:?}"
        ),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert!(
        std::error::Error::source(&e).is_some(),
        "the rustls error is the source"
    );

    // Trusted CA, but the certificate is not for the name asked for.
    let mut wrong = cfg.clone();
    wrong.tls.server_name = Some("example.com".into());
    match connect(wrong).await {
        Err(ConnectError::Tls(t)) => assert!(
            matches!(
                t.rustls(),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                ))
            ),
            "{t:?}"
        ),
        other => panic!("expected a TLS name error, got {other:?}"),
    }

    // Another CA's certificate is refused.
    let other_ca = TestCa::new("another CA");
    let mut other = ClientConfig::new(&url).unwrap();
    other.tls.ca_pem = Some(other_ca.pem().into_bytes());
    match connect(other).await {
        Err(ConnectError::Tls(t)) => assert!(
            matches!(
                t.rustls(),
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::UnknownIssuer
                        | rustls::CertificateError::BadSignature
                ))
            ),
            "{t:?}"
        ),
        other => panic!("expected a TLS error, got {other:?}"),
    }

    // Insecure mode accepts it anyway.
    let mut insecure = ClientConfig::new(&url).unwrap();
    insecure.tls.insecure = true;
    let mut ws = connect(insecure).await.expect("insecure wss connects");
    ws.send(Message::Text("anyway".into())).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("anyway".into())
    );

    // A bad CA file is a TLS configuration error, before any connection.
    let mut bad = ClientConfig::new(&url).unwrap();
    bad.tls.ca_pem = Some(b"not a certificate".to_vec());
    match connect(bad).await {
        Err(ConnectError::Tls(t)) => {
            // A settings error: no handshake happened.
            assert!(t.rustls().is_none(), "{t:?}");
            assert!(t.to_string().contains("CA"), "{t}");
        }
        other => panic!("expected a CA error, got {other:?}"),
    }

    // TLS spoken to a plain WebSocket port fails as TLS, not as a hang.
    let mut plain = ClientConfig::new(&format!("wss://127.0.0.1:{}/echo", backend.port())).unwrap();
    plain.tls.insecure = true;
    assert!(matches!(connect(plain).await, Err(ConnectError::Tls(_))));
}
