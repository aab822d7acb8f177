//! `Range` requests on files (RFC 9110 §14): which byte ranges of a
//! representation of `len` bytes a `Range: bytes=...` header asks for.

/// How many ranges one request may name; more and the whole file is sent
/// (RFC 9110 §14.2 lets a server ignore a `Range` header).
const MAX_RANGES: usize = 64;

/// What a `Range` header asks of a representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Ranges {
    /// No usable `Range`: the whole representation, `200`.
    Whole,
    /// These ranges, `[start, end)`, in the order asked, `206`.
    Parts(Vec<(u64, u64)>),
    /// Syntactically fine, but no range overlaps the representation: `416`.
    Unsatisfiable,
}

/// The ranges `value` (a `Range` header) names in `len` bytes.
///
/// Another range unit is ignored (`Whole`), as RFC 9110 asks; a `bytes`
/// range set that is not valid is refused (`Unsatisfiable`, RFC 9110 lets a
/// server ignore or refuse it; nginx and Apache refuse). A header naming
/// more than 64 ranges, or ranges adding up to more than the representation
/// (overlapping ones, the shape of a request asking for the same bytes many
/// times over), gets the whole file once instead; so does an empty
/// representation, which no `Content-Range` can describe a part of.
pub(super) fn parse(value: &[u8], len: u64) -> Ranges {
    let Ok(s) = std::str::from_utf8(value) else {
        return Ranges::Whole;
    };
    let Some((unit, set)) = s.split_once('=') else {
        return Ranges::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") || len == 0 || set.trim().is_empty() {
        return Ranges::Whole;
    }
    let mut parts = Vec::new();
    let mut named = 0usize;
    for spec in set.split(',') {
        let spec = spec.trim_matches(|c| c == ' ' || c == '\t');
        if spec.is_empty() {
            // Empty list elements are allowed (RFC 9110 §5.6.1).
            continue;
        }
        named += 1;
        if named > MAX_RANGES {
            return Ranges::Whole;
        }
        // An invalid range spec makes the whole set invalid.
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Unsatisfiable;
        };
        let range = if first.is_empty() {
            // A suffix: the last N bytes.
            let Some(n) = digits(last) else {
                return Ranges::Unsatisfiable;
            };
            (n > 0).then(|| (len - n.min(len), len))
        } else {
            let Some(a) = digits(first) else {
                return Ranges::Unsatisfiable;
            };
            let b = if last.is_empty() {
                u64::MAX
            } else {
                match digits(last) {
                    Some(b) if b >= a => b,
                    _ => return Ranges::Unsatisfiable,
                }
            };
            (a < len).then(|| (a, b.min(len - 1) + 1))
        };
        if let Some(r) = range {
            parts.push(r);
        }
    }
    if parts.is_empty() {
        return Ranges::Unsatisfiable;
    }
    let total = parts
        .iter()
        .try_fold(0u64, |acc, (a, b)| acc.checked_add(b - a));
    if parts.len() > 1 && total.is_none_or(|t| t > len) {
        return Ranges::Whole;
    }
    Ranges::Parts(parts)
}

/// A non-empty run of ASCII digits that fits in a `u64`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str, len: u64) -> Ranges {
        parse(s.as_bytes(), len)
    }

    #[test]
    fn single_ranges_are_clipped_to_the_representation() {
        assert_eq!(p("bytes=0-499", 1000), Ranges::Parts(vec![(0, 500)]));
        assert_eq!(p("bytes=500-", 1000), Ranges::Parts(vec![(500, 1000)]));
        assert_eq!(p("bytes=-100", 1000), Ranges::Parts(vec![(900, 1000)]));
        assert_eq!(p("bytes=-5000", 1000), Ranges::Parts(vec![(0, 1000)]));
        assert_eq!(p("bytes=990-2000", 1000), Ranges::Parts(vec![(990, 1000)]));
        assert_eq!(p("BYTES=1-1", 10), Ranges::Parts(vec![(1, 2)]));
    }

    #[test]
    fn several_ranges_keep_their_order() {
        assert_eq!(
            p("bytes=0-0, ,-1,5-6", 10),
            Ranges::Parts(vec![(0, 1), (9, 10), (5, 7)])
        );
        // An unsatisfiable one among others is dropped.
        assert_eq!(p("bytes=0-1,50-60", 10), Ranges::Parts(vec![(0, 2)]));
    }

    #[test]
    fn unsatisfiable_invalid_and_ignored_headers() {
        assert_eq!(p("bytes=1000-", 1000), Ranges::Unsatisfiable);
        assert_eq!(p("bytes=-0", 1000), Ranges::Unsatisfiable);
        for bad in [
            "bytes=5-1",
            "bytes=a-b",
            "bytes=1",
            "bytes=,",
            "bytes=0-1,a",
            "bytes=+1-2",
            "bytes=0-1-2",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(p(bad, 1000), Ranges::Unsatisfiable, "{bad}");
        }
        assert_eq!(parse(b"bytes=\xff-1", 10), Ranges::Whole);
        for ignored in ["bytes=", "items=0-1", "bytes 0-1", "bytes = 0-1"] {
            assert_eq!(p(ignored, 1000), Ranges::Whole, "{ignored}");
        }
        // An empty file has no part to send.
        assert_eq!(p("bytes=0-", 0), Ranges::Whole);
        assert_eq!(p("bytes=-1", 0), Ranges::Whole);
    }

    #[test]
    fn too_many_or_overlapping_ranges_get_the_whole_file() {
        let many: Vec<String> = (0..65).map(|i| format!("{i}-{i}")).collect();
        assert_eq!(p(&format!("bytes={}", many.join(",")), 1000), Ranges::Whole);
        let ok: Vec<String> = (0..64).map(|i| format!("{i}-{i}")).collect();
        assert!(
            matches!(p(&format!("bytes={}", ok.join(",")), 1000), Ranges::Parts(v) if v.len() == 64)
        );
        assert_eq!(p("bytes=0-,0-", 1000), Ranges::Whole);
        assert_eq!(p("bytes=0-600,500-999", 1000), Ranges::Whole);
        assert_eq!(
            p("bytes=0-499,500-999", 1000),
            Ranges::Parts(vec![(0, 500), (500, 1000)])
        );
    }
}
