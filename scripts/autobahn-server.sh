#!/usr/bin/env bash
# Run the Autobahn testsuite (kosoku, fuzzingclient mode) against an rlws
# server already listening on 127.0.0.1, then check the report.
#
#   scripts/autobahn-server.sh PORT PATH SECTION...
#   e.g. scripts/autobahn-server.sh 7681 /echo 1 2 3 4 5 6 7 9 10
#
# SECTION is a case-id prefix ("1", "9", "6.4", ...) and becomes kosoku's
# `-i 'SECTION.*'`; an argument that already contains `*` is passed unchanged.
# Report: target/autobahn/server/ (index.json + per-case json/html), kosoku's
# output in target/autobahn/server/kosoku.log.
#
# Environment:
#   AUTOBAHN_PARALLELISM  kosoku -p (default 2: this box has 2 cores)
#   AUTOBAHN_EXCLUDE      space-separated case ids/globs for kosoku -x
#   AUTOBAHN_AGENT        agent name to check (default '*' = whatever is in the
#                         report; kosoku names the agent after the server's
#                         `Server:` header, or HOST:PORT when there is none)
#   AUTOBAHN_TIMEOUT      seconds before kosoku is killed (default 1200)
#
# Expected case count: computed from kosoku's own case index
# (kosoku.cases.CASES) with kosoku's selection rule, so a run that stops early
# or silently skips cases fails the check.  kosoku's rule, verified by
# experiment with kosoku 0.1.0: a pattern containing `*` is a regex with
# `*` -> `.*`, anchored at the start only ("1.*" is 1.x.y but not 10.x,
# "*.1" is every id containing ".1"); a pattern without `*` must be an exact
# case id, else kosoku aborts with "ValueError: no such case".
# Cases per section observed in kosoku 0.1.0 (517 in all):
#   1:16  2:11  3:7  4:10  5:20  6:145  7:37  9:54  10:1  12:90  13:126
#   => sections 1 2 3 4 5 6 7 9 10 = 301 cases
# Timing on the 2-core dev box against a Python `websockets` echo server:
# sections 1-7,9,10 with -p 2 take ~9 s; with -p 1 ~26 s.  A case the server
# never answers costs kosoku's per-case timeout (100 s in section 9).
set -euo pipefail

if [ "$#" -lt 3 ]; then
    echo "usage: $0 PORT PATH SECTION..." >&2
    exit 2
fi
PORT="$1"; URLPATH="$2"; shift 2
URLPATH="/${URLPATH#/}"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
OUT="${AUTOBAHN_OUT:-$REPO/target/autobahn/server}"
PAR="${AUTOBAHN_PARALLELISM:-2}"
AGENT="${AUTOBAHN_AGENT:-*}"
TMO="${AUTOBAHN_TIMEOUT:-1200}"

if [ ! -x "$VENV/bin/kosoku" ]; then
    bash "$REPO/scripts/install-test-deps.sh"
fi

includes=()
for s in "$@"; do
    case "$s" in
        *'*'*) includes+=("$s") ;;
        *)     includes+=("${s%.}.*") ;;
    esac
done
excludes=()
read -r -a excludes <<<"${AUTOBAHN_EXCLUDE:-}"   # split on blanks, no globbing

# Dry listing: how many cases kosoku will run for this selection.
EXPECTED="$("$VENV/bin/python" - "${#includes[@]}" "${includes[@]}" "${excludes[@]}" <<'PY'
import re, sys
from kosoku.cases import CASES
n = int(sys.argv[1]); inc = sys.argv[2:2 + n]; exc = sys.argv[2 + n:]
def hit(case, pat):
    if "*" not in pat:
        return case == pat
    return re.match(".*".join(re.escape(p) for p in pat.split("*")), case) is not None
print(sum(1 for c in CASES if any(hit(c, p) for p in inc) and not any(hit(c, p) for p in exc)))
PY
)"

rm -rf "$OUT"
mkdir -p "$OUT"
URL="ws://127.0.0.1:${PORT}${URLPATH}"
args=(-m fuzzingclient -o "$OUT" -p "$PAR")
for i in "${includes[@]}"; do args+=(-i "$i"); done
for x in "${excludes[@]}"; do args+=(-x "$x"); done

echo "autobahn-server: kosoku ${args[*]} $URL  ($EXPECTED cases)"
start=$(date +%s)
set +e
timeout -k 10 "$TMO" "$VENV/bin/kosoku" "${args[@]}" "$URL" >"$OUT/kosoku.log" 2>&1
krc=$?
set -e
echo "autobahn-server: kosoku exited $krc after $(( $(date +%s) - start ))s (log: $OUT/kosoku.log)"
if [ "$krc" -ne 0 ] && [ "$krc" -ne 1 ]; then
    tail -n 20 "$OUT/kosoku.log" >&2 || true
fi

exec "$VENV/bin/python" "$REPO/scripts/check_autobahn.py" "$OUT" "$AGENT" "$EXPECTED"
