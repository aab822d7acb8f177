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

/// Saves the files of a form into a directory with `SaveFiles`, and
/// answers with what it saved.
#[derive(Debug)]
struct Uploads {
    dir: std::path::PathBuf,
    max_total: u64,
}

#[derive(Debug)]
struct Upload {
    form: Option<rlws::Form>,
    saver: Option<rlws::SaveFiles>,
    page: String,
}

impl Upload {
    /// Feeds a piece (or the end, with `None`) to the form and the saver;
    /// a refused form takes its files with it.
    fn step(&mut self, piece: Option<&[u8]>) -> Result<(), rlws::FormError> {
        let (Some(form), Some(saver)) = (self.form.as_mut(), self.saver.as_mut()) else {
            return Ok(());
        };
        let mut on = |e: rlws::FormEvent<'_>| saver.on(&e);
        let res = match piece {
            Some(p) => form.feed(p, &mut on),
            None => match self.form.take() {
                Some(f) => f.finish(&mut on),
                None => Ok(()),
            },
        };
        res.inspect_err(|_| {
            if let Some(s) = self.saver.take() {
                s.discard();
            }
        })
    }
}

impl rlws::HttpHandler for Uploads {
    type Session = Upload;

    fn request(
        &self,
        _: &rlws::HttpHandle,
        head: &http::request::Parts,
    ) -> Result<Upload, http::Response<rlws::Body>> {
        let ct = head
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let form = rlws::Form::new(ct, rlws::FormLimits::default()).map_err(|e| e.response())?;
        Ok(Upload {
            form: Some(form),
            saver: Some(rlws::SaveFiles::new(&self.dir).max_total(self.max_total)),
            page: String::new(),
        })
    }

    fn body(
        &self,
        _: &rlws::HttpHandle,
        s: &mut Upload,
        piece: &[u8],
    ) -> Result<(), http::Response<rlws::Body>> {
        s.step(Some(piece)).map_err(|e| e.response())
    }

    fn body_complete(
        &self,
        _: &rlws::HttpHandle,
        s: &mut Upload,
    ) -> Result<http::Response<()>, http::Response<rlws::Body>> {
        s.step(None).map_err(|e| e.response())?;
        for f in s.saver.take().map(|s| s.into_saved()).unwrap_or_default() {
            let name = f.path.file_name().unwrap().to_string_lossy().to_string();
            s.page.push_str(&format!(
                "{} {} {} {} {}\n",
                f.field, f.filename, f.content_type, name, f.size
            ));
        }
        Ok(http::Response::new(()))
    }

    fn writeable(
        &self,
        _: &rlws::HttpHandle,
        s: &mut Upload,
        out: &mut bytes::BytesMut,
    ) -> rlws::Written {
        out.extend_from_slice(std::mem::take(&mut s.page).as_bytes());
        rlws::Written::Done
    }
}

/// A multipart body with one file part per `(filename, content)`.
fn files_form(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = b"--rlwsBoundary\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
        .to_vec();
    for (i, (name, data)) in files.iter().enumerate() {
        b.extend_from_slice(
            format!(
                "--rlwsBoundary\r\nContent-Disposition: form-data; name=\"f{i}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"--rlwsBoundary--\r\n");
    b
}

/// The names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn file_parts_stream_to_disk_under_safe_names_within_limits() {
    let dir = common::tempdir("form-files");
    std::fs::write(dir.join("report.pdf"), b"already here").unwrap();
    let (_ctx, addr) = serve_mounts(vec![Mount::new(
        "/up",
        Callback::new(Uploads {
            dir: dir.clone(),
            max_total: 4 << 20,
        }),
    )]);
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    let body = files_form(&[
        ("../../etc/passwd", &big),
        ("report.pdf", b"%PDF new"),
        ("report.pdf", b"%PDF newer"),
    ]);
    let a = ask_body(
        addr,
        "POST",
        "/up",
        &[("Content-Type", MP), ("Transfer-Encoding", "chunked")],
        &chunked(&body, 7000),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        String::from_utf8_lossy(&a.body),
        "f0 ../../etc/passwd application/octet-stream passwd 1500000\n\
         f1 report.pdf application/octet-stream report-1.pdf 8\n\
         f2 report.pdf application/octet-stream report-2.pdf 10\n"
    );
    assert!(std::fs::read(dir.join("passwd")).unwrap() == big);
    assert_eq!(
        std::fs::read(dir.join("report.pdf")).unwrap(),
        b"already here"
    );
    assert_eq!(
        std::fs::read(dir.join("report-2.pdf")).unwrap(),
        b"%PDF newer"
    );

    // Past the form's total, or too many files (empty ones too): 413, and
    // what it wrote is gone.
    let over = vec![b'o'; 3 << 20];
    let names_of_many: Vec<String> = (0..101).map(|i| format!("e{i}")).collect();
    let many: Vec<(&str, &[u8])> = names_of_many
        .iter()
        .map(|n| (n.as_str(), &b""[..]))
        .collect();
    for files in [&[("one.bin", &over[..]), ("two.bin", &over[..])][..], &many] {
        let body = files_form(files);
        let len = body.len().to_string();
        let a = ask_body(
            addr,
            "POST",
            "/up",
            &[("Content-Type", MP), ("Content-Length", &len)],
            &body,
        )
        .await;
        assert_eq!(a.status, 413);
        assert_eq!(
            names(&dir),
            ["passwd", "report-1.pdf", "report-2.pdf", "report.pdf"]
        );
    }

    // A client that leaves in the middle of a form leaves no file behind,
    // the ones it finished included.
    use tokio::io::AsyncWriteExt;
    let body = files_form(&[("done.bin", b"whole"), ("left.bin", &over)]);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: {MP}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(&body[..1 << 20]).await.unwrap();
    // The part exists once its first bytes are written.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !dir.join("left.bin").exists() {
        assert!(std::time::Instant::now() < deadline, "{:?}", names(&dir));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(dir.join("done.bin").exists());
    drop(s);
    while dir.join("left.bin").exists() || dir.join("done.bin").exists() {
        assert!(std::time::Instant::now() < deadline, "{:?}", names(&dir));
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Counts the requests of each connection to its mount, in the state the
/// connection keeps for the mount.
#[derive(Debug)]
struct Visits;

impl rlws::HttpHandler for Visits {
    type Session = String;

    fn request(
        &self,
        cx: &rlws::HttpHandle,
        _: &http::request::Parts,
    ) -> Result<String, http::Response<rlws::Body>> {
        use std::sync::atomic::{AtomicU32, Ordering};
        let n = cx
            .connection_state::<AtomicU32>()
            .map_or(0, |c| c.fetch_add(1, Ordering::Relaxed) + 1);
        Ok(format!("visit {n}"))
    }

    fn body_complete(
        &self,
        _: &rlws::HttpHandle,
        s: &mut String,
    ) -> Result<http::Response<()>, http::Response<rlws::Body>> {
        let mut r = http::Response::new(());
        r.headers_mut()
            .insert("content-length", http::HeaderValue::from(s.len()));
        Ok(r)
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

/// One keep-alive connection, asked one request at a time.
struct KeepAlive {
    s: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    async fn get(&mut self, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.s
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        loop {
            if let Some(end) = common::find(&self.buf, b"\r\n\r\n", 0) {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .expect("a length");
                if self.buf.len() >= end + 4 + len {
                    let body =
                        String::from_utf8_lossy(&self.buf[end + 4..end + 4 + len]).to_string();
                    self.buf.drain(..end + 4 + len);
                    let status = head[9..12].parse().unwrap();
                    return (status, body);
                }
            }
            let mut tmp = [0u8; 4096];
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), self.s.read(&mut tmp))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

#[tokio::test]
async fn a_handlers_connection_state_lives_while_requests_stay_in_its_mount() {
    let dir = common::tempdir("conn-state");
    std::fs::write(dir.join("f.txt"), b"file").unwrap();
    let (_ctx, addr) = serve_mounts(vec![
        Mount::new("/count", Callback::new(Visits)),
        Mount::new("/again", Callback::new(Visits)),
        Mount::dir("/files", &dir),
    ]);
    let connect = || async {
        KeepAlive {
            s: tokio::net::TcpStream::connect(addr).await.unwrap(),
            buf: Vec::new(),
        }
    };
    let mut c = connect().await;
    for (i, path) in ["/count", "/count/a", "/count/b?x=1"].iter().enumerate() {
        assert_eq!(c.get(path).await, (200, format!("visit {}", i + 1)));
    }
    // A second connection has a state of its own.
    let mut other = connect().await;
    assert_eq!(other.get("/count").await, (200, "visit 1".into()));
    assert_eq!(c.get("/count").await, (200, "visit 4".into()));
    // Out of the mount and back: a new state (lws replaces it).
    assert_eq!(c.get("/files/f.txt").await, (200, "file".into()));
    assert_eq!(c.get("/count").await, (200, "visit 1".into()));
    assert_eq!(c.get("/count").await, (200, "visit 2".into()));
    // Another callback mount takes the state's place, even with the same
    // handler; and a path under no mount leaves it too.
    assert_eq!(c.get("/again").await, (200, "visit 1".into()));
    assert_eq!(c.get("/count").await, (200, "visit 1".into()));
    assert_eq!(c.get("/nowhere").await.0, 404);
    assert_eq!(c.get("/count").await, (200, "visit 1".into()));
    let _ = std::fs::remove_dir_all(dir);
}
