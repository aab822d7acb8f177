//! Files from zip archives (lws' fops-zip) with lws' own `candide.zip`
//! (Debian's libwebsockets-test-server) and curl: gzip passthrough of a
//! deflated member, inflating for clients without gzip, stored members,
//! missing ones, validators, and an archive as a mount's origin.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use common::{ask, serve_mounts, tempdir};
use rlws::Mount;

const DATA: &str = "/usr/share/libwebsockets-test-server";

fn candide() -> Vec<u8> {
    let p = Path::new(DATA).join("candide.zip");
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: apt-get install libwebsockets-test-server (scripts/install-test-deps.sh does)",
            p.display()
        )
    })
}

/// The raw deflate stream of the archive's first member, from its local
/// header (APPNOTE 4.3.7), and that member's CRC-32 and size.
fn first_member(zip: &[u8]) -> (Vec<u8>, u32, u32) {
    let u16_at = |o: usize| u16::from_le_bytes([zip[o], zip[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(zip[o..o + 4].try_into().unwrap());
    assert_eq!(u32_at(0), 0x0403_4b50);
    assert_eq!(u16_at(8), 8, "deflated");
    let (crc, csize, size) = (u32_at(14), u32_at(18) as usize, u32_at(22));
    let at = 30 + u16_at(26) + u16_at(28);
    (zip[at..at + csize].to_vec(), crc, size)
}

/// curl's output and response head for `url`.
fn curl(args: &[&str], url: &str) -> (Vec<u8>, String) {
    let dir = tempdir("zip-curl");
    let head = dir.join("head");
    let out = Command::new("curl")
        .args(["-s", "-S", "-D"])
        .arg(&head)
        .args(args)
        .arg(url)
        .output()
        .expect("curl: apt-get install curl");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(&head).unwrap().to_ascii_lowercase();
    (out.stdout, head)
}

#[tokio::test]
async fn candide_zip_members_as_gzip_inflated_and_missing() {
    let zip = candide();
    let (deflated, crc, size) = first_member(&zip);
    let mut text = Vec::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_end(&mut text)
        .unwrap();
    assert_eq!(text.len(), size as usize);
    let (_ctx, addr) = serve_mounts(vec![Mount::dir("/", DATA)]);
    let url = format!("http://{addr}/candide.zip/candide.html");
    // A client taking gzip gets the member's own deflate stream, wrapped.
    let (raw, head) = curl(&["-H", "Accept-Encoding: gzip"], &url);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", raw.len())),
        "{head}"
    );
    assert_eq!(&raw[..3], &[0x1f, 0x8b, 8]);
    assert!(
        raw[10..raw.len() - 8] == deflated[..],
        "the deflate bytes are the archive's"
    );
    assert_eq!(&raw[raw.len() - 8..raw.len() - 4], &crc.to_le_bytes());
    assert_eq!(&raw[raw.len() - 4..], &size.to_le_bytes());
    // curl --compressed decodes it to the text.
    let (decoded, _) = curl(&["--compressed"], &url);
    assert!(decoded == text);
    // Without gzip: inflated while sent.
    let (plain, head) = curl(&[], &url);
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", text.len())),
        "{head}"
    );
    assert!(plain == text);
    // A deflated image, and members that are not there.
    let (jpg, head) = curl(&[], &format!("http://{addr}/candide.zip/images/001_th.jpg"));
    assert!(head.contains("content-type: image/jpeg"), "{head}");
    assert_eq!(jpg.len(), 59847);
    assert_eq!(&jpg[..2], &[0xff, 0xd8]);
    for missing in [
        "/candide.zip/nothing.html",
        "/candide.zip/images/",
        "/candide.zip/",
        "/nope.zip/x",
    ] {
        let a = ask(addr, "GET", missing, &[]).await;
        assert_eq!(a.status, 404, "{missing}");
    }
    // Validators: each representation its own entity tag.
    let a = ask(addr, "GET", "/candide.zip/candide.html", &[]).await;
    let etag = a.header("etag").unwrap().to_string();
    let g = ask(
        addr,
        "GET",
        "/candide.zip/candide.html",
        &[("Accept-Encoding", "gzip")],
    )
    .await;
    assert_ne!(g.header("etag"), Some(etag.as_str()));
    let a = ask(
        addr,
        "GET",
        "/candide.zip/candide.html",
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(a.status, 304);
    assert!(a.header("last-modified").is_some());
    // HEAD: the length without the body.
    let h = ask(addr, "HEAD", "/candide.zip/candide.html", &[]).await;
    assert_eq!(h.header("content-length"), Some(&*text.len().to_string()));
    assert!(h.body.is_empty());
}

#[tokio::test]
async fn stored_members_default_documents_and_an_archive_as_the_origin() {
    let dir = tempdir("zip-stored");
    let zip = dir.join("site.zip");
    // Python's zipfile writes a stored archive with a directory.
    let py = format!(
        "import zipfile\nz = zipfile.ZipFile({:?}, 'w', zipfile.ZIP_STORED)\n\
         z.writestr('index.html', '<p>top</p>')\nz.writestr('docs/index.html', '<p>docs</p>')\n\
         z.writestr('docs/a.css', 'p {{}}')\nz.writestr('big.bin', bytes(range(256)) * 4000)\nz.close()\n",
        zip.to_str().unwrap()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&py)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(dir.join("broken.zip"), b"PK\x03\x04 but nothing after").unwrap();
    let (_ctx, addr) = serve_mounts(vec![Mount::dir("/files", &dir), Mount::dir("/site", &zip)]);
    for (path, want) in [
        ("/files/site.zip/index.html", &b"<p>top</p>"[..]),
        ("/files/site.zip/docs/", b"<p>docs</p>"),
        ("/files/site.zip/docs/a.css", b"p {}"),
        ("/site/", b"<p>top</p>"),
        ("/site/docs/", b"<p>docs</p>"),
    ] {
        let a = ask(addr, "GET", path, &[("Accept-Encoding", "gzip")]).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.body, want, "{path}");
        assert_eq!(a.header("content-encoding"), None, "stored: {path}");
    }
    let a = ask(addr, "GET", "/site/docs/a.css", &[]).await;
    assert_eq!(a.header("content-type"), Some("text/css"));
    let a = ask(addr, "GET", "/site/big.bin", &[]).await;
    let want: Vec<u8> = (0..4000).flat_map(|_| 0..=255u8).collect();
    assert!(a.body == want);
    let a = ask(addr, "GET", "/files/broken.zip/x", &[]).await;
    assert_eq!(a.status, 500);
    // The archive itself is still a file to download.
    let a = ask(addr, "GET", "/files/site.zip", &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, std::fs::read(&zip).unwrap());
}
