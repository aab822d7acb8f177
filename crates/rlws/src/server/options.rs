//! HTTP limits and timeouts of a context.

use std::time::Duration;

/// HTTP limits and timeouts.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Most request headers accepted (more: 431).
    pub max_headers: usize,
    /// Largest request head in bytes (more: 431). At least 8 KiB.
    pub max_header_bytes: usize,
    /// Time allowed to receive a request's headers, and to wait for the next
    /// request on a keep-alive connection.
    pub header_timeout: Duration,
    /// The `Server` header.
    pub server_name: String,
    /// Most concurrent streams per HTTP/2 connection.
    pub h2_max_streams: u32,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            header_timeout: Duration::from_secs(10),
            server_name: "rlws".into(),
            h2_max_streams: 128,
        }
    }
}
