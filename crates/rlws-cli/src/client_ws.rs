//! `rlws client ws://...`: a pipe/interactive WebSocket client. Each line of
//! standard input goes out as a text message; each message received is
//! printed on its own line. When standard input ends, the close handshake is
//! done and the program exits.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use rlws::client::{connect, ClientConfig, Message};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::client::ClientArgs;

fn read_file(p: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

pub fn run(a: ClientArgs) -> ExitCode {
    crate::client::block_on(client(a))
}

async fn client(a: ClientArgs) -> ExitCode {
    let url = a.urls.first().cloned().unwrap_or_default();
    let mut cfg = match ClientConfig::new(&url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rlws client: {e}");
            return ExitCode::from(2);
        }
    };
    cfg.subprotocols = a.protocols.clone();
    cfg.connect_timeout = match a.connect_timeout() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rlws client: {e}");
            return ExitCode::from(2);
        }
    };
    if a.no_deflate {
        cfg.deflate = None;
    }
    cfg.tls.insecure = a.insecure;
    let files = (|| -> Result<(), String> {
        if let Some(ca) = &a.ca {
            cfg.tls.ca_pem = Some(read_file(ca)?);
        }
        if let (Some(c), Some(k)) = (&a.cert, &a.key) {
            cfg.tls.client_cert_pem = Some((read_file(c)?, read_file(k)?));
        }
        Ok(())
    })();
    if let Err(e) = files {
        eprintln!("rlws client: {e}");
        return ExitCode::from(2);
    }
    for h in &a.headers {
        match h.split_once(':') {
            Some((k, v)) => cfg
                .headers
                .push((k.trim().to_string(), v.trim().to_string())),
            None => {
                eprintln!("rlws client: header {h:?} is not \"Name: value\"");
                return ExitCode::from(2);
            }
        }
    }
    cfg.http2 = a.h2;
    let mut ws = match connect(cfg).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("rlws client: {url}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut deadline: Option<tokio::time::Instant> = None;
    let stdout = std::io::stdout();
    loop {
        let closing = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line {
                Ok(Some(l)) => {
                    if let Err(e) = ws.send(Message::Text(l)).await {
                        eprintln!("rlws client: send: {e}");
                        return ExitCode::from(1);
                    }
                }
                _ => {
                    // End of input: start the close handshake, keep printing
                    // what still arrives until the server's close.
                    stdin_open = false;
                    if ws.send(Message::Close(Some((1000, String::new())))).await.is_err() {
                        return ExitCode::SUCCESS;
                    }
                    deadline = Some(tokio::time::Instant::now() + Duration::from_secs(5));
                }
            },
            m = ws.recv() => match m {
                Some(Ok(Message::Text(t))) => {
                    let mut o = stdout.lock();
                    let _ = writeln!(o, "{t}");
                    let _ = o.flush();
                }
                Some(Ok(Message::Binary(b))) => {
                    let mut o = stdout.lock();
                    let _ = o.write_all(&b);
                    let _ = writeln!(o);
                    let _ = o.flush();
                }
                Some(Ok(Message::Close(c))) => {
                    // Our reply goes out; then wait (briefly) for the server
                    // to end the TCP connection, as RFC 6455 has it.
                    let _ = ws.close(1000, "").await;
                    if stdin_open {
                        match c {
                            Some((code, reason)) => eprintln!("rlws client: server closed: {code} {reason}"),
                            None => eprintln!("rlws client: server closed"),
                        }
                    }
                    return ExitCode::SUCCESS;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    eprintln!("rlws client: {e}");
                    return ExitCode::from(1);
                }
                None => return if stdin_open { ExitCode::from(1) } else { ExitCode::SUCCESS },
            },
            _ = closing => {
                eprintln!("rlws client: no close reply from the server");
                return ExitCode::from(1);
            }
        }
    }
}
