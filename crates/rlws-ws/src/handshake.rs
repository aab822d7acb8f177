//! The opening handshake (RFC 6455 §4): accept key and request checks.
//!
//! These helpers take header values as bytes so any HTTP parser can feed them.

/// The GUID appended to the client key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Length in bytes of what `s` decodes to, if it is well-formed padded base64.
pub fn base64_decoded_len(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() % 4 != 0 {
        return None;
    }
    let pad = s.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return None;
    }
    if !s[..s.len() - pad].iter().all(|c| B64.contains(c)) {
        return None;
    }
    Some(s.len() / 4 * 3 - pad)
}

/// A fresh `Sec-WebSocket-Key`: 16 random bytes in base64 (RFC 6455 §4.1).
pub fn new_key() -> String {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&crate::mask::random_u64().to_ne_bytes());
    k[8..].copy_from_slice(&crate::mask::random_u64().to_ne_bytes());
    base64_encode(&k)
}

/// `Sec-WebSocket-Accept` for the client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key);
    h.update(GUID.as_bytes());
    base64_encode(&h.digest().bytes())
}

/// Whether a comma-separated header value contains `token` (ASCII case-insensitive).
pub fn header_has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&c| c == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Why an upgrade request is not a valid WebSocket opening handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a GET request.
    Method,
    /// No `Upgrade: websocket`.
    UpgradeHeader,
    /// No `Connection: upgrade`.
    ConnectionHeader,
    /// `Sec-WebSocket-Version` missing or not 13 (answer 426 with `Sec-WebSocket-Version: 13`).
    Version,
    /// `Sec-WebSocket-Key` missing or not 16 bytes of base64.
    Key,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HandshakeError::Method => "websocket upgrade must use GET",
            HandshakeError::UpgradeHeader => "missing 'Upgrade: websocket'",
            HandshakeError::ConnectionHeader => "missing 'Connection: upgrade'",
            HandshakeError::Version => "unsupported Sec-WebSocket-Version (13 required)",
            HandshakeError::Key => "missing or malformed Sec-WebSocket-Key",
        })
    }
}

impl std::error::Error for HandshakeError {}

/// Checks the fields of an HTTP/1.1 upgrade request. Returns the key to hash.
pub fn validate_request<'a>(
    method: &[u8],
    upgrade: Option<&[u8]>,
    connection: Option<&[u8]>,
    version: Option<&[u8]>,
    key: Option<&'a [u8]>,
) -> Result<&'a [u8], HandshakeError> {
    if method != b"GET" {
        return Err(HandshakeError::Method);
    }
    if !upgrade.is_some_and(|u| header_has_token(u, "websocket")) {
        return Err(HandshakeError::UpgradeHeader);
    }
    if !connection.is_some_and(|c| header_has_token(c, "upgrade")) {
        return Err(HandshakeError::ConnectionHeader);
    }
    if version.map(|v| v.trim_ascii()) != Some(b"13".as_slice()) {
        return Err(HandshakeError::Version);
    }
    match key.map(|k| k.trim_ascii()) {
        Some(k) if base64_decoded_len(k) == Some(16) => Ok(k),
        _ => Err(HandshakeError::Key),
    }
}

/// Iterates the subprotocol names of a `Sec-WebSocket-Protocol` header value.
pub fn subprotocols(value: &[u8]) -> impl Iterator<Item = &str> {
    value
        .split(|&c| c == b',')
        .filter_map(|t| std::str::from_utf8(t.trim_ascii()).ok())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_decoded_len(b"dGhlIHNhbXBsZSBub25jZQ=="), Some(16));
        assert_eq!(base64_decoded_len(b"dGhlIHNhbXBsZSBub25jZQ="), None);
        assert_eq!(base64_decoded_len(b"dGhl*HNhbXBsZSBub25jZQ=="), None);
    }

    #[test]
    fn request_validation() {
        let key = b"dGhlIHNhbXBsZSBub25jZQ==".as_slice();
        let ok = validate_request(
            b"GET",
            Some(b"WebSocket"),
            Some(b"keep-alive, Upgrade"),
            Some(b"13"),
            Some(key),
        );
        assert_eq!(ok, Ok(key));
        assert_eq!(
            validate_request(
                b"POST",
                Some(b"websocket"),
                Some(b"upgrade"),
                Some(b"13"),
                Some(key)
            ),
            Err(HandshakeError::Method)
        );
        assert_eq!(
            validate_request(
                b"GET",
                Some(b"websocket"),
                Some(b"upgrade"),
                Some(b"8"),
                Some(key)
            ),
            Err(HandshakeError::Version)
        );
        assert_eq!(
            validate_request(
                b"GET",
                Some(b"websocket"),
                Some(b"upgrade"),
                Some(b"13"),
                Some(b"abc")
            ),
            Err(HandshakeError::Key)
        );
        assert_eq!(
            validate_request(b"GET", None, Some(b"upgrade"), Some(b"13"), Some(key)),
            Err(HandshakeError::UpgradeHeader)
        );
        let protos: Vec<_> = subprotocols(b" a, b ,,c").collect();
        assert_eq!(protos, ["a", "b", "c"]);
    }
}
