//! lws' minimal-http-client, with the async API: fetches one URL and
//! prints the status, the headers and the body.
//!
//! `cargo run --example http_client -- https://example.com/ [--ca FILE] [-k]`

mod common;

use std::process::ExitCode;

use rlws::client::{HttpClient, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.iter().find(|a| !a.starts_with('-')) else {
        eprintln!("usage: http_client URL [--ca FILE] [-k]");
        return ExitCode::from(2);
    };
    let tls = match common::tls_from_args(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let client = match HttpClient::builder().tls(tls).build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let req = match Request::get(url) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match client.request(req).await {
        Ok(resp) => {
            println!("{} {:?}", resp.status(), resp.version());
            for (k, v) in resp.headers() {
                println!("{k}: {}", String::from_utf8_lossy(v.as_bytes()));
            }
            println!();
            let mut body = resp.into_body();
            let mut total = 0;
            loop {
                match body.chunk().await {
                    Ok(Some(piece)) => {
                        total += piece.len();
                        print!("{}", String::from_utf8_lossy(&piece));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("body: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
            eprintln!("\n{total} bytes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("failed ({:?}): {e}", e.kind());
            ExitCode::from(1)
        }
    }
}
