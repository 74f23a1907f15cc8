#!/usr/bin/env bash
# The README's test command. From a fresh clone it:
#   1. creates .venv (Python 3), installs the package with its `dev` group at the
#      versions locked in tests/locks/dev.txt, checks ruff, ruff format and mypy, and
#      runs the whole suite (tests and one smoke round of each benchmark) with the
#      redaction engine compiled by mypyc, as the release's platform wheels ship it
#      (needs a C compiler and the Python headers);
#   2. runs the suite again on the oldest supported line, Python 3.10 with
#      opentelemetry-sdk 1.40 (tests/constraints-oldest.txt), locked in
#      tests/locks/oldest.txt, in .venv-oldest, with the pure-Python engine.
# The locks keep a new release elsewhere from turning CI red by surprise:
# tests/lock.sh regenerates them, tests/drift.sh runs the suite on the newest releases.
# Both runs use the PostgreSQL, Redis and RabbitMQ servers of tests/servers.sh, started
# before the first run and stopped on exit; when OTEL_ERRORS_TEST_POSTGRES_DSN,
# OTEL_ERRORS_TEST_REDIS_URL, OTEL_ERRORS_TEST_REDIS_REPLICA_URL and
# OTEL_ERRORS_TEST_RABBITMQ_URL are all set already, those servers are used instead and
# nothing is started.
# Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# pip itself is pinned too (dependency groups need pip >= 25.1).
PIP=pip==26.3
VENV=${OTEL_ERRORS_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "$PIP"
"$VENV/bin/python" -m pip install -q -e . --group dev -c tests/locks/dev.txt

"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"

# The compiled engine's extension modules live in the checkout only during the first
# run: they take precedence over the .py files, so one that outlived its source would
# test stale code. Removed before the build and on exit.
remove_compiled_engine() { find . -maxdepth 1 -name '*__mypyc.*.so' -delete; find otel_errors -name '*.so' -delete; }
servers_started=
on_exit() {
  remove_compiled_engine
  if [ -n "$servers_started" ]; then bash tests/servers.sh stop; fi
}
trap on_exit EXIT

if [ -z "${OTEL_ERRORS_TEST_POSTGRES_DSN:-}" ] || [ -z "${OTEL_ERRORS_TEST_REDIS_URL:-}" ] ||
  [ -z "${OTEL_ERRORS_TEST_REDIS_REPLICA_URL:-}" ] || [ -z "${OTEL_ERRORS_TEST_RABBITMQ_URL:-}" ]; then
  servers_started=yes
  bash tests/servers.sh start
  set -a
  # shellcheck disable=SC1091
  . ./.test-servers.env
  set +a
fi

# The real collector, Jaeger, Prometheus and Alertmanager binaries for the deployment
# and end-to-end tests (marker e2e): built from the Go module proxy on a cold machine
# (about 15 minutes), taken from ${OTEL_ERRORS_CACHE:-~/.cache/otel-errors} otherwise.
bash collector-config/build.sh >/dev/null

# The release's platform wheel (pyproject.toml, hook "mypyc"), built as a release builds
# it: from the sdist, so the compiler's output stays out of the checkout. Its extension
# modules are unpacked into the checkout, where the editable install finds them;
# test_redaction.py checks that the engine under test is the compiled one.
remove_compiled_engine
wheels=$(mktemp -d)
if ! HATCH_BUILD_HOOK_ENABLE_MYPYC=true "$VENV/bin/python" -m build -o "$wheels" . \
  >"$wheels/build.log" 2>&1; then
  cat "$wheels/build.log" >&2
  exit 1
fi
"$VENV/bin/python" - "$wheels" <<'EOF'
import pathlib
import sys
import zipfile

(wheel,) = pathlib.Path(sys.argv[1]).glob("*.whl")
with zipfile.ZipFile(wheel) as archive:
    archive.extractall(".", [name for name in archive.namelist() if name.endswith(".so")])
EOF
rm -rf "$wheels"

OTEL_ERRORS_TEST_COMPILED_ENGINE=1 "$VENV/bin/python" -m pytest "$@"
remove_compiled_engine

oldest_python() {
  if command -v python3.10 >/dev/null 2>&1 && python3.10 -c '' 2>/dev/null; then
    command -v python3.10
    return
  fi
  local root
  root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  ls "$root"/versions/3.10.*/bin/python3.10 2>/dev/null | sort -V | tail -n 1
}
PY_OLDEST=${OTEL_ERRORS_OLDEST_PYTHON:-$(oldest_python)}
if [ -z "$PY_OLDEST" ]; then
  echo "tests/run.sh: no Python 3.10 found; the oldest-supported run did NOT happen" >&2
  exit 1
fi
OLDEST=${OTEL_ERRORS_OLDEST_VENV:-.venv-oldest}
if [ ! -x "$OLDEST/bin/python" ]; then
  "$PY_OLDEST" -m venv "$OLDEST"
fi
"$OLDEST/bin/python" -m pip install -q "$PIP"
"$OLDEST/bin/python" -m pip install -q -e . --group test -c tests/locks/oldest.txt
# The deployment and end-to-end tests exercise binaries, not the SDK line: once is enough.
# So does the parity harness, whose suites have locks of their own (Python 3.11+).
"$OLDEST/bin/python" -m pytest -p no:cacheprovider -m "not e2e and not parity" "$@"
