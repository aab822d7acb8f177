//! The head a CGI script writes before its body (RFC 3875 §6): header
//! lines ended by CRLF or a bare LF, up to an empty line; `Status`,
//! `Location`, `Content-Type`, `Content-Length` and other fields.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

/// A script's head may be at most this long.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// What a script's head says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct CgiHead {
    pub(crate) status: StatusCode,
    /// Every field but `Status`, as the response's headers; hop-by-hop
    /// fields are left out.
    pub(crate) headers: HeaderMap,
    /// `Content-Length`, when the script gave one (and no chunking).
    pub(crate) length: Option<u64>,
    /// The script frames its body with the chunked coding itself: rlws
    /// takes the framing off (and frames the body as the client needs).
    pub(crate) chunked: bool,
}

/// Why a script's head cannot be used (answered `502`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Longer than [`MAX_HEAD`] without its empty line.
    TooLong,
    /// A line that is not `name: value`, or a name or value HTTP refuses.
    BadLine(String),
    /// `Status` that is not a three-digit code from 100 to 999.
    BadStatus(String),
    /// `Content-Length` that is not a number.
    BadLength(String),
    /// A `Transfer-Encoding` other than `chunked` (which rlws cannot take off).
    TransferEncoding(String),
    /// No `Content-Type`, `Location` or `Status`: not a CGI response.
    Empty,
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::TooLong => write!(f, "response head longer than {MAX_HEAD} bytes"),
            HeadError::BadLine(l) => write!(f, "bad header line {l:?}"),
            HeadError::BadStatus(s) => write!(f, "bad Status {s:?}"),
            HeadError::BadLength(s) => write!(f, "bad Content-Length {s:?}"),
            HeadError::TransferEncoding(t) => {
                write!(f, "{t:?}: only chunked is taken")
            }
            HeadError::Empty => write!(f, "no Content-Type, Location or Status in the head"),
        }
    }
}

/// Fields a script may not set: they describe rlws' connection to the
/// client, not the response.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "upgrade",
    "te",
    "trailer",
];

/// Parses the head at the start of `buf`: `Ok(None)` while its empty line
/// has not arrived, else the head and how many bytes of `buf` it took.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(CgiHead, usize)>, HeadError> {
    let Some(end) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(HeadError::TooLong)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(HeadError::TooLong);
    }
    let mut status = None;
    let mut location = false;
    let mut typed = false;
    let mut length = None;
    let mut chunked = false;
    let mut headers = HeaderMap::new();
    let mut at = 0;
    while let Some(i) = buf[at..].iter().position(|&b| b == b'\n') {
        let nl = at + i;
        let mut line = &buf[at..nl];
        at = nl + 1;
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        if line.is_empty() {
            break;
        }
        let lossy = || String::from_utf8_lossy(line).into_owned();
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(HeadError::BadLine(lossy()));
        };
        let name = &line[..colon];
        let value = trim(&line[colon + 1..]);
        let Ok(name) = HeaderName::from_bytes(name) else {
            return Err(HeadError::BadLine(lossy()));
        };
        let Ok(value) = HeaderValue::from_bytes(value) else {
            return Err(HeadError::BadLine(lossy()));
        };
        match name.as_str() {
            "status" => {
                let s = value.as_bytes();
                let code = s.get(..3).filter(|c| {
                    c.iter().all(u8::is_ascii_digit) && s.get(3).is_none_or(|&b| b == b' ')
                });
                match code.and_then(|c| StatusCode::from_bytes(c).ok()) {
                    Some(c) => status = Some(c),
                    None => return Err(HeadError::BadStatus(lossy())),
                }
                continue;
            }
            "content-length" => {
                let n = std::str::from_utf8(value.as_bytes())
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok());
                match n {
                    Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                    _ => return Err(HeadError::BadLength(lossy())),
                }
            }
            "transfer-encoding" => {
                if !value.as_bytes().eq_ignore_ascii_case(b"chunked") || chunked {
                    return Err(HeadError::TransferEncoding(lossy()));
                }
                chunked = true;
                continue;
            }
            "location" => location = true,
            "content-type" => typed = true,
            n if HOP_BY_HOP.contains(&n) => continue,
            _ => {}
        }
        headers.append(name, value);
    }
    if status.is_none() && !location && !typed {
        return Err(HeadError::Empty);
    }
    // A Location without a Status is a redirect (RFC 3875 §6.2.3-4; lws
    // answers 302 for local paths too, instead of serving them itself).
    let status = status.unwrap_or(if location {
        StatusCode::FOUND
    } else {
        StatusCode::OK
    });
    Ok(Some((
        CgiHead {
            status,
            // The chunks' framing decides the length (RFC 9112 §6.3).
            length: if chunked { None } else { length },
            headers: if chunked {
                let mut h = headers;
                h.remove(http::header::CONTENT_LENGTH);
                h
            } else {
                headers
            },
            chunked,
        },
        at,
    )))
}

/// The offset just past the empty line ending the head, if it is in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            let line = &buf[line_start..i];
            if line.is_empty() || line == b"\r" {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> CgiHead {
        let (h, used) = parse(s.as_bytes()).unwrap().unwrap();
        assert_eq!(&s[used..], "BODY");
        h
    }

    #[test]
    fn fields_status_and_length() {
        let h = head("Content-Type: text/plain\r\nX-A:  1 \r\nStatus: 404 Not Found\r\nContent-Length: 4\r\n\r\nBODY");
        assert_eq!(h.status, StatusCode::NOT_FOUND);
        assert_eq!(h.length, Some(4));
        assert_eq!(h.headers["x-a"], "1");
        assert_eq!(h.headers["content-type"], "text/plain");
        assert!(!h.headers.contains_key("status"));
        // Bare line feeds, as many scripts write.
        let h = head("Content-type: text/html\n\nBODY");
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.length, None);
        let h = head("Status: 204\nConnection: close\nKeep-Alive: 5\n\nBODY");
        assert_eq!(h.status, StatusCode::NO_CONTENT);
        assert!(h.headers.is_empty());
    }

    #[test]
    fn a_location_alone_redirects() {
        let h = head("Location: /elsewhere\r\n\r\nBODY");
        assert_eq!(h.status, StatusCode::FOUND);
        assert_eq!(h.headers["location"], "/elsewhere");
        let h = head("Location: http://x/\r\nStatus: 301 Moved\r\n\r\nBODY");
        assert_eq!(h.status, StatusCode::MOVED_PERMANENTLY);
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_refused() {
        assert_eq!(parse(b"Content-Type: text/plain\r\n"), Ok(None));
        assert_eq!(parse(b""), Ok(None));
        assert!(matches!(parse(b"no colon\n\n"), Err(HeadError::BadLine(_))));
        assert!(matches!(
            parse(b"Bad Name: x\n\n"),
            Err(HeadError::BadLine(_))
        ));
        assert!(matches!(
            parse(b"X: a\x01b\n\n"),
            Err(HeadError::BadLine(_))
        ));
        for s in [
            "Status: 20\n\n",
            "Status: abc\n\n",
            "Status: 2000\n\n",
            "Status: 099\n\n",
        ] {
            assert!(
                matches!(parse(s.as_bytes()), Err(HeadError::BadStatus(_))),
                "{s}"
            );
        }
        for s in [
            "Content-Length: -1\nContent-Type: a/b\n\n",
            "Content-Length: 1\nContent-Length: 2\nContent-Type: a/b\n\n",
            "Content-Length: 99999999999999999999999\n\n",
        ] {
            assert!(
                matches!(parse(s.as_bytes()), Err(HeadError::BadLength(_))),
                "{s}"
            );
        }
        let (h, _) = parse(b"Transfer-Encoding: Chunked\nContent-Length: 5\nContent-Type: a/b\n\n")
            .unwrap()
            .unwrap();
        assert!(h.chunked);
        assert_eq!(h.length, None);
        assert!(h.headers.get("content-length").is_none());
        assert!(h.headers.get("transfer-encoding").is_none());
        for te in ["gzip", "gzip, chunked"] {
            let head = format!("Transfer-Encoding: {te}\nContent-Type: a/b\n\n");
            assert!(
                matches!(parse(head.as_bytes()), Err(HeadError::TransferEncoding(_))),
                "{te}"
            );
        }
        assert_eq!(parse(b"X-Only: 1\n\n"), Err(HeadError::Empty));
        assert_eq!(parse(b"\n"), Err(HeadError::Empty));
        let long = format!("X: {}\n", "a".repeat(MAX_HEAD));
        assert_eq!(parse(long.as_bytes()), Err(HeadError::TooLong));
        let long = format!("{long}\n");
        assert_eq!(parse(long.as_bytes()), Err(HeadError::TooLong));
    }
}
