//! `peer-http-client`: one HTTP client scenario run by rlws' client or by
//! reqwest, against a server started by `scripts/bench-http-client.sh`.
//! Prints one line: `client scenario requests seconds req_per_s
//! cpu_us_per_req peak_rss_kib`, where the CPU time is the whole
//! machine's (from /proc/stat: client and server together, so softirq
//! time lands wherever it falls) divided by the requests.
//!
//! peer-http-client rlws|reqwest get URL CONNS REQUESTS [CA]
//! peer-http-client rlws|reqwest h2mux URL REQUESTS CA
//! peer-http-client rlws|reqwest download URL CA

use std::time::Instant;

fn machine_busy_us() -> u64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    let hz = 100; // USER_HZ on Linux
    busy * 1_000_000 / hz
}

fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn ca(path: Option<&String>) -> Option<Vec<u8>> {
    path.map(|p| std::fs::read(p).expect("CA file"))
}

enum Client {
    Rlws(rlws::client::HttpClient),
    Reqwest(reqwest::Client),
}

impl Client {
    fn new(kind: &str, ca: &Option<Vec<u8>>, h2_only: bool, conns: usize) -> Client {
        match kind {
            "rlws" => {
                let tls = rlws::TlsClientOptions {
                    ca_pem: ca.clone(),
                    ..Default::default()
                };
                let v = if h2_only {
                    rlws::client::HttpVersion::Http2
                } else {
                    rlws::client::HttpVersion::Http1
                };
                let mut b = rlws::client::HttpClient::builder()
                    .tls(tls)
                    .version(v)
                    .max_connections_per_endpoint(conns);
                if std::env::var_os("RLWS_NO_IDLE").is_some() {
                    b = b.idle_timeout(None);
                }
                Client::Rlws(b.build().unwrap())
            }
            "reqwest" => {
                let mut b = reqwest::Client::builder().use_rustls_tls();
                if let Some(pem) = ca {
                    b = b.add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap());
                }
                b = if h2_only {
                    b.http2_prior_knowledge()
                } else {
                    b.http1_only()
                };
                Client::Reqwest(b.build().unwrap())
            }
            other => panic!("unknown client {other}"),
        }
    }

    /// GETs `url`, reads the body, returns its length.
    async fn get(&self, url: &str) -> usize {
        match self {
            Client::Rlws(c) => c.get(url).await.unwrap().bytes().await.unwrap().len(),
            Client::Reqwest(c) => c
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len(),
        }
    }

    /// GETs `url`, reading the body piece by piece.
    async fn download(&self, url: &str) -> u64 {
        let mut n = 0u64;
        match self {
            Client::Rlws(c) => {
                let mut b = c.get(url).await.unwrap().into_body();
                while let Some(p) = b.chunk().await.unwrap() {
                    n += p.len() as u64;
                }
            }
            Client::Reqwest(c) => {
                let mut r = c.get(url).send().await.unwrap();
                while let Some(p) = r.chunk().await.unwrap() {
                    n += p.len() as u64;
                }
            }
        }
        n
    }
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (kind, scenario, url) = (a[0].clone(), a[1].clone(), a[2].clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cpu0 = machine_busy_us();
    let t0 = Instant::now();
    let requests: u64 = rt.block_on(async {
        match scenario.as_str() {
            "get" => {
                let conns: usize = a[3].parse().unwrap();
                let per: usize = a[4].parse::<usize>().unwrap() / conns;
                let ca = ca(a.get(5));
                // One client, `conns` requests at a time: as many
                // keep-alive connections.
                let c = std::sync::Arc::new(Client::new(&kind, &ca, false, conns));
                let workers = (0..conns).map(|_| {
                    let c = c.clone();
                    let url = url.clone();
                    async move {
                        for _ in 0..per {
                            assert_eq!(c.get(&url).await, 1024);
                        }
                    }
                });
                futures_util::future::join_all(workers).await;
                (per * conns) as u64
            }
            "h2mux" => {
                let n: usize = a[3].parse().unwrap();
                let c = std::sync::Arc::new(Client::new(&kind, &ca(a.get(4)), true, 1));
                let all = (0..n).map(|_| {
                    let c = c.clone();
                    let url = url.clone();
                    async move { c.get(&url).await }
                });
                let out = futures_util::future::join_all(all).await;
                assert!(out.iter().all(|&l| l == 1024));
                n as u64
            }
            "download" => {
                let c = Client::new(&kind, &ca(a.get(3)), false, 1);
                let n = c.download(&url).await;
                assert!(n > 0);
                1
            }
            other => panic!("unknown scenario {other}"),
        }
    });
    let secs = t0.elapsed().as_secs_f64();
    let cpu = machine_busy_us() - cpu0;
    println!(
        "{kind} {scenario} {requests} {secs:.3} {:.2} {:.1} {}",
        requests as f64 / secs,
        cpu as f64 / requests as f64,
        peak_rss_kib()
    );
}
