//! Echo server on tokio-tungstenite, for side-by-side benchmarks.
//! Usage: peer-tungstenite PORT [THREADS]

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(9101);
    let threads: usize = args.next().and_then(|p| p.parse().ok()).unwrap_or(2);
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
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let cfg = WebSocketConfig::default()
                    .max_message_size(Some(16 << 20))
                    .max_frame_size(Some(16 << 20));
                let Ok(ws) = tokio_tungstenite::accept_async_with_config(s, Some(cfg)).await else {
                    return;
                };
                let (mut tx, mut rx) = ws.split();
                while let Some(Ok(m)) = rx.next().await {
                    if m.is_text() || m.is_binary() {
                        if tx.send(m).await.is_err() {
                            break;
                        }
                    } else if m.is_close() {
                        break;
                    }
                }
            });
        }
    });
}
