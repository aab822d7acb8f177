//! `protocol-post-demo`: lws' POST form demo as an HTTP callback handler.
//! A form (urlencoded, or multipart with a file of at most 100 KB) posted
//! to it is answered with a page of what arrived.

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};

use crate::site::{
    text, Body, Form, FormError, FormEvent, FormLimits, HttpHandle, HttpHandler, Written,
};

/// `protocol-post-demo`: lws' POST form demo (`/formtest` on lws' test
/// page), as an HTTP handler for a `callback://protocol-post-demo` mount.
#[derive(Debug, Default)]
#[doc(alias = "protocol-post-demo")]
pub struct PostDemo;

/// What arrived so far of one form, and the page once it is made.
#[derive(Debug)]
pub struct PostSession {
    form: Option<Form>,
    fields: Vec<(String, String)>,
    /// Field name, file name, bytes.
    files: Vec<(String, String, u64)>,
    page: Option<Bytes>,
}

/// The demo's file limit, as lws' page says.
const MAX_FILE: u64 = 100 * 1000;

fn collect<'a>(
    fields: &'a mut Vec<(String, String)>,
    files: &'a mut Vec<(String, String, u64)>,
) -> impl FnMut(FormEvent<'_>) -> Result<(), FormError> + 'a {
    move |e| {
        match e {
            FormEvent::Field { name, value } => fields.push((name.into(), value.into())),
            FormEvent::FileStart { name, filename, .. } => {
                files.push((name.into(), filename.into(), 0));
            }
            FormEvent::FileData(_) => {}
            FormEvent::FileEnd { size } => {
                if let Some(f) = files.last_mut() {
                    f.2 = size;
                }
            }
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl HttpHandler for PostDemo {
    type Session = PostSession;

    fn request(&self, _: &HttpHandle, head: &Parts) -> Result<PostSession, Response<Body>> {
        if head.method != Method::POST {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "POST a form here");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Err(r);
        }
        let ct = head
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let limits = FormLimits {
            max_file: MAX_FILE,
            max_fields: 16,
            max_field: 16 * 1024,
            ..FormLimits::default()
        };
        let form = Form::new(ct, limits).map_err(|e| e.response())?;
        Ok(PostSession {
            form: Some(form),
            fields: Vec::new(),
            files: Vec::new(),
            page: None,
        })
    }

    fn body(
        &self,
        _: &HttpHandle,
        s: &mut PostSession,
        piece: &[u8],
    ) -> Result<(), Response<Body>> {
        let Some(form) = s.form.as_mut() else {
            return Ok(());
        };
        let mut on = collect(&mut s.fields, &mut s.files);
        form.feed(piece, &mut on).map_err(|e| e.response())
    }

    fn body_complete(
        &self,
        _: &HttpHandle,
        s: &mut PostSession,
    ) -> Result<Response<()>, Response<Body>> {
        if let Some(form) = s.form.take() {
            let mut on = collect(&mut s.fields, &mut s.files);
            form.finish(&mut on).map_err(|e| e.response())?;
        }
        let mut page = String::from(
            "<!doctype html><html><head><meta charset=utf-8><title>Form results</title></head><body>\
             <h1>Form results (after urldecoding)</h1><table><tr><td><b>Name</b></td><td><b>Length</b></td><td><b>Value</b></td></tr>",
        );
        for (k, v) in &s.fields {
            page.push_str(&format!(
                "<tr><td><b>{}</b></td><td>{}</td><td>{}</td></tr>",
                escape(k),
                v.len(),
                escape(v)
            ));
        }
        page.push_str("</table>");
        for (k, name, size) in &s.files {
            page.push_str(&format!(
                "<p>File upload <b>{}</b>: {} ({size} bytes)</p>",
                escape(k),
                escape(name)
            ));
        }
        page.push_str("</body></html>\n");
        let len = page.len();
        s.page = Some(Bytes::from(page));
        let mut r = Response::new(());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        Ok(r)
    }

    fn writeable(&self, _: &HttpHandle, s: &mut PostSession, out: &mut BytesMut) -> Written {
        if let Some(p) = s.page.take() {
            out.extend_from_slice(&p);
        }
        Written::Done
    }
}
