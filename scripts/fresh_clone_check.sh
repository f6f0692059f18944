#!/usr/bin/env bash
# Proves that a fresh clone runs on its own: clones this repository's committed HEAD into an empty
# temporary folder (no ../shared beside it, no .venv, no node_modules) and runs `make test` there
# (or the make targets given, e.g. `scripts/fresh_clone_check.sh test demo`).
#
#   scripts/fresh_clone_check.sh [--keep] [make targets...]
#
# Bootstrap in the clone builds its own .venv and node_modules; pip's and npm's download caches
# are reused (that saves the download, not the install). A Python audit hook (sitecustomize on
# PYTHONPATH) records every file the clone's Python processes open or list under this checkout or
# under its ../shared: any such access fails the check, so the clone cannot pass by reading data
# that a user's clone would not have. Uncommitted changes are not in the clone.
# Takes 10–15 minutes on 2 cores. The clone is removed on success unless --keep is given.
set -euo pipefail

keep=0
if [ "${1:-}" = --keep ]; then
  keep=1
  shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(test)

SRC=$(cd "$(dirname "$0")/.." && pwd -P)
SHARED=$(dirname "$SRC")/shared
if [ -n "$(git -C "$SRC" status --porcelain --untracked-files=no)" ]; then
  echo "fresh_clone_check: note: uncommitted changes in $SRC are not part of the clone"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fresh-XXXXXX")
CLONE=$WORK/vigil
AUDIT=$WORK/.audit
mkdir -p "$AUDIT"
git clone --quiet --no-hardlinks "$SRC" "$CLONE"
if [ -e "$WORK/shared" ] || [ -e "$CLONE/../shared" ]; then
  echo "fresh_clone_check: $WORK/shared exists; the check needs a clone with nothing beside it" >&2
  exit 1
fi

cat > "$AUDIT/sitecustomize.py" <<'PY'
"""Records opens and listings of the original checkout or its ../shared (fresh_clone_check.sh)."""

import os
import sys

_PREFIXES = tuple(p for p in os.environ.get("FRESH_CLONE_FORBIDDEN", "").split(os.pathsep) if p)
_LOG = os.environ.get("FRESH_CLONE_AUDIT_LOG", "")
_EVENTS = {"open", "os.listdir", "os.scandir"}


def _hook(event, args):
    if event not in _EVENTS or not args or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    try:
        path = os.path.abspath(os.fsdecode(args[0]))
    except Exception:
        return
    if any(path == prefix or path.startswith(prefix + os.sep) for prefix in _PREFIXES):
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {event} {path} (argv: {' '.join(sys.argv)[:200]})\n")


if _PREFIXES and _LOG:
    sys.addaudithook(_hook)
PY

export FRESH_CLONE_FORBIDDEN="$SRC:$SHARED"
export FRESH_CLONE_AUDIT_LOG="$AUDIT/forbidden-access.log"
# `make demo` would end with the console live until Ctrl-C; here it runs the demos and exits
export VIGIL_DEMO_EXIT=1
export PYTHONPATH="$AUDIT${PYTHONPATH:+:$PYTHONPATH}"
: > "$FRESH_CLONE_AUDIT_LOG"

echo "fresh_clone_check: cloned $(git -C "$CLONE" rev-parse --short HEAD) into $CLONE (no $WORK/shared)"
echo "fresh_clone_check: running make ${targets[*]} there; forbidden to read: $SRC and $SHARED"
started=$(date +%s)
set +e
(cd "$CLONE" && make "${targets[@]}") 2>&1 | tee "$WORK/make.log"
status=${PIPESTATUS[0]}
set -e
elapsed=$(($(date +%s) - started))

summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$WORK/make.log" | tail -1 || true)
echo
echo "fresh_clone_check: make ${targets[*]} exited $status after ${elapsed}s${summary:+: $summary}"
# The hook must have been live in the clone's Python: a read of this checkout has to be recorded.
if [ -x "$CLONE/.venv/bin/python" ]; then
  FRESH_CLONE_AUDIT_LOG="$AUDIT/self-test.log" "$CLONE/.venv/bin/python" -c \
    'import os, sys; os.listdir(sys.argv[1])' "$SRC" >/dev/null
  if [ ! -s "$AUDIT/self-test.log" ]; then
    echo "fresh_clone_check: FAILED: the audit hook did not record a test read of $SRC" >&2
    status=1
  fi
fi
if [ -s "$FRESH_CLONE_AUDIT_LOG" ]; then
  echo "fresh_clone_check: FAILED: the clone's Python read outside the clone:" >&2
  sort -u -k2,3 "$FRESH_CLONE_AUDIT_LOG" | head -20 >&2
  status=1
fi
if [ "$status" -eq 0 ]; then
  echo "fresh_clone_check: PASSED"
  [ "$keep" -eq 1 ] && echo "fresh_clone_check: clone kept in $CLONE" || rm -rf "$WORK"
else
  echo "fresh_clone_check: FAILED (clone, make.log and audit log kept in $WORK)" >&2
fi
exit "$status"
