#!/usr/bin/env bash
# Regenerates the lock files the test command installs from (tests/run.sh):
#   tests/locks/dev.txt     the `dev` group and the package's dependencies, every
#                           Python >= 3.10 (a universal resolution);
#   tests/locks/oldest.txt  the `test` group on Python 3.10 with the oldest supported
#                           OpenTelemetry line (tests/constraints-oldest.txt).
# Run it on purpose, after a dependency changed in pyproject.toml or to take newer
# releases; then run the suite and commit the locks with what they made pass.
# `bash tests/drift.sh` shows what the newest releases would do without relocking.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${OTEL_ERRORS_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q uv
compile() {
  "$VENV/bin/uv" pip compile pyproject.toml --quiet --no-header --annotation-style line "$@"
}
compile --group dev --universal --python-version 3.10 -o tests/locks/dev.txt
compile --group test --python-version 3.10 -c tests/constraints-oldest.txt -o tests/locks/oldest.txt
echo "tests/lock.sh: wrote tests/locks/dev.txt and tests/locks/oldest.txt"
