//! Entry points for the fuzz targets of the site layer's parsers (built
//! only under `cfg(fuzzing)`).

use super::cgi_head;
use super::range::{self, Ranges};

/// A CGI program's output head: any bytes give a verdict without
/// panicking; a head found is found again in the bytes it took, and every
/// shorter prefix of those is still waiting for more.
pub fn cgi_head(data: &[u8]) {
    if let Ok(Some((_, used))) = cgi_head::parse(data) {
        assert!(used <= data.len() && used <= cgi_head::MAX_HEAD);
        let again = cgi_head::parse(&data[..used]);
        assert!(matches!(again, Ok(Some((_, u))) if u == used));
        for cut in [0, used / 2, used - 1] {
            assert!(matches!(cgi_head::parse(&data[..cut]), Ok(None)));
        }
    }
}

/// A `Range` header for a representation whose length is the first eight
/// bytes: the ranges given lie inside it, in the order asked, and several
/// never add up to more than it.
pub fn ranges(data: &[u8]) {
    let Some((len, value)) = data.split_first_chunk::<8>() else {
        return;
    };
    let len = u64::from_le_bytes(*len) >> (len[0] % 64);
    match range::parse(value, len) {
        Ranges::Whole | Ranges::Unsatisfiable => {}
        Ranges::Parts(p) => {
            assert!(!p.is_empty() && len > 0);
            assert!(p.iter().all(|&(a, b)| a < b && b <= len));
            if p.len() > 1 {
                assert!(p.iter().map(|(a, b)| b - a).sum::<u64>() <= len);
            }
        }
    }
}
