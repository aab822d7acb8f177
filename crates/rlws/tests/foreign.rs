//! Foreign loops: a context whose service threads run on the caller's
//! runtimes, joining after they started and leaving while they go on.

mod common;

use std::time::Duration;

use rlws::{Context, Files};

/// The example: the loop alone, rlws joined and serving, rlws gone, the
/// loop still running.
#[test]
fn the_foreign_loop_example_joins_serves_and_leaves() {
    let out = std::process::Command::new(common::example("foreign_loop"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(lines[0].starts_with("app: loop running alone"), "{text}");
    assert!(
        lines[1].starts_with("rlws: joined, listening on 127.0.0.1:"),
        "{text}"
    );
    assert_eq!(
        lines[2], "rlws: served GET / -> 200 \"served from the foreign loop\"",
        "{text}"
    );
    assert_eq!(lines[3], "rlws: left", "{text}");
    assert!(lines[4].ends_with("closed: true"), "{text}");
    assert!(lines[5].starts_with("app: loop still running"), "{text}");
    assert_eq!(lines[6], "Completed: PASS");
}

/// Two service loops on two of the caller's threads, each its own
/// current-thread runtime: requests are served, shutdown ends
/// both loops, and the runtimes keep working afterwards.
#[test]
fn two_service_loops_on_two_caller_runtimes() {
    let dir = common::tempdir("foreign-two");
    std::fs::write(dir.join("index.html"), "two loops\n").unwrap();
    let (ctx, loops) = Context::builder()
        .threads(2)
        .listen("127.0.0.1:0".parse().unwrap())
        .site(Files::new(&dir))
        .start_foreign()
        .unwrap();
    assert_eq!(loops.len(), 2);
    assert_eq!(ctx.thread_count(), 2);
    let addr = ctx.local_addrs()[0];
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let callers: Vec<_> = loops
        .into_iter()
        .map(|l| {
            let done = done_tx.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    let tsi = l.thread().get();
                    l.run().await;
                    done.send(tsi).unwrap();
                    // The caller's runtime still runs tasks after rlws left.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    tokio::task::spawn_local(async { 7 }).await.unwrap()
                })
            })
        })
        .collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Separate connections, so both threads get some.
        let mut gets = Vec::new();
        for _ in 0..8 {
            gets.push(tokio::spawn(async move {
                let c = rlws::client::HttpClient::new();
                let r = c.get(&format!("http://{addr}/")).await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap()
            }));
        }
        for g in gets {
            assert_eq!(&g.await.unwrap()[..], b"two loops\n");
        }
    });
    ctx.shutdown();
    let mut ended: Vec<usize> = (0..2)
        .map(|_| done_rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    ended.sort();
    assert_eq!(ended, [0, 1]);
    for c in callers {
        assert_eq!(c.join().unwrap(), 7);
    }
}
