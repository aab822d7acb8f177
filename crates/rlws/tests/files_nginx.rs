//! Files served by rlws and by nginx (Debian's nginx-light, `gzip_static
//! on`) from the same directory answer range, HEAD, conditional and
//! pre-compressed requests alike: status, `Content-Range`, length, type,
//! `Last-Modified`, encoding and bytes. The entity tags' format differs;
//! each server is asked with its own.

mod common;

use std::net::SocketAddr;

use common::{ask, Answer};
use rlws_testkit::{Nginx, TestCa};

struct Pair {
    _nginx: Nginx,
    nginx: SocketAddr,
    _ctx: rlws::Context,
    rlws: SocketAddr,
    root: std::path::PathBuf,
}

fn start() -> Pair {
    let ca = TestCa::new("rlws test CA");
    let (cert, key) = ca.leaf(&["localhost"]);
    let nginx = Nginx::start(
        &cert,
        &key,
        "include /etc/nginx/mime.types; gzip_static on; gzip_vary on;",
    );
    let root = nginx.root.clone();
    let ctx = rlws::Context::builder()
        .threads(1)
        .vhost(
            rlws::Vhost::new("localhost", "127.0.0.1:0".parse().unwrap())
                .mount(rlws::Mount::dir("/", &root)),
        )
        .start()
        .unwrap();
    let addr = ctx.vhost_addr("localhost").unwrap();
    Pair {
        nginx: SocketAddr::from(([127, 0, 0, 1], nginx.port)),
        _nginx: nginx,
        _ctx: ctx,
        rlws: addr,
        root,
    }
}

/// Both servers' answers to the same request, with the fields that must agree.
async fn both(p: &Pair, method: &str, path: &str, headers: &[(&str, &str)]) -> (Answer, Answer) {
    let n = ask(p.nginx, method, path, headers).await;
    let r = ask(p.rlws, method, path, headers).await;
    let what = format!("{method} {path} {headers:?}");
    assert_eq!(r.status, n.status, "{what}: status");
    let multipart = n
        .header("content-type")
        .unwrap_or_default()
        .starts_with("multipart/");
    let mut fields = vec!["content-range", "last-modified", "content-encoding"];
    // nginx names the variants of every file with a `.gz` sibling; rlws looks
    // for the sibling only for clients that take gzip, and so names them on
    // those answers (a cache may hand the plain bytes to anyone).
    if headers
        .iter()
        .any(|(k, v)| *k == "Accept-Encoding" && !v.contains("q=0"))
        || n.header("vary").is_none()
    {
        fields.push("vary");
    }
    if r.status != 416 && r.status != 412 {
        // Error pages differ in their text and type; multipart boundaries
        // in their length.
        fields.push("accept-ranges");
        if !multipart {
            fields.extend(["content-type", "content-length"]);
        }
    }
    for f in fields {
        assert_eq!(r.header(f), n.header(f), "{what}: {f}");
    }
    if multipart {
        assert_eq!(r.parts(), n.parts(), "{what}: parts");
        let len = r.header("content-length").and_then(|l| l.parse().ok());
        assert_eq!(len, Some(r.body.len()), "{what}: multipart length");
    } else if r.status != 416 && r.status != 412 {
        assert!(r.body == n.body, "{what}: bodies differ");
    }
    (n, r)
}

/// Dates `path` a day back, so rlws keeps it in its file cache (it reads
/// files changed in the last two seconds every time).
/// Dates a file back to one fixed second (a file and its `.gz` sibling
/// then have the same, whenever they were written).
fn settle(path: &std::path::Path) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    f.set_modified(then).unwrap();
}

fn write_files(root: &std::path::Path) -> (Vec<u8>, Vec<u8>) {
    // Bytes no range of which repeats another's, small and past the cache.
    let small: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(root.join("small.bin"), &small).unwrap();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(root.join("empty.txt"), b"").unwrap();
    // Settled files: rlws answers these from its cache.
    settle(&root.join("small.bin"));
    settle(&root.join("empty.txt"));
    (small, big)
}

#[tokio::test]
async fn ranges_match_nginx_on_small_and_large_files() {
    let p = start();
    let (small, big) = write_files(&p.root);
    for file in ["/small.bin", "/big.bin"] {
        let len = if file == "/small.bin" {
            small.len()
        } else {
            big.len()
        };
        let whole = both(&p, "GET", file, &[]).await.1;
        assert_eq!(whole.status, 200);
        assert_eq!(whole.body.len(), len);
        both(&p, "HEAD", file, &[]).await;
        for range in [
            "bytes=0-99",
            "bytes=100-",
            "bytes=-50",
            "bytes=990-5000",
            "bytes=-5000",
            "bytes=0-0",
            "Bytes=1-2",
            "bytes=2999990-",
            "bytes=5000000-",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=0-1,a",
            "bytes=-0",
            "bytes=0-1,9000000-",
            "bytes=0-9,20-29,-5",
            "bytes=500-599, 0-9",
            "bytes=0-,0-",
            "bytes=0-600,500-999",
            "items=0-1",
            "bytes = 0-1",
        ] {
            let (_, r) = both(&p, "GET", file, &[("Range", range)]).await;
            assert!([200, 206, 416].contains(&r.status), "{range}: {}", r.status);
        }
        // A range on HEAD is not one (RFC 9110: ranges are for GET).
        let head = ask(p.rlws, "HEAD", file, &[("Range", "bytes=0-1")]).await;
        assert_eq!(head.status, 200);
    }
    // One range checked against the bytes themselves, not only nginx.
    let r = ask(
        p.rlws,
        "GET",
        "/big.bin",
        &[("Range", "bytes=2500000-2600000")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert!(r.body == big[2_500_000..=2_600_000]);
    assert_eq!(
        r.header("content-range"),
        Some("bytes 2500000-2600000/3000000")
    );
    // An empty file: nothing to take a part of, so the whole of it.
    both(&p, "GET", "/empty.txt", &[("Range", "bytes=0-")]).await;
}

#[tokio::test]
async fn conditional_requests_match_nginx() {
    let p = start();
    write_files(&p.root);
    for file in ["/small.bin", "/big.bin"] {
        let n = ask(p.nginx, "GET", file, &[]).await;
        let r = ask(p.rlws, "GET", file, &[]).await;
        let lm = r
            .header("last-modified")
            .expect("Last-Modified")
            .to_string();
        assert_eq!(n.header("last-modified"), Some(lm.as_str()));
        let (n_tag, r_tag) = (
            n.header("etag").unwrap().to_string(),
            r.header("etag").unwrap().to_string(),
        );
        let earlier = "Thu, 01 Jan 2015 00:00:00 GMT";
        for h in [
            vec![("If-Modified-Since", lm.as_str())],
            vec![("If-Modified-Since", earlier)],
            vec![("If-Modified-Since", "not a date")],
            vec![("If-Unmodified-Since", earlier)],
            vec![("If-Unmodified-Since", lm.as_str())],
            vec![("If-Match", "\"nope\"")],
            vec![("If-Match", "*")],
            vec![("If-None-Match", "\"nope\"")],
            vec![("If-None-Match", "*")],
            vec![("Range", "bytes=0-9"), ("If-Range", lm.as_str())],
            vec![("Range", "bytes=0-9"), ("If-Range", earlier)],
            vec![("Range", "bytes=0-9"), ("If-Range", "\"nope\"")],
        ] {
            both(&p, "GET", file, &h).await;
        }
        // Each with its own entity tag.
        for (addr, tag) in [(p.nginx, &n_tag), (p.rlws, &r_tag)] {
            let a = ask(addr, "GET", file, &[("If-None-Match", tag)]).await;
            assert_eq!(a.status, 304, "{addr} If-None-Match");
            assert!(a.body.is_empty());
            assert_eq!(a.header("etag"), Some(tag.as_str()));
            assert_eq!(a.header("last-modified"), Some(lm.as_str()));
            let a = ask(addr, "GET", file, &[("If-Match", tag)]).await;
            assert_eq!(a.status, 200, "{addr} If-Match");
            let a = ask(
                addr,
                "GET",
                file,
                &[("Range", "bytes=0-9"), ("If-Range", tag)],
            )
            .await;
            assert_eq!(a.status, 206, "{addr} If-Range");
        }
    }
}

#[tokio::test]
async fn gzip_siblings_go_to_clients_that_take_gzip_as_with_nginx() {
    let p = start();
    let text = "hello hello hello hello\n".repeat(200);
    std::fs::write(p.root.join("page.txt"), &text).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(p.root.join("page.txt.gz"), &gz).unwrap();
    settle(&p.root.join("page.txt"));
    settle(&p.root.join("page.txt.gz"));
    let (_, r) = both(
        &p,
        "GET",
        "/page.txt",
        &[("Accept-Encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body == gz);
    let (_, r) = both(&p, "GET", "/page.txt", &[]).await;
    assert_eq!(r.header("content-encoding"), None);
    assert!(r.body == text.as_bytes());
    both(&p, "GET", "/page.txt", &[("Accept-Encoding", "gzip;q=0")]).await;
    both(&p, "HEAD", "/page.txt", &[("Accept-Encoding", "gzip")]).await;
    // A range of the compressed bytes.
    both(
        &p,
        "GET",
        "/page.txt",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")],
    )
    .await;
}
