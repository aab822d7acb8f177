//! `rlws serve --config DIR` and `--check-config DIR`.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::process::Command;

use common::Server;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rlws-cli-config-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("conf.d")).unwrap();
    d
}

fn rlws(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rlws"))
        .args(args)
        .output()
        .expect("run rlws")
}

/// `rlws serve --check-config DIR`, which must refuse (status 2): its stderr.
fn check_fails(dir: &str) -> String {
    let out = rlws(&["serve", "--check-config", dir]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

fn write_site(dir: &std::path::Path, port: u16) {
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<p>from the config</p>").unwrap();
    std::fs::write(
        dir.join("conf"),
        "# globals\n{\n  \"global\": {\n    \"server-string\": \"cfg-server\",\n    \"plugin-dir\": \"/usr/share/lws/plugins\"\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            "{{\"vhosts\": [{{\n  \"name\": \"localhost\",\n  \"port\": \"{port}\",\n  \"interface\": \"127.0.0.1\",\n  \"mounts\": [{{\"mountpoint\": \"/\", \"origin\": \"file://{}\"}}]\n}}]}}\n",
            www.display()
        ),
    )
    .unwrap();
}

#[test]
fn check_config_reports_ok_warnings_and_errors() {
    let dir = tmpdir("check");
    write_site(&dir, 8080);
    let d = dir.to_string_lossy().to_string();
    let out = rlws(&["serve", "--check-config", &d]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("configuration OK (1 vhosts)"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "{d}/conf:5:5: warning: global.plugin-dir: ignored: rlws has no plugins"
        )),
        "{stderr}"
    );
    // A typo in a key: an error naming file, line and key, exit status 2.
    let site = std::fs::read_to_string(dir.join("conf.d/site")).unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        site.replace("\"mountpoint\"", "\"mount-point\""),
    )
    .unwrap();
    let stderr = check_fails(&d);
    assert!(
        stderr.contains(&format!(
            "{d}/conf.d/site:5:15: error: vhosts[0].mounts[0].mount-point: unknown key"
        )),
        "{stderr}"
    );
    // serve --config refuses to start on the same errors.
    let out = rlws(&["serve", "--config", &d]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("mount-point: unknown key"));
    // A missing directory is an error too.
    let out = rlws(&["serve", "--check-config", "/nonexistent-rlws-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("/nonexistent-rlws-config/conf: error: cannot read"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serve_config_serves_the_configured_vhost() {
    let dir = tmpdir("serve");
    // Port 0: the system picks one, and the server says which.
    write_site(&dir, 0);
    let d = dir.to_string_lossy().to_string();
    let mut srv = Server::spawn_capturing_stderr(&["serve", "-d", "warn", "--config", &d], 1);
    let resp = common::http_get(srv.addrs[0], "/").expect("GET from the configured vhost");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("server: cfg-server"), "{resp}");
    assert!(resp.contains("from the config"), "{resp}");
    let status = srv.stop();
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    srv.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("global.plugin-dir: ignored"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn protocol_options_a_builtin_protocol_ignores_are_warned_of() {
    let dir = tmpdir("pvo");
    write_site(&dir, 8080);
    let site = std::fs::read_to_string(dir.join("conf.d/site")).unwrap();
    let site = site.replace(
        "\"mounts\": [",
        "\"ws-protocols\": [{\n    \"lws-server-status\": {\"status\": \"ok\", \"update-m\": \"100\"},\n    \"dumb-increment-protocol\": {\"speed\": \"2\"},\n    \"protocol-post-demo\": {\"max\": \"1\"}\n  }, {\n    \"lws-status\": {\"status\": \"ok\"}\n  }],\n  \"mounts\": [",
    );
    std::fs::write(dir.join("conf.d/site"), site).unwrap();
    let d = dir.to_string_lossy().to_string();
    let out = rlws(&["serve", "--check-config", &d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for want in [
        "conf.d/site:6:55: warning: vhosts[0].ws-protocols[0].lws-server-status.update-m: ignored: lws-server-status has no option \"update-m\" (it reads: update-ms)",
        "conf.d/site:7:42: warning: vhosts[0].ws-protocols[0].dumb-increment-protocol.speed: ignored: dumb-increment-protocol reads no options",
        "conf.d/site:8:35: warning: vhosts[0].ws-protocols[0].protocol-post-demo.max: ignored: protocol-post-demo reads no options",
    ] {
        assert!(stderr.contains(want), "{want}\n{stderr}");
    }
    // A value it cannot use.
    let site = std::fs::read_to_string(dir.join("conf.d/site")).unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        site.replace("\"update-m\": \"100\"", "\"update-ms\": \"fast\""),
    )
    .unwrap();
    let out = rlws(&["serve", "--check-config", &d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lws-server-status.update-ms: ignored: \"fast\" is not a number of milliseconds (the default, 5000, is used)"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_openmetrics_mount_from_the_config_serves_the_counts() {
    let dir = tmpdir("metrics");
    write_site(&dir, 0);
    // lwsws' way: the plugin's protocol listed on the vhost, and a
    // callback:// mount of it.
    let site = std::fs::read_to_string(dir.join("conf.d/site")).unwrap();
    let site = site.replace(
        "\"mounts\": [",
        "\"ws-protocols\": [{\"lws-openmetrics\": {\"status\": \"ok\"}}],\n  \"mounts\": [{\"mountpoint\": \"/metrics\", \"origin\": \"callback://lws-openmetrics\"}, ",
    );
    std::fs::write(dir.join("conf.d/site"), site).unwrap();
    let d = dir.to_string_lossy().to_string();
    let out = rlws(&["serve", "--check-config", &d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
    let mut srv = Server::spawn(&["serve", "-d", "warn", "--config", &d], 1);
    for _ in 0..2 {
        let page = common::http_get(srv.addrs[0], "/").unwrap();
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    }
    let missing = common::http_get(srv.addrs[0], "/nothing-here").unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let m = common::http_get(srv.addrs[0], "/metrics").unwrap();
    assert!(m.starts_with("HTTP/1.1 200"), "{m}");
    assert!(
        m.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{m}"
    );
    assert!(
        m.contains("\nrlws_http_responses_total{vhost=\"localhost\",code=\"2xx\"} 2\n"),
        "{m}"
    );
    assert!(
        m.contains("\nrlws_http_responses_total{vhost=\"localhost\",code=\"4xx\"} 1\n"),
        "{m}"
    );
    // The test site's protocols are the daemon's.
    assert!(
        m.contains("\nrlws_ws_messages_received_total{protocol=\"rlws-echo\"} 0\n"),
        "{m}"
    );
    assert!(srv.stop().success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_cgi_mount_from_the_config_runs_its_program_and_logs_its_stderr() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir("cgi");
    let script = dir.join("hello.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"complaint from $SCRIPT_NAME\" >&2\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"GREETING=$GREETING PATH_INFO=$PATH_INFO\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.join("conf"), "{\"global\": {}}\n").unwrap();
    let site = format!(
        r#"{{"vhosts": [{{
  "name": "localhost", "port": "0", "interface": "127.0.0.1",
  "mounts": [{{
    "mountpoint": "/cgi", "origin": "cgi://{}",
    "cgi-timeout": "5", "cgi-env": [{{"GREETING": "hello from the config"}}]
  }}, {{
    "mountpoint": "/files", "origin": "file://{}", "cgi-timeout": "5"
  }}]
}}]}}
"#,
        script.display(),
        dir.display()
    );
    std::fs::write(dir.join("conf.d/site"), &site).unwrap();
    let d = dir.to_string_lossy().to_string();
    let out = rlws(&["serve", "--check-config", &d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The second mount's key, on line 7 (columns count from 1).
    let line7 = site.lines().nth(6).unwrap();
    let col = line7.find("\"cgi-timeout\"").unwrap() + 1;
    assert!(
        stderr.contains(&format!(
            "{d}/conf.d/site:7:{col}: warning: vhosts[0].mounts[1].cgi-timeout: ignored: only cgi:// mounts run programs"
        )),
        "{stderr}"
    );
    let mut srv = Server::spawn_capturing_stderr(&["serve", "-d", "warn", "--config", &d], 1);
    let resp = common::http_get(srv.addrs[0], "/cgi/more").expect("GET the CGI mount");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(
        resp.contains("GREETING=hello from the config PATH_INFO=/more"),
        "{resp}"
    );
    assert!(srv.stop().success());
    let mut err = String::new();
    srv.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("complaint from /cgi"), "{err}");
    // Keys whose absence would change what is served are refused.
    std::fs::write(
        dir.join("conf.d/site"),
        site.replace("\"cgi-timeout\": \"5\",", "\"cgi-chroot\": \"/srv\","),
    )
    .unwrap();
    let stderr = check_fails(&d);
    assert!(
        stderr.contains("vhosts[0].mounts[0].cgi-chroot: chrooting CGI programs is not supported"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn lws_example_configuration_loads_and_serves_the_test_page_cgi_and_post_demo() {
    let dir = tmpdir("lws-example");
    // As lws ships it: checked with the data directory Debian has.
    common::lws_example(&dir, "7681", "/var/log/lwsws/test-access-log");
    let d = dir.to_string_lossy().to_string();
    let out = rlws(&["serve", "--check-config", &d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("configuration OK (1 vhosts)"),
        "{stderr}"
    );
    // Served: on a free port, logging into the test's directory, with a
    // data directory holding Debian's test server files and a CGI script.
    let data_dir = common::lws_data_dir(&dir);
    let log = dir.join("logs/access-log");
    common::lws_example(&dir, "0", log.to_str().unwrap());
    let data_dir = data_dir.to_string_lossy().to_string();
    let mut srv = Server::spawn(
        &[
            "serve",
            "-d",
            "warn",
            "--config",
            &d,
            "--data-dir",
            &data_dir,
        ],
        1,
    );
    let addr = srv.addrs[0];
    let page = common::http_get(addr, "/").unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("server: lwsws"), "{page}");
    assert!(page.contains("libwebsockets"), "the test page: {page}");
    let cgi = common::http_get(addr, "/testcgi?x=1").unwrap();
    assert!(cgi.contains("cgi says GET x=1"), "{cgi}");
    let post = common::http_request_with_body(
        addr,
        "POST",
        "/formtest",
        "application/x-www-form-urlencoded",
        b"text=Give+me+some+text&send=Send+the+form",
    )
    .unwrap();
    assert!(post.starts_with("HTTP/1.1 200"), "{post}");
    assert!(post.contains("<td>Give me some text</td>"), "{post}");
    assert!(srv.stop().success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("GET /testcgi?x=1"), "{logged}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn lws_own_1024_bit_test_key_is_refused_saying_why_and_what_to_do() {
    let data = "/usr/share/libwebsockets-test-server";
    let (cert, key) = (
        format!("{data}/libwebsockets-test-server.pem"),
        format!("{data}/libwebsockets-test-server.key.pem"),
    );
    assert!(
        std::path::Path::new(&key).exists(),
        "{key}: apt-get install libwebsockets-test-server (scripts/install-test-deps.sh does)"
    );
    let out = rlws(&[
        "serve",
        "-i",
        "127.0.0.1",
        "-p",
        "0",
        "--cert",
        &cert,
        "--key",
        &key,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("an RSA key of fewer than 2048 bits")
            && stderr.contains("make a 2048-bit (or larger) RSA key"),
        "{stderr}"
    );
    // And in a config: with its file and line.
    let dir = tmpdir("weak-key");
    std::fs::write(dir.join("conf"), "{\"global\": {}}\n").unwrap();
    std::fs::write(
        dir.join("conf.d/site"),
        format!(
            "{{\"vhosts\": [{{\"name\": \"localhost\", \"port\": \"0\",\n \"host-ssl-cert\": \"{cert}\",\n \"host-ssl-key\": \"{key}\"}}]}}\n"
        ),
    )
    .unwrap();
    let d = dir.to_string_lossy().to_string();
    let stderr = check_fails(&d);
    assert!(stderr.contains("conf.d/site:"), "{stderr}");
    assert!(stderr.contains("fewer than 2048 bits"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
