//! Content codings a client accepts (`Accept-Encoding`, RFC 9110 §12.5.3).

use http::header::{self, HeaderMap};

/// Whether the client takes `gzip` (or `x-gzip`): named with a non-zero
/// weight, or covered by `*` without being refused by name.
pub(crate) fn accepts_gzip(h: &HeaderMap) -> bool {
    let mut star = false;
    for v in h.get_all(header::ACCEPT_ENCODING) {
        let Ok(s) = v.to_str() else { continue };
        for item in s.split(',') {
            let mut it = item.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                return !q_zero;
            }
            if coding == "*" {
                star = !q_zero;
            }
        }
    }
    star
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takes(v: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
        accepts_gzip(&h)
    }

    #[test]
    fn gzip_by_name_weight_or_star() {
        assert!(takes("gzip"));
        assert!(takes("deflate, GZIP;q=0.5, br"));
        assert!(takes("x-gzip"));
        assert!(takes("*"));
        assert!(!takes("gzip;q=0"));
        assert!(!takes("gzip; q=0.000, *"));
        assert!(!takes("br, deflate"));
        assert!(!takes("*;q=0"));
        assert!(!takes("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
