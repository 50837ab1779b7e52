#!/usr/bin/env bash
# Load benchmark of a non-photo endpoint (issue 10): `GET /get_all_students` of a teacher
# with STUDENTS enrolled students, with wrk, on SQLite and on PostgreSQL; prints requests/s
# and latency percentiles (p50, p99). A benchmark, not a test: run it on a quiet machine.
#
#   scripts/bench-load.sh                       # release binary (built if missing)
#   ROLLCALL_BIN=path/to/rollcall scripts/bench-load.sh
#   DURATION=20 CONNECTIONS=32 STUDENTS=20 scripts/bench-load.sh
#
# Needs wrk (installed with apt-get when missing and root), curl, python3, PostgreSQL on
# 127.0.0.1:5432 (scripts/ensure-services.sh), ORT_DYLIB_PATH, ROLLCALL_MODEL_DIR and
# ROLLCALL_FACES_DIR (the students are enrolled from identities/ through the API).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-15}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
STUDENTS="${STUDENTS:-20}"
PG_ADMIN="${ROLLCALL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rollcall/target}"

die() { echo "bench-load.sh: $*" >&2; exit 1; }

if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
    else
        die "wrk is needed (Debian: apt-get install wrk)"
    fi
fi
[ -n "${ORT_DYLIB_PATH:-}" ] || ORT_DYLIB_PATH="$(scripts/fetch-onnxruntime.sh | tail -n 1)"
export ORT_DYLIB_PATH
[ -d "${ROLLCALL_FACES_DIR:-}/identities" ] || die "ROLLCALL_FACES_DIR must hold identities/"

BIN="${ROLLCALL_BIN:-${TARGET_DIR}/release/rollcall}"
if [ -z "${ROLLCALL_BIN:-}" ]; then
    cargo build --quiet --release -p rollcall --bin rollcall
fi
[ -x "${BIN}" ] || die "no rollcall binary at ${BIN}"

WORK="$(mktemp -d)"
SERVER_PID=""
DB=""
stop_server() {
    if [ -n "${SERVER_PID}" ]; then kill "${SERVER_PID}" 2>/dev/null || true; wait "${SERVER_PID}" 2>/dev/null || true; fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    [ -n "${DB}" ] && psql -q "${PG_ADMIN}" -c "DROP DATABASE IF EXISTS \"${DB}\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "${WORK}"
}
trap cleanup EXIT

# Starts the server with the extra environment given as arguments; sets BASE and LOG.
start_server() {
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    BASE="http://127.0.0.1:${port}"
    LOG="${WORK}/server-${port}.log"
    env -u ROLLCALL_DATABASE_URL -u ROLLCALL_REDIS_URL -u ROLLCALL_SMTP_URL -u ROLLCALL_CONFIG \
        ROLLCALL_BIND="127.0.0.1:${port}" ROLLCALL_DATA_DIR="${WORK}/data-${port}" \
        ROLLCALL_JWT_SECRET="bench-load-secret-bench-load-secret-01234" \
        ROLLCALL_LOG="warn,rollcall=info" NO_COLOR=1 "$@" \
        "${BIN}" serve >"${LOG}" 2>&1 </dev/null &
    SERVER_PID=$!
    for _ in $(seq 1 600); do
        grep -q "listening" "${LOG}" 2>/dev/null && return 0
        kill -0 "${SERVER_PID}" 2>/dev/null || break
        sleep 0.2
    done
    cat "${LOG}" >&2
    die "the server did not start"
}

post() { curl -fsS -X POST -H 'Content-Type: application/json' --data "$2" "${BASE}$1"; }

# Signs a teacher up (code from the log mailer), enrols STUDENTS people; sets TOKEN.
prepare_teacher() {
    local email="bench-$$-${RANDOM}@school.example.org" password="Bench-pass-1" code=""
    post /send-email-verification-otp "{\"email\":\"${email}\"}" >/dev/null
    for _ in $(seq 1 100); do
        code="$(grep "${email}" "${LOG}" | grep -o 'is: [0-9]\{6\}' | tail -n 1 | cut -c5- || true)"
        [ -n "${code}" ] && break
        sleep 0.1
    done
    [ -n "${code}" ] || die "no code in the log"
    post /verify-email-confirm-otp "{\"email\":\"${email}\",\"otp\":\"${code}\"}" >/dev/null
    post /create_user "{\"user_id\":\"bench-${RANDOM}\",\"email\":\"${email}\",\"password\":\"${password}\"}" >/dev/null
    TOKEN="$(post /login "{\"email\":\"${email}\",\"password\":\"${password}\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    local n=0 person photo
    for person in $(ls "${ROLLCALL_FACES_DIR}/identities" | sort); do
        [ "${n}" -ge "${STUDENTS}" ] && break
        for photo in $(ls "${ROLLCALL_FACES_DIR}/identities/${person}" | sort); do
            if curl -fsS -o /dev/null -H "Authorization: Bearer ${TOKEN}" \
                -F "data={\"name\":\"${person}\",\"roll_no\":\"${n}\"}" \
                -F "image=@${ROLLCALL_FACES_DIR}/identities/${person}/${photo}" \
                "${BASE}/addStudent" 2>/dev/null; then
                n=$((n + 1))
                break
            fi
        done
    done
    local listed
    listed="$(curl -fsS -H "Authorization: Bearer ${TOKEN}" "${BASE}/get_all_students" \
        | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["msg"]))')"
    echo "   ${listed} students enrolled" >&2
}

run_wrk() {
    local label="$1" out
    out="$(wrk -t"${THREADS}" -c"${CONNECTIONS}" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer ${TOKEN}" "${BASE}/get_all_students")"
    echo "${out}" >&2
    local rps p50 p99 non2xx
    rps="$(echo "${out}" | awk '/^Requests\/sec/ {print $2}')"
    p50="$(echo "${out}" | awk '$1 == "50%" {print $2}')"
    p99="$(echo "${out}" | awk '$1 == "99%" {print $2}')"
    non2xx="$(echo "${out}" | awk '/Non-2xx/ {print $4}')"
    printf '%-10s %8s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "${label}" "${rps}" "${p50}" "${p99}" "${non2xx:-0}"
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}s GET /get_all_students (${STUDENTS} students), ${BIN}" >&2

echo "== SQLite" >&2
start_server
prepare_teacher
SQLITE_LINE="$(run_wrk SQLite)"
stop_server

echo "== PostgreSQL" >&2
DB="rollcall_bench_$$"
psql -q "${PG_ADMIN}" -c "CREATE DATABASE \"${DB}\"" >/dev/null || die "cannot create a database on ${PG_ADMIN}"
start_server ROLLCALL_DATABASE_URL="${PG_ADMIN%/*}/${DB}" ROLLCALL_MAIL_TO_LOG=true
prepare_teacher
PG_LINE="$(run_wrk PostgreSQL)"
stop_server

echo
echo "GET /get_all_students, ${STUDENTS} students, ${CONNECTIONS} connections, ${DURATION} s, load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "${SQLITE_LINE}"
echo "${PG_LINE}"
