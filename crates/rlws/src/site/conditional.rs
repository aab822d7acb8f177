//! Conditional requests on files (RFC 9110 §13): `If-Match`,
//! `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` evaluated in
//! the RFC's order, and `If-Range` deciding whether a `Range` applies.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderValue};

/// What the preconditions of a request on a file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Answer it; `range` says whether a `Range` header may be honoured
    /// (no `If-Range`, or one naming the current version).
    Proceed { range: bool },
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`.
    Failed,
}

/// A file version's validators: its strong entity tag and modification time.
pub(super) struct Validators<'a> {
    pub etag: &'a HeaderValue,
    /// Whole seconds since the epoch (what `Last-Modified` can say).
    pub modified: Option<u64>,
}

/// Evaluates the preconditions of a `GET` or `HEAD` (`safe`) or other
/// request against the file's validators.
pub(super) fn evaluate(h: &HeaderMap, safe: bool, v: &Validators<'_>) -> Verdict {
    // 1-2: If-Match, else If-Unmodified-Since.
    if let Some(im) = h.get(header::IF_MATCH) {
        if !tag_list_matches(im, v.etag, true) {
            return Verdict::Failed;
        }
    } else if let (Some(ius), Some(m)) = (date(h.get(header::IF_UNMODIFIED_SINCE)), v.modified) {
        if m > ius {
            return Verdict::Failed;
        }
    }
    // 3-4: If-None-Match, else If-Modified-Since (safe methods only).
    if let Some(inm) = h.get(header::IF_NONE_MATCH) {
        if tag_list_matches(inm, v.etag, false) {
            return if safe {
                Verdict::NotModified
            } else {
                Verdict::Failed
            };
        }
    } else if safe {
        if let (Some(ims), Some(m)) = (date(h.get(header::IF_MODIFIED_SINCE)), v.modified) {
            if m <= ims {
                return Verdict::NotModified;
            }
        }
    }
    // 5: If-Range.
    let range = match h.get(header::IF_RANGE) {
        None => true,
        Some(ir) => {
            let b = ir.as_bytes();
            if b.starts_with(b"\"") {
                // Strong comparison: the same opaque tag, never a weak one.
                b == v.etag.as_bytes()
            } else {
                // A date matches only as the exact Last-Modified.
                date(Some(ir)).is_some_and(|d| Some(d) == v.modified)
            }
        }
    };
    Verdict::Proceed { range }
}

/// Whether a comma-separated list of entity tags (or `*`) holds `etag`;
/// `strong` refuses weak tags (`W/"..."`) as `If-Match` must.
fn tag_list_matches(list: &HeaderValue, etag: &HeaderValue, strong: bool) -> bool {
    let Ok(s) = list.to_str() else {
        return false;
    };
    if s.trim() == "*" {
        return true;
    }
    s.split(',')
        .map(str::trim)
        .any(|t| match t.strip_prefix("W/") {
            Some(weak) => !strong && weak.as_bytes() == etag.as_bytes(),
            None => t.as_bytes() == etag.as_bytes(),
        })
}

/// An HTTP date header as whole seconds since the epoch.
fn date(v: Option<&HeaderValue>) -> Option<u64> {
    let t = httpdate::parse_http_date(v?.to_str().ok()?).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// A modification time as whole seconds since the epoch.
pub(super) fn seconds(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// The `Last-Modified` value for `secs` since the epoch.
pub(super) fn last_modified(secs: u64) -> HeaderValue {
    let s = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
    // Letters, digits, spaces, commas and colons: always a valid value.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_700_000_000; // Tue, 14 Nov 2023 22:13:20 GMT

    fn verdict(safe: bool, headers: &[(&str, &str)]) -> Verdict {
        let mut h = HeaderMap::new();
        for (k, val) in headers {
            h.append(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(val).unwrap(),
            );
        }
        let etag = HeaderValue::from_static("\"abc\"");
        evaluate(
            &h,
            safe,
            &Validators {
                etag: &etag,
                modified: Some(T),
            },
        )
    }

    const GO: Verdict = Verdict::Proceed { range: true };
    const WHOLE: Verdict = Verdict::Proceed { range: false };
    const AT: &str = "Tue, 14 Nov 2023 22:13:20 GMT";
    const BEFORE: &str = "Tue, 14 Nov 2023 22:13:19 GMT";

    #[test]
    fn dates_format_and_compare_in_seconds() {
        assert_eq!(last_modified(T), AT);
        assert_eq!(
            verdict(true, &[("if-modified-since", AT)]),
            Verdict::NotModified
        );
        assert_eq!(verdict(true, &[("if-modified-since", BEFORE)]), GO);
        // Not a date: ignored.
        assert_eq!(verdict(true, &[("if-modified-since", "yesterday")]), GO);
        // Only GET and HEAD.
        assert_eq!(verdict(false, &[("if-modified-since", AT)]), GO);
        assert_eq!(
            verdict(true, &[("if-unmodified-since", BEFORE)]),
            Verdict::Failed
        );
        assert_eq!(verdict(false, &[("if-unmodified-since", AT)]), GO);
    }

    #[test]
    fn entity_tags_win_over_dates() {
        assert_eq!(
            verdict(true, &[("if-none-match", "\"x\", W/\"abc\"")]),
            Verdict::NotModified
        );
        assert_eq!(
            verdict(true, &[("if-none-match", "*")]),
            Verdict::NotModified
        );
        assert_eq!(
            verdict(false, &[("if-none-match", "\"abc\"")]),
            Verdict::Failed
        );
        // If-None-Match present and not matching: If-Modified-Since is not asked.
        assert_eq!(
            verdict(
                true,
                &[("if-none-match", "\"x\""), ("if-modified-since", AT)]
            ),
            GO
        );
        assert_eq!(verdict(true, &[("if-match", "\"abc\"")]), GO);
        assert_eq!(verdict(true, &[("if-match", "W/\"abc\"")]), Verdict::Failed);
        assert_eq!(verdict(true, &[("if-match", "\"x\"")]), Verdict::Failed);
        // If-Match present: If-Unmodified-Since is not asked.
        assert_eq!(
            verdict(true, &[("if-match", "*"), ("if-unmodified-since", BEFORE)]),
            GO
        );
    }

    #[test]
    fn if_range_needs_the_current_version_exactly() {
        assert_eq!(verdict(true, &[("if-range", "\"abc\"")]), GO);
        assert_eq!(verdict(true, &[("if-range", "W/\"abc\"")]), WHOLE);
        assert_eq!(verdict(true, &[("if-range", "\"old\"")]), WHOLE);
        assert_eq!(verdict(true, &[("if-range", AT)]), GO);
        assert_eq!(verdict(true, &[("if-range", BEFORE)]), WHOLE);
        assert_eq!(verdict(true, &[("if-range", "garbage")]), WHOLE);
    }
}
