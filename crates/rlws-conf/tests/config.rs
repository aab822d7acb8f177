//! lwsws-style configuration directories: loading, what they serve, and
//! the errors they report.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::*;
use rlws::client::{connect, ClientConfig, Message};
use rlws_conf::{Config, Severity};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlws-config-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("conf.d")).unwrap();
    d
}

fn protocols() -> Vec<String> {
    rlws::test_site().protocol_names()
}

fn load(dir: &Path) -> Config {
    let names = protocols();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    Config::load_dir(dir, &names)
}

async fn get(addr: SocketAddr, host: &str, path: &str, extra: &str) -> String {
    http_raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
    )
    .await
}

fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn a_config_written_for_lwsws_serves_its_vhosts_and_mounts() {
    let dir = tmpdir("serve");
    let www = dir.join("www");
    let docs = dir.join("docs");
    std::fs::create_dir_all(www.join("sub")).unwrap();
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(www.join("index.html"), "<p>a index</p>").unwrap();
    std::fs::write(www.join("sub/index.html"), "<p>sub index</p>").unwrap();
    std::fs::write(www.join("data.blob"), "blob").unwrap();
    std::fs::write(www.join("notfound.html"), "<p>custom 404</p>").unwrap();
    std::fs::write(docs.join("start.html"), "<p>docs start</p>").unwrap();
    std::fs::write(
        dir.join("conf"),
        r#"# these are the server global settings
{
  "global": {
    "ws-pingpong-secs": "200",  # reported, not used
    "uid": "48",
    "count-threads": "1",
    "server-string": "rlws-config-test",
    "timeout-secs": 5,
    "init-ssl": "yes",
    "default-alpn": "http/1.1,h2"
  }
}
"#,
    )
    .unwrap();
    let a = format!(
        r#"{{
	"vhosts": [{{
		"name": "a.test",
		"port": "0",
		"interface": "127.0.0.1",
		"access-log": "{log}",
		"sts": "on",
		"headers": [{{"x-vhost": "a"}}],
		"error-document-404": "/notfound.html",
		"ws-protocols": [{{
			"rlws-echo": {{"status": "ok"}}
		}}, {{
			"dumb-increment-protocol": {{"status": "ok", "default": "1"}}
		}}],
		"mounts": [{{
			"mountpoint": "/",
			"origin": "file://{www}",
			"default": "index.html",
			"cache-max-age": "60",
			"cache-reuse": "1",
			"cache-revalidate": "1",
			"cache-intermediaries": "0",
			"extra-mimetypes": {{".blob": "application/x-blob"}},
			"headers": [{{"x-mount": "root"}}]
		}}, {{
			"mountpoint": "/docs",
			"origin": "file://{docs}",
			"default": "start.html",
			"cache-no": "1",
			"no-ws-upgrades": "1"
		}}, {{
			"mountpoint": "/old",
			"origin": ">https://example.com/new",
			"append-path": "1"
		}}, {{
			"mountpoint": "/echo",
			"origin": "callback://rlws-echo"
		}}]
	}}]
}}
"#,
        www = www.display(),
        docs = docs.display(),
        log = dir.join("access.log").display()
    );
    std::fs::write(dir.join("conf.d/a"), a).unwrap();
    std::fs::write(
        dir.join("conf.d/b"),
        r#"{"vhosts": [{"name": "b.test", "port": 0, "interface": "lo",
  "alpn": "http/1.1", "keepalive_timeout": "1",
  "mounts": [{"mountpoint": "/", "origin": "builtin://test-site"}]}]}"#,
    )
    .unwrap();
    // Editor backups are skipped.
    std::fs::write(dir.join("conf.d/b~"), "not json").unwrap();
    let cfg = load(&dir);
    let shown: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(!cfg.has_errors(), "{shown:#?}");
    // An ignored key is reported with where it is, and why it is ignored.
    let ping = cfg
        .diagnostics
        .iter()
        .find(|d| d.key == "global.ws-pingpong-secs")
        .unwrap_or_else(|| panic!("{shown:#?}"));
    assert_eq!(ping.severity, Severity::Warning);
    assert_eq!((ping.pos.line, ping.pos.col), (4, 5), "{ping}");
    assert!(ping.to_string().starts_with(&format!(
        "{}:4:5: warning: global.ws-pingpong-secs: ignored",
        dir.join("conf").display()
    )));
    assert_eq!((cfg.uid, cfg.gid), (Some(48), None));
    assert_eq!(cfg.threads, Some(1));
    assert_eq!(cfg.vhosts.len(), 2);

    let ctx = cfg.apply(rlws::test_site()).start().expect("starts");
    let addr = ctx.vhost_addr("a.test").unwrap();
    assert_eq!(ctx.vhost_addr("b.test"), Some(addr), "one socket for both");
    assert_eq!(ctx.thread_count(), 1);

    // a.test "/": a directory mount with cache headers and extra headers.
    let r = get(addr, "a.test", "/", "").await;
    assert!(
        r.starts_with("HTTP/1.1 200") && r.contains("a index"),
        "{r}"
    );
    assert_eq!(header(&r, "server"), Some("rlws-config-test"));
    assert_eq!(
        header(&r, "cache-control"),
        Some("max-age=60, private, must-revalidate")
    );
    assert_eq!(header(&r, "x-vhost"), Some("a"));
    assert_eq!(header(&r, "x-mount"), Some("root"));
    assert_eq!(
        header(&r, "strict-transport-security"),
        Some("max-age=15768000 ; includeSubDomains")
    );
    // ETag and a conditional request.
    let etag = header(&r, "etag").expect("etag").to_string();
    let r = get(addr, "a.test", "/", &format!("If-None-Match: {etag}\r\n")).await;
    assert!(r.starts_with("HTTP/1.1 304"), "{r}");
    assert!(!r.contains("a index"));
    let r = get(addr, "a.test", "/data.blob", "").await;
    assert_eq!(
        header(&r, "content-type"),
        Some("application/x-blob"),
        "{r}"
    );
    // A directory without its slash is redirected into it.
    let r = get(addr, "a.test", "/sub?x=1", "").await;
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    assert_eq!(header(&r, "location"), Some("/sub/?x=1"));
    let r = get(addr, "a.test", "/sub/", "").await;
    assert!(r.contains("sub index"), "{r}");
    // error-document-404: its content with status 404.
    let r = get(addr, "a.test", "/nothing-here", "").await;
    assert!(
        r.starts_with("HTTP/1.1 404") && r.contains("custom 404"),
        "{r}"
    );
    // "/docs": its own default document, no-store; "/docsx" is not under it.
    let r = get(addr, "a.test", "/docs", "").await;
    assert_eq!(header(&r, "location"), Some("/docs/"), "{r}");
    let r = get(addr, "a.test", "/docs/", "").await;
    assert!(r.contains("docs start"), "{r}");
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    assert!(header(&r, "x-mount").is_none());
    let r = get(addr, "a.test", "/docsx", "").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    // "/old": redirect with the path below the mountpoint appended.
    let r = get(addr, "a.test", "/old/a/b?q=2", "").await;
    assert!(r.starts_with("HTTP/1.1 301"), "{r}");
    assert_eq!(
        header(&r, "location"),
        Some("https://example.com/new/a/b?q=2")
    );
    // WebSockets: no-ws-upgrades under /docs; the callback mount routes
    // /echo to rlws-echo; elsewhere the default protocol is
    // dumb-increment-protocol (marked "default").
    const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let r = get(addr, "a.test", "/docs/x", UPGRADE).await;
    assert!(r.starts_with("HTTP/1.1 403"), "{r}");
    let ws_to = |host: &str, path: &str| {
        let mut c = ClientConfig::new(&format!("ws://{addr}{path}"))
            .unwrap()
            .header("Host", host);
        c.deflate = None;
        c
    };
    let mut ws = connect(ws_to("a.test", "/echo"))
        .await
        .expect("/echo upgrades");
    ws.send(Message::Text("hi".into())).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Text("hi".into())
    );
    let mut ws = connect(ws_to("a.test", "/")).await.expect("/ upgrades");
    match ws.recv().await.unwrap().unwrap() {
        Message::Text(n) => assert!(n.trim().parse::<u64>().is_ok(), "a counter: {n:?}"),
        m => panic!("expected a counter, got {m:?}"),
    }
    // Not offered on a.test: the mirror protocol.
    let r = get(
        addr,
        "a.test",
        "/",
        &format!("{UPGRADE}Sec-WebSocket-Protocol: lws-mirror-protocol\r\n"),
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");

    // The access log: one combined-format line per a.test request so far.
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("127.0.0.1 - - [")
            && first.ends_with("] \"GET / HTTP/1.1\" 200 14 \"-\" \"-\""),
        "{log}"
    );
    assert!(log.contains("\"GET /old/a/b?q=2 HTTP/1.1\" 301 "), "{log}");
    assert!(log.contains("\"GET /echo HTTP/1.1\" 101 "), "{log}");
    let lines = log.lines().count();

    // b.test: the embedded site, every protocol, no a.test headers.
    let r = get(addr, "b.test", "/", "").await;
    assert!(r.contains("rlws test page"), "{r}");
    assert!(header(&r, "x-vhost").is_none());
    let ws = connect(ws_to("b.test", "/").subprotocol("lws-mirror-protocol"))
        .await
        .expect("b.test offers the mirror protocol");
    assert_eq!(ws.protocol(), Some("lws-mirror-protocol"));
    // b.test has no access log: a.test's did not grow.
    let log = std::fs::read_to_string(dir.join("access.log")).unwrap();
    assert_eq!(log.lines().count(), lines);
    ctx.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

/// Writes `conf` and one `conf.d/site` and returns the diagnostics as text.
fn diagnostics(tag: &str, conf: &str, site: &str) -> (Vec<String>, bool) {
    let dir = tmpdir(tag);
    std::fs::write(dir.join("conf"), conf).unwrap();
    std::fs::write(dir.join("conf.d/site"), site).unwrap();
    let cfg = load(&dir);
    let out = cfg
        .diagnostics
        .iter()
        .map(|d| d.to_string().replace(&dir.display().to_string(), "DIR"))
        .collect();
    let _ = std::fs::remove_dir_all(dir);
    (out, cfg.has_errors())
}

const CONF: &str = "{\"global\": {\"count-threads\": \"1\"}}\n";
const SITE: &str = "{\"vhosts\": [{\"name\": \"x\", \"port\": 80}]}";

#[test]
fn errors_name_file_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        // (conf, conf.d/site, expected diagnostic)
        (
            CONF,
            "{\"vhosts\": [{\n  \"name\": \"x\",\n  \"port\": \"80\",\n  \"colour\": \"red\"\n}]}",
            "DIR/conf.d/site:4:3: error: vhosts[0].colour: unknown key",
        ),
        (
            "{\"global\": {\n  \"count-thread\": 2\n}}",
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80}]}",
            "DIR/conf:2:3: error: global.count-thread: unknown key",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\",\n \"port\": \"http\"}]}",
            "DIR/conf.d/site:2:10: error: vhosts[0].port: \"http\" is not a whole number from 0 to 65535",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 70000}]}",
            "DIR/conf.d/site:1:35: error: vhosts[0].port: \"70000\" is not a whole number from 0 to 65535",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80,\n \"mounts\": [{\"mountpoint\": \"/\",\n   \"origin\": \"cgi:///bin/true\", \"interpret\": {\".php\": \"/usr/bin/php-cgi\"}}]}]}",
            "DIR/conf.d/site:3:33: error: vhosts[0].mounts[0].interpret: running files through an interpreter is not supported yet: they would be served as their source",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"mounts\": [{\"mountpoint\": \"/\", \"origin\": \"file:///tmp\", \"basic-auth\": \"/etc/pw\"}]}]}",
            "error: vhosts[0].mounts[0].basic-auth: HTTP basic authentication is not supported yet",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"sts\": \"maybe\"}]}",
            "error: vhosts[0].sts: \"maybe\" is not a boolean",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80,\n\"ws-protocols\": [{\"lws-nope\": {}}]}]}",
            "DIR/conf.d/site:2:19: error: vhosts[0].ws-protocols[0].lws-nope: no protocol named \"lws-nope\"",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"host-ssl-cert\": \"/nonexistent.pem\", \"host-ssl-key\": \"/nonexistent.key\"}]}",
            "error: vhosts[0].host-ssl-cert: /nonexistent.pem: No such file or directory",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80,\n \"interface\": \"nosuchif0\"}]}",
            "DIR/conf.d/site:2:15: error: vhosts[0].interface: \"nosuchif0\" is neither an IP address nor the name of a network interface",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"port\": 80}]}",
            "DIR/conf.d/site:1:13: error: vhosts[0]: \"name\" is required",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80}, {\"name\": \"X\", \"port\": 80}]}",
            "error: vhosts[1] (\"X\"): a vhost named \"X\" is already defined on 0.0.0.0:80",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"port\": 81}]}",
            "error: vhosts[0].port: given twice",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80,}]}",
            "DIR/conf.d/site:1:38: error: JSON syntax: a key in double quotes was expected",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"mounts\": [{\"mountpoint\": \"/\", \"origin\": \"file:///tmp\", \"headers\": [{\"bad name\": \"v\"}]}]}]}",
            "error: vhosts[0].mounts[0].headers[0].bad name: \"bad name\" is not a valid header name",
        ),
        (
            CONF,
            "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"alpn\": \"spdy/3\"}]}",
            "error: vhosts[0].alpn: ALPN protocol \"spdy/3\" is not spoken",
        ),
        (
            "{\"global\": {\n  \"uid\": \"apache\"\n}}",
            SITE,
            "DIR/conf:2:10: error: global.uid: \"apache\" is not a whole number from 0 to 4294967294",
        ),
        (
            "{\"global\": {\"gid\": -1}}",
            SITE,
            "error: global.gid: \"-1\" is not a whole number",
        ),
        (
            "{\"global\": {\n\"username\": \"no-such-user-rlws\"}}",
            SITE,
            "DIR/conf:2:13: error: global.username: no user named \"no-such-user-rlws\"",
        ),
        (
            "{\"global\": {\"groupname\": \"no-such-group-rlws\"}}",
            SITE,
            "error: global.groupname: no group named \"no-such-group-rlws\"",
        ),
        (
            "{\"global\": {\"uid\": 0, \"username\": \"root\"}}",
            SITE,
            "error: global.username: uid and username both given: give one",
        ),
        (
            "{\"global\": {}, \"vhosts\": 3}",
            "{\"vhosts\": []}",
            "DIR/conf:1:26: error: vhosts: an array was expected, not a number",
        ),
    ];
    for (i, (conf, site, want)) in cases.iter().enumerate() {
        let (got, errors) = diagnostics(&format!("err{i}"), conf, site);
        assert!(errors, "case {i}: no error: {got:#?}");
        assert!(
            got.iter()
                .any(|g| g.starts_with(want) || (!want.starts_with("DIR") && g.contains(want))),
            "case {i}: want {want:?}, got {got:#?}"
        );
    }
}

#[test]
fn uid_gid_username_and_groupname_give_the_ids_to_run_as() {
    let load_globals = |tag: &str, globals: &str| {
        let dir = tmpdir(tag);
        std::fs::write(dir.join("conf"), format!("{{\"global\": {{{globals}}}}}")).unwrap();
        std::fs::write(dir.join("conf.d/site"), SITE).unwrap();
        let cfg = load(&dir);
        let _ = std::fs::remove_dir_all(dir);
        assert!(!cfg.has_errors(), "{:#?}", cfg.diagnostics);
        (cfg.uid, cfg.gid)
    };
    assert_eq!(
        load_globals("ids", "\"uid\": \"65534\", \"gid\": 65534"),
        (Some(65534), Some(65534))
    );
    assert_eq!(
        load_globals("names", "\"username\": \"root\", \"groupname\": \"root\""),
        (Some(0), Some(0))
    );
    assert_eq!(load_globals("none", ""), (None, None));
}

#[test]
fn lwsws_only_settings_warn_and_unsupported_ones_that_matter_refuse() {
    let (got, errors) = diagnostics(
        "warn",
        "{\"global\": {\"plugin-dir\": \"/usr/lib/lws\", \"ip-limit-wsi\": \"400\"}}",
        "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"enable-client-ssl\": \"on\", \"noipv6\": \"on\",\n \"ws-protocols\": [{\"lws-mirror-protocol\": {\"status\": \"ok\", \"hue\": \"blue\"}}]}]}",
    );
    assert!(!errors, "{got:#?}");
    for want in [
        "global.plugin-dir: ignored: rlws has no plugins",
        "global.ip-limit-wsi: ignored",
        "vhosts[0].enable-client-ssl: ignored",
        "vhosts[0].noipv6: ignored",
    ] {
        assert!(
            got.iter().any(|g| g.contains(want)),
            "want {want}: {got:#?}"
        );
    }
    // Per-vhost options (lws' pvo) a built-in protocol does not read are
    // said to be ignored; they are still handed on.
    assert!(
        got.iter().any(|g| g.contains(
            "vhosts[0].ws-protocols[0].lws-mirror-protocol.hue: ignored: lws-mirror-protocol reads no options"
        )),
        "{got:#?}"
    );
    let (got, errors) = diagnostics(
        "refuse",
        CONF,
        "{\"vhosts\": [{\"name\": \"x\", \"port\": 80, \"unix-socket\": \"1\", \"disable-no-protocol-ws-upgrades\": \"1\"}]}",
    );
    assert!(errors);
    assert!(
        got.iter()
            .any(|g| g.contains("unix-socket: listening on a unix socket is not supported")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|g| g.contains("disable-no-protocol-ws-upgrades: not supported yet")),
        "{got:#?}"
    );
}

#[tokio::test]
async fn one_vhost_name_on_two_sockets_loads_and_serves_both() {
    // lwsws' own README puts "localhost" on 443 (TLS) and 7681; here the two
    // sockets differ by address so that both can take a port from the system.
    let dir = tmpdir("twoports");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<p>same site</p>").unwrap();
    std::fs::write(dir.join("conf"), CONF).unwrap();
    let vhost = |iface: &str, tag: &str| {
        format!(
            r#"{{"name": "localhost", "port": 0, "interface": "{iface}",
  "headers": [{{"x-socket": "{tag}"}}],
  "mounts": [{{"mountpoint": "/", "origin": "file://{}", "default": "index.html"}}]}}"#,
            www.display()
        )
    };
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            "{{\"vhosts\": [{}, {}]}}",
            vhost("127.0.0.1", "one"),
            vhost("127.0.0.2", "two")
        ),
    )
    .unwrap();
    let cfg = load(&dir);
    let shown: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(!cfg.has_errors(), "{shown:#?}");
    let ctx = cfg.apply(rlws::test_site()).start().expect("starts");
    let socks: Vec<SocketAddr> = ctx
        .vhost_list()
        .into_iter()
        .filter(|(n, _, _)| n == "localhost")
        .map(|(_, a, _)| a)
        .collect();
    assert_eq!(socks.len(), 2, "{socks:?}");
    assert_ne!(socks[0].ip(), socks[1].ip());
    for (addr, tag) in socks.iter().zip(["one", "two"]) {
        let r = get(*addr, "localhost", "/", "").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{addr}: {r}");
        assert!(r.contains("same site"), "{r}");
        assert_eq!(header(&r, "x-socket"), Some(tag), "{r}");
    }
    // lwsws' own README: localhost on 443 (TLS) and on 7681. Loading it
    // binds nothing, so the real ports can be used here.
    let ca = TestCa::new("two ports ca");
    let (cert, key) = ca.leaf(&["localhost"]);
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            r#"{{"vhosts": [
  {{"name": "localhost", "port": "443", "host-ssl-cert": "{c}", "host-ssl-key": "{k}",
    "mounts": [{{"mountpoint": "/", "origin": "file://{w}"}}]}},
  {{"name": "localhost", "port": "7681",
    "mounts": [{{"mountpoint": "/", "origin": "file://{w}"}}]}}]}}"#,
            c = dir.join("cert.pem").display(),
            k = dir.join("key.pem").display(),
            w = www.display()
        ),
    )
    .unwrap();
    let cfg = load(&dir);
    let shown: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(!cfg.has_errors(), "{shown:#?}");
    let ports: Vec<u16> = cfg.vhosts.iter().map(|v| v.listen_addr().port()).collect();
    assert_eq!(ports, vec![443, 7681]);
    assert!(cfg.vhosts.iter().all(|v| v.name() == "localhost"));
    // The same name twice on one socket is still refused.
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            "{{\"vhosts\": [{}, {}]}}",
            vhost("127.0.0.1", "one"),
            vhost("127.0.0.1", "again")
        ),
    )
    .unwrap();
    let cfg = load(&dir);
    assert!(
        cfg.diagnostics.iter().any(|d| d
            .to_string()
            .contains("a vhost named \"localhost\" is already defined on 127.0.0.1:0")),
        "{:#?}",
        cfg.diagnostics
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tls_and_cleartext_vhosts_on_one_port_are_refused_at_load() {
    let ca = TestCa::new("cfg ca");
    let (cert, key) = ca.leaf(&["t.test"]);
    let dir = tmpdir("mix");
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    std::fs::write(dir.join("conf"), CONF).unwrap();
    // The TLS vhost t.test on 8443, then `more`; the diagnostics as text.
    let load_site = |more: &str| {
        std::fs::write(
            dir.join("conf.d/site"),
            format!(
                "{{\"vhosts\": [{{\"name\": \"t.test\", \"port\": 8443, \"host-ssl-cert\": \"{c}\", \"host-ssl-key\": \"{k}\"}}{more}]}}",
                c = dir.join("cert.pem").display(),
                k = dir.join("key.pem").display()
            ),
        )
        .unwrap();
        let cfg = load(&dir);
        cfg.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<String>>()
    };
    let shown = load_site(",\n {\"name\": \"p.test\", \"port\": 8443}");
    assert!(
        shown.iter().any(|s| s.contains(
            ":2:2: error: vhosts[1] (\"p.test\"): shares 0.0.0.0:8443 with vhosts[0] (\"t.test\")"
        )),
        "{shown:#?}"
    );
    // A key that does not belong to the certificate is found at load time.
    let (_, other_key) = ca.leaf(&["t.test"]);
    std::fs::write(dir.join("key.pem"), other_key).unwrap();
    let shown = load_site("");
    assert!(
        shown
            .iter()
            .any(|s| s.contains("error: vhosts[0].host-ssl-cert:")),
        "{shown:#?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn tcp_keepalive_keys() {
    let dir = tmpdir("ka");
    std::fs::write(dir.join("conf"), CONF).unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        "{\"vhosts\": [{\"name\": \"x\", \"port\": 0, \"ka_time\": 60, \"ka_probes\": 3, \"ka_interval\": 5}]}",
    )
    .unwrap();
    let cfg = load(&dir);
    assert!(!cfg.has_errors(), "{:?}", cfg.diagnostics);
    let v = format!("{:?}", cfg.vhosts[0]);
    assert!(
        v.contains("tcp_keepalive: Some(TcpKeepalive { idle: 60s, interval: 5s, probes: 3 })"),
        "{v}"
    );
    let _ = std::fs::remove_dir_all(dir);
    // ka_time alone is an error, with where it is.
    let (d, errors) = diagnostics(
        "ka2",
        CONF,
        "{\"vhosts\": [{\"name\": \"x\", \"port\": 0,\n  \"ka_time\": 60}]}",
    );
    assert!(errors);
    assert!(
        d.iter().any(|l| l.starts_with("DIR/conf.d/site:2:")
            && l.contains(".ka_time: ka_time needs ka_probes and ka_interval")),
        "{d:?}"
    );
}

#[test]
fn lws_ddir_global_interface_and_a_log_directory_to_make() {
    let dir = tmpdir("ddir");
    std::fs::write(dir.join("conf"), "{\"global\": {\"interface\": \"lo\"}}").unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("site")).unwrap();
    let log = dir.join("logs/not-yet/access.log");
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            "{{\"vhosts\": [{{\"name\": \"a\", \"port\": \"8080\", \"access-log\": \"{}\",\n \"mounts\": [{{\"mountpoint\": \"/\", \"origin\": \"file://_lws_ddir_/site\"}}]}},\n {{\"name\": \"b\", \"port\": \"8081\", \"interface\": \"127.0.0.2\"}}]}}",
            log.display()
        ),
    )
    .unwrap();
    let names = protocols();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let cfg = Config::load_dir_with(&dir, &names, &data);
    let diags: Vec<String> = cfg.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(!cfg.has_errors(), "{diags:?}");
    // The origin's directory exists under the data directory: no warning
    // about it; the log's directory will be made.
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].contains("its directory will be made at start-up"),
        "{diags:?}"
    );
    // The global interface for the vhost without one, not for the other.
    assert_eq!(cfg.vhosts[0].listen_addr().to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.vhosts[1].listen_addr().to_string(), "127.0.0.2:8081");
    // Without the data directory, `_lws_ddir_` is /usr/share.
    let cfg = Config::load_dir(&dir, &names);
    assert!(
        cfg.diagnostics
            .iter()
            .any(|d| d.to_string().contains("/usr/share/site: not a directory")),
        "{:?}",
        cfg.diagnostics
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn per_vhost_protocol_options_reach_the_protocol() {
    // lws-server-status every 100 ms on one vhost, every 5 s (its default)
    // on the other.
    let dir = tmpdir("pvo");
    std::fs::write(dir.join("conf"), "{\"global\": {}}").unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        "{\"vhosts\": [{\"name\": \"fast.test\", \"port\": \"0\", \"interface\": \"127.0.0.1\",\n\
         \"ws-protocols\": [{\"lws-server-status\": {\"status\": \"ok\", \"update-ms\": \"100\"}}]}]}",
    )
    .unwrap();
    let cfg = load(&dir);
    assert!(!cfg.has_errors(), "{:?}", cfg.diagnostics);
    assert!(
        cfg.diagnostics.is_empty(),
        "update-ms is used: {:?}",
        cfg.diagnostics
    );
    let ctx = cfg.apply(rlws::test_site()).start().expect("starts");
    let addr = ctx.vhost_addr("fast.test").unwrap();
    let mut c = ClientConfig::new(&format!("ws://{addr}/"))
        .unwrap()
        .subprotocol("lws-server-status");
    c.deflate = None;
    let mut ws = connect(c).await.expect("lws-server-status upgrades");
    let t = std::time::Instant::now();
    for _ in 0..4 {
        let m = tokio::time::timeout(std::time::Duration::from_secs(3), ws.recv())
            .await
            .expect("a document within 3 s")
            .unwrap()
            .unwrap();
        let Message::Text(doc) = m else {
            panic!("{m:?}")
        };
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert!(
            v["i"]["version"].as_str().unwrap().starts_with("rlws "),
            "{doc}"
        );
        assert!(v["i"]["hostname"].is_string(), "{doc}");
    }
    // Four documents: the first at once, three more 100 ms apart (not 5 s).
    assert!(t.elapsed() < std::time::Duration::from_secs(3));
    let _ = std::fs::remove_dir_all(dir);
}
