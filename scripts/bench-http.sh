#!/usr/bin/env bash
# HTTP benchmarks: `rlws serve --root` against nginx (Debian nginx-light)
# serving the same files, with the same number of worker threads/processes
# (SERVER_THREADS, default 1, so on 2 cores the load generator has the other
# core). Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench-http.sh [SECONDS]     (default 5 s per measurement)
#
# Each row: ROUNDS rounds (default 3), rlws and nginx taking turns; each
# cell is the median round.
#
# Scenarios: a 1 KiB and a 1 MiB file over HTTP/1.1 keep-alive (wrk), the
# same over h2 on TLS (h2load, 10 streams per connection), and TLS
# handshakes per second (wrk over https with "Connection: close": one
# handshake, TLS 1.3 with X25519 and a P-256 certificate, per request).
# Ports 9301-9312 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DUR="${1:-5}"
# Rounds per row, rlws and nginx taking turns; each cell is the median.
ROUNDS="${ROUNDS:-3}"
W="${SERVER_THREADS:-1}"
CONNS="${CONNS:-64}"
ulimit -n 65536 2>/dev/null || true

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v openssl >/dev/null || need+=(openssl)
if [ "${#need[@]}" -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}" >/dev/null
    # The package starts a system nginx on port 80; this script runs its own.
    pkill -x nginx 2>/dev/null || true
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# RLWS=/path/to/rlws measures another build (say, an older commit's) instead.
if [ -z "${RLWS:-}" ]; then
    cargo build --release -p rlws-cli >/dev/null 2>&1
    RLWS=target/release/rlws
fi

WORK="$(mktemp -d /tmp/rlws-bench-http.XXXXXX)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$WORK/www/1m.bin"
# nginx's workers run as www-data: let them read the files.
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/"*
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 2 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null

cat >"$WORK/nginx.conf" <<CONF
worker_processes $W;
daemon off;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $WORK/tmp;
    proxy_temp_path $WORK/tmp;
    fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp;
    scgi_temp_path $WORK/tmp;
    server { listen 127.0.0.1:9301; root $WORK/www; }
    server {
        listen 127.0.0.1:9302 ssl http2;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;
        root $WORK/www;
    }
}
CONF
mkdir -p "$WORK/tmp"
"$NGINX" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
PIDS+=($!)
"$RLWS" serve -i 127.0.0.1 -p 9311 -j "$W" --root "$WORK/www" -d warn >/dev/null &
PIDS+=($!)
"$RLWS" serve -i 127.0.0.1 -p 9312 -j "$W" --root "$WORK/www" -d warn \
    --cert "$WORK/cert.pem" --key "$WORK/key.pem" >/dev/null &
PIDS+=($!)
for p in 9301 9302 9311 9312; do
    for _ in $(seq 100); do
        (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break
        sleep 0.05
    done
done

# Every server must answer 200 with the whole file before it is measured.
for u in http://127.0.0.1:9301 https://127.0.0.1:9302 http://127.0.0.1:9311 https://127.0.0.1:9312; do
    for f in 1k.bin 1m.bin; do
        got="$(curl -sk -o /dev/null -w '%{http_code} %{size_download}' "$u/$f")"
        want="200 $(stat -c %s "$WORK/www/$f")"
        if [ "$got" != "$want" ]; then
            echo "bench-http: $u/$f answered \"$got\", expected \"$want\"" >&2
            exit 1
        fi
    done
done

wrk_rps() { # URL [extra wrk args...]
    local url="$1"; shift
    wrk -t1 -c"$CONNS" -d"${DUR}s" "$@" "$url" | awk '/^Requests\/sec:/ {printf "%.0f", $2}'
}
h2_rps() { # URL
    h2load -D "$DUR" -c 16 -m 10 "$1" 2>/dev/null | awk '/^finished in/ {gsub(",", "", $4); printf "%.0f", $4}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

echo "| scenario | rlws req/s | nginx req/s | rlws ÷ nginx |"
echo "|---|---:|---:|---:|"
row() { # NAME MEASURE RLWS_URL NGINX_URL [extra args]: ROUNDS rounds, taking turns
    local name="$1" measure="$2" ru="$3" nu="$4"; shift 4
    local rs="" ns=""
    for _ in $(seq "$ROUNDS"); do
        rs="$rs $("$measure" "$ru" "$@")"
        ns="$ns $("$measure" "$nu" "$@")"
    done
    local r n
    r="$(echo "$rs" | median)"; n="$(echo "$ns" | median)"
    echo "| $name | $r | $n | $(ratio "$r" "$n") |"
}
row "1 KiB file, HTTP/1.1 keep-alive, $CONNS conns (wrk)" wrk_rps \
    http://127.0.0.1:9311/1k.bin http://127.0.0.1:9301/1k.bin
row "1 MiB file, HTTP/1.1 keep-alive, $CONNS conns (wrk)" wrk_rps \
    http://127.0.0.1:9311/1m.bin http://127.0.0.1:9301/1m.bin
row "1 KiB file, h2 over TLS, 16 conns × 10 streams (h2load)" h2_rps \
    https://127.0.0.1:9312/1k.bin https://127.0.0.1:9302/1k.bin
row "1 MiB file, h2 over TLS, 16 conns × 10 streams (h2load)" h2_rps \
    https://127.0.0.1:9312/1m.bin https://127.0.0.1:9302/1m.bin
CONNS=16 row "TLS handshakes/s (new connection per 1 KiB request, 16 conns, wrk)" wrk_rps \
    https://127.0.0.1:9312/1k.bin https://127.0.0.1:9302/1k.bin -H "Connection: close"
