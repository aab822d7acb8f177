//! Access logs in the combined log format, one line per HTTP request, as
//! lwsws writes them (`access-log` of a vhost).

use std::io::Write;
use std::net::SocketAddr;

use hyper::header;

/// What a log line needs from the request, taken before the request is
/// consumed (a WebSocket upgrade takes it).
pub(crate) struct RequestLine {
    peer: SocketAddr,
    line: String,
    referer: String,
    agent: String,
}

impl RequestLine {
    pub(crate) fn new<B>(peer: SocketAddr, req: &hyper::Request<B>) -> Self {
        let version = match req.version() {
            hyper::Version::HTTP_10 => "HTTP/1.0",
            hyper::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let text = |n: header::HeaderName| {
            req.headers().get(n).map_or("-".to_string(), |v| {
                escape(&String::from_utf8_lossy(v.as_bytes()))
            })
        };
        RequestLine {
            peer,
            line: format!("{} {} {version}", req.method(), escape(target)),
            referer: text(header::REFERER),
            agent: text(header::USER_AGENT),
        }
    }

    /// Appends the line for a response of `status` with a body of `size`
    /// bytes (when known) to `file`.
    pub(crate) fn write(&self, file: &std::fs::File, status: u16, size: Option<u64>) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let size = size.map_or("-".to_string(), |s| s.to_string());
        let line = format!(
            "{} - - [{}] \"{}\" {status} {size} \"{}\" \"{}\"\n",
            self.peer.ip(),
            clf_time(now),
            self.line,
            self.referer,
            self.agent
        );
        // One write of the whole line on an O_APPEND file: lines from
        // several service threads do not interleave.
        if let Err(e) = (&*file).write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "access log write failed");
        }
    }
}

/// Quotes and control characters would break the line's fields.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// `23/Nov/2026:13:42:33 +0000` for a Unix time (UTC).
pub(crate) fn clf_time(secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (the proleptic Gregorian
    // calendar, computed in 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_log_format_times() {
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf_time(1_795_440_153), "23/Nov/2026:13:22:33 +0000");
        assert_eq!(clf_time(4_102_444_799), "31/Dec/2099:23:59:59 +0000");
    }

    #[test]
    fn fields_cannot_break_the_line() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\x0ad");
    }
}
