//! Runs the Autobahn WebSocket client test flow against a fuzzing server
//! (e.g. `kosoku -m fuzzingserver -o REPORTDIR 127.0.0.1:9001`):
//! asks for the case count, runs every case echoing each message back, then
//! asks the server to write its reports.
//!
//! Usage: `autobahn_client ws://127.0.0.1:9001 [AGENT]`

use rlws::client::{connect, ClientConfig, Message};
use rlws::DeflateConfig;

async fn run_case(base: &str, case: usize, agent: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = ClientConfig::new(&format!("{base}/runCase?case={case}&agent={agent}"))?;
    // Offer compression with and without context takeover, in one header:
    // the suite's compression cases pick the offer they test.
    cfg.deflate_also.push(DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    });
    let mut ws = connect(cfg).await?;
    while let Some(m) = ws.recv().await {
        match m {
            Ok(Message::Text(t)) => ws.send(Message::Text(t)).await?,
            Ok(Message::Binary(b)) => ws.send(Message::Binary(b)).await?,
            Ok(Message::Close(_)) => {
                ws.flush().await?;
            }
            Ok(_) => {}
            // The case is over for us (we sent the close the protocol demands).
            Err(_) => break,
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_string();
    let agent = args.next().unwrap_or_else(|| "rlws".into());

    let count = async {
        let mut ws = connect(ClientConfig::new(&format!("{base}/getCaseCount"))?).await?;
        let mut n = 0usize;
        while let Some(m) = ws.recv().await {
            if let Message::Text(t) = m? {
                n = t.trim().parse()?;
            }
        }
        Ok::<usize, Box<dyn std::error::Error>>(n)
    }
    .await;
    let count = match count {
        Ok(n) => n,
        Err(e) => {
            eprintln!("autobahn_client: cannot get the case count from {base}: {e}");
            std::process::exit(1);
        }
    };
    println!("autobahn_client: {count} cases");
    for case in 1..=count {
        if let Err(e) = run_case(&base, case, &agent).await {
            eprintln!("autobahn_client: case {case}: {e}");
        }
    }
    let done = async {
        let mut ws = connect(ClientConfig::new(&format!(
            "{base}/updateReports?agent={agent}"
        ))?)
        .await?;
        while let Some(m) = ws.recv().await {
            if m.is_err() {
                break;
            }
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    }
    .await;
    if let Err(e) = done {
        eprintln!("autobahn_client: updateReports: {e}");
        std::process::exit(1);
    }
    println!("autobahn_client: done");
}
