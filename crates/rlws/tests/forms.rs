//! HTTP callback handlers with lws' POST demo (`protocol-post-demo`):
//! urlencoded and multipart forms as lws' test page sends them, a file
//! part, and bodies that are too large, malformed or not forms at all.

mod common;

use common::{ask, ask_body, chunked, serve_mounts};
use rlws::{Callback, Mount};

fn serve() -> (rlws::Context, std::net::SocketAddr) {
    serve_mounts(vec![Mount::new(
        "/formtest",
        Callback::new(rlws::builtin::PostDemo),
    )])
}

fn multipart(file: &[u8]) -> Vec<u8> {
    let mut b = b"--rlwsBoundary\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nGive me <some> text\r\n\
                  --rlwsBoundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
                  Content-Type: text/plain\r\n\r\n"
        .to_vec();
    b.extend_from_slice(file);
    b.extend_from_slice(b"\r\n--rlwsBoundary\r\nContent-Disposition: form-data; name=\"upload\"\r\n\r\nUpload\r\n--rlwsBoundary--\r\n");
    b
}

const MP: &str = "multipart/form-data; boundary=rlwsBoundary";

#[tokio::test]
async fn the_post_demo_answers_both_forms_of_lws_test_page() {
    let (_ctx, addr) = serve();
    let body = b"text=Give+me+some+text&send=Send+the+form";
    let len = body.len().to_string();
    let a = ask_body(
        addr,
        "POST",
        "/formtest",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", &len),
        ],
        body,
    )
    .await;
    assert_eq!(a.status, 200);
    let page = String::from_utf8(a.body).unwrap();
    assert!(
        page.contains("<td><b>text</b></td><td>17</td><td>Give me some text</td>"),
        "{page}"
    );
    assert!(
        page.contains("<td><b>send</b></td><td>13</td><td>Send the form</td>"),
        "{page}"
    );
    // Multipart with a 60 kB file, sent chunked in pieces.
    let file: Vec<u8> = (0..60_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let body = multipart(&file);
    let chunked = chunked(&body, 1000);
    let a = ask_body(
        addr,
        "POST",
        "/formtest",
        &[("Content-Type", MP), ("Transfer-Encoding", "chunked")],
        &chunked,
    )
    .await;
    assert_eq!(a.status, 200);
    let page = String::from_utf8(a.body).unwrap();
    assert!(
        page.contains("Give me &lt;some&gt; text"),
        "escaped: {page}"
    );
    assert!(
        page.contains("<b>file</b>: notes.txt (60000 bytes)"),
        "{page}"
    );
    assert!(
        page.contains("<td><b>upload</b></td><td>6</td><td>Upload</td>"),
        "{page}"
    );
}

#[tokio::test]
async fn bad_forms_get_400_413_415_and_405() {
    let (_ctx, addr) = serve();
    let big = multipart(&vec![b'x'; 150_000]);
    let len = big.len().to_string();
    let a = ask_body(
        addr,
        "POST",
        "/formtest",
        &[("Content-Type", MP), ("Content-Length", &len)],
        &big,
    )
    .await;
    assert_eq!(a.status, 413, "{}", String::from_utf8_lossy(&a.body));
    let bad = b"--rlwsBoundary\r\nContent-Disposition: form-data\r\n\r\nv\r\n--rlwsBoundary--\r\n";
    let len = bad.len().to_string();
    let a = ask_body(
        addr,
        "POST",
        "/formtest",
        &[("Content-Type", MP), ("Content-Length", &len)],
        bad,
    )
    .await;
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
    let cut = &multipart(b"abc")[..60];
    let len = cut.len().to_string();
    let a = ask_body(
        addr,
        "POST",
        "/formtest",
        &[("Content-Type", MP), ("Content-Length", &len)],
        cut,
    )
    .await;
    assert_eq!(a.status, 400);
    let a = ask_body(
        addr,
        "POST",
        "/formtest",
        &[("Content-Type", "text/plain"), ("Content-Length", "2")],
        b"hi",
    )
    .await;
    assert_eq!(a.status, 415);
    let a = ask(addr, "GET", "/formtest", &[]).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("POST"));
    // The server is fine after all that.
    let body = b"text=ok";
    let a = ask_body(
        addr,
        "POST",
        "/formtest/sub",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "7"),
        ],
        body,
    )
    .await;
    assert_eq!(a.status, 200);
}

/// Answers with where the request came from and where it went.
#[derive(Debug)]
struct Whoami;

impl rlws::HttpHandler for Whoami {
    type Session = String;

    fn request(
        &self,
        cx: &rlws::HttpHandle,
        head: &http::request::Parts,
    ) -> Result<String, http::Response<rlws::Body>> {
        Ok(format!(
            "{} {} from {} tls={}",
            head.method,
            cx.path_in_mount(),
            cx.peer().map(|p| p.ip().to_string()).unwrap_or_default(),
            cx.is_tls()
        ))
    }

    fn body_complete(
        &self,
        _: &rlws::HttpHandle,
        _: &mut String,
    ) -> Result<http::Response<()>, http::Response<rlws::Body>> {
        Ok(http::Response::new(()))
    }

    fn writeable(
        &self,
        _: &rlws::HttpHandle,
        s: &mut String,
        out: &mut bytes::BytesMut,
    ) -> rlws::Written {
        out.extend_from_slice(std::mem::take(s).as_bytes());
        rlws::Written::Done
    }
}

#[tokio::test]
async fn a_handler_of_its_own_sees_the_request_its_path_and_peer() {
    let (_ctx, addr) = serve_mounts(vec![Mount::new("/who", Callback::new(Whoami))]);
    let a = ask(addr, "DELETE", "/who/am/i?x", &[]).await;
    assert_eq!(a.status, 200);
    // No length given: chunked.
    assert_eq!(a.header("transfer-encoding"), Some("chunked"));
    assert_eq!(a.body, b"DELETE /am/i from 127.0.0.1 tls=false");
}
