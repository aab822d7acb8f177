//! lws' minimal-http-client-post: a multipart POST of a text field and
//! (optionally) a file, printing the response.
//!
//! `cargo run --example http_post -- URL [FILE] [--ca FILE] [-k]`

mod common;

use std::process::ExitCode;

use rlws::client::{HttpClient, Multipart, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Positional arguments: everything that is not a flag or --ca's value.
    let ca_at = args.iter().position(|a| a == "--ca").map(|i| i + 1);
    let mut plain = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with('-') && Some(*i) != ca_at)
        .map(|(_, a)| a);
    let Some(url) = plain.next() else {
        eprintln!("usage: http_post URL [FILE] [--ca FILE] [-k]");
        return ExitCode::from(2);
    };
    let file = plain.next();
    let tls = match common::tls_from_args(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut form = Multipart::new()
        .text("text", "hello from rlws")
        .text("send", "Send");
    if let Some(f) = file {
        form = match form.file("file", f) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{f}: {e}");
                return ExitCode::from(2);
            }
        };
    }
    let result = async {
        let client = HttpClient::builder().tls(tls).build()?;
        let resp = client.request(Request::post(url)?.multipart(form)).await?;
        let status = resp.status();
        Ok::<_, rlws::client::HttpError>((status, resp.text().await?))
    };
    match result.await {
        Ok((status, text)) => {
            println!("{status}\n{text}");
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("failed ({:?}): {e}", e.kind());
            ExitCode::from(1)
        }
    }
}
