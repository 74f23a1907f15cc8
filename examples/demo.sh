#!/usr/bin/env bash
# The README's main job, from a fresh clone: install, run the shop example under
# `opentelemetry-instrument` with the embedded default (no collector: JSON lines in
# a local directory), drive a bounded mix of failing traffic, stop, print the report.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${OTEL_ERRORS_VENV:-.venv}
DATA=${OTEL_ERRORS_LOCAL_DIR:-otel-errors-data/demo}
REQUESTS=${DEMO_REQUESTS:-300}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
"$VENV/bin/python" -m pip install -q -e . -r examples/requirements.txt

rm -rf "$DATA"
export OTEL_ERRORS_LOCAL_DIR=$DATA
export OTEL_SERVICE_NAME=shop
export OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=demo
export OTEL_ERRORS_CATALOG=examples/shop/errors.toml
export OTEL_METRIC_EXPORT_INTERVAL=5000

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

LOG=${DATA%/}.log
mkdir -p "$(dirname "$LOG")"
echo "shop logs: $LOG; telemetry: $DATA/"
"$VENV/bin/python" examples/shop/payments.py &
pids+=($!)
"$VENV/bin/opentelemetry-instrument" "$VENV/bin/python" examples/shop/app.py >"$LOG" 2>&1 &
app_pid=$!
pids+=("$app_pid")

"$VENV/bin/python" examples/shop/traffic.py --requests "$REQUESTS"

# SIGTERM lets uvicorn shut down cleanly, and the SDK flushes at exit.
kill -TERM "$app_pid"
wait "$app_pid" || true
"$VENV/bin/otel-errors" report --dir "$DATA" --catalog examples/shop/errors.toml
