//! [`Url`]: the absolute URLs clients connect to (`http`, `https`, `ws`,
//! `wss`), and resolving a redirect's `Location` against one (RFC 3986 §5).

/// The scheme of a [`Url`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `http://`
    Http,
    /// `https://`
    Https,
    /// `ws://`
    Ws,
    /// `wss://`
    Wss,
}

impl Scheme {
    /// True for `https` and `wss`.
    pub fn is_secure(self) -> bool {
        matches!(self, Scheme::Https | Scheme::Wss)
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        if self.is_secure() {
            443
        } else {
            80
        }
    }

    /// The scheme's name, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            _ => return None,
        })
    }
}

/// An absolute URL: scheme, optional user and password, host, port, and
/// the path with its query (the fragment is dropped).
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    scheme: Scheme,
    user: Option<(String, String)>,
    host: String,
    port: u16,
    path: String,
}

impl std::fmt::Debug for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a password.
        write!(f, "Url({self})")
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority(),
            self.path
        )
    }
}

/// A URL that cannot be used: the URL and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    problem: UrlProblem,
}

/// What is wrong with a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlProblem {
    /// No `scheme://`.
    NoScheme,
    /// A scheme this use does not take (`ftp`, or `http` where a WebSocket
    /// URL is wanted).
    Scheme(String),
    /// The host is missing, has user information where none is allowed, or
    /// is a malformed IPv6 literal.
    Host,
    /// The port is not a number from 0 to 65535.
    Port,
    /// A character that cannot appear in a request target (space, control).
    Path,
}

impl UrlError {
    pub(crate) fn new(url: &str, problem: UrlProblem) -> Self {
        UrlError {
            url: url.to_string(),
            problem,
        }
    }

    /// What is wrong.
    pub fn problem(&self) -> &UrlProblem {
        &self.problem
    }
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = &self.url;
        match &self.problem {
            UrlProblem::NoScheme => write!(f, "bad URL: {url}: no scheme"),
            UrlProblem::Scheme(s) => write!(f, "bad URL: {url}: scheme {s} not usable here"),
            UrlProblem::Host => write!(f, "bad URL: {url}: bad host"),
            UrlProblem::Port => write!(f, "bad URL: {url}: bad port"),
            UrlProblem::Path => write!(f, "bad URL: {url}: bad character in path"),
        }
    }
}

impl std::error::Error for UrlError {}

impl std::str::FromStr for Url {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Url, UrlError> {
        Url::parse(s)
    }
}

impl Url {
    /// Parses `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`.
    pub fn parse(url: &str) -> Result<Url, UrlError> {
        let err = |p| UrlError::new(url, p);
        let (scheme, rest) = url.split_once("://").ok_or(err(UrlProblem::NoScheme))?;
        let scheme = Scheme::parse(scheme).ok_or_else(|| err(UrlProblem::Scheme(scheme.into())))?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(err(UrlProblem::Path));
        }
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => {
                let (name, pass) = u.split_once(':').unwrap_or((u, ""));
                (Some((percent_decode(name), percent_decode(pass))), h)
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport, scheme.default_port()).map_err(err)?;
        Ok(Url {
            scheme,
            user,
            host,
            port,
            path,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when the URL has none).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The path with its query, starting with `/`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// User and password from the URL, percent-decoded.
    pub fn user(&self) -> Option<(&str, &str)> {
        self.user.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `host[:port]` as sent in `Host` (the port only when not the default).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.scheme.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Scheme, host and port: what decides whether credentials may follow a
    /// redirect.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.scheme == other.scheme
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }

    /// This URL without user information.
    pub(crate) fn without_user(mut self) -> Url {
        self.user = None;
        self
    }

    /// Resolves `location` (absolute, scheme-relative `//host/…`,
    /// absolute-path or relative reference) against this URL.
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let location = location.trim();
        if location.contains("://") {
            return Url::parse(location).map(Url::without_user);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return Url::parse(&format!("{}://{rest}", self.scheme.as_str()))
                .map(Url::without_user);
        }
        let location = location.split_once('#').map_or(location, |(r, _)| r);
        if location.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(UrlError::new(location, UrlProblem::Path));
        }
        let own_path = self
            .path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p);
        let path = if location.is_empty() {
            self.path.clone()
        } else if let Some(q) = location.strip_prefix('?') {
            format!("{own_path}?{q}")
        } else {
            let (lpath, query) = match location.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (location, None),
            };
            let merged = if lpath.starts_with('/') {
                lpath.to_string()
            } else {
                let dir = own_path.rsplit_once('/').map_or("", |(d, _)| d);
                format!("{dir}/{lpath}")
            };
            let mut p = remove_dot_segments(&merged);
            if let Some(q) = query {
                p.push('?');
                p.push_str(q);
            }
            p
        };
        Ok(Url {
            path,
            user: None,
            ..self.clone()
        })
    }
}

fn split_host_port(hostport: &str, default_port: u16) -> Result<(String, u16), UrlProblem> {
    if hostport.is_empty() {
        return Err(UrlProblem::Host);
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(UrlProblem::Host)?;
        if h.is_empty()
            || !h
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(UrlProblem::Host);
        }
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p)?,
            None if after.is_empty() => default_port,
            None => return Err(UrlProblem::Host),
        };
        (h, port)
    } else {
        let (h, p) = match hostport.rsplit_once(':') {
            Some((h, p)) => (h, parse_port(p)?),
            None => (hostport, default_port),
        };
        // An IPv6 address needs its brackets.
        if h.contains(':') {
            return Err(UrlProblem::Host);
        }
        (h, p)
    };
    if host.is_empty()
        || host
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'/' | b'@' | b'[' | b']' | b'\\'))
    {
        return Err(UrlProblem::Host);
    }
    Ok((host.to_string(), port))
}

fn parse_port(p: &str) -> Result<u16, UrlProblem> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlProblem::Port);
    }
    p.parse().map_err(|_| UrlProblem::Port)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing = false;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => trailing = i == last,
            ".." => {
                out.pop();
                trailing = i == last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut p = String::with_capacity(path.len());
    for s in &out {
        p.push('/');
        p.push_str(s);
    }
    if trailing || p.is_empty() {
        p.push('/');
    }
    p
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let u = Url::parse("http://127.0.0.1:8080/a/b?x=1#frag").unwrap();
        assert_eq!(u.scheme(), Scheme::Http);
        assert_eq!(
            (u.host(), u.port(), u.path()),
            ("127.0.0.1", 8080, "/a/b?x=1")
        );
        assert_eq!(u.to_string(), "http://127.0.0.1:8080/a/b?x=1");
        let u = Url::parse("HTTPS://u%40x:p%3As@example.com").unwrap();
        assert_eq!((u.port(), u.path()), (443, "/"));
        assert_eq!(u.user(), Some(("u@x", "p:s")));
        assert!(!format!("{u:?}").contains("p:s"));
        let u = Url::parse("wss://[::1]/x").unwrap();
        assert_eq!((u.host(), u.authority()), ("::1", "[::1]".to_string()));
        assert_eq!(Url::parse("ws://h?q").unwrap().path(), "/?q");
        for (bad, why) in [
            ("ftp://x/", UrlProblem::Scheme("ftp".into())),
            ("x", UrlProblem::NoScheme),
            ("http://", UrlProblem::Host),
            ("http://h:x/", UrlProblem::Port),
            ("http://h:/", UrlProblem::Port),
            ("http://h:70000/", UrlProblem::Port),
            ("http://[::1/", UrlProblem::Host),
            ("http://[zz]/", UrlProblem::Host),
            ("http://h/a b", UrlProblem::Path),
            ("http://a b/", UrlProblem::Host),
            ("http://g:h:1/", UrlProblem::Host),
        ] {
            let e = Url::parse(bad).unwrap_err();
            assert_eq!(e.problem(), &why, "{bad}");
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn join() {
        let base = Url::parse("http://u:p@h:81/a/b/c?q=1").unwrap();
        let j = |l: &str| base.join(l).unwrap().to_string();
        assert_eq!(j("d"), "http://h:81/a/b/d");
        assert_eq!(j("./d/"), "http://h:81/a/b/d/");
        assert_eq!(j("../d"), "http://h:81/a/d");
        assert_eq!(j("../../../../d"), "http://h:81/d");
        assert_eq!(j("/x?y"), "http://h:81/x?y");
        assert_eq!(j("?z"), "http://h:81/a/b/c?z");
        assert_eq!(j(".."), "http://h:81/a/");
        assert_eq!(j("//other/p"), "http://other/p");
        assert_eq!(j("https://s.example/p#f"), "https://s.example/p");
        assert!(base.join("d").unwrap().user().is_none());
        assert!(base.join("/a b").is_err());
        let a = Url::parse("http://h/").unwrap();
        assert!(a.same_origin(&Url::parse("http://H:80/x").unwrap()));
        assert!(!a.same_origin(&Url::parse("https://h/").unwrap()));
        assert!(!a.same_origin(&Url::parse("http://h:81/").unwrap()));
    }
}
