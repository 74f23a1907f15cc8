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

# PostgreSQL and Redis for the shop, when their binaries are installed (Debian
# packages postgresql and redis-server): the same throwaway servers the tests use.
# Without them the shop says so and keeps running on in-memory stand-ins.
pids=()
servers_started=0
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$servers_started" = 1 ]; then bash tests/servers.sh stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ -z "${SHOP_DATABASE_URL:-}${SHOP_REDIS_URL:-}" ]; then
  if bash tests/servers.sh start >/dev/null 2>&1; then
    servers_started=1
    # shellcheck disable=SC1091
    . ./.test-servers.env
    export SHOP_DATABASE_URL=$OTEL_ERRORS_TEST_POSTGRES_DSN SHOP_REDIS_URL=$OTEL_ERRORS_TEST_REDIS_URL
  else
    echo "demo: PostgreSQL/Redis binaries not found; the shop uses in-memory stand-ins"
  fi
fi

rm -rf "$DATA"
export OTEL_ERRORS_LOCAL_DIR=$DATA
export OTEL_SERVICE_NAME=shop
export OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=demo
export OTEL_ERRORS_CATALOG=examples/shop/errors.toml
export OTEL_METRIC_EXPORT_INTERVAL=5000

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
