//! The client's URL parser, redirect resolution and proxy URLs: any input
//! gives a value or an error, never a panic; a parsed URL prints as a URL
//! that parses back to itself; a resolved `Location` is a URL of the same
//! kind.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rlws::client::{Proxy, Url};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Split the input into a base URL and a Location.
    let (base, location) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(u) = Url::parse(base) {
        assert!(u.path().starts_with('/'));
        let again = Url::parse(&u.to_string()).expect("a printed URL parses");
        assert_eq!(again.host(), u.host());
        assert_eq!(again.port(), u.port());
        assert_eq!(again.path(), u.path());
        if let Ok(j) = u.join(location) {
            assert!(j.path().starts_with('/'));
            assert!(j.user().is_none());
            let _ = Url::parse(&j.to_string()).expect("a resolved URL parses");
        }
    }
    let _ = Proxy::parse(base);
});
