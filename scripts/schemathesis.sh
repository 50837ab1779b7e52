#!/usr/bin/env bash
# Schemathesis against the real `rollcall` binary (issue 10, "proof in CI"): every phase
# (examples, coverage, fuzzing, stateful), authenticated as a teacher signed up through the
# API, a bounded number of examples per operation. Fails unless Schemathesis reports no
# failure at all (no server error, no schema violation, no undocumented status code, ...).
#
#   scripts/schemathesis.sh                # uses (and builds if needed) the debug binary
#   ROLLCALL_BIN=path/to/rollcall scripts/schemathesis.sh
#   ST_MAX_EXAMPLES=50 scripts/schemathesis.sh
#
# Needs python3 with venv, ORT_DYLIB_PATH (scripts/fetch-onnxruntime.sh) and the model
# folder (ROLLCALL_MODEL_DIR). Schemathesis is installed with pip, pinned, into a venv under
# ${ROLLCALL_CACHE_DIR:-~/.cache/rollcall}. The server runs on its embedded defaults (SQLite
# in a temporary folder, in-process store, mail to the log, from which the code is read).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION="4.32.5"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
CACHE_DIR="${ROLLCALL_CACHE_DIR:-$HOME/.cache/rollcall}"
VENV="${CACHE_DIR}/schemathesis-venv"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rollcall/target}"

die() { echo "schemathesis.sh: $*" >&2; exit 1; }

[ -n "${ORT_DYLIB_PATH:-}" ] || ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh | tail -n 1)"
export ORT_DYLIB_PATH
[ -d "${ROLLCALL_MODEL_DIR:-}" ] || die "ROLLCALL_MODEL_DIR (${ROLLCALL_MODEL_DIR:-unset}) is not a folder with the face models"

if [ ! -x "${VENV}/bin/st" ] || ! "${VENV}/bin/st" --version 2>/dev/null | grep -q "${ST_VERSION}"; then
    command -v python3 >/dev/null || die "python3 is needed (Debian: apt-get install python3 python3-venv)"
    echo "== installing schemathesis ${ST_VERSION} into ${VENV}" >&2
    rm -rf "${VENV}"
    python3 -m venv "${VENV}" || die "cannot create a venv (Debian: apt-get install python3-venv)"
    "${VENV}/bin/pip" install --quiet --disable-pip-version-check "schemathesis==${ST_VERSION}" \
        || die "pip could not install schemathesis==${ST_VERSION}"
fi

BIN="${ROLLCALL_BIN:-${TARGET_DIR}/debug/rollcall}"
if [ -z "${ROLLCALL_BIN:-}" ]; then
    cargo build --quiet -p rollcall --bin rollcall
fi
[ -x "${BIN}" ] || die "no rollcall binary at ${BIN}"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "${SERVER_PID}" ]; then kill "${SERVER_PID}" 2>/dev/null || true; wait "${SERVER_PID}" 2>/dev/null || true; fi
    rm -rf "${WORK}"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:${PORT}"
LOG="${WORK}/server.log"
# Embedded defaults; limits raised so that Schemathesis explores rather than hits
# throttles (429s are documented and would pass, but teach nothing).
env -u ROLLCALL_DATABASE_URL -u ROLLCALL_REDIS_URL -u ROLLCALL_SMTP_URL -u ROLLCALL_CONFIG \
    ROLLCALL_BIND="127.0.0.1:${PORT}" \
    ROLLCALL_DATA_DIR="${WORK}/data" \
    ROLLCALL_JWT_SECRET="schemathesis-secret-schemathesis-secret-0" \
    ROLLCALL_LOG="info" \
    ROLLCALL_LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 \
    ROLLCALL_LOGIN_MAX_FAILURES_PER_IP=1000000 \
    ROLLCALL_OTP_COOLDOWN_SECONDS=1 \
    ROLLCALL_OTP_MAX_SENDS_PER_DAY=1000000 \
    ROLLCALL_OTP_MAX_GUESSES_PER_DAY=1000000 \
    ROLLCALL_OTP_MAX_GUESSES_PER_CLIENT_PER_DAY=1000000 \
    ROLLCALL_UPLOADS_PER_TEACHER=8 \
    ROLLCALL_INFERENCE_QUEUE=32 \
    NO_COLOR=1 \
    "${BIN}" serve >"${LOG}" 2>&1 </dev/null &
SERVER_PID=$!

for _ in $(seq 1 600); do
    grep -q "listening" "${LOG}" 2>/dev/null && break
    kill -0 "${SERVER_PID}" 2>/dev/null || { cat "${LOG}" >&2; die "the server stopped"; }
    sleep 0.2
done
grep -q "listening" "${LOG}" || { cat "${LOG}" >&2; die "the server did not start"; }

# A teacher, signed up through the API: the code is read from the log mailer's line.
EMAIL="schemathesis-$$@school.example.org"
PASSWORD="Schemathesis-pass-1"
post() { curl -fsS -X POST -H 'Content-Type: application/json' --data "$2" "${BASE}$1"; }
post /send-email-verification-otp "{\"email\":\"${EMAIL}\"}" >/dev/null
CODE=""
for _ in $(seq 1 100); do
    CODE="$(grep "${EMAIL}" "${LOG}" | grep -o 'is: [0-9]\{6\}' | tail -n 1 | cut -c5- || true)"
    [ -n "${CODE}" ] && break
    sleep 0.1
done
[ -n "${CODE}" ] || { cat "${LOG}" >&2; die "no code for ${EMAIL} in the log"; }
post /verify-email-confirm-otp "{\"email\":\"${EMAIL}\",\"otp\":\"${CODE}\"}" >/dev/null
post /create_user "{\"user_id\":\"schemathesis\",\"email\":\"${EMAIL}\",\"password\":\"${PASSWORD}\"}" >/dev/null
TOKEN="$(post /login "{\"email\":\"${EMAIL}\",\"password\":\"${PASSWORD}\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
[ -n "${TOKEN}" ] || die "no token"

echo "== schemathesis ${ST_VERSION}: ${BASE}/openapi.json, all phases, ${MAX_EXAMPLES} examples per operation" >&2
# /logout and /delete_account would end the session the rest of the run needs; the
# accounts tests cover them. Every check runs except `positive_data_acceptance`, which
# expects any schema-valid request to succeed: a wrong one-time code, a photo without a
# face or a one-kind password are schema-valid and rightly refused (400/422, documented).
set +e
# From the temporary folder: Schemathesis keeps its example database in ./.schemathesis.
cd "${WORK}"
"${VENV}/bin/st" run "${BASE}/openapi.json" \
    --header "Authorization: Bearer ${TOKEN}" \
    --phases examples,coverage,fuzzing,stateful \
    --checks all --exclude-checks positive_data_acceptance \
    --max-examples "${MAX_EXAMPLES}" \
    --exclude-path /logout --exclude-path /delete_account \
    --workers 2 \
    --request-timeout 60 \
    --seed 1 \
    --no-color \
    --report junit --report-dir "${WORK}/report" \
    </dev/null
STATUS=$?
set -e
cd - >/dev/null
if grep -q "panicked" "${LOG}"; then
    grep -n -B2 -A5 "panicked" "${LOG}" >&2
    die "the server panicked"
fi
SERVER_ERRORS="$(grep -c 'status=5[0-9][0-9]\|internal error' "${LOG}" || true)"
echo "== server log: ${SERVER_ERRORS} lines with a 5xx status or an internal error" >&2
[ "${STATUS}" = 0 ] || die "schemathesis reported failures (exit ${STATUS})"
echo "== schemathesis: no failures" >&2
