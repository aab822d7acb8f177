#!/usr/bin/env bash
# WebSocket benchmarks: rlws against tokio-tungstenite, fastwebsockets and
# libwebsockets servers, measured in the same run by the same load generator
# (`rlws bench`). Prints Markdown tables for BENCHMARKS.md.
#
#   scripts/bench-ws.sh [SECONDS]      (default 5 s per measurement)
#
# Echo rows: ROUNDS rounds (default 3) with the servers taking turns; each
# cell is its server's median round.
#
# Every server gets SERVER_THREADS service/worker threads (default 1; the
# libwebsockets servers always run one) and the load generator
# CLIENT_THREADS (default 1), so on a 2-core machine each side has a core.
# Ports 9100-9105, and 9110-9113 for the same servers over TLS (idle run),
# on 127.0.0.1.
#
# Peers: bench/peers (tokio-tungstenite, fastwebsockets: echo, and
# /broadcast), bench/peers/lws/lws_echo.c (echo with permessage-deflate,
# built here against Debian's libwebsockets-dev) and Debian's
# libwebsockets-test-server (lws-mirror-protocol, for broadcast).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DUR="${1:-5}"
ROUNDS="${ROUNDS:-3}"
ST="${SERVER_THREADS:-1}"
CT="${CLIENT_THREADS:-1}"
IDLE="${IDLE_CONNS:-10000}"
FANOUT="${FANOUT_CONNS:-1000}"
# Enough descriptors for the idle run (libwebsockets sizes its tables by this).
ulimit -n 65536 2>/dev/null || true

need_pkgs=()
[ -f /usr/include/libwebsockets.h ] || need_pkgs+=(libwebsockets-dev)
[ -x /usr/bin/libwebsockets-test-server ] || need_pkgs+=(libwebsockets-test-server)
command -v cc >/dev/null || need_pkgs+=(gcc)
command -v bc >/dev/null || need_pkgs+=(bc)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    echo "bench-ws: installing ${need_pkgs[*]}" >&2
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

cargo build --release --quiet -p rlws-cli -p rlws-bench-peers
R=target/release
cc -O2 -o "$R/lws-echo" bench/peers/lws/lws_echo.c -lwebsockets
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -n "${TLSDIR:-}" ] && rm -rf "$TLSDIR"
}
trap cleanup EXIT

start() { # name port cmd...
    local port="$2"; shift 2
    "$@" >/dev/null 2>&1 &
    pids+=("$!")
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on $port did not start" >&2; exit 1
}

start rlws 9100 "$R/rlws" serve -i 127.0.0.1 -p 9100 -j "$ST" -d warn
RLWS_PID="${pids[-1]}"
start tungstenite 9101 "$R/peer-tungstenite" 9101 "$ST"
TT_PID="${pids[-1]}"
start fastwebsockets 9102 "$R/peer-fastwebsockets" 9102 "$ST"
FW_PID="${pids[-1]}"
start lws-echo 9103 "$R/lws-echo" 9103
LWS_PID="${pids[-1]}"
start lws-test-server 9104 /usr/bin/libwebsockets-test-server --port=9104
LTS_PID="${pids[-1]}"
# The same servers over TLS (P-256 certificate, TLS 1.3), for the idle run.
TLSDIR="$(mktemp -d /tmp/rlws-bench-ws-tls.XXXXXX)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$TLSDIR/key.pem" -out "$TLSDIR/cert.pem" -days 2 -subj /CN=127.0.0.1 \
    -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
start rlws-tls 9110 "$R/rlws" serve -i 127.0.0.1 -p 9110 -j "$ST" -d warn \
    --cert "$TLSDIR/cert.pem" --key "$TLSDIR/key.pem"
RLWS_TLS_PID="${pids[-1]}"
start tungstenite-tls 9111 "$R/peer-tungstenite" 9111 "$ST" "$TLSDIR/cert.pem" "$TLSDIR/key.pem"
TT_TLS_PID="${pids[-1]}"
start fastwebsockets-tls 9112 "$R/peer-fastwebsockets" 9112 "$ST" "$TLSDIR/cert.pem" "$TLSDIR/key.pem"
FW_TLS_PID="${pids[-1]}"
start lws-echo-tls 9113 "$R/lws-echo" 9113 "$TLSDIR/cert.pem" "$TLSDIR/key.pem"
LWS_TLS_PID="${pids[-1]}"
[ -x .venv/bin/python ] || bash scripts/install-test-deps.sh >&2
start websockets 9105 .venv/bin/python bench/peers/websockets_echo.py 9105
PY_PID="${pids[-1]}"

field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }
ratio() { echo "scale=2; $1 / $2" | bc -l | sed 's/^\./0./'; }
median_run() { # of JSON lines on stdin, the one with the median msgs_per_sec
    while read -r l; do echo "$(echo "$l" | field msgs_per_sec) $l"; done |
        sort -n | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }' | cut -d' ' -f2-
}
best() { # prints the largest of the arguments
    local b="$1"; shift
    for v in "$@"; do if [ "$(echo "$v > $b" | bc -l)" = 1 ]; then b="$v"; fi; done
    echo "$b"
}

echo "## Echo"
echo
echo "Each cell: messages/s (latency p50/p99 µs), whole-machine CPU µs per message (/proc/stat:"
echo "server, load generator and kernel together; the load generator is the same for every server);"
echo "the median of $ROUNDS rounds of $DUR s in which the servers took turns."
echo
echo "| scenario | rlws | tokio-tungstenite | fastwebsockets | libwebsockets | rlws ÷ best peer (msg/s) | rlws ÷ lws (CPU/msg) |"
echo "|---|---|---|---|---|---|---|"
names=(rlws tokio-tungstenite fastwebsockets libwebsockets)
urls=(ws://127.0.0.1:9100/echo ws://127.0.0.1:9101/ ws://127.0.0.1:9102/ ws://127.0.0.1:9103/)
srv_pids=("$RLWS_PID" "$TT_PID" "$FW_PID" "$LWS_PID")
for sc in "100 20" "10 1024" "10 16384" "500 16384"; do
    set -- $sc
    c="$1"; s="$2"
    # ROUNDS rounds, the servers taking turns in each, so that the
    # machine's drift (±15 % between minutes here) falls on all alike;
    # each cell is the round with the median rate.
    declare -A runs=()
    for r in $(seq "$ROUNDS"); do
        for i in 0 1 2 3; do
            runs[$i,$r]="$("$R/rlws" bench echo "${urls[$i]}" -c "$c" -s "$s" -d "$DUR" --threads "$CT" --pid "${srv_pids[$i]}" --json)"
        done
    done
    vals=(); cpus=(); cells=()
    for i in 0 1 2 3; do
        j="$(for r in $(seq "$ROUNDS"); do echo "${runs[$i,$r]}"; done | median_run)"
        vals+=("$(echo "$j" | field msgs_per_sec)"); cpus+=("$(echo "$j" | field machine_cpu_us_per_msg)")
        cells+=("${vals[-1]} ($(echo "$j" | field p50_us)/$(echo "$j" | field p99_us)), ${cpus[-1]} µs")
    done
    unset runs
    b="$(best "${vals[1]}" "${vals[2]}" "${vals[3]}")"
    echo "| echo $c × $s B | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | $(ratio "${vals[0]}" "$b") | $(ratio "${cpus[0]}" "${cpus[3]}") |"
done

echo
echo "## permessage-deflate echo"
echo
echo "10 connections × 4096 B of JSON-like text (compresses ≈5:1), through the"
echo "rlws client (which compresses and inflates too). The Rust peers have no"
echo "permessage-deflate, and Debian's libwebsockets 4.1.6 corrupts compressed"
echo "streams under this load (see BENCHMARKS.md), so the peer is Python websockets."
echo
echo "| scenario | rlws | Python websockets | rlws ÷ websockets (msg/s) | rlws ÷ websockets (CPU/msg) |"
echo "|---|---|---|---|---|"
vals=(); cpus=(); cells=()
for u_p in "ws://127.0.0.1:9100/echo $RLWS_PID" "ws://127.0.0.1:9105/ $PY_PID"; do
    set -- $u_p
    j="$("$R/rlws" bench echo "$1" --deflate -c 10 -s 4096 -d "$DUR" --threads "$CT" --pid "$2" --json)"
    vals+=("$(echo "$j" | field msgs_per_sec)"); cpus+=("$(echo "$j" | field machine_cpu_us_per_msg)")
    cells+=("${vals[-1]} ($(echo "$j" | field p50_us)/$(echo "$j" | field p99_us)), ${cpus[-1]} µs")
done
echo "| deflate echo 10 × 4096 B | ${cells[0]} | ${cells[1]} | $(ratio "${vals[0]}" "${vals[1]}") | $(ratio "${cpus[0]}" "${cpus[1]}") |"

echo
echo "## Broadcast"
echo
echo "One sender, $FANOUT receivers, 64-byte text messages; the sender stays"
echo "within 8 messages of the slowest receiver. rlws and libwebsockets run"
echo "lws-mirror-protocol; the Rust peers a tokio broadcast channel on /broadcast."
echo "Each cell: deliveries/s (latency p50/p99 µs), missed deliveries, whole-machine CPU µs per delivery."
echo
echo "| scenario | rlws | tokio-tungstenite | fastwebsockets | libwebsockets | rlws ÷ best peer (deliveries/s) |"
echo "|---|---|---|---|---|---|"
burls=(ws://127.0.0.1:9100/ ws://127.0.0.1:9101/broadcast ws://127.0.0.1:9102/broadcast ws://127.0.0.1:9104/)
bprot=(lws-mirror-protocol "" "" lws-mirror-protocol)
bpids=("$RLWS_PID" "$TT_PID" "$FW_PID" "$LTS_PID")
vals=(); cells=()
for i in 0 1 2 3; do
    p=(); [ -n "${bprot[$i]}" ] && p=(-p "${bprot[$i]}")
    j="$("$R/rlws" bench broadcast "${burls[$i]}" "${p[@]}" -c "$FANOUT" -s 64 -d "$DUR" --threads "$CT" --pid "${bpids[$i]}" --json)"
    vals+=("$(echo "$j" | field deliveries_per_sec)")
    cells+=("${vals[-1]} ($(echo "$j" | field p50_us)/$(echo "$j" | field p99_us)), $(echo "$j" | field missed), $(echo "$j" | field machine_cpu_us_per_delivery) µs")
    sleep 1
done
b="$(best "${vals[1]}" "${vals[2]}" "${vals[3]}")"
echo "| broadcast 1 → $FANOUT × 64 B | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | $(ratio "${vals[0]}" "$b") |"

idle_table() { # TITLE then 4 URLs then 4 PIDs
    local title="$1"; shift
    local u=("$1" "$2" "$3" "$4") p=("$5" "$6" "$7" "$8") cells=() j
    echo
    echo "## $title"
    echo
    echo "| $title | rlws bytes/conn | tokio-tungstenite bytes/conn | fastwebsockets bytes/conn | libwebsockets bytes/conn |"
    echo "|---|---|---|---|---|"
    for i in 0 1 2 3; do
        j="$("$R/rlws" bench idle "${u[$i]}" -c "$IDLE" --pid "${p[$i]}" --json)"
        cells+=("$(echo "$j" | field bytes_per_conn)")
        sleep 1
    done
    echo "| $IDLE | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} |"
}
idle_table "Idle connections" "${urls[@]}" "${srv_pids[@]}"
idle_table "Idle connections over TLS" \
    wss://127.0.0.1:9110/echo wss://127.0.0.1:9111/ wss://127.0.0.1:9112/ wss://127.0.0.1:9113/ \
    "$RLWS_TLS_PID" "$TT_TLS_PID" "$FW_TLS_PID" "$LWS_TLS_PID"
