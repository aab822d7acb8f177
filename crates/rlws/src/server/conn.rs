//! One accepted connection: TLS with SNI choosing the vhost, the HTTP/2
//! sniff for prior knowledge, and the hyper connection (HTTP/1.1 with
//! upgrades, or HTTP/2 behind the frame check).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::route::handle;
use super::vhost::select;
use super::ServerThread;
use crate::runtime::{ConnTimeout, FileSendTcp, Kind, LiveGuard, Tag};

/// Facts about a connection that each request on it needs.
pub(super) struct ConnInfo {
    /// The connection's id (its log tag `http#id`).
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
    pub(super) listener: usize,
    /// The vhost SNI chose (TLS connections).
    pub(super) sni_vhost: Option<usize>,
    pub(super) h2: bool,
    /// The server's end of it (absent on adopted Unix sockets).
    pub(super) local: Option<SocketAddr>,
    /// Its deadline, which origins can set.
    pub(super) timeout: Rc<ConnTimeout>,
    /// What callback mounts keep for it across requests.
    pub(super) state: crate::site::ConnState,
}

impl crate::site::HasConnState for ConnInfo {
    fn conn_state(&self) -> &crate::site::ConnState {
        &self.state
    }
}

/// Runs HTTP/2 stream tasks on this service thread.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for LocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A stream the server can serve: an accepted or adopted TCP socket, or
/// an adopted Unix socket.
pub(crate) trait Served:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static
{
    /// The stream HTTP runs on when there is no TLS.
    type Plain: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    /// Socket options before serving.
    fn prepare(&self) {}
    /// True when the client opens with the HTTP/2 preface.
    async fn sniff_h2(&self, limit: Duration) -> bool;
    /// This stream, to serve without TLS.
    fn plain(self) -> Self::Plain;
    /// The server's address of the connection.
    fn local(&self) -> Option<SocketAddr> {
        None
    }
}

impl Served for TcpStream {
    /// Cached files go out with `sendfile`.
    type Plain = FileSendTcp;

    fn prepare(&self) {
        let _ = self.set_nodelay(true);
    }

    fn local(&self) -> Option<SocketAddr> {
        self.local_addr().ok()
    }

    fn plain(self) -> FileSendTcp {
        FileSendTcp::new(self)
    }

    async fn sniff_h2(&self, limit: Duration) -> bool {
        sniff_h2(self, limit).await
    }
}

impl Served for tokio::net::UnixStream {
    type Plain = Self;

    fn plain(self) -> Self {
        self
    }

    /// HTTP/2 on an adopted Unix socket comes only by TLS ALPN: no prior
    /// knowledge (the stream cannot be looked at without reading it).
    async fn sniff_h2(&self, _: Duration) -> bool {
        false
    }
}

/// Serves one accepted (or adopted) connection on listen socket `li`.
pub(crate) async fn serve<S: Served>(
    st: Rc<ServerThread>,
    stream: S,
    peer: SocketAddr,
    guard: LiveGuard,
    li: usize,
) {
    stream.prepare();
    let id = st.core.shared.next_id();
    tracing::trace!(conn = %Tag(Kind::Http, id), %peer, "http connection");
    let Some(l) = st.srv.listeners.get(li) else {
        return;
    };
    let guard = Rc::new(guard);
    let local = stream.local();
    if l.tls {
        let timeout = l.handshake_timeout;
        match tokio::time::timeout(timeout, tls_accept(&st, stream, li)).await {
            Ok(Ok((tls, vi))) => {
                let h2 = tls.alpn() == Some(b"h2");
                let info = ConnInfo {
                    id,
                    peer,
                    listener: li,
                    sni_vhost: Some(vi),
                    h2,
                    local,
                    timeout: Rc::default(),
                    state: Default::default(),
                };
                serve_http(st, tls, info, guard).await;
            }
            Ok(Err(e)) => {
                tracing::debug!(conn = %Tag(Kind::Http, id), %peer, error = %e, "TLS handshake failed")
            }
            Err(_) => {
                tracing::debug!(conn = %Tag(Kind::Http, id), %peer, "TLS handshake timed out")
            }
        }
    } else {
        let h2 = l.http2 && stream.sniff_h2(st.srv.http.header_timeout).await;
        let info = ConnInfo {
            id,
            peer,
            listener: li,
            sni_vhost: None,
            h2,
            local,
            timeout: Rc::default(),
            state: Default::default(),
        };
        serve_http(st, stream.plain(), info, guard).await;
    }
}

/// Reads the ClientHello, lets SNI pick the vhost, and completes the
/// handshake with that vhost's certificate.
async fn tls_accept<S: Served>(
    st: &ServerThread,
    stream: S,
    li: usize,
) -> std::io::Result<(crate::tls::SealedStream<S>, usize)> {
    let sh = &st.srv;
    crate::tls::accept(stream, |name| {
        let candidates = sh.listeners.get(li).map_or(&[][..], |l| &l.vhosts[..]);
        let vi = select(&sh.vhosts, candidates, name).index();
        let cfg = sh
            .vhosts
            .get(vi)
            .and_then(|v| v.tls.clone())
            .ok_or_else(|| std::io::Error::other("vhost without TLS on a TLS socket"))?;
        Ok((cfg, vi))
    })
    .await
}

/// True when the client opens with the HTTP/2 preface (prior knowledge).
async fn sniff_h2(stream: &TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; H2_PREFACE.len()];
    let look = async {
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if buf[..n] != H2_PREFACE[..n] => return false,
                Ok(n) if n == H2_PREFACE.len() => return true,
                // A prefix of the preface so far: wait for more.
                Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
    };
    tokio::time::timeout(limit, look).await.unwrap_or(false)
}

async fn serve_http<I>(st: Rc<ServerThread>, io: I, info: ConnInfo, guard: Rc<LiveGuard>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let http = &st.srv.http;
    let info = Rc::new(info);
    let svc_st = st.clone();
    let svc_info = info.clone();
    let svc = hyper::service::service_fn(move |req| {
        let st = svc_st.clone();
        let guard = guard.clone();
        let info = svc_info.clone();
        async move { Ok::<_, Infallible>(handle(st, req, info, guard).await) }
    });
    let timeout = info.timeout.clone();
    let tag = Tag(Kind::Http, info.id);
    let res = if info.h2 {
        let io = TokioIo::new(super::h2guard::H2Guard::new(io));
        let mut b = hyper::server::conn::http2::Builder::new(LocalExec);
        b.timer(TokioTimer::new())
            .enable_connect_protocol()
            .max_concurrent_streams(http.h2_max_streams)
            .max_header_list_size(u32::try_from(http.max_header_bytes).unwrap_or(u32::MAX))
            // Rapid reset (CVE-2023-44487) and streams the server resets
            // for errors: a connection that causes many is dropped.
            .max_pending_accept_reset_streams(Some(20))
            .max_local_error_reset_streams(Some(256));
        timeout.guard(b.serve_connection(io, svc), tag).await
    } else {
        let io = TokioIo::new(io);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(
                st.srv
                    .listeners
                    .get(info.listener)
                    .and_then(|l| l.keepalive)
                    .unwrap_or(http.header_timeout),
            )
            .max_headers(http.max_headers)
            .max_buf_size(http.max_header_bytes.max(8192))
            // A client may shut its sending side once its request is out
            // and still get the answer (RFC 9112 §9.6). This also keeps
            // hyper from reading ahead while a request is being answered,
            // which made it take a fresh read buffer for every request.
            .half_close(true)
            .serve_connection(io, svc)
            .with_upgrades();
        timeout.guard(conn, tag).await
    };
    if let Some(Err(e)) = res {
        tracing::debug!(conn = %Tag(Kind::Http, info.id), peer = %info.peer, error = %e, "http connection ended with error");
    }
}
