#!/usr/bin/env bash
# Idempotent bootstrap: (re)creates .venv and node_modules only when the requirement or lock files
# changed since the last successful install (content hash, not mtime, so a fresh clone installs
# once and a re-run is a no-op). Called by every Makefile target that runs project code.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
VENV=.venv

# --- prerequisites, checked first so that a missing one is named here, not deep inside pip -----
# Python 3.11 (every pin in the lock is for it), Java 17+ (Spark and the local SageMaker serving
# stack), Node 20+ (the pinned aws-cdk CLI). All problems are reported on one line.
missing=()
py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
if [ "$py_version" != 3.11 ]; then
  found=${py_version:+ ($PYTHON is $py_version)}
  missing+=("Python 3.11${found:- ($PYTHON not found)}: apt-get install python3.11 python3.11-venv, or pyenv install 3.11, or set PYTHON=/path/to/python3.11")
elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=("Python 3.11's venv module: apt-get install python3.11-venv")
fi
java_version=$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}' || true)
java_major=${java_version%%.*}
[ "$java_major" = 1 ] && java_major=$(echo "$java_version" | cut -d. -f2)  # 1.8.0 style
if ! [[ "$java_major" =~ ^[0-9]+$ ]] || [ "$java_major" -lt 17 ]; then
  found=${java_version:+ (java is $java_version)}
  missing+=("Java 17${found:- (java not found)}: apt-get install openjdk-17-jre-headless, or brew install openjdk@17")
fi
node_version=$(node --version 2>/dev/null || true)
node_major=${node_version#v}
node_major=${node_major%%.*}
if ! [[ "$node_major" =~ ^[0-9]+$ ]] || [ "$node_major" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  found=${node_version:+ (node is $node_version)}
  missing+=("Node 20+ with npm${found:- (node not found)}: https://nodejs.org/en/download or nvm install 20")
fi
if [ ${#missing[@]} -gt 0 ]; then
  joined=$(printf '; %s' "${missing[@]}")
  echo "bootstrap: missing prerequisites: ${joined:2}" >&2
  exit 1
fi

py_hash=$(cat requirements/*.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2] == (3, 11))' 2>/dev/null)" != True ]; then
  echo "bootstrap: $VENV is not a Python 3.11 environment; recreating it"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$py_hash" ]; then
  echo "bootstrap: installing Python dependencies into $VENV (requirements changed or first run)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # The lock pins torch==2.13.0 without a local tag, so it resolves to PyPI's wheel anywhere and
  # to a CPU build (2.13.0+cpu) where one is offered: this machine's /opt/wheels, or the PyTorch
  # CPU index when PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (a far smaller
  # download than PyPI's CUDA wheel and its nvidia-* dependencies).
  extra=()
  [ -d /opt/wheels ] && extra+=(--find-links /opt/wheels)
  "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel
  "$VENV/bin/python" -m pip install --quiet ${extra[@]+"${extra[@]}"} -r requirements/lock.txt
  "$VENV/bin/python" scripts/install_dgl_shim.py
  echo "$py_hash" > "$VENV/.requirements.sha256"
fi

node_hash=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat node_modules/.lock.sha256 2>/dev/null)" != "$node_hash" ]; then
  echo "bootstrap: installing the pinned aws-cdk CLI (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$node_hash" > node_modules/.lock.sha256
fi

# The console's page, bundled from the pinned npm packages (esbuild, uPlot) into console/dist/;
# esbuild takes well under a second, so it runs every time and the page never goes stale.
node console/build.mjs

# Headless Chromium for the console's browser tests (tests/integration/console/): Debian's
# package, driven by Playwright through its executable (Playwright never downloads a browser).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "bootstrap: installing Debian's chromium for the console's browser tests"
  apt-get install -y --no-install-recommends chromium >/dev/null \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; } \
    || echo "bootstrap: chromium could not be installed; the console's browser tests will skip" >&2
fi
