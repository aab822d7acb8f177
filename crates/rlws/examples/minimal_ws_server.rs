//! The smallest useful rlws server: a WebSocket protocol that answers every
//! text message in upper case, plus the built-in test site.
//!
//! Run: `cargo run --example minimal_ws_server`, then connect a WebSocket
//! client to ws://127.0.0.1:7682/ with subprotocol `shout`, e.g.
//! `python3 -m websockets ws://127.0.0.1:7682/` (no subprotocol: `shout` is
//! the first and so the default protocol).

use rlws::{Close, Context, Cx, Handshake, Protocol, Received, Writer};

struct Shout;

impl Protocol for Shout {
    /// Replies not yet sent, per connection.
    type Session = Vec<String>;
    /// Nothing shared per service thread.
    type ThreadState = ();
    /// No events posted from other threads.
    type Event = ();

    fn name(&self) -> &str {
        "shout"
    }

    fn thread_init(&self, _tsi: rlws::ThreadIndex) {}

    fn established(
        &self,
        _cx: &mut Cx<'_, Self>,
        hs: &Handshake<'_>,
    ) -> Result<Vec<String>, Close> {
        println!("connection from {} on {}", hs.peer, hs.path);
        Ok(Vec::new())
    }

    fn receive(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut Vec<String>,
        m: Received<'_>,
    ) -> Result<(), Close> {
        let text = m.text().ok_or_else(|| Close::new(1003, "text only"))?;
        s.push(text.to_uppercase());
        // Writing happens only in `writeable`: ask for it.
        cx.request_writeable();
        Ok(())
    }

    fn writeable(
        &self,
        cx: &mut Cx<'_, Self>,
        s: &mut Vec<String>,
        w: &mut Writer<'_>,
    ) -> Result<(), Close> {
        while let Some(reply) = s.first() {
            if w.text(reply).is_err() {
                // This callback's share is used up; continue next time.
                cx.request_writeable();
                break;
            }
            s.remove(0);
        }
        Ok(())
    }
}

fn main() {
    let ctx = Context::builder()
        .threads(1)
        .listen("127.0.0.1:7682".parse().expect("address"))
        .protocol(Shout)
        .start()
        .unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
    println!("listening on {:?}", ctx.local_addrs());
    ctx.wait();
}
