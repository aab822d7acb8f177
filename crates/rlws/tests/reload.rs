//! `Context::reload`: new connections get the new vhosts, open ones finish
//! on the old, listen sockets are kept, added and closed by address, and a
//! bad configuration changes nothing.

mod common;

use std::net::SocketAddr;

use rlws::client::{HttpClient, Request};
use rlws::{Context, Files, Vhost};

/// A directory whose `index.html` says `what`.
fn site(what: &str) -> Files {
    let d = common::tempdir(&format!("reload-{what}"));
    std::fs::write(d.join("index.html"), what).unwrap();
    Files::new(d)
}

async fn get(client: &HttpClient, addr: SocketAddr, share: bool) -> String {
    let req = Request::get(&format!("http://{addr}/"))
        .unwrap()
        .share(share);
    let r = client.request(req).await.unwrap();
    assert_eq!(r.status(), 200);
    String::from_utf8(r.bytes().await.unwrap().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_vhosts_for_new_connections_only() {
    let fixed: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let second = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let mut ctx = Context::builder()
        .threads(2)
        .vhost(Vhost::new("localhost", fixed).site(site("one")))
        .start()
        .unwrap();
    let a = ctx.local_addrs()[0];
    let client = HttpClient::new();
    // A keep-alive connection opened before the reload.
    assert_eq!(get(&client, a, true).await, "one");
    assert_eq!(client.stats().connections, 1);

    // Same address (kept), plus a second socket.
    ctx.reload(
        Context::builder()
            .vhost(Vhost::new("localhost", fixed).site(site("two")))
            .vhost(Vhost::new("other", fixed).site(site("other")))
            .vhost(Vhost::new("extra", second).site(site("three"))),
    )
    .unwrap();
    assert_eq!(ctx.local_addrs()[0], a, "the kept socket keeps its port");
    let b = ctx.vhost_addr("extra").unwrap();
    assert_ne!(a, b);
    // The open connection finishes on the old vhosts...
    assert_eq!(get(&client, a, true).await, "one");
    assert_eq!(client.stats().connections, 1);
    // ...new ones are served by the new.
    let fresh = HttpClient::new();
    assert_eq!(get(&fresh, a, false).await, "two");
    assert_eq!(get(&fresh, b, false).await, "three");
    assert_eq!(ctx.vhost_list().len(), 3);

    // A vhost naming a protocol the context does not have: refused,
    // nothing changes.
    let err = ctx
        .reload(
            Context::builder().vhost(
                Vhost::new("localhost", fixed)
                    .protocols(&["nonesuch"])
                    .site(site("bad")),
            ),
        )
        .unwrap_err();
    assert!(err.to_string().contains("nonesuch"), "{err}");
    assert_eq!(get(&fresh, a, false).await, "two");
    assert_eq!(get(&fresh, b, false).await, "three");

    // Dropping the second socket closes it.
    ctx.reload(Context::builder().vhost(Vhost::new("localhost", fixed).site(site("four"))))
        .unwrap();
    assert_eq!(get(&fresh, a, false).await, "four");
    let mut refused = false;
    // The accept loop ends on its thread soon after; bounded poll.
    for _ in 0..400 {
        match tokio::net::TcpStream::connect(b).await {
            Err(_) => {
                refused = true;
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
    assert!(refused, "{b} still accepts after the reload removed it");
    ctx.shutdown();
}
