#!/usr/bin/env bash
# User-space instructions per echoed WebSocket message, counted by
# valgrind's callgrind (repeatable, unlike CPU time on a machine whose two
# cores both run flat out), for rlws and the echo peers of bench-ws.sh.
#
#   scripts/callgrind-echo.sh [-c CONNS] [-s SIZE] [SERVER...]
#
# SERVER is rlws (the default), tungstenite, fastwebsockets, lws
# (bench/peers/lws/lws_echo.c against Debian's libwebsockets), or the path
# of an rlws binary (an older build, to compare two commits). Each server
# runs under callgrind twice (2 s and 6 s of closed-loop echo from
# `rlws bench`, CONNS connections of SIZE-byte messages, default 10 × 20),
# and the slope is printed: (instructions of the long run − the short run)
# ÷ (messages of the long run − the short run), so start-up and shutdown
# cancel out. Messages are counted from the first, warm-up included (the
# server's instructions are too). One service/worker thread each.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONNS=10
SIZE=20
while getopts "c:s:" o; do
    case "$o" in
        c) CONNS="$OPTARG" ;;
        s) SIZE="$OPTARG" ;;
        *) echo "usage: $0 [-c CONNS] [-s SIZE] [SERVER...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "$#" -gt 0 ] || set -- rlws
PORT=9398
R=target/release
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
cargo build --release --quiet -p rlws-cli
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# server NAME -> sets CMD (array) and URL
server() {
    case "$1" in
        rlws) CMD=("$R/rlws" serve -i 127.0.0.1 -p "$PORT" -j 1 -d warn); URL="ws://127.0.0.1:$PORT/echo" ;;
        tungstenite|fastwebsockets)
            cargo build --release --quiet -p rlws-bench-peers
            CMD=("$R/peer-$1" "$PORT" 1); URL="ws://127.0.0.1:$PORT/" ;;
        lws)
            [ -f /usr/include/libwebsockets.h ] || { echo "libwebsockets-dev missing: apt-get install libwebsockets-dev" >&2; exit 1; }
            cc -O2 -o "$R/lws-echo" bench/peers/lws/lws_echo.c -lwebsockets
            CMD=("$R/lws-echo" "$PORT"); URL="ws://127.0.0.1:$PORT/" ;;
        *)
            [ -x "$1" ] || { echo "$1: not a server name or an rlws binary" >&2; exit 2; }
            CMD=("$1" serve -i 127.0.0.1 -p "$PORT" -j 1 -d warn); URL="ws://127.0.0.1:$PORT/echo" ;;
    esac
}

run() { # seconds -> "instructions messages"
    rm -f "$OUT"/cg.*
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" "${CMD[@]}" >/dev/null 2>"$OUT/vg.err" &
    local vp=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    local msgs
    msgs="$("$R/rlws" bench echo "$URL" -c "$CONNS" -s "$SIZE" -d "$1" --json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages_with_warmup"])')"
    kill -TERM "$vp"
    wait "$vp" || true
    local ir
    ir="$(grep -h '^totals:' "$OUT"/cg.* | awk '{print $2}' | head -1)"
    echo "$ir $msgs"
}

for s in "$@"; do
    server "$s"
    read -r ir1 m1 < <(run 2)
    read -r ir2 m2 < <(run 6)
    echo "$s: $(( (ir2 - ir1) / (m2 - m1) )) instructions per echoed message ($CONNS × $SIZE B; runs: $ir1/$m1, $ir2/$m2)"
done
