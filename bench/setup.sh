#!/usr/bin/env bash
# Idempotent setup for the benchmark: wrk (Debian package) and a separate venv with the
# real Kinto pinned at 26.5.0 (+ its PostgreSQL extra). Safe to run repeatedly.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
KINTO_VERSION="${KINTO_VERSION:-26.5.0}"
PY="${BENCH_PYTHON:-}"
if [ -z "$PY" ]; then
  # same interpreter family as the project's venv when it exists
  if [ -x "$HERE/../.venv/bin/python" ]; then
    PY="$("$HERE/../.venv/bin/python" -c 'import sys; print(sys._base_executable)')"
  else
    PY="$(command -v python3)"
  fi
fi

if ! command -v wrk >/dev/null 2>&1; then
  echo "[setup] installing wrk (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

VENV="$HERE/.venv-kinto"
if [ ! -x "$VENV/bin/kinto" ] || ! "$VENV/bin/python" -c "import kinto, psycopg2, sys; from importlib.metadata import version; sys.exit(version('kinto') != '$KINTO_VERSION')" 2>/dev/null; then
  echo "[setup] creating $VENV with kinto[postgresql]==$KINTO_VERSION"
  "$PY" -m venv "$VENV"
  LOG="$VENV/pip-install.log"
  if ! { "$VENV/bin/pip" install --upgrade pip &&
         "$VENV/bin/pip" install "kinto[postgresql]==$KINTO_VERSION" psycopg2-binary waitress; } \
       >"$LOG" 2>&1; then
    tail -30 "$LOG" >&2
    echo "[setup] pip install failed, see $LOG" >&2
    exit 1
  fi
fi
echo "[setup] ok: $(wrk -v 2>&1 | head -1 | cut -c1-40); kinto $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("kinto"))')"
