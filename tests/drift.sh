#!/usr/bin/env bash
# Runs the suite against the newest release of every dependency, on purpose.
#
#   bash tests/drift.sh [pytest arguments]
#
# tests/run.sh (the README's test command, what CI runs) installs the versions locked
# in tests/locks/, so a new release elsewhere never turns CI red by surprise. This
# script shows what the newest releases would do: it installs the package and its
# `dev` group into .venv-latest without the lock, prints every version that differs
# from tests/locks/dev.txt, and runs pytest there (without the end-to-end tests,
# which exercise binaries, not Python packages, nor the parity harness, whose suites
# install their own locks, tests/parity/*.txt), with the PostgreSQL and Redis of
# tests/servers.sh. When it passes, `bash tests/lock.sh` takes the new versions.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OTEL_ERRORS_LATEST_VENV:-.venv-latest}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q --upgrade --upgrade-strategy eager -e . --group dev

"$VENV/bin/python" - <<'PY'
"""Prints the installed versions that differ from the lock."""
import importlib.metadata
import re

from packaging.markers import Marker
from packaging.utils import canonicalize_name

locked = {}
for line in open("tests/locks/dev.txt", encoding="utf-8"):
    requirement = line.split("#", 1)[0].strip()
    if not requirement:
        continue
    pin, _, marker = requirement.partition(";")
    if marker.strip() and not Marker(marker.strip()).evaluate():
        continue
    name, _, version = pin.strip().partition("==")
    locked[canonicalize_name(name)] = version
drift = []
for dist in importlib.metadata.distributions():
    name = canonicalize_name(dist.metadata["Name"])
    if name in locked and locked[name] != dist.version:
        drift.append(f"  {name}: locked {locked[name]}, newest {dist.version}")
print("tests/drift.sh: versions newer than the lock:" if drift else "tests/drift.sh: no drift")
print("\n".join(sorted(drift)))
PY

if [ -z "${OTEL_ERRORS_TEST_POSTGRES_DSN:-}" ] || [ -z "${OTEL_ERRORS_TEST_REDIS_URL:-}" ] ||
  [ -z "${OTEL_ERRORS_TEST_REDIS_REPLICA_URL:-}" ]; then
  trap 'bash tests/servers.sh stop' EXIT
  bash tests/servers.sh start
  set -a
  # shellcheck disable=SC1091
  . ./.test-servers.env
  set +a
fi
"$VENV/bin/python" -m pytest -p no:cacheprovider -m "not e2e and not parity" "$@"
