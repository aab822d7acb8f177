//! Form bodies (lws' "spa", `lws_spa_*`): `application/x-www-form-urlencoded`
//! and `multipart/form-data`, parsed as their pieces arrive, text fields
//! kept and file parts handed on as they stream, with size limits.

use http::StatusCode;

use super::file::percent_decode_bytes;
use super::response::{text, Body};

/// Limits of a [`Form`].
#[derive(Debug, Clone)]
pub struct FormLimits {
    /// Text fields at most (default 64).
    pub max_fields: usize,
    /// Bytes of one text field's value at most (default 64 KiB).
    pub max_field: usize,
    /// Bytes of one file part at most (default 100 MiB).
    pub max_file: u64,
    /// Bytes of a part's headers at most (default 8 KiB).
    pub max_part_head: usize,
}

impl Default for FormLimits {
    fn default() -> Self {
        FormLimits {
            max_fields: 64,
            max_field: 64 * 1024,
            max_file: 100 << 20,
            max_part_head: 8 * 1024,
        }
    }
}

/// Why a form body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// Not a form: the `Content-Type` is neither form type (`415`).
    Unsupported(String),
    /// Malformed (`400`).
    Malformed(&'static str),
    /// Past a limit (`413`).
    TooLarge(&'static str),
    /// Could not be stored (`500`): a file part could not be written.
    Storage(String),
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormError::Unsupported(t) => write!(f, "not a form body: {t:?}"),
            FormError::Malformed(w) => write!(f, "malformed form: {w}"),
            FormError::TooLarge(w) => write!(f, "form too large: {w}"),
            FormError::Storage(w) => write!(f, "form not stored: {w}"),
        }
    }
}

impl std::error::Error for FormError {}

impl FormError {
    /// The answer to give: `415`, `400` or `413` with the reason, or `500`.
    pub fn response(&self) -> http::Response<Body> {
        let status = match self {
            FormError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FormError::Malformed(_) => StatusCode::BAD_REQUEST,
            FormError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // The reason names server paths: it goes to the log, not the client.
            FormError::Storage(_) => {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "form not stored")
            }
        };
        text(status, &self.to_string())
    }
}

/// What a [`Form`] reports as it parses.
#[derive(Debug, PartialEq, Eq)]
pub enum FormEvent<'a> {
    /// A text field, whole.
    Field {
        /// The field's name.
        name: &'a str,
        /// Its value, decoded.
        value: &'a str,
    },
    /// A file part starts.
    FileStart {
        /// The field's name.
        name: &'a str,
        /// The file name the client gave (not a path to trust).
        filename: &'a str,
        /// Its `Content-Type` (`application/octet-stream` when none).
        content_type: &'a str,
    },
    /// Bytes of the current file part.
    FileData(&'a [u8]),
    /// The current file part ended.
    FileEnd {
        /// Its length in bytes.
        size: u64,
    },
}

enum Kind {
    Urlencoded { buf: Vec<u8> },
    Multipart(Multipart),
}

/// A form body parser (lws' `lws_spa`): feed it the body's pieces, get
/// fields and file data through a callback.
pub struct Form {
    kind: Kind,
    limits: FormLimits,
    fields: usize,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Form")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl Form {
    /// A parser for a body of `content_type`.
    #[doc(alias = "lws_spa_create")]
    pub fn new(content_type: &str, limits: FormLimits) -> Result<Form, FormError> {
        let mut params = content_type.split(';');
        let mime = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let kind = match mime.as_str() {
            "application/x-www-form-urlencoded" => Kind::Urlencoded { buf: Vec::new() },
            "multipart/form-data" => {
                let boundary = params
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                    .map(|(_, v)| v.trim().trim_matches('"').to_string())
                    .filter(|b| !b.is_empty() && b.len() <= 70)
                    .ok_or(FormError::Malformed("no multipart boundary"))?;
                Kind::Multipart(Multipart::new(&boundary))
            }
            _ => return Err(FormError::Unsupported(content_type.to_string())),
        };
        Ok(Form {
            kind,
            limits,
            fields: 0,
        })
    }

    /// Parses the next piece of the body.
    #[doc(alias = "lws_spa_process")]
    pub fn feed(
        &mut self,
        piece: &[u8],
        on: &mut dyn FnMut(FormEvent<'_>) -> Result<(), FormError>,
    ) -> Result<(), FormError> {
        match &mut self.kind {
            Kind::Urlencoded { buf } => {
                let max = self.limits.max_fields * (self.limits.max_field + 256);
                if buf.len() + piece.len() > max {
                    return Err(FormError::TooLarge("urlencoded body"));
                }
                buf.extend_from_slice(piece);
                Ok(())
            }
            Kind::Multipart(m) => m.feed(piece, &self.limits, &mut self.fields, on),
        }
    }

    /// The body ended: the last fields, or why it is incomplete.
    #[doc(alias = "lws_spa_finalize")]
    pub fn finish(
        mut self,
        on: &mut dyn FnMut(FormEvent<'_>) -> Result<(), FormError>,
    ) -> Result<(), FormError> {
        match &mut self.kind {
            Kind::Urlencoded { buf } => {
                for pair in buf.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
                    self.fields += 1;
                    if self.fields > self.limits.max_fields {
                        return Err(FormError::TooLarge("too many fields"));
                    }
                    let (k, v) = match pair.iter().position(|&b| b == b'=') {
                        Some(i) => (&pair[..i], &pair[i + 1..]),
                        None => (pair, &b""[..]),
                    };
                    let (k, v) = (url_decode(k)?, url_decode(v)?);
                    if v.len() > self.limits.max_field {
                        return Err(FormError::TooLarge("field value"));
                    }
                    on(FormEvent::Field {
                        name: &k,
                        value: &v,
                    })?;
                }
                Ok(())
            }
            Kind::Multipart(m) => {
                if m.state == State::End {
                    Ok(())
                } else {
                    Err(FormError::Malformed("multipart body ended early"))
                }
            }
        }
    }
}

/// `+` as space and `%XX` escapes, to UTF-8.
fn url_decode(b: &[u8]) -> Result<String, FormError> {
    let out = percent_decode_bytes(b, true).ok_or(FormError::Malformed("bad % escape"))?;
    String::from_utf8(out).map_err(|_| FormError::Malformed("field not UTF-8"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: `--` (the end) or CRLF (a part).
    AfterDelimiter,
    /// A part's headers, up to an empty line.
    Head,
    /// A part's content, up to the next delimiter.
    Content,
    /// After the closing delimiter: the epilogue is ignored.
    End,
}

/// What the current part is.
enum Part {
    Field { name: String, value: Vec<u8> },
    File { size: u64 },
}

struct Multipart {
    /// `\r\n--boundary`: what ends a part's content.
    delim: Vec<u8>,
    state: State,
    buf: Vec<u8>,
    part: Option<Part>,
}

impl Multipart {
    fn new(boundary: &str) -> Self {
        Multipart {
            delim: format!("\r\n--{boundary}").into_bytes(),
            state: State::Preamble,
            // The preamble's first delimiter may come without the CRLF.
            buf: b"\r\n".to_vec(),
            part: None,
        }
    }

    fn feed(
        &mut self,
        piece: &[u8],
        limits: &FormLimits,
        fields: &mut usize,
        on: &mut dyn FnMut(FormEvent<'_>) -> Result<(), FormError>,
    ) -> Result<(), FormError> {
        self.buf.extend_from_slice(piece);
        let mut at = 0;
        loop {
            let rest = &self.buf[at..];
            match self.state {
                State::Preamble => match find(rest, &self.delim) {
                    Some(i) => {
                        at += i + self.delim.len();
                        self.state = State::AfterDelimiter;
                    }
                    None => {
                        // Keep what could start a delimiter.
                        at += rest.len().saturating_sub(self.delim.len());
                        if at > 64 * 1024 {
                            return Err(FormError::TooLarge("multipart preamble"));
                        }
                        break;
                    }
                },
                State::AfterDelimiter => {
                    if rest.len() < 2 {
                        break;
                    }
                    if rest.starts_with(b"--") {
                        self.state = State::End;
                        at = self.buf.len();
                    } else if rest.starts_with(b"\r\n") {
                        at += 2;
                        self.state = State::Head;
                    } else {
                        return Err(FormError::Malformed("bad multipart delimiter"));
                    }
                }
                State::Head => match find(rest, b"\r\n\r\n") {
                    Some(i) => {
                        let head = &rest[..i];
                        if head.len() > limits.max_part_head {
                            return Err(FormError::TooLarge("part headers"));
                        }
                        let (name, filename, ctype) = part_head(head)?;
                        at += i + 4;
                        self.part = Some(match filename {
                            Some(f) => {
                                on(FormEvent::FileStart {
                                    name: &name,
                                    filename: &f,
                                    content_type: ctype
                                        .as_deref()
                                        .unwrap_or("application/octet-stream"),
                                })?;
                                Part::File { size: 0 }
                            }
                            None => {
                                *fields += 1;
                                if *fields > limits.max_fields {
                                    return Err(FormError::TooLarge("too many fields"));
                                }
                                Part::Field {
                                    name,
                                    value: Vec::new(),
                                }
                            }
                        });
                        self.state = State::Content;
                    }
                    None => {
                        if rest.len() > limits.max_part_head {
                            return Err(FormError::TooLarge("part headers"));
                        }
                        break;
                    }
                },
                State::Content => {
                    let (data, ended) = match find(rest, &self.delim) {
                        Some(i) => (&rest[..i], true),
                        // All but what could be the start of a delimiter.
                        None => (
                            &rest[..rest.len().saturating_sub(self.delim.len() - 1)],
                            false,
                        ),
                    };
                    let n = data.len();
                    match &mut self.part {
                        Some(Part::Field { value, .. }) => {
                            if value.len() + n > limits.max_field {
                                return Err(FormError::TooLarge("field value"));
                            }
                            value.extend_from_slice(data);
                        }
                        Some(Part::File { size }) => {
                            *size += n as u64;
                            if *size > limits.max_file {
                                return Err(FormError::TooLarge("file part"));
                            }
                            if n > 0 {
                                on(FormEvent::FileData(data))?;
                            }
                        }
                        None => return Err(FormError::Malformed("content without a part")),
                    }
                    at += n;
                    if !ended {
                        break;
                    }
                    at += self.delim.len();
                    match self.part.take() {
                        Some(Part::Field { name, value }) => {
                            let value = String::from_utf8(value)
                                .map_err(|_| FormError::Malformed("field not UTF-8"))?;
                            on(FormEvent::Field {
                                name: &name,
                                value: &value,
                            })?;
                        }
                        Some(Part::File { size }) => on(FormEvent::FileEnd { size })?,
                        None => {}
                    }
                    self.state = State::AfterDelimiter;
                }
                State::End => {
                    at = self.buf.len();
                    break;
                }
            }
        }
        self.buf.drain(..at.min(self.buf.len()));
        Ok(())
    }
}

/// A part's field name, file name (for file parts) and type.
fn part_head(head: &[u8]) -> Result<(String, Option<String>, Option<String>), FormError> {
    let head =
        std::str::from_utf8(head).map_err(|_| FormError::Malformed("part headers not UTF-8"))?;
    let mut name = None;
    let mut filename = None;
    let mut ctype = None;
    for line in head.split("\r\n") {
        let Some((k, v)) = line.split_once(':') else {
            return Err(FormError::Malformed("bad part header"));
        };
        let k = k.trim();
        if k.eq_ignore_ascii_case("content-disposition") {
            let mut it = params(v);
            if !it
                .next()
                .is_some_and(|(d, _)| d.eq_ignore_ascii_case("form-data"))
            {
                return Err(FormError::Malformed("part is not form-data"));
            }
            for (pk, pv) in it {
                if pk.eq_ignore_ascii_case("name") {
                    name = Some(pv);
                } else if pk.eq_ignore_ascii_case("filename") {
                    filename = Some(pv);
                }
            }
        } else if k.eq_ignore_ascii_case("content-type") {
            ctype = Some(v.trim().to_string());
        }
    }
    let name = name.ok_or(FormError::Malformed("part without a name"))?;
    Ok((name, filename, ctype))
}

/// `value; k=v; k="quoted; v"` as (`value`, "") then (k, v) pairs.
fn params(v: &str) -> impl Iterator<Item = (String, String)> + '_ {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in v.chars() {
        match c {
            _ if escaped => {
                cur.push(c);
                escaped = false;
            }
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|p| match p.split_once('=') {
        Some((k, v)) => (k.trim().to_string(), v.trim().to_string()),
        None => (p.trim().to_string(), String::new()),
    })
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    let first = n[0];
    let mut i = 0;
    while i + n.len() <= h.len() {
        match h[i..h.len() - n.len() + 1].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &h[i..i + n.len()] == n {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event as text, the body fed in pieces of `step` bytes.
    fn parse(
        ct: &str,
        body: &[u8],
        step: usize,
        limits: FormLimits,
    ) -> Result<Vec<String>, FormError> {
        let mut f = Form::new(ct, limits)?;
        let mut ev = Vec::new();
        let mut on = |e: FormEvent<'_>| {
            ev.push(match e {
                FormEvent::Field { name, value } => format!("{name}={value}"),
                FormEvent::FileStart {
                    name,
                    filename,
                    content_type,
                } => {
                    format!("file {name} {filename} {content_type}")
                }
                FormEvent::FileData(d) => format!("data {}", String::from_utf8_lossy(d)),
                FormEvent::FileEnd { size } => format!("end {size}"),
            });
            Ok(())
        };
        for c in body.chunks(step.max(1)) {
            f.feed(c, &mut on)?;
        }
        f.finish(&mut on)?;
        // File data may come in several pieces: join them.
        let mut joined: Vec<String> = Vec::new();
        for e in ev {
            match (joined.last_mut(), e.strip_prefix("data ")) {
                (Some(last), Some(d)) if last.starts_with("data ") => last.push_str(d),
                _ => joined.push(e),
            }
        }
        Ok(joined)
    }

    const MP: &str = "multipart/form-data; boundary=XyZ";
    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nGive me \r\n-- some text\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a;b.txt\"\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\r\n--XyZ--\r\nepilogue";

    #[test]
    fn multipart_fields_and_files_in_any_pieces() {
        let want = vec![
            "text=Give me \r\n-- some text".to_string(),
            "file file a;b.txt text/plain".to_string(),
            "data line 1\r\nline 2".to_string(),
            "end 14".to_string(),
        ];
        for step in [1, 2, 3, 7, 16, 1000] {
            assert_eq!(
                parse(MP, BODY, step, FormLimits::default()).unwrap(),
                want,
                "step {step}"
            );
        }
        // Without a preamble, the first delimiter has no CRLF before it.
        let body = &BODY[10..];
        assert_eq!(parse(MP, body, 5, FormLimits::default()).unwrap(), want);
    }

    #[test]
    fn urlencoded_fields() {
        let got = parse(
            "application/x-www-form-urlencoded",
            b"text=Give+me+some%20text&send=Send&empty=&flag",
            3,
            FormLimits::default(),
        )
        .unwrap();
        assert_eq!(
            got,
            ["text=Give me some text", "send=Send", "empty=", "flag="]
        );
    }

    #[test]
    fn bad_forms_and_limits() {
        let d = FormLimits::default;
        assert!(matches!(
            parse("text/plain", b"", 1, d()),
            Err(FormError::Unsupported(_))
        ));
        assert_eq!(
            parse("multipart/form-data", b"", 1, d()),
            Err(FormError::Malformed("no multipart boundary"))
        );
        assert_eq!(
            parse(MP, &BODY[..BODY.len() - 20], 4, d()),
            Err(FormError::Malformed("multipart body ended early"))
        );
        assert_eq!(
            parse("application/x-www-form-urlencoded", b"a=%zz", 1, d()),
            Err(FormError::Malformed("bad % escape"))
        );
        let small = FormLimits { max_file: 5, ..d() };
        assert_eq!(
            parse(MP, BODY, 3, small),
            Err(FormError::TooLarge("file part"))
        );
        let small = FormLimits {
            max_field: 5,
            ..d()
        };
        assert_eq!(
            parse(MP, BODY, 3, small),
            Err(FormError::TooLarge("field value"))
        );
        let small = FormLimits {
            max_fields: 1,
            ..d()
        };
        assert_eq!(
            parse("application/x-www-form-urlencoded", b"a=1&b=2", 3, small),
            Err(FormError::TooLarge("too many fields"))
        );
        let bad = b"--XyZ\r\nX-Nothing: here\r\n\r\nv\r\n--XyZ--";
        assert_eq!(
            parse(MP, bad, 2, d()),
            Err(FormError::Malformed("part without a name"))
        );
        assert_eq!(FormError::TooLarge("x").response().status(), 413);
        assert_eq!(FormError::Malformed("x").response().status(), 400);
    }
}
