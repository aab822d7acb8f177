//! lws' minimal-http-client-multi, in the lws model: 8 requests to one URL
//! started on a Context, answered through HttpHandler callbacks on its
//! service threads; with `--pipeline` they share connections (h1: queued
//! on one connection in order; h2: streams on one connection), with
//! `--post` each is a multipart POST, with `--stagger` they start 100 ms
//! apart. Prints each result and a line such as
//! `8 transactions on 1 connection`; exits 0 when all 8 succeeded.
//!
//! `cargo run --example http_client_multi -- URL [--pipeline] [--post] [--stagger] [--h1] [--ca FILE] [-k]`

mod common;

use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use rlws::client::{
    Abort, HttpClient, HttpCx, HttpError, HttpHandler, HttpVersion, Multipart, Request,
    ResponseHead,
};

/// How request `n` ended: status, bytes, connection; or why it failed.
type Outcome = (usize, Result<(u16, usize, u64), String>);

/// Reports how each request ended.
struct Report {
    done: mpsc::Sender<Outcome>,
}

/// Per request: its number, its status, the bytes received.
struct Req {
    n: usize,
    status: u16,
    bytes: usize,
    conn: u64,
}

impl HttpHandler for Report {
    type Session = Req;

    fn established(
        &self,
        _cx: &mut HttpCx<'_>,
        r: &mut Req,
        head: &ResponseHead<'_>,
    ) -> Result<(), Abort> {
        r.status = head.status.as_u16();
        r.conn = head.connection.id;
        Ok(())
    }

    fn receive(&self, _cx: &mut HttpCx<'_>, r: &mut Req, data: &[u8]) -> Result<(), Abort> {
        r.bytes += data.len();
        Ok(())
    }

    fn connection_error(&self, _cx: &mut HttpCx<'_>, r: &mut Req, e: &HttpError) {
        let _ = self.done.send((r.n, Err(e.to_string())));
    }

    fn closed(&self, _cx: &mut HttpCx<'_>, r: &mut Req, e: Option<&HttpError>) {
        let _ = self.done.send((
            r.n,
            match e {
                None => Ok((r.status, r.bytes, r.conn)),
                Some(e) => Err(e.to_string()),
            },
        ));
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let Some(url) = args
        .iter()
        .find(|a| !a.starts_with('-') && a.contains("://"))
        .cloned()
    else {
        eprintln!("usage: http_client_multi URL [--pipeline] [--post] [--stagger] [--h1] [--ca FILE] [-k]");
        return ExitCode::from(2);
    };
    let tls = match common::tls_from_args(&args) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let version = if flag("--h1") {
        HttpVersion::Http1
    } else {
        HttpVersion::Auto
    };
    let client = match HttpClient::builder()
        .tls(tls)
        .share(flag("--pipeline"))
        .version(version)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let ctx = match rlws::Context::builder()
        .threads(1)
        .http_client(client)
        .start()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (tx, rx) = mpsc::channel();
    let report = Arc::new(Report { done: tx });
    for n in 0..8 {
        if flag("--stagger") && n > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let req = match Request::get(&url) {
            Ok(r) if flag("--post") => {
                let form = Multipart::new()
                    .text("text", &format!("request {n}"))
                    .text("send", "Send");
                Ok(Request::new(http::Method::POST, &url)
                    .unwrap_or(r)
                    .multipart(form))
            }
            other => other.map_err(HttpError::from),
        };
        let session = Req {
            n,
            status: 0,
            bytes: 0,
            conn: 0,
        };
        if let Err(e) = ctx
            .poster()
            .http_request(None, report.clone(), session, req)
        {
            eprintln!("request {n} not started: {e}");
            return ExitCode::from(1);
        }
    }
    let mut ok = 0;
    for _ in 0..8 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((n, Ok((status, bytes, conn)))) => {
                println!("{n}: {status}, {bytes} bytes, connection {conn}");
                if (200..300).contains(&status) {
                    ok += 1;
                }
            }
            Ok((n, Err(e))) => println!("{n}: failed: {e}"),
            Err(_) => {
                println!("timed out waiting for the requests");
                break;
            }
        }
    }
    println!("{}", ctx.http_client().stats());
    ctx.shutdown();
    if ok == 8 {
        ExitCode::SUCCESS
    } else {
        println!("{ok} of 8 succeeded");
        ExitCode::from(1)
    }
}
