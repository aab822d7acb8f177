//! The counts of [`super::metrics`] in the Prometheus text format (version
//! 0.0.4, which Prometheus and OpenMetrics scrapers both read): one
//! `# HELP` and `# TYPE` line per family, then its samples.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use super::metrics::{ProtoCounts, VhostCounts, STATUS_CLASSES};
use super::shared::Shared;

/// The `Content-Type` of [`render`]'s text.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and line feeds escaped as the format asks.
fn label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Starts a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One sample with one label.
fn sample(out: &mut String, name: &str, key: &str, value: &str, n: u64) {
    let _ = write!(out, "{name}{{{key}=\"");
    label(out, value);
    let _ = writeln!(out, "\"}} {n}");
}

/// A family of one count per vhost or protocol: name, help, and what it
/// reads of a shard.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

const CLASSES: [&str; STATUS_CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every count of `shared`'s context, as text.
pub(crate) fn render(shared: &Shared) -> String {
    let m = &shared.metrics;
    let mut out = String::with_capacity(4096);
    family(&mut out, "rlws_info", "gauge", "This rlws' version.");
    sample(
        &mut out,
        "rlws_info",
        "version",
        env!("CARGO_PKG_VERSION"),
        1,
    );

    family(
        &mut out,
        "rlws_connections_accepted_total",
        "counter",
        "Connections the listen sockets accepted.",
    );
    let _ = writeln!(
        out,
        "rlws_connections_accepted_total {}",
        m.accepted.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "rlws_connections_refused_total",
        "counter",
        "Connections refused because every service thread was at its connection cap.",
    );
    let _ = writeln!(
        out,
        "rlws_connections_refused_total {}",
        shared.refused.load(Ordering::Relaxed)
    );
    family(
        &mut out,
        "rlws_connections_open",
        "gauge",
        "Connections open now (server and client), by service thread.",
    );
    for (tsi, live) in shared.live.iter().enumerate() {
        sample(
            &mut out,
            "rlws_connections_open",
            "thread",
            &tsi.to_string(),
            live.load(Ordering::Relaxed) as u64,
        );
    }

    let vhosts = m.vhosts();
    family(
        &mut out,
        "rlws_http_responses_total",
        "counter",
        "HTTP responses, by vhost and status class.",
    );
    for (name, c) in &vhosts {
        for (i, class) in CLASSES.iter().enumerate() {
            let n = c.sum(|v: &VhostCounts| v.responses[i].get());
            let _ = write!(out, "rlws_http_responses_total{{vhost=\"");
            label(&mut out, name);
            let _ = writeln!(out, "\",code=\"{class}\"}} {n}");
        }
    }
    let per_vhost: [Family<VhostCounts>; 3] = [
        (
            "rlws_http_request_body_bytes_total",
            "Request body bytes read from clients, by vhost.",
            |v| v.request_bytes.get(),
        ),
        (
            "rlws_http_response_body_bytes_total",
            "Response body bytes handed to client connections, by vhost.",
            |v| v.response_bytes.get(),
        ),
        (
            "rlws_ws_upgrades_total",
            "WebSocket upgrades accepted (HTTP/1.1 and HTTP/2), by vhost.",
            |v| v.upgrades.get(),
        ),
    ];
    for (name, help, f) in per_vhost {
        family(&mut out, name, "counter", help);
        for (vhost, c) in &vhosts {
            sample(&mut out, name, "vhost", vhost, c.sum(f));
        }
    }

    family(
        &mut out,
        "rlws_ws_connections_open",
        "gauge",
        "WebSocket connections open now (server and client), by protocol.",
    );
    // Protocols of one name (nothing stops a context having two) are one
    // series each: a scraper refuses a text that repeats one.
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in &m.protocols {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let of = |name: &str, f: &dyn Fn(&ProtoCounts) -> u64| -> u64 {
        m.protocols
            .iter()
            .filter(|(n, _)| n == name)
            .fold(0u64, |acc, (_, c)| acc.wrapping_add(c.sum(f)))
    };
    for name in &names {
        let opened = of(name, &|p| p.opened.get());
        let closed = of(name, &|p| p.closed.get());
        sample(
            &mut out,
            "rlws_ws_connections_open",
            "protocol",
            name,
            opened.saturating_sub(closed),
        );
    }
    let per_protocol: [Family<ProtoCounts>; 5] = [
        (
            "rlws_ws_connections_total",
            "WebSocket connections established (server and client), by protocol.",
            |p| p.opened.get(),
        ),
        (
            "rlws_ws_messages_received_total",
            "WebSocket messages received, by protocol.",
            |p| p.rx_messages.get(),
        ),
        (
            "rlws_ws_received_bytes_total",
            "WebSocket payload bytes received (after inflating), by protocol.",
            |p| p.rx_bytes.get(),
        ),
        (
            "rlws_ws_messages_sent_total",
            "WebSocket messages sent, by protocol.",
            |p| p.tx_messages.get(),
        ),
        (
            "rlws_ws_sent_bytes_total",
            "WebSocket payload bytes sent (before compressing), by protocol.",
            |p| p.tx_bytes.get(),
        ),
    ];
    for (name, help, f) in per_protocol {
        family(&mut out, name, "counter", help);
        for proto in &names {
            sample(&mut out, name, "protocol", proto, of(proto, &f));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        super::label(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
    }
}
