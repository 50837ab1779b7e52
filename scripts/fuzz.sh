#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (issue 10, "proof in CI") for a bounded time each:
#   decode   photo decoding (rollcall_face::decode::decode) with the service's limits
#   request  request parsing: multipart bodies as the photo endpoints read them, the
#            enrolment `data` JSON, roll numbers, mail addresses, dates
#
#   scripts/fuzz.sh                 run each target FUZZ_SECONDS (default 45) if the fuzz
#                                   build is cached; otherwise say so and stop (exit 0)
#   scripts/fuzz.sh --build         build first if needed (a cold build takes minutes; see
#                                   the README's Proof section for the measured time)
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
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
TARGETS=(decode request)
BUILD=0
[ "${1:-}" = "--build" ] && BUILD=1

die() { echo "fuzz.sh: $*" >&2; exit 1; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install --locked cargo-fuzz || die "cannot install cargo-fuzz (cargo install cargo-fuzz)"
fi

built() {
    for t in "${TARGETS[@]}"; do
        [ -x "${CARGO_TARGET_DIR}/${TRIPLE}/debug/${t}" ] || return 1
    done
}

if ! built && [ "${BUILD}" = 0 ]; then
    echo "fuzz.sh: no cached fuzz build in ${CARGO_TARGET_DIR}: fuzzing NOT run." >&2
    echo "fuzz.sh: run 'scripts/fuzz.sh --build' once (a cold build takes minutes); the" >&2
    echo "fuzz.sh: hostile-file corpus still runs in 'cargo test' (crates/face/tests/hostile.rs)." >&2
    exit 0
fi

# Incremental when cached: only what changed since the last run is rebuilt.
start=$(date +%s)
cargo fuzz build --fuzz-dir fuzz --dev --sanitizer none 2>&1 | tail -n 3 \
    || die "the fuzz build failed"
echo "== fuzz build: $(( $(date +%s) - start )) s" >&2

for t in "${TARGETS[@]}"; do
    work="${CACHE_DIR}/fuzz-corpus/${t}"
    mkdir -p "${work}" "fuzz/artifacts/${t}"
    echo "== fuzzing ${t} for ${SECONDS_PER_TARGET} s" >&2
    cargo fuzz run --fuzz-dir fuzz --dev --sanitizer none "${t}" "${work}" "fuzz/corpus/${t}" -- \
        -max_total_time="${SECONDS_PER_TARGET}" -timeout=20 -rss_limit_mb=2048 \
        -max_len=1048576 -print_final_stats=1 </dev/null 2>&1 \
        | grep -E '^(#[0-9]+ +(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|Done [0-9]+ runs)|panicked|Failing input|Test unit written' \
        || true
    if [ -n "$(ls -A "fuzz/artifacts/${t}" 2>/dev/null)" ]; then
        die "${t}: crashing inputs in fuzz/artifacts/${t}/"
    fi
done
echo "== fuzzing: no crash" >&2
