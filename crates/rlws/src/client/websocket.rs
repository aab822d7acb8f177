//! [`WebSocket`]: the async client connection, a pump between a byte stream
//! and an [`rlws_ws::Connection`].

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use rlws_ws::deflate::{self, DeflateConfig};
use rlws_ws::{
    CloseCode, Config, Connection, DataKind, Event, Outgoing, ProtocolError, Role, State,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::config::ClientConfig;
use super::error::WsError;
use super::handshake::Opened;

/// A WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// A ping (answered automatically; shown for information).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// The peer's close frame: code and reason, if it had a code.
    Close(Option<(u16, String)>),
}

/// An open client WebSocket over `S`: a pump between the socket and an
/// [`rlws_ws::Connection`].
///
/// Pings are answered automatically. [`WebSocket::recv`] returns messages
/// whole (fragments reassembled, compressed ones inflated, text checked);
/// [`WebSocket::send`] sends one. It is also a `futures` `Stream` and `Sink`.
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    protocol: Option<String>,
    eof: bool,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .field("deflate", &self.conn.deflate())
            .field("state", &self.conn.state())
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    pub(super) fn from_opened(io: S, o: Opened, cfg: &ClientConfig) -> Self {
        WebSocket::new(
            io,
            o.protocol,
            o.deflate.map(|p| (p, cfg.deflate.unwrap_or_default())),
            o.leftover,
            cfg.max_message,
        )
    }

    fn new(
        io: S,
        protocol: Option<String>,
        deflate: Option<(deflate::Params, DeflateConfig)>,
        leftover: Vec<u8>,
        max_message: u64,
    ) -> Self {
        let mut config = Config::default();
        config.max_message = max_message;
        config.max_frame = max_message;
        let mut conn = Connection::new(Role::Client, config);
        if let Some((p, cfg)) = deflate {
            conn = conn.with_deflate(p, &cfg);
        }
        let mut rbuf = leftover;
        let rend = rbuf.len();
        rbuf.resize(rend.max(64 * 1024), 0);
        WebSocket {
            io,
            conn,
            rbuf,
            rstart: 0,
            rend,
            protocol,
            eof: false,
        }
    }

    /// The subprotocol the server chose.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters, if negotiated.
    pub fn deflate(&self) -> Option<deflate::Params> {
        self.conn.deflate()
    }

    /// Queues a message for sending (call [`WebSocket::flush`] or use `send`).
    pub fn queue(&mut self, m: &Message) -> Result<(), WsError> {
        let sent = match m {
            Message::Text(t) => self.conn.send_text(t),
            Message::Binary(b) => self.conn.send_binary(b),
            Message::Ping(p) => self.conn.send_ping(p),
            Message::Pong(p) => self.conn.send(Outgoing::Pong, p),
            Message::Close(c) => {
                let now = std::time::Instant::now();
                match c {
                    Some((code, reason)) => self.conn.close(CloseCode(*code), reason, now),
                    None => self.conn.close_without_code(now),
                }
            }
        };
        sent.map_err(|_| WsError::Closed)
    }

    fn poll_flush_buf(&mut self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        loop {
            let out = self.conn.poll_transmit();
            if out.is_empty() {
                break;
            }
            let n = match Pin::new(&mut self.io).poll_write(cx, out) {
                Poll::Ready(r) => r?,
                Poll::Pending => return Poll::Pending,
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.conn.advance(n);
        }
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), WsError> {
        std::future::poll_fn(|cx| self.poll_flush_buf(cx))
            .await
            .map_err(WsError::Io)
    }

    /// Sends a message.
    pub async fn send(&mut self, m: Message) -> Result<(), WsError> {
        self.queue(&m)?;
        self.flush().await
    }

    /// Sends a close frame (if not sent yet) and waits, at most the close
    /// timeout (5 s), for the server's close and the end of the connection.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        if matches!(self.conn.state(), State::Open | State::CloseReceived) {
            self.queue(&Message::Close(Some((code, reason.to_string()))))?;
            self.flush().await?;
        }
        let wait = self.conn.config().close_timeout;
        let _ = tokio::time::timeout(wait, async {
            while let Some(m) = self.recv().await {
                if m.is_err() {
                    break;
                }
            }
        })
        .await;
        let _ = self.io.shutdown().await;
        Ok(())
    }

    /// The next message; `None` when the connection has ended.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut TaskCx<'_>) -> Poll<Option<Result<Message, WsError>>> {
        loop {
            // Keep pongs and close replies moving even while only reading.
            if self.conn.wants_transmit() {
                match self.poll_flush_buf(cx) {
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(WsError::Io(e)))),
                    // After the peer's close, our reply goes out before reading on.
                    Poll::Pending if self.conn.state() == State::Closed => return Poll::Pending,
                    _ => {}
                }
            }
            if self.eof && self.rstart == self.rend {
                return Poll::Ready(None);
            }
            match self.parse() {
                Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                Ok(None) => {}
                Err(e) => {
                    // The connection queued its close with the error's code.
                    let _ = self.poll_flush_buf(cx);
                    self.eof = true;
                    return Poll::Ready(Some(Err(WsError::Protocol(e))));
                }
            }
            // Need more bytes.
            if self.rstart == self.rend {
                self.rstart = 0;
                self.rend = 0;
            }
            if self.rend == self.rbuf.len() {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            }
            let mut rb = ReadBuf::new(&mut self.rbuf[self.rend..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(WsError::Io(e)))),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.eof = true;
                        if self.rstart == self.rend {
                            return Poll::Ready(None);
                        }
                    }
                    self.rend += n;
                }
            }
        }
    }

    /// Parses buffered bytes until a whole message is ready or more are needed.
    fn parse(&mut self) -> Result<Option<Message>, ProtocolError> {
        while self.rstart < self.rend {
            let (n, ev) = self.conn.read(&mut self.rbuf[self.rstart..self.rend])?;
            self.rstart += n;
            let Some(ev) = ev else {
                if n == 0 {
                    break;
                }
                continue;
            };
            return Ok(Some(match ev {
                Event::Data(d) => match d.kind {
                    DataKind::Binary => Message::Binary(d.data.to_vec()),
                    // The connection checked the text (after inflating).
                    DataKind::Text => Message::Text(String::from_utf8_lossy(d.data).into_owned()),
                },
                Event::Ping(p) => Message::Ping(p.to_vec()),
                Event::Pong(p) => Message::Pong(p.to_vec()),
                Event::Close { code, reason } => {
                    Message::Close(code.map(|c| (c.0, reason.to_string())))
                }
            }));
        }
        Ok(None)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_core::Stream for WebSocket<S> {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> futures_sink::Sink<Message> for WebSocket<S> {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        if this.conn.queued() < 256 * 1024 {
            return Poll::Ready(Ok(()));
        }
        this.poll_flush_buf(cx).map_err(WsError::Io)
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        self.get_mut().queue(&item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), WsError>> {
        self.get_mut().poll_flush_buf(cx).map_err(WsError::Io)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        if matches!(this.conn.state(), State::Open | State::CloseReceived) {
            this.queue(&Message::Close(Some((1000, String::new()))))?;
        }
        match this.poll_flush_buf(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io)
                .poll_shutdown(cx)
                .map_err(WsError::Io),
            other => other.map_err(WsError::Io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_websocket_is_send() {
        fn send<T: Send>() {}
        send::<WebSocket<crate::runtime::Transport>>();
        send::<ClientConfig>();
    }
}
