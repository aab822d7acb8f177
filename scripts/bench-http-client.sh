#!/usr/bin/env bash
# HTTP client benchmarks: rlws' client against reqwest, each in its own
# process, on the same nginx (Debian nginx-light, one worker) in one run.
# Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench-http-client.sh [ROUNDS]      (default 3; the best round counts)
#
# Scenarios: 1 KiB GETs over 1 and over 16 HTTP/1.1 keep-alive connections,
# 10 000 GETs multiplexed on one h2 connection (TLS), a 1 GiB download over
# HTTP/1.1. CPU is the whole machine's per request (from /proc/stat:
# client, nginx, and the kernel), memory the client's peak RSS.
# Ports 9321-9322 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS="${1:-3}"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || \
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light openssl >/dev/null
cargo build --release -q -p rlws-bench-peers --bin peer-http-client
BIN=target/release/peer-http-client

D="$(mktemp -d /tmp/rlws-bench-hc.XXXXXX)"
trap 'kill "$(cat "$D/nginx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$D"' EXIT
mkdir -p "$D/www"
head -c 1024 /dev/zero > "$D/www/1k.bin"
truncate -s 1G "$D/www/1g.bin"
# A CA, and a P-256 certificate for 127.0.0.1 it signs.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=rlws bench CA" -keyout "$D/ca.key" -out "$D/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=127.0.0.1 -keyout "$D/key.pem" -out "$D/cert.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n' > "$D/ext"
openssl x509 -req -in "$D/cert.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
    -days 2 -extfile "$D/ext" -out "$D/cert.pem" 2>/dev/null
cat > "$D/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1;
pid $D/nginx.pid; error_log $D/error.log warn;
events { worker_connections 4096; }
http {
    access_log off; sendfile on; keepalive_requests 10000000; keepalive_timeout 60s;
    client_body_temp_path $D/b; proxy_temp_path $D/p; fastcgi_temp_path $D/f; scgi_temp_path $D/s; uwsgi_temp_path $D/u;
    server { listen 127.0.0.1:9321; root $D/www; }
    server { listen 127.0.0.1:9322 ssl http2; ssl_certificate $D/cert.pem; ssl_certificate_key $D/key.pem;
             http2_max_concurrent_streams 256; root $D/www; }
}
CONF
/usr/sbin/nginx -p "$D" -c "$D/nginx.conf" -e "$D/error.log" &
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/9322) 2>/dev/null && break
    sleep 0.05
done

H=http://127.0.0.1:9321
S=https://127.0.0.1:9322
best() { # best CLIENT ARGS...: the round with the most requests/s
    local out="" line
    for _ in $(seq "$ROUNDS"); do
        line="$("$BIN" "$@")"
        if [ -z "$out" ] || awk -v a="$line" -v b="$out" 'BEGIN{split(a,x," ");split(b,y," ");exit !(x[5]>y[5])}'; then
            out="$line"
        fi
    done
    echo "$out"
}
row() { # row TITLE ARGS... (without the client)
    local title="$1"; shift
    local r q
    r="$(best rlws "$@")"; q="$(best reqwest "$@")"
    awk -v t="$title" -v r="$r" -v q="$q" 'BEGIN{
        split(r,a," "); split(q,b," ");
        f = (a[5] < 100) ? "%.2f" : "%.0f";
        printf "| %s | " f " | " f " | %.2f | %.1f | %.1f | %.2f | %.1f | %.1f |\n",
            t, a[5], b[5], a[5]/b[5], a[6], b[6], a[6]/b[6], a[7]/1024, b[7]/1024 }'
}
echo "| scenario | rlws req/s | reqwest req/s | ratio | rlws CPU µs/req | reqwest CPU µs/req | ratio | rlws peak MiB | reqwest peak MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row "1 KiB GET, 1 h1 connection, 20 000 requests" get "$H/1k.bin" 1 20000
row "1 KiB GET, 16 h1 connections, 50 000 requests" get "$H/1k.bin" 16 50000
row "10 000 GETs on one h2 connection (TLS)" h2mux "$S/1k.bin" 10000 "$D/ca.pem"
row "1 GiB download, h1 (requests/s = downloads/s)" download "$H/1g.bin"
