#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library that rollcall's face engine loads at run time.
#
# Downloads ONE pinned onnxruntime wheel from PyPI with pip, checks its sha256, extracts
# `libonnxruntime.so.<version>` into ${ROLLCALL_CACHE_DIR:-$HOME/.cache/rollcall}/onnxruntime/<version>/
# and prints the absolute path of the library on its last line. Idempotent: when the library is
# already there (and its recorded wheel hash matches the pin) nothing is downloaded.
#
# Use:  export ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh | tail -n1)"
set -euo pipefail

VERSION="1.31.1"
# manylinux_2_28 is the oldest tag this release is published with (glibc >= 2.28).
PLATFORM="manylinux_2_28_x86_64"
PYTHON_VERSION="3.11"
WHEEL="onnxruntime-${VERSION}-cp311-cp311-${PLATFORM}.whl"
WHEEL_SHA256="5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"

CACHE_DIR="${ROLLCALL_CACHE_DIR:-$HOME/.cache/rollcall}"
DEST="${CACHE_DIR}/onnxruntime/${VERSION}"
LIB="${DEST}/libonnxruntime.so.${VERSION}"
STAMP="${DEST}/wheel.sha256"

log() { echo "fetch-onnxruntime: $*" >&2; }

if [[ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]]; then
    log "only Linux x86_64 is supported by this script; set ORT_DYLIB_PATH to your own libonnxruntime"
    exit 1
fi

if [[ -s "$LIB" && -f "$STAMP" && "$(cat "$STAMP")" == "$WHEEL_SHA256" ]]; then
    log "already present: $LIB"
    echo "$LIB"
    exit 0
fi

command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || {
    log "pip is required (apt-get install python3-pip)"
    exit 1
}
PIP="$(command -v pip || command -v pip3)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

log "downloading onnxruntime ${VERSION} (${PLATFORM}) from PyPI"
"$PIP" download "onnxruntime==${VERSION}" --no-deps --only-binary=:all: \
    --platform "$PLATFORM" --python-version "$PYTHON_VERSION" -d "$TMP" >&2

FILE="$TMP/$WHEEL"
if [[ ! -f "$FILE" ]]; then
    log "expected wheel $WHEEL was not downloaded; got: $(ls "$TMP")"
    exit 1
fi

ACTUAL="$(sha256sum "$FILE" | cut -d' ' -f1)"
if [[ "$ACTUAL" != "$WHEEL_SHA256" ]]; then
    log "sha256 mismatch for $WHEEL: expected $WHEEL_SHA256, got $ACTUAL"
    exit 1
fi

mkdir -p "$DEST"
python3 - "$FILE" "$DEST" "$VERSION" <<'PY'
import sys, zipfile, os, shutil
wheel, dest, version = sys.argv[1:4]
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z, z.open(name) as src:
    tmp = os.path.join(dest, f".libonnxruntime.so.{version}.part")
    with open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
    os.chmod(tmp, 0o755)
    os.replace(tmp, os.path.join(dest, f"libonnxruntime.so.{version}"))
PY
echo "$WHEEL_SHA256" > "$STAMP"
log "installed $LIB"
echo "$LIB"
