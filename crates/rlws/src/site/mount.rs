//! Mounts: what a vhost serves under a URL path (lwsws' `mounts`).
//!
//! A request is served by the mount with the longest mountpoint that is a
//! whole-segment prefix of its path (`/docs` serves `/docs` and `/docs/a`,
//! not `/docsx`). Files are read on the service thread, as lws does: reads of
//! cached pages cost less than a hop to a blocking pool.

use std::path::PathBuf;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::file::Files;
use super::origin::Origin;
use super::redirect::Redirect;

/// One mount of a vhost: a URL path prefix, the [`Origin`] serving it, and
/// the settings the origin and the responses get (default document, cache
/// headers, MIME types, extra headers).
#[derive(Debug, Clone)]
#[doc(alias = "lws_http_mount")]
pub struct Mount {
    pub(crate) mountpoint: String,
    pub(crate) origin: Arc<dyn Origin>,
    pub(crate) default_doc: String,
    pub(crate) cache_max_age: u32,
    pub(crate) cache_reuse: bool,
    pub(crate) cache_revalidate: bool,
    pub(crate) cache_intermediaries: bool,
    pub(crate) cache_no: bool,
    pub(crate) mimetypes: Vec<(String, String)>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) no_ws_upgrades: bool,
    pub(crate) append_path: bool,
}

impl Mount {
    /// Serves `origin` under `mountpoint` (a URL path such as `/` or `/docs`).
    pub fn new(mountpoint: &str, origin: impl Origin) -> Self {
        Mount::shared(mountpoint, Arc::new(origin))
    }

    /// [`Mount::new`] with an origin shared with other mounts.
    pub fn shared(mountpoint: &str, origin: Arc<dyn Origin>) -> Self {
        // Stored without the trailing slash; `/` is stored empty.
        let mut mp = mountpoint.trim_end_matches('/').to_string();
        if !mp.is_empty() && !mp.starts_with('/') {
            mp.insert(0, '/');
        }
        Mount {
            mountpoint: mp,
            origin,
            default_doc: "index.html".into(),
            cache_max_age: 0,
            cache_reuse: true,
            cache_revalidate: false,
            cache_intermediaries: false,
            cache_no: false,
            mimetypes: Vec::new(),
            headers: Vec::new(),
            no_ws_upgrades: false,
            append_path: false,
        }
    }

    /// Files from directory `dir` under `mountpoint` ([`Files`]).
    pub fn dir(mountpoint: &str, dir: impl Into<PathBuf>) -> Self {
        Mount::new(mountpoint, Files::new(dir))
    }

    /// A `301` redirect of everything under `mountpoint` to `url` ([`Redirect`]).
    pub fn redirect(mountpoint: &str, url: &str) -> Self {
        Mount::new(mountpoint, Redirect::new(url))
    }

    /// The origin serving this mount.
    pub fn origin(&self) -> &Arc<dyn Origin> {
        &self.origin
    }

    /// The file served for a directory (default `index.html`).
    pub fn default_doc(mut self, name: &str) -> Self {
        self.default_doc = name.trim_start_matches('/').into();
        self
    }

    /// `Cache-Control: max-age=N` on files (0: no `Cache-Control`).
    pub fn cache_max_age(mut self, secs: u32) -> Self {
        self.cache_max_age = secs;
        self
    }

    /// Whether clients may keep what they get (off: `no-store`). Default on.
    pub fn cache_reuse(mut self, on: bool) -> Self {
        self.cache_reuse = on;
        self
    }

    /// Adds `must-revalidate` to the `max-age`.
    pub fn cache_revalidate(mut self, on: bool) -> Self {
        self.cache_revalidate = on;
        self
    }

    /// Lets shared caches keep files (`public` instead of `private`).
    pub fn cache_intermediaries(mut self, on: bool) -> Self {
        self.cache_intermediaries = on;
        self
    }

    /// `Cache-Control: no-store` on everything.
    pub fn cache_no(mut self, on: bool) -> Self {
        self.cache_no = on;
        self
    }

    /// The `Content-Type` for files ending in `ext` (`.zip` or `zip`),
    /// before the built-in table.
    pub fn mimetype(mut self, ext: &str, mime: &str) -> Self {
        self.mimetypes.push((
            ext.trim_start_matches('.').to_ascii_lowercase(),
            mime.into(),
        ));
        self
    }

    /// Adds a header to this mount's responses.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Refuses WebSocket upgrades under this mount (`403`).
    pub fn no_ws_upgrades(mut self, on: bool) -> Self {
        self.no_ws_upgrades = on;
        self
    }

    /// For redirects: append the path below the mountpoint (and the query)
    /// to the target URL instead of sending every request to the URL itself.
    pub fn append_path(mut self, on: bool) -> Self {
        self.append_path = on;
        self
    }

    /// The mountpoint, without a trailing `/` (except `/` itself).
    pub fn mountpoint(&self) -> &str {
        if self.mountpoint.is_empty() {
            "/"
        } else {
            &self.mountpoint
        }
    }
}

/// A mount as the service threads use it.
#[derive(Debug)]
pub(crate) struct MountRt {
    /// Unique in the process: keys this mount's entries in the file cache.
    pub(super) id: u64,
    /// Without a trailing `/`; empty for `/`.
    pub(super) mountpoint: String,
    pub(crate) origin: Arc<dyn Origin>,
    pub(super) default_doc: String,
    pub(super) cache_control: Option<HeaderValue>,
    pub(super) mimetypes: Vec<(String, HeaderValue)>,
    pub(super) headers: HeaderMap,
    pub(crate) no_ws_upgrades: bool,
    pub(super) append_path: bool,
    /// The protocol (index in the context) of a WebSocket route, set by the
    /// server when it compiles the vhost.
    pub(crate) ws_protocol: Option<usize>,
}

impl MountRt {
    pub(crate) fn new(m: &Mount, vhost: &str) -> Result<Self, String> {
        let what = || format!("vhost {vhost}: mount {}", m.mountpoint());
        let cc = if m.cache_no || !m.cache_reuse {
            Some("no-store".to_string())
        } else if m.cache_max_age > 0 {
            Some(format!(
                "max-age={}, {}{}",
                m.cache_max_age,
                if m.cache_intermediaries {
                    "public"
                } else {
                    "private"
                },
                if m.cache_revalidate {
                    ", must-revalidate"
                } else {
                    ""
                }
            ))
        } else {
            None
        };
        let cache_control = cc
            .map(|c| HeaderValue::from_str(&c))
            .transpose()
            .map_err(|e| format!("{}: {e}", what()))?;
        let mut mimetypes = Vec::new();
        for (ext, mime) in &m.mimetypes {
            let v = HeaderValue::from_str(mime)
                .map_err(|_| format!("{}: bad mimetype {mime:?} for .{ext}", what()))?;
            mimetypes.push((ext.clone(), v));
        }
        if m.default_doc.is_empty() || m.default_doc.contains("..") {
            return Err(format!("{}: bad default {:?}", what(), m.default_doc));
        }
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(MountRt {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            mountpoint: m.mountpoint.clone(),
            origin: m.origin.clone(),
            default_doc: m.default_doc.clone(),
            cache_control,
            mimetypes,
            headers: header_map(&format!("{vhost} {}", m.mountpoint()), &m.headers)?,
            no_ws_upgrades: m.no_ws_upgrades,
            append_path: m.append_path,
            ws_protocol: None,
        })
    }
}

/// The mount serving `path` and the part of the path below its mountpoint
/// (empty, or starting with `/`).
pub(crate) fn find<'m, 'p>(mounts: &'m [MountRt], path: &'p str) -> Option<(&'m MountRt, &'p str)> {
    mounts
        .iter()
        .filter_map(|m| {
            let rest = path.strip_prefix(m.mountpoint.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, rest))
        })
        .max_by_key(|(m, _)| m.mountpoint.len())
}

/// Parses extra response headers (of a vhost or a mount named `name`).
pub(crate) fn header_map(name: &str, headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let hn = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("vhost {name}: bad header name \"{k}\""))?;
        let hv = HeaderValue::from_str(v)
            .map_err(|_| format!("vhost {name}: bad value for header {k}"))?;
        map.append(hn, hv);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_whole_segment_mountpoint_wins() {
        let mounts: Vec<MountRt> = [
            Mount::dir("/", "/a"),
            Mount::dir("/docs/", "/b"),
            Mount::dir("/docs/api", "/c"),
        ]
        .iter()
        .map(|m| MountRt::new(m, "t").unwrap())
        .collect();
        let root_of =
            |p: &str| find(&mounts, p).map(|(m, rest)| (m.mountpoint.clone(), rest.to_string()));
        assert_eq!(root_of("/x"), Some(("".into(), "/x".into())));
        assert_eq!(root_of("/docs"), Some(("/docs".into(), "".into())));
        assert_eq!(root_of("/docs/"), Some(("/docs".into(), "/".into())));
        assert_eq!(root_of("/docsx"), Some(("".into(), "/docsx".into())));
        assert_eq!(
            root_of("/docs/api/v1"),
            Some(("/docs/api".into(), "/v1".into()))
        );
        assert_eq!(
            root_of("/docs/apix"),
            Some(("/docs".into(), "/apix".into()))
        );
        let only_docs = vec![MountRt::new(&Mount::dir("/docs", "/b"), "t").unwrap()];
        assert!(find(&only_docs, "/other").is_none());
    }
}
