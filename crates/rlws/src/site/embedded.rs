//! The built-in test site, embedded in the binary.

const FILES: &[(&str, &[u8], &str)] = &[
    (
        "/index.html",
        include_bytes!("../../assets/index.html"),
        "text/html; charset=utf-8",
    ),
    (
        "/test.js",
        include_bytes!("../../assets/test.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/lws-common.js",
        include_bytes!("../../assets/lws-common.js"),
        "text/javascript; charset=utf-8",
    ),
    (
        "/style.css",
        include_bytes!("../../assets/style.css"),
        "text/css; charset=utf-8",
    ),
    (
        "/404.html",
        include_bytes!("../../assets/404.html"),
        "text/html; charset=utf-8",
    ),
];

/// The embedded file at `path`, with its MIME type.
pub(crate) fn get(path: &str) -> Option<(&'static [u8], &'static str)> {
    FILES
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, b, m)| (*b, *m))
}
