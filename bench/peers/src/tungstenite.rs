//! Echo and broadcast server on tokio-tungstenite, for side-by-side benchmarks.
//! Usage: peer-tungstenite PORT [THREADS [CERT KEY]]
//! (with CERT and KEY, PEM files: TLS through tokio-rustls)
//!
//! `/broadcast`: every text message from any connection goes to all
//! connections (a tokio broadcast channel; receivers that lag skip ahead).
//! Any other path: echo.

use std::sync::OnceLock;

#[path = "tls.rs"]
mod rlws_bench_peers_tls;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

fn hub() -> &'static broadcast::Sender<Utf8Bytes> {
    static HUB: OnceLock<broadcast::Sender<Utf8Bytes>> = OnceLock::new();
    HUB.get_or_init(|| broadcast::channel(1024).0)
}

async fn serve<S>(s: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let cfg = WebSocketConfig::default()
        .max_message_size(Some(16 << 20))
        .max_frame_size(Some(16 << 20));
    let mut path = String::new();
    let cb = |req: &Request, resp: Response| {
        path = req.uri().path().to_string();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(s, cb, Some(cfg)).await else {
        return;
    };
    let (mut tx, mut rx) = ws.split();
    if path == "/broadcast" {
        let mut sub = hub().subscribe();
        let writer = tokio::spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(m) => {
                        if tx.send(Message::Text(m)).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
        });
        while let Some(Ok(m)) = rx.next().await {
            match m {
                Message::Text(t) => {
                    let _ = hub().send(t);
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        writer.abort();
        return;
    }
    while let Some(Ok(m)) = rx.next().await {
        if m.is_text() || m.is_binary() {
            if tx.send(m).await.is_err() {
                break;
            }
        } else if m.is_close() {
            break;
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9101);
    let threads: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(2);
    let tls = rlws_bench_peers_tls::acceptor(args.next(), args.next());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let l = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        loop {
            let Ok((s, _)) = l.accept().await else {
                continue;
            };
            let _ = s.set_nodelay(true);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(a) => {
                        if let Ok(s) = a.accept(s).await {
                            serve(s).await;
                        }
                    }
                    None => serve(s).await,
                }
            });
        }
    });
}
