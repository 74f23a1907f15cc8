#!/usr/bin/env bash
# The README's test command. From a fresh clone it creates the virtual environment,
# installs the package with its dev group, checks lint, format and types, and runs
# the whole suite (tests and benchmark smoke runs). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OTEL_ERRORS_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e . --group dev

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
"$VENV/bin/python" -m pytest "$@"
