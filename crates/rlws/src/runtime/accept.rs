//! The accept loop of a listen socket: each new connection goes to the
//! service thread with the fewest live connections (lws' least-loaded
//! accept); over every thread's cap it is refused cleanly.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::shared::{Shared, ThreadMsg};

pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, key: u32) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        match shared.place() {
            Some(tsi) => {
                shared
                    .metrics
                    .accepted
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let sent = stream
                    .into_std()
                    .map(|s| shared.send(tsi, ThreadMsg::Accept(s, peer, key)))
                    .unwrap_or(false);
                if !sent {
                    shared.unreserve(tsi);
                }
            }
            None => {
                shared
                    .refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(%peer, "connection refused: every service thread is at its connection cap");
                let tls = shared.acceptor.is_tls(key);
                tokio::task::spawn_local(refuse(stream, tls));
            }
        }
    }
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: tokio::net::TcpStream, tls: bool) {
    use tokio::io::AsyncWriteExt;
    if tls {
        // No TLS handshake for a connection that will not be served.
        let _ = stream.shutdown().await;
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream
            .write_all(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n")
            .await?;
        stream.shutdown().await
    })
    .await;
}
