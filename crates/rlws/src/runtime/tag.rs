//! The short tag every log line about a connection carries (`conn=ws#12`),
//! so one connection's story can be found with grep: its kind and id; the
//! line that opens it adds the peer and protocol.

use std::fmt;

/// What kind of connection a tag names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An accepted (or adopted) HTTP connection.
    Http,
    /// A WebSocket (server or client side).
    Ws,
    /// A raw connection.
    Raw,
    /// An HTTP client connection (which requests share).
    Client,
    /// An HTTP client request run on a service thread.
    Request,
}

/// `http#7`, `ws#12`, `raw#3`: a connection's kind and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag(pub(crate) Kind, pub(crate) u64);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.0 {
            Kind::Http => "http",
            Kind::Ws => "ws",
            Kind::Raw => "raw",
            Kind::Client => "client",
            Kind::Request => "req",
        };
        write!(f, "{k}#{}", self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_as_kind_and_id() {
        assert_eq!(Tag(Kind::Http, 7).to_string(), "http#7");
        assert_eq!(Tag(Kind::Ws, 12).to_string(), "ws#12");
        assert_eq!(Tag(Kind::Raw, 3).to_string(), "raw#3");
        assert_eq!(Tag(Kind::Client, 4).to_string(), "client#4");
        assert_eq!(Tag(Kind::Request, 5).to_string(), "req#5");
    }
}
