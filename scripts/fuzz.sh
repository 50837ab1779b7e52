#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (issue 10, "proof in CI") for a bounded time each:
#   decode   photo decoding (rollcall_face::decode::decode) with the service's limits
#   request  request parsing: multipart bodies as the photo endpoints read them, the
#            enrolment `data` JSON, roll numbers, mail addresses, dates
#
#   scripts/fuzz.sh           build (incrementally) and run each target FUZZ_SECONDS (default 45)
#   scripts/fuzz.sh --build   build only (e.g. to time a cold build; see the README's Proof section)
#
# The targets depend on two light crates only: rollcall-face without its `fetch` feature
# (decoding) and rollcall-input (request parsing), not on the service (sqlx, lettre, redis,
# utoipa, ...), so a cold build takes minutes and `make test` always fuzzes.
#
# Only the stable toolchain is needed: cargo-fuzz is installed if missing, RUSTC_BOOTSTRAP=1
# lets it pass its flags, `--sanitizer none` and a dev build (fuzz/Cargo.toml: opt-level 1)
# keep the build small. Build output lives in ${ROLLCALL_CACHE_DIR:-~/.cache/rollcall}/fuzz-target,
# the growing corpus in .../fuzz-corpus/<target>; the seeds committed in fuzz/corpus/ are
# read, never written. A crash leaves its input in fuzz/artifacts/<target>/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${FUZZ_SECONDS:-45}"
CACHE_DIR="${ROLLCALL_CACHE_DIR:-$HOME/.cache/rollcall}"
export CARGO_TARGET_DIR="${CACHE_DIR}/fuzz-target"
export RUSTC_BOOTSTRAP=1
TARGETS=(decode request)
BUILD=0
[ "${1:-}" = "--build" ] && BUILD=1

die() { echo "fuzz.sh: $*" >&2; exit 1; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz || die "cannot install cargo-fuzz (cargo install cargo-fuzz)"
fi

# Incremental when cached: only what changed since the last run is rebuilt.
start=$(date +%s)
log="${CACHE_DIR}/fuzz-build.log"
mkdir -p "${CACHE_DIR}"
cargo fuzz build --fuzz-dir fuzz --dev --sanitizer none >"${log}" 2>&1 \
    || { tail -n 40 "${log}" >&2; die "the fuzz build failed (log: ${log})"; }
echo "== fuzz build: $(( $(date +%s) - start )) s" >&2
[ "${BUILD}" = 1 ] && exit 0

for t in "${TARGETS[@]}"; do
    work="${CACHE_DIR}/fuzz-corpus/${t}"
    mkdir -p "${work}" "fuzz/artifacts/${t}"
    echo "== fuzzing ${t} for ${SECONDS_PER_TARGET} s" >&2
    run_log="${CACHE_DIR}/fuzz-${t}.log"
    rc=0
    cargo fuzz run --fuzz-dir fuzz --dev --sanitizer none "${t}" "${work}" "fuzz/corpus/${t}" -- \
        -max_total_time="${SECONDS_PER_TARGET}" -timeout=20 -rss_limit_mb=2048 \
        -max_len=1048576 -print_final_stats=1 </dev/null >"${run_log}" 2>&1 || rc=$?
    grep -E '^(#[0-9]+ +(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done [0-9]+ runs)|panicked|Failing input|Test unit written' \
        "${run_log}" || true
    if [ -n "$(ls -A "fuzz/artifacts/${t}" 2>/dev/null)" ]; then
        die "${t}: crashing inputs in fuzz/artifacts/${t}/ (log: ${run_log})"
    fi
    [ "${rc}" = 0 ] || { tail -n 30 "${run_log}" >&2; die "${t}: the fuzz run failed (exit ${rc}, log: ${run_log})"; }
done
echo "== fuzzing: no crash" >&2
