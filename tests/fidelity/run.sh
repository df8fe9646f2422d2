#!/usr/bin/env bash
# The pool models' fidelity suite: the same workloads through the real libraries (pinned in
# requirements.txt, installed into target/fidelity-venv from PyPI) and through `stress` on one
# PostgreSQL server, compared side by side.
#
#   tests/fidelity/run.sh URL [STRESS_BINARY]
#   tests/fidelity/run.sh --prepare      (only make the virtual environment: .ci/run does it
#                                         first, and then requires the suite to run, not skip)
#
# URL: a superuser URL of a throwaway server (the Rust test tests/fidelity.rs passes its
# embedded server's). Exit 0: every figure within tolerance; 1: a model is off; 77: PyPI or
# python3 -m venv unreachable (the caller records a visible skip).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
url="${1:?usage: run.sh URL [STRESS_BINARY] | run.sh --prepare}"
stress="${2:-$root/target/debug/stress}"
venv="$root/target/fidelity-venv"
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    echo "fidelity: python3 -m venv is not available" >&2
    exit 77
  fi
  if ! "$venv/bin/pip" install -q --disable-pip-version-check --timeout 30 -r "$here/requirements.txt" >&2; then
    echo "fidelity: cannot install the pinned libraries from PyPI" >&2
    exit 77
  fi
  cp "$here/requirements.txt" "$stamp"
fi
[ "$url" = "--prepare" ] && exit 0
exec "$venv/bin/python" "$here/fidelity.py" --url "$url" --stress "$stress" --work "$root/target/fidelity"
