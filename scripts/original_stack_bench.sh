#!/usr/bin/env bash
# Runs scripts/original_stack_bench.py in its own virtualenv (created on first use, outside the
# repository). Arguments are passed through, e.g.:
#   scripts/original_stack_bench.sh --images /tmp/classroom_30.jpg --runs 20
# Environment: ROLLCALL_MODEL_DIR, ROLLCALL_FACES_DIR (default: <repo>/../shared/...),
# ROLLCALL_ORIGINAL_VENV (default: ~/.cache/rollcall/venv-original), PYTHON (default: python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${ROLLCALL_ORIGINAL_VENV:-${HOME}/.cache/rollcall/venv-original}"
requirements="${here}/requirements-original.txt"
stamp="${venv}/.requirements.sha256"
wanted="$(sha256sum "${requirements}" | cut -d' ' -f1)"

if [[ ! -x "${venv}/bin/python" ]] || [[ "$(cat "${stamp}" 2>/dev/null)" != "${wanted}" ]]; then
    echo "original_stack_bench: installing ${requirements} into ${venv}" >&2
    "${PYTHON:-python3}" -m venv "${venv}"
    "${venv}/bin/pip" install --quiet --upgrade pip wheel
    "${venv}/bin/pip" install --quiet -r "${requirements}"
    echo "${wanted}" > "${stamp}"
fi

exec "${venv}/bin/python" "${here}/original_stack_bench.py" "$@"
