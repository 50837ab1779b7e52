#!/usr/bin/env bash
# The web app's browser tests: Debian's Chromium driven by playwright-core (npm), against
# the real `rollcall serve` binary with the real photos of ../shared/faces.
#
#   scripts/e2e.sh                       # build, install what is missing, run the suite
#   UPDATE_SCREENSHOTS=1 scripts/e2e.sh  # also rewrite docs/attendance.jpg and docs/report.jpg
#
# Works with no stdin (CI): Chromium comes from apt (as root) when missing, the npm
# packages from the committed lockfile (`npm ci`); Playwright's own browser download is
# never used. On failure, screenshots and browser consoles are in web/e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rollcall/target}"
export ROLLCALL_MODEL_DIR="${ROLLCALL_MODEL_DIR:-$(cd .. && pwd)/shared/models}"
export ROLLCALL_FACES_DIR="${ROLLCALL_FACES_DIR:-$(cd .. && pwd)/shared/faces}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

apt_install() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing $* with apt-get" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null
    else
        echo "error: the browser tests need $* (Debian: sudo apt-get install -y $*)" >&2
        exit 1
    fi
}

[ -x "$CHROMIUM_PATH" ] || apt_install chromium
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
    echo "error: the browser tests need Node.js 18 or newer (found $(node --version))" >&2
    exit 1
fi

if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh | tail -n 1)"
    export ORT_DYLIB_PATH
fi

echo "== e2e: npm ci (playwright-core, axe-core)"
(cd web/e2e && npm ci --no-audit --no-fund --loglevel=error)

echo "== e2e: cargo build -p rollcall"
cargo build -p rollcall
export ROLLCALL_BIN="$CARGO_TARGET_DIR/debug/rollcall"

echo "== e2e: the browser suite ($("$CHROMIUM_PATH" --version 2>/dev/null | head -n 1))"
cd web/e2e
rm -rf artifacts
exec node --test --test-concurrency=1 --test-reporter=spec
