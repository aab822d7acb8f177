//! Helpers shared by the tests of the rlws crates (not published): a test
//! certificate authority, an address that refuses connections, a raw
//! HTTP request over 127.0.0.1, and real peers (nginx, tinyproxy,
//! microsocks) started for one test.

#![allow(clippy::new_without_default)]

mod peers;
pub use peers::{free_port, LogLine, Microsocks, Nginx, Tinyproxy};

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends a raw HTTP request and returns the whole response text (connection: close).
pub async fn http_raw(addr: SocketAddr, req: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).to_string()
}

/// A certificate authority made for one test, issuing server and client
/// certificates (PEM).
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(rcgen::DnType::CommonName, name.to_string());
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(p, key).unwrap(),
        }
    }

    /// The CA certificate (PEM).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses): (cert PEM, key PEM).
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = rcgen::CertificateParams::new(names.clone()).unwrap();
        p.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A socket bound to a port of 127.0.0.1 without listening: connecting to
/// its address is refused for as long as it is held.
pub struct Refusing {
    fd: i32,
    pub addr: SocketAddr,
}

impl Refusing {
    pub fn new() -> Refusing {
        // SAFETY: plain socket calls on a descriptor this function owns; the
        // sockaddr is a zeroed sockaddr_in of the right size.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert!(fd >= 0, "socket");
            let mut sa: libc::sockaddr_in = std::mem::zeroed();
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let rc = libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len);
            assert_eq!(rc, 0, "bind");
            let mut got: libc::sockaddr_in = std::mem::zeroed();
            let mut glen = len;
            let rc = libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut glen);
            assert_eq!(rc, 0, "getsockname");
            Refusing {
                fd,
                addr: SocketAddr::from(([127, 0, 0, 1], u16::from_be(got.sin_port))),
            }
        }
    }
}

impl Refusing {
    /// Starts listening on the same address: connections are accepted from
    /// now on.
    pub fn listen(self) -> std::net::TcpListener {
        use std::os::fd::FromRawFd;
        let fd = self.fd;
        std::mem::forget(self);
        // SAFETY: `fd` is the bound socket this value owned (its Drop is
        // skipped above); after listen() the listener owns and closes it.
        unsafe {
            assert_eq!(libc::listen(fd, 128), 0, "listen");
            std::net::TcpListener::from_raw_fd(fd)
        }
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        // SAFETY: closes the descriptor this value owns, once.
        unsafe { libc::close(self.fd) };
    }
}
