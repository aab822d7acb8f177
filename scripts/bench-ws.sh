#!/usr/bin/env bash
# WebSocket echo benchmark: rlws against tokio-tungstenite and fastwebsockets
# echo servers (bench/peers), measured in the same run by the same load
# generator (`rlws bench`). Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench-ws.sh [SECONDS]      (default 5 s per measurement)
#
# Every server gets SERVER_THREADS service/worker threads (default 1) and the
# load generator CLIENT_THREADS (default 1), so on a 2-core machine each side
# has a core. Ports 9100-9102 on 127.0.0.1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DUR="${1:-5}"
ST="${SERVER_THREADS:-1}"
CT="${CLIENT_THREADS:-1}"
IDLE="${IDLE_CONNS:-10000}"

cargo build --release --quiet -p rlws-cli -p rlws-bench-peers
R=target/release
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
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

names=(rlws tokio-tungstenite fastwebsockets)
urls=(ws://127.0.0.1:9100/echo ws://127.0.0.1:9101/ ws://127.0.0.1:9102/)
srv_pids=("$RLWS_PID" "$TT_PID" "$FW_PID")

rate() { "$R/rlws" bench echo "$1" -c "$2" -s "$3" -d "$DUR" --threads "$CT" --pid "$4" --json; }
field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/"; }

echo "Each cell: messages/s, latency p50/p99 in µs, server CPU µs per message."
echo
echo "| scenario | rlws | tokio-tungstenite | fastwebsockets | rlws ÷ tungstenite (msg/s, CPU/msg) | rlws ÷ fastwebsockets (msg/s, CPU/msg) |"
echo "|---|---|---|---|---|---|"
for sc in "100 20" "10 1024" "10 16384" "500 16384"; do
    set -- $sc
    c="$1"; s="$2"
    vals=(); cpus=(); cells=()
    for i in 0 1 2; do
        j="$(rate "${urls[$i]}" "$c" "$s" "${srv_pids[$i]}")"
        r="$(echo "$j" | field msgs_per_sec)"
        u="$(echo "$j" | field server_cpu_us_per_msg)"
        vals+=("$r"); cpus+=("$u")
        cells+=("$r ($(echo "$j" | field p50_us)/$(echo "$j" | field p99_us)), $u µs")
    done
    printf '| echo %s × %s B | %s | %s | %s | %.2f, %.2f | %.2f, %.2f |\n' "$c" "$s" "${cells[0]}" "${cells[1]}" "${cells[2]}" \
        "$(echo "${vals[0]} / ${vals[1]}" | bc -l)" "$(echo "${cpus[0]} / ${cpus[1]}" | bc -l)" \
        "$(echo "${vals[0]} / ${vals[2]}" | bc -l)" "$(echo "${cpus[0]} / ${cpus[2]}" | bc -l)"
done

echo
echo "| idle connections | rlws bytes/conn | tokio-tungstenite bytes/conn | fastwebsockets bytes/conn |"
echo "|---|---|---|---|"
cells=()
for i in 0 1 2; do
    j="$("$R/rlws" bench idle "${urls[$i]}" -c "$IDLE" --pid "${srv_pids[$i]}" --json)"
    cells+=("$(echo "$j" | field bytes_per_conn)")
    sleep 1
done
echo "| $IDLE | ${cells[0]} | ${cells[1]} | ${cells[2]} |"
