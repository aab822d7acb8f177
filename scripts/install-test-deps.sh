#!/usr/bin/env bash
# Install the external peers the rlws test suites talk to:
#   * Debian: libwebsockets-test-server  -> /usr/bin/libwebsockets-test-client
#                                           /usr/bin/libwebsockets-test-server
#             nginx-light, tinyproxy, microsocks (HTTP client, proxy tests)
#             netcat-openbsd (raw connection tests)
#             git, cgit (CGI programs for the CGI mount tests)
#   * $REPO/.venv (python3 -m venv) with the PyPI packages
#       kosoku      (Autobahn testsuite cases, `kosoku` CLI)
#       websockets  (asyncio client used by tests/peers/ws_interop.py)
#
# Idempotent and quick when everything is already there: apt-get update only
# runs when a Debian package is missing, pip only runs when a pinned version is
# missing from the venv.  Needs root for apt (CI and dev machines run as root).
# Override the interpreter used to create the venv with PYTHON=/path/python3.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PYTHON="${PYTHON:-python3}"
export DEBIAN_FRONTEND=noninteractive

# Versions verified to work together (Python 3.11, Debian 12).
KOSOKU_VERSION="0.1.0"
WEBSOCKETS_VERSION="17.4"

APT_UPDATED=0
apt_install() {
    # apt_install PKG...  -- installs only the packages that are missing
    local missing=() p
    for p in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps: missing Debian packages ${missing[*]} and no apt-get" >&2
        exit 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        echo "install-test-deps: apt-get update"
        $sudo apt-get update -q >/dev/null
        APT_UPDATED=1
    fi
    echo "install-test-deps: apt-get install ${missing[*]}"
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Debian packages -------------------------------------------------------
# nginx-light, tinyproxy, microsocks: real server and proxies for the HTTP client tests.
# git (git-http-backend) and cgit: real CGI programs for the CGI mount tests.
# prometheus (and its promtool): a real scraper and linter for the metrics endpoint.
apt_install libwebsockets-test-server curl chromium openssl ca-certificates nghttp2-client \
    nginx-light tinyproxy microsocks netcat-openbsd git cgit prometheus
# Node for the browser tests: the machine's own if it has one, else Debian's.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
for b in libwebsockets-test-client libwebsockets-test-server; do
    if [ ! -x "/usr/bin/$b" ]; then
        echo "install-test-deps: /usr/bin/$b missing after install" >&2
        exit 1
    fi
done

# --- Python venv -------------------------------------------------------------
venv_ok() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1 \
        && [ -x "$VENV/bin/pip" ]
}
if ! venv_ok; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        apt_install python3 python3-venv
    fi
    rm -rf "$VENV"
    echo "install-test-deps: creating venv $VENV with $("$PYTHON" --version 2>&1)"
    if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
        # Debian's system python needs python3-venv (ensurepip) for this.
        rm -rf "$VENV"
        apt_install python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
fi

pins_ok() {
    "$VENV/bin/python" - "$KOSOKU_VERSION" "$WEBSOCKETS_VERSION" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
sys.exit(0 if (version("kosoku"), version("websockets")) == (sys.argv[1], sys.argv[2]) else 1)
PY
}
if ! pins_ok; then
    echo "install-test-deps: pip install kosoku==$KOSOKU_VERSION websockets==$WEBSOCKETS_VERSION into $VENV"
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install -q --no-input \
        "kosoku==$KOSOKU_VERSION" "websockets==$WEBSOCKETS_VERSION"
    pins_ok || { echo "install-test-deps: pinned packages still missing" >&2; exit 1; }
fi

# --- Browser tests: playwright-core (no browser download; Debian's chromium) --
BROWSER_DIR="$REPO/tests/browser"
if [ ! -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ]; then
    echo "install-test-deps: npm install in tests/browser (playwright-core)"
    (cd "$BROWSER_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

echo "install-test-deps: ok (lws test apps in /usr/bin, kosoku $KOSOKU_VERSION + websockets $WEBSOCKETS_VERSION in $VENV)"
