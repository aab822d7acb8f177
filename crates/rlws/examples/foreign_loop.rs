//! rlws on the application's own event loop (lws' foreign-loop example):
//! the application's tokio loop runs alone for a while, rlws joins it and
//! serves, then leaves while the loop keeps running.
//!
//! ```sh
//! cargo run --example foreign_loop
//! ```
//!
//! Prints each phase, and `Completed: PASS` when the loop ticked before,
//! during and after rlws' stay, and rlws answered a request meanwhile.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use rlws::{Context, Files};

fn main() -> std::process::ExitCode {
    // The application's loop: one current-thread runtime and a LocalSet.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    let ok = local.block_on(&rt, app());
    if ok {
        println!("Completed: PASS");
        std::process::ExitCode::SUCCESS
    } else {
        println!("Completed: FAIL");
        std::process::ExitCode::FAILURE
    }
}

async fn app() -> bool {
    // The application's own work: a 50 ms ticker.
    let ticks = Rc::new(Cell::new(0u32));
    let t = ticks.clone();
    let ticker = tokio::task::spawn_local(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(50));
        loop {
            iv.tick().await;
            t.set(t.get() + 1);
        }
    });
    let wait_ticks = |n: u32| {
        let ticks = ticks.clone();
        async move {
            let goal = ticks.get() + n;
            while ticks.get() < goal {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    wait_ticks(3).await;
    println!("app: loop running alone ({} ticks)", ticks.get());

    // rlws joins the running loop.
    let dir = std::env::temp_dir().join(format!("rlws-foreign-loop-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    if std::fs::write(dir.join("index.html"), "served from the foreign loop\n").is_err() {
        return false;
    }
    let started = Context::builder()
        .threads(1)
        .listen(([127, 0, 0, 1], 0).into())
        .site(Files::new(&dir))
        .start_foreign();
    let (ctx, loops) = match started {
        Ok(x) => x,
        Err(e) => {
            eprintln!("rlws: {e}");
            return false;
        }
    };
    let joined: Vec<_> = loops
        .into_iter()
        .map(|l| tokio::task::spawn_local(l.run()))
        .collect();
    let addr = ctx.local_addrs()[0];
    println!("rlws: joined, listening on {addr}");

    // It serves while the application's loop goes on.
    let before = ticks.get();
    let client = rlws::client::HttpClient::new();
    let served = match client.get(&format!("http://{addr}/")).await {
        Ok(r) => {
            let status = r.status();
            let body = r.bytes().await.unwrap_or_default();
            println!(
                "rlws: served GET / -> {} {:?}",
                status.as_u16(),
                String::from_utf8_lossy(&body).trim()
            );
            status == 200 && body.starts_with(b"served from the foreign loop")
        }
        Err(e) => {
            println!("rlws: GET / failed: {e}");
            false
        }
    };
    drop(client);
    wait_ticks(2).await;
    let during = ticks.get() > before;

    // rlws leaves; the loop keeps running.
    ctx.shutdown();
    for j in joined {
        let _ = j.await;
    }
    println!("rlws: left");
    let refused = tokio::net::TcpStream::connect(addr).await.is_err();
    println!("rlws: {addr} closed: {refused}");
    let after_leave = ticks.get();
    wait_ticks(3).await;
    println!(
        "app: loop still running ({} ticks after rlws left)",
        ticks.get() - after_leave
    );
    ticker.abort();
    let _ = std::fs::remove_dir_all(&dir);
    served && during && refused
}
