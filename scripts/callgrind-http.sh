#!/usr/bin/env bash
# User-space instructions and heap allocations per keep-alive HTTP/1.1
# request of `rlws serve --root`, counted by valgrind (callgrind, then dhat):
# the server runs a 2 s and a 5 s `wrk -c1` run of one file, and the slopes
# between the two are printed, so start-up and shutdown cancel out.
#
#   scripts/callgrind-http.sh [RLWS_BINARY...]
#
# Files: 1 KiB and 1 MiB (both served from the per-thread cache), made in a
# scratch directory. Give older builds' binaries to compare commits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
[ "$#" -gt 0 ] || { cargo build --release --quiet -p rlws-cli; set -- target/release/rlws; }
PORT=9475
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
mkdir -p "$OUT/www"
head -c 1024 /dev/urandom > "$OUT/www/1k.bin"
head -c 1048576 /dev/urandom > "$OUT/www/1m.bin"
# Settled files (older than two seconds) are the ones the cache keeps.
touch -d '1 hour ago' "$OUT/www/"*

run() { # tool binary file seconds -> "count requests"
    rm -f "$OUT"/vg.*
    case "$1" in
        callgrind) valgrind --tool=callgrind --callgrind-out-file="$OUT/vg.%p" "$2" serve -i 127.0.0.1 -p "$PORT" -j 1 -d warn --root "$OUT/www" >/dev/null 2>"$OUT/err" & ;;
        dhat) valgrind --tool=dhat --dhat-out-file="$OUT/vg.%p" "$2" serve -i 127.0.0.1 -p "$PORT" -j 1 -d warn --root "$OUT/www" >/dev/null 2>"$OUT/err" & ;;
    esac
    local vp=$!
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    local n
    n="$(wrk -t1 -c1 -d"$4"s "http://127.0.0.1:$PORT/$3" | awk '/requests in/ {print $1}')"
    kill -TERM "$vp"
    wait "$vp" || true
    case "$1" in
        callgrind) echo "$(grep -h '^totals:' "$OUT"/vg.* | awk '{print $2}' | head -1) $n" ;;
        dhat) echo "$(grep -E 'Total:' "$OUT/err" | awk '{gsub(",", "", $6); print $6}') $n" ;;
    esac
}

for bin in "$@"; do
    for f in 1k.bin 1m.bin; do
        read -r i1 r1 < <(run callgrind "$bin" "$f" 2)
        read -r i2 r2 < <(run callgrind "$bin" "$f" 5)
        read -r a1 q1 < <(run dhat "$bin" "$f" 2)
        read -r a2 q2 < <(run dhat "$bin" "$f" 5)
        echo "$bin $f: $(( (i2 - i1) / (r2 - r1) )) instructions, $(( (a2 - a1) * 10 / (q2 - q1) / 10 )) allocations per request"
    done
done
