#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
# Installs the external peers first (idempotent), then checks formatting and
# lints, then runs every test: unit, integration over 127.0.0.1, and the
# external peers (lws test client, Python websockets, Autobahn via kosoku).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
cargo test --doc --quiet
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast
else
    echo "cargo-nextest not found (cargo install cargo-nextest --locked); using cargo test"
    cargo test --no-fail-fast
fi
