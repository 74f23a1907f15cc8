#!/usr/bin/env bash
# Regenerates the lock files the test command installs from (tests/run.sh):
#   tests/locks/dev.txt     the `dev` group and the package's dependencies, every
#                           Python >= 3.10 (a universal resolution);
#   tests/locks/oldest.txt  the `test` group on Python 3.10 with the oldest supported
#                           OpenTelemetry line (tests/constraints-oldest.txt);
#   tests/parity/<suite>.txt one per suite of the parity harness (tests/parity/harness.py),
#   benchmarks/startup.txt  and the start-up benchmark's environments: <name>.in and the
#                           package's dependencies, on the OpenTelemetry line of
#                           tests/locks/dev.txt, Python >= 3.11.
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
# The parity suites and the start-up benchmark take the same OpenTelemetry versions as
# the test environment, so that they compare the distros, not two OpenTelemetry releases.
otel_line=$(mktemp -d)
trap 'rm -rf "$otel_line"' EXIT
grep '^opentelemetry-' tests/locks/dev.txt | sed 's/ *#.*//' >"$otel_line/dev.txt"
for input in tests/parity/*.in benchmarks/startup.in; do
  lock=${input%.in}.txt
  compile "$input" --universal --python-version 3.11 -c "$otel_line/dev.txt" -o "$lock"
  # The constraint file is temporary: name its origin instead.
  sed -i "s#-c $otel_line/dev.txt#-c tests/locks/dev.txt#g" "$lock"
done
echo "tests/lock.sh: wrote tests/locks/dev.txt, tests/locks/oldest.txt, tests/parity/*.txt and benchmarks/startup.txt"
