//! What can be adopted into a context (lws' `lws_adopt_descriptor_vhost`),
//! and why adopting can fail.

/// An already-connected socket to serve like an accepted one.
#[derive(Debug)]
#[doc(alias = "lws_adopt_socket")]
pub enum AdoptSocket {
    /// A TCP connection.
    Tcp(std::net::TcpStream),
    /// A Unix stream socket (one end of `socketpair`, an accepted Unix
    /// connection).
    Unix(std::os::unix::net::UnixStream),
}

impl From<std::net::TcpStream> for AdoptSocket {
    fn from(s: std::net::TcpStream) -> Self {
        AdoptSocket::Tcp(s)
    }
}

impl From<std::os::unix::net::UnixStream> for AdoptSocket {
    fn from(s: std::os::unix::net::UnixStream) -> Self {
        AdoptSocket::Unix(s)
    }
}

impl AdoptSocket {
    pub(crate) fn set_nonblocking(&self) -> std::io::Result<()> {
        match self {
            AdoptSocket::Tcp(s) => s.set_nonblocking(true),
            AdoptSocket::Unix(s) => s.set_nonblocking(true),
        }
    }
}

/// Why a socket or descriptor could not be adopted, or a raw connection
/// not started.
#[derive(Debug)]
#[non_exhaustive]
pub enum AdoptError {
    /// No vhost with that name.
    NoSuchVhost(String),
    /// No raw protocol with that name.
    NoSuchProtocol(String),
    /// Every service thread is at its connection cap.
    Full,
    /// The service threads have ended.
    Gone,
    /// The descriptor cannot be used (a regular file, a closed one).
    Io(std::io::Error),
}

impl std::fmt::Display for AdoptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdoptError::NoSuchVhost(n) => write!(f, "no vhost named {n}"),
            AdoptError::NoSuchProtocol(n) => write!(f, "no raw protocol named {n}"),
            AdoptError::Full => f.write_str("every service thread is at its connection cap"),
            AdoptError::Gone => f.write_str("the service threads have ended"),
            AdoptError::Io(e) => write!(f, "cannot adopt: {e}"),
        }
    }
}

impl std::error::Error for AdoptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdoptError::Io(e) => Some(e),
            _ => None,
        }
    }
}
