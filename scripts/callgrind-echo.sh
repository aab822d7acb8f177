#!/usr/bin/env bash
# User-space instructions per echoed WebSocket message of an `rlws serve`
# binary, counted by valgrind's callgrind (repeatable, unlike CPU time on a
# machine whose two cores both run flat out).
#
#   scripts/callgrind-echo.sh [RLWS_BINARY] [CONNS] [SIZE]
#
# Runs the server under callgrind twice (2 s and 6 s of closed-loop echo from
# `rlws bench`, CONNS connections of SIZE-byte messages, default 10 × 20) and
# prints the slope: (instructions of the long run − the short run) ÷
# (messages of the long run − the short run), so start-up and shutdown cancel
# out. Give an older build's binary to compare two commits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="${1:-target/release/rlws}"
CONNS="${2:-10}"
SIZE="${3:-20}"
PORT=9398
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
[ -x target/release/rlws ] || cargo build --release --quiet -p rlws-cli
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

run() { # seconds -> "instructions messages"
    rm -f "$OUT"/cg.*
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.%p" \
        "$BIN" serve -i 127.0.0.1 -p "$PORT" -j 1 -d warn >/dev/null 2>"$OUT/vg.err" &
    local vp=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    local msgs
    msgs="$(target/release/rlws bench echo "ws://127.0.0.1:$PORT/echo" -c "$CONNS" -s "$SIZE" -d "$1" --json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')"
    kill -INT "$vp"
    wait "$vp" || true
    local ir
    ir="$(grep -h '^totals:' "$OUT"/cg.* | awk '{print $2}' | head -1)"
    echo "$ir $msgs"
}

read -r ir1 m1 < <(run 2)
read -r ir2 m2 < <(run 6)
echo "$BIN: $(( (ir2 - ir1) / (m2 - m1) )) instructions per echoed message ($CONNS × $SIZE B; runs: $ir1/$m1, $ir2/$m2)"
