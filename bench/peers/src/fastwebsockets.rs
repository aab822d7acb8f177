//! Echo and broadcast server on fastwebsockets, for side-by-side benchmarks.
//! Usage: peer-fastwebsockets PORT [THREADS [CERT KEY]]
//! (with CERT and KEY, PEM files: TLS through tokio-rustls)
//!
//! `/broadcast`: every text message from any connection goes to all
//! connections (a tokio broadcast channel; receivers that lag skip ahead).
//! Any other path: echo.

use std::sync::OnceLock;

#[path = "tls.rs"]
mod rlws_bench_peers_tls;

use fastwebsockets::{upgrade, FragmentCollector, Frame, OpCode, Payload, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

fn hub() -> &'static broadcast::Sender<Bytes> {
    static HUB: OnceLock<broadcast::Sender<Bytes>> = OnceLock::new();
    HUB.get_or_init(|| broadcast::channel(1024).0)
}

async fn serve_echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_max_message_size(16 << 20);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn serve_broadcast(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let ws = fut.await?;
    let (mut rx, mut tx) = ws.split(tokio::io::split);
    let mut sub = hub().subscribe();
    let writer = tokio::spawn(async move {
        loop {
            match sub.recv().await {
                Ok(m) => {
                    let f = Frame::text(Payload::Owned(m.to_vec()));
                    if tx.write_frame(f).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
    });
    loop {
        let frame = rx
            .read_frame(&mut |_| async { Ok::<_, WebSocketError>(()) })
            .await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text => {
                let _ = hub().send(Bytes::copy_from_slice(&frame.payload));
            }
            _ => {}
        }
    }
    writer.abort();
    Ok(())
}

async fn handle(mut req: Request<Incoming>) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let broadcast = req.uri().path() == "/broadcast";
    let (resp, fut) = upgrade::upgrade(&mut req)?;
    tokio::task::spawn(async move {
        let _ = if broadcast {
            serve_broadcast(fut).await
        } else {
            serve_echo(fut).await
        };
    });
    Ok(resp)
}

async fn serve<S>(s: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(s), hyper::service::service_fn(handle))
        .with_upgrades();
    let _ = conn.await;
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9102);
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
