#!/usr/bin/env bash
# Idempotent: a venv of its own with the real Kinto (pinned) from PyPI, for the differential
# test. Prints the venv's `kinto` path on its last line. Safe to run repeatedly and from
# several test workers at once (a lock serialises the first install).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
KINTO_VERSION="${KINTO_VERSION:-26.5.0}"
VENV="${KINTO_CLONE_DIFF_VENV:-$HERE/.venv-kinto}"
PY="${KINTO_CLONE_DIFF_PYTHON:-$(command -v python3.11 || command -v python3)}"

ready() {
  "$VENV/bin/python" -c "import kinto, psycopg2, sys; from importlib.metadata import version; sys.exit(version('kinto') != '$KINTO_VERSION')" 2>/dev/null
}

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if ! ready; then
  echo "[differential] creating $VENV with kinto[postgresql]==$KINTO_VERSION" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  LOG="$VENV/pip-install.log"
  if ! { "$VENV/bin/pip" install -q --upgrade pip &&
         "$VENV/bin/pip" install -q "kinto[postgresql]==$KINTO_VERSION" psycopg2-binary waitress; } \
       >"$LOG" 2>&1; then
    tail -30 "$LOG" >&2
    echo "[differential] pip install failed, see $LOG" >&2
    exit 1
  fi
fi
echo "$VENV/bin/kinto"
