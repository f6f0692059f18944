#!/usr/bin/env bash
# Idempotent bootstrap: (re)creates .venv and node_modules only when the requirement or lock files
# changed since the last successful install (content hash, not mtime, so a fresh clone installs
# once and a re-run is a no-op). Called by every Makefile target that runs project code.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
VENV=.venv

py_hash=$(cat requirements/*.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$py_hash" ]; then
  echo "bootstrap: installing Python dependencies into $VENV (requirements changed or first run)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # torch==2.13.0 is a CPU wheel on this machine's disk; --find-links makes pip take it even when
  # the user's pip.conf does not point there (any other torch release is a multi-GB CUDA download).
  extra=()
  [ -d /opt/wheels ] && extra+=(--find-links /opt/wheels)
  "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel
  "$VENV/bin/python" -m pip install --quiet "${extra[@]}" -r requirements/lock.txt
  "$VENV/bin/python" scripts/install_dgl_shim.py
  echo "$py_hash" > "$VENV/.requirements.sha256"
fi

node_hash=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.lock.sha256 2>/dev/null)" != "$node_hash" ]; then
  echo "bootstrap: installing the pinned aws-cdk CLI (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_hash" > node_modules/.lock.sha256
fi
