#!/usr/bin/env bash
# The otel_errors deployment from the cached binaries, on loopback, without Docker.
#
#   collector-config/stack.sh up       # build (cached), start, wait until healthy, print URLs
#   collector-config/stack.sh status   # each service's health; exit 0 only when all are healthy
#   collector-config/stack.sh down     # stop what `up` started
#
# Runs Jaeger v2, the gateway and agent collectors, Prometheus (with the shipped rules,
# or rules generated from $OTEL_ERRORS_CATALOG) and Alertmanager (the shipped routing;
# each receiver is a no-op unless the variables below give it a real destination).
# Loki and Grafana start too when their binaries are found (LOKI_BIN / GRAFANA_BIN, or
# `loki` / `grafana` on PATH; GRAFANA_HOME is Grafana's share directory, default
# /usr/share/grafana); without Loki the gateway retries and then drops the logs.
#
# Point applications at the agent: OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318.
#
# Everything lives in ${OTEL_ERRORS_STACK_DIR:-$HOME/.cache/otel-errors/stack}: rendered
# configs, secrets (mode 600), data, logs/<service>.log and run/<service>.pid.
#
# Addresses: the shipped configs' defaults, each moved with the configs' own variable
# (OTEL_ERRORS_AGENT_HTTP_ADDR, JAEGER_QUERY_HTTP_ADDR, ... see otelcol/*.yaml and
# jaeger/config.yaml), plus
#   OTEL_ERRORS_STACK_PROMETHEUS_ADDR    127.0.0.1:9090
#   OTEL_ERRORS_STACK_ALERTMANAGER_ADDR  127.0.0.1:9093
#   OTEL_ERRORS_STACK_GRAFANA_ADDR       127.0.0.1:3000
#   LOKI_HTTP_PORT / LOKI_GRPC_PORT      3100 / 9096 (loki/config.yaml)
#
# Alert destinations (unset: that integration is left out of its receivers):
#   OTEL_ERRORS_PAGERDUTY_ROUTING_KEY    P1, P2 (Events API v2 integration key)
#   OTEL_ERRORS_PAGERDUTY_URL            default https://events.pagerduty.com/v2/enqueue
#   OTEL_ERRORS_SLACK_WEBHOOK_URL        P3
#   OTEL_ERRORS_SMS_WEBHOOK_URL          P1 (a webhook relay to an SMS gateway)
#   OTEL_ERRORS_DEADMANSSWITCH_URL       the Watchdog, every minute (a dead man's switch)
#   OTEL_ERRORS_SMTP_SMARTHOST           P1-P4 e-mail, host:port, with OTEL_ERRORS_ALERT_EMAIL_TO,
#                                        OTEL_ERRORS_SMTP_FROM, OTEL_ERRORS_SMTP_USERNAME,
#                                        OTEL_ERRORS_SMTP_PASSWORD, OTEL_ERRORS_SMTP_REQUIRE_TLS (true)
set -euo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
DIR="${OTEL_ERRORS_STACK_DIR:-$HOME/.cache/otel-errors/stack}"
WAIT_SECONDS=60
STOP_SECONDS=15

# ---- addresses --------------------------------------------------------------------
AGENT_GRPC="${OTEL_ERRORS_AGENT_GRPC_ADDR:-127.0.0.1:4317}"
AGENT_HTTP="${OTEL_ERRORS_AGENT_HTTP_ADDR:-127.0.0.1:4318}"
AGENT_HEALTH="${OTEL_ERRORS_AGENT_HEALTH_ADDR:-127.0.0.1:13133}"
AGENT_TELEMETRY_PORT="${OTEL_ERRORS_AGENT_TELEMETRY_PORT:-8888}"
GATEWAY_GRPC="${OTEL_ERRORS_GATEWAY_GRPC_ADDR:-127.0.0.1:14317}"
GATEWAY_HTTP="${OTEL_ERRORS_GATEWAY_HTTP_ADDR:-127.0.0.1:14318}"
GATEWAY_HEALTH="${OTEL_ERRORS_GATEWAY_HEALTH_ADDR:-127.0.0.1:13134}"
GATEWAY_TELEMETRY_PORT="${OTEL_ERRORS_GATEWAY_TELEMETRY_PORT:-8889}"
GATEWAY_EXPORTER="${OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR:-127.0.0.1:9464}"
JAEGER_GRPC="${JAEGER_OTLP_GRPC_ADDR:-127.0.0.1:16317}"
JAEGER_HTTP="${JAEGER_OTLP_HTTP_ADDR:-127.0.0.1:16318}"
JAEGER_QUERY="${JAEGER_QUERY_HTTP_ADDR:-127.0.0.1:16686}"
JAEGER_QUERY_GRPC="${JAEGER_QUERY_GRPC_ADDR:-127.0.0.1:16685}"
JAEGER_HEALTH="${JAEGER_HEALTH_ADDR:-127.0.0.1:13233}"
JAEGER_TELEMETRY="${JAEGER_TELEMETRY_PORT:-14269}"
PROMETHEUS="${OTEL_ERRORS_STACK_PROMETHEUS_ADDR:-127.0.0.1:9090}"
ALERTMANAGER="${OTEL_ERRORS_STACK_ALERTMANAGER_ADDR:-127.0.0.1:9093}"
GRAFANA="${OTEL_ERRORS_STACK_GRAFANA_ADDR:-127.0.0.1:3000}"
LOKI_HTTP="${LOKI_HTTP_PORT:-3100}"
LOKI_GRPC="${LOKI_GRPC_PORT:-9096}"

log() { printf '[stack.sh] %s\n' "$*" >&2; }
die() { printf '[stack.sh] ERROR: %s\n' "$*" >&2; exit 1; }

optional_bin() { # VAR NAME: the path in $VAR, else NAME on PATH, else nothing
    local given="${!1:-}"
    if [[ -n "$given" ]]; then [[ -x "$given" ]] || die "$1=$given is not executable"; echo "$given"
    else command -v "$2" 2>/dev/null || true; fi
}
LOKI="$(optional_bin LOKI_BIN loki)"
GRAFANA_EXE="$(optional_bin GRAFANA_BIN grafana)"

# The services in start order: NAME HEALTH-URL ADDRESSES-IT-LISTENS-ON
services() {
    echo "jaeger http://$JAEGER_HEALTH/status $JAEGER_GRPC $JAEGER_HTTP $JAEGER_QUERY $JAEGER_QUERY_GRPC $JAEGER_HEALTH 127.0.0.1:$JAEGER_TELEMETRY"
    [[ -z "$LOKI" ]] || echo "loki http://127.0.0.1:$LOKI_HTTP/ready 127.0.0.1:$LOKI_HTTP 127.0.0.1:$LOKI_GRPC"
    echo "gateway http://$GATEWAY_HEALTH/ $GATEWAY_GRPC $GATEWAY_HTTP $GATEWAY_HEALTH $GATEWAY_EXPORTER 127.0.0.1:$GATEWAY_TELEMETRY_PORT"
    echo "agent http://$AGENT_HEALTH/ $AGENT_GRPC $AGENT_HTTP $AGENT_HEALTH 127.0.0.1:$AGENT_TELEMETRY_PORT"
    echo "alertmanager http://$ALERTMANAGER/-/ready $ALERTMANAGER"
    echo "prometheus http://$PROMETHEUS/-/ready $PROMETHEUS"
    [[ -z "$GRAFANA_EXE" ]] || echo "grafana http://$GRAFANA/api/health $GRAFANA"
}

pid_of() { # NAME: the pid of a running service started by us, else nothing
    local file="$DIR/run/$1.pid" pid exe
    [[ -f "$file" ]] || return 0
    read -r pid exe <"$file" || return 0
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
    # only a process that still runs the executable we started (pids get reused)
    if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$exe"; then echo "$pid"; fi
}

running() { # PID: the process exists and has not exited (a zombie has, until reaped)
    local state
    read -r _ _ state _ 2>/dev/null <"/proc/$1/stat" && [[ "$state" != Z ]]
}

healthy() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }

port_in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# ---- rendered configs -----------------------------------------------------------------
python_with_yaml() {
    local candidate
    for candidate in "${OTEL_ERRORS_PYTHON:-}" "$REPO/.venv/bin/python" python3; do
        [[ -n "$candidate" ]] || continue
        if "$candidate" -c 'import yaml' 2>/dev/null; then echo "$candidate"; return; fi
    done
    die "no Python with PyYAML found: set OTEL_ERRORS_PYTHON or pip install pyyaml"
}

render_prometheus() { # PROMTOOL
    local out="$DIR/config/prometheus" cli
    rm -rf "$out"; mkdir -p "$out/rules"
    # the shipped file with this stack's addresses (Prometheus does not expand variables)
    sed -e "s/\"127\.0\.0\.1:9464\"/\"$GATEWAY_EXPORTER\"/" \
        -e "s/\"127\.0\.0\.1:8888\"/\"127.0.0.1:$AGENT_TELEMETRY_PORT\"/" \
        -e "s/\"127\.0\.0\.1:8889\"/\"127.0.0.1:$GATEWAY_TELEMETRY_PORT\"/" \
        -e "s/\"127\.0\.0\.1:14269\"/\"127.0.0.1:$JAEGER_TELEMETRY\"/" \
        -e "s/\"127\.0\.0\.1:9090\"/\"$PROMETHEUS\"/" \
        -e "s/\"127\.0\.0\.1:9093\"/\"$ALERTMANAGER\"/" \
        "$HERE/prometheus/prometheus.yml" >"$out/prometheus.yml"
    if [[ -n "${OTEL_ERRORS_CATALOG:-}" ]]; then
        cli="$(command -v otel-errors || echo "$REPO/.venv/bin/otel-errors")"
        [[ -x "$cli" ]] || die "OTEL_ERRORS_CATALOG is set but the otel-errors command is not installed"
        local args=() path
        IFS=',' read -ra paths <<<"$OTEL_ERRORS_CATALOG"
        for path in "${paths[@]}"; do args+=(--catalog "$path"); done
        log "alert rules from $OTEL_ERRORS_CATALOG"
        "$cli" alerts rules "${args[@]}" --grafana-url "http://$GRAFANA" \
            --jaeger-url "http://$JAEGER_QUERY" >"$out/rules/otel-errors.rules.yml"
    else
        cp "$HERE"/prometheus/rules/*.yml "$out/rules/"
    fi
    "$1" check config "$out/prometheus.yml" >"$DIR/logs/promtool.log" 2>&1 \
        || die "promtool rejects the rendered Prometheus config: see $DIR/logs/promtool.log"
}

render_alertmanager() { # AMTOOL
    local out="$DIR/config/alertmanager"
    mkdir -p "$out" "$DIR/secrets"
    chmod 700 "$DIR/secrets"
    STACK_SECRETS="$DIR/secrets" TEMPLATES="$HERE/alertmanager/templates" \
        "$(python_with_yaml)" - "$HERE/alertmanager/alertmanager.yml" >"$out/alertmanager.yml" <<'PY'
"""The shipped routing; each integration kept only when its destination is configured."""
import os
import sys
from pathlib import Path

import yaml

env = os.environ.get
secrets = Path(os.environ["STACK_SECRETS"])
config = yaml.safe_load(Path(sys.argv[1]).read_text())


def secret(name: str, value: str) -> str:
    path = secrets / name
    path.touch(mode=0o600)
    path.write_text(value)
    return str(path)


config["templates"] = [os.environ["TEMPLATES"] + "/*.tmpl"]
smtp = env("OTEL_ERRORS_SMTP_SMARTHOST")
settings = config.setdefault("global", {})
for key in [k for k in settings if k.startswith("smtp_")]:
    del settings[key]
if smtp:
    settings.update(smtp_smarthost=smtp, smtp_from=env("OTEL_ERRORS_SMTP_FROM", "alerts@localhost"),
                smtp_require_tls=env("OTEL_ERRORS_SMTP_REQUIRE_TLS", "true") == "true")
    if env("OTEL_ERRORS_SMTP_USERNAME"):
        settings["smtp_auth_username"] = env("OTEL_ERRORS_SMTP_USERNAME")
        settings["smtp_auth_password_file"] = secret("smtp-password", env("OTEL_ERRORS_SMTP_PASSWORD", ""))
keep = {
    "pagerduty_configs": env("OTEL_ERRORS_PAGERDUTY_ROUTING_KEY"),
    "slack_configs": env("OTEL_ERRORS_SLACK_WEBHOOK_URL"),
    "email_configs": smtp,
}
# webhooks differ per receiver: the SMS relay (P1) and the dead man's switch (Watchdog)
webhooks = {
    "p1-page": ("sms-webhook-url", env("OTEL_ERRORS_SMS_WEBHOOK_URL")),
    "deadmansswitch": ("deadmansswitch-url", env("OTEL_ERRORS_DEADMANSSWITCH_URL")),
}
for receiver in config["receivers"]:
    for kind in [k for k in receiver if k != "name"]:
        webhook = webhooks.get(receiver["name"], ("", None))
        destination = webhook[1] if kind == "webhook_configs" else keep.get(kind)
        if not destination:
            del receiver[kind]
            continue
        copies = []
        for integration in receiver[kind]:
            integration = dict(integration)
            if kind == "pagerduty_configs":
                integration["routing_key_file"] = secret("pagerduty-routing-key", destination)
                integration["url"] = env("OTEL_ERRORS_PAGERDUTY_URL", integration["url"])
            elif kind == "slack_configs":
                integration["api_url_file"] = secret("slack-webhook-url", destination)
            elif kind == "webhook_configs":
                integration["url_file"] = secret(webhook[0], destination)
            elif env("OTEL_ERRORS_ALERT_EMAIL_TO"):
                integration["to"] = env("OTEL_ERRORS_ALERT_EMAIL_TO")
            copies.append(integration)
        receiver[kind] = copies
print(yaml.safe_dump(config, sort_keys=False), end="")
PY
    "$1" check-config "$out/alertmanager.yml" >"$DIR/logs/amtool.log" 2>&1 \
        || die "amtool rejects the rendered Alertmanager config: see $DIR/logs/amtool.log"
}

render_grafana() {
    local out="$DIR/config/grafana/provisioning"
    rm -rf "$out"; mkdir -p "$out/datasources" "$out/dashboards"
    cp "$HERE/grafana/provisioning/datasources/"*.yaml "$out/datasources/"
    sed "s#path: /var/lib/grafana/dashboards/otel-errors#path: $HERE/grafana/dashboards#" \
        "$HERE/grafana/provisioning/dashboards/otel-errors.yaml" >"$out/dashboards/otel-errors.yaml"
}

# ---- start / stop -------------------------------------------------------------------------
start() { # NAME EXE ARGS...: in its own session, output to logs/NAME.log
    local name="$1" exe="$2"; shift 2
    setsid "$exe" "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
    echo "$! $exe" >"$DIR/run/$name.pid"
}

start_service() { # NAME
    case "$1" in
    jaeger)
        JAEGER_OTLP_GRPC_ADDR="$JAEGER_GRPC" JAEGER_OTLP_HTTP_ADDR="$JAEGER_HTTP" \
        JAEGER_QUERY_HTTP_ADDR="$JAEGER_QUERY" JAEGER_QUERY_GRPC_ADDR="$JAEGER_QUERY_GRPC" \
        JAEGER_HEALTH_ADDR="$JAEGER_HEALTH" JAEGER_TELEMETRY_PORT="$JAEGER_TELEMETRY" \
        JAEGER_PROMETHEUS_URL="http://$PROMETHEUS" \
            start jaeger "$JAEGER_BIN" --config="$HERE/jaeger/config.yaml" ;;
    loki)
        LOKI_HTTP_ADDR=127.0.0.1 LOKI_HTTP_PORT="$LOKI_HTTP" LOKI_GRPC_ADDR=127.0.0.1 \
        LOKI_GRPC_PORT="$LOKI_GRPC" LOKI_DATA_DIR="$DIR/data/loki" \
        ALERTMANAGER_URL="http://$ALERTMANAGER" \
            start loki "$LOKI" -config.file="$HERE/loki/config.yaml" -config.expand-env=true ;;
    gateway)
        OTEL_ERRORS_GATEWAY_GRPC_ADDR="$GATEWAY_GRPC" OTEL_ERRORS_GATEWAY_HTTP_ADDR="$GATEWAY_HTTP" \
        OTEL_ERRORS_GATEWAY_HEALTH_ADDR="$GATEWAY_HEALTH" \
        OTEL_ERRORS_GATEWAY_TELEMETRY_PORT="$GATEWAY_TELEMETRY_PORT" \
        OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR="$GATEWAY_EXPORTER" \
        JAEGER_OTLP_ENDPOINT="$JAEGER_GRPC" LOKI_OTLP_ENDPOINT="http://127.0.0.1:$LOKI_HTTP/otlp" \
        OTEL_ERRORS_QUEUE_DIR="$DIR/data/queue/gateway" \
            start gateway "$OTELCOL_BIN" --config="$HERE/otelcol/gateway.yaml" ;;
    agent)
        OTEL_ERRORS_AGENT_GRPC_ADDR="$AGENT_GRPC" OTEL_ERRORS_AGENT_HTTP_ADDR="$AGENT_HTTP" \
        OTEL_ERRORS_AGENT_HEALTH_ADDR="$AGENT_HEALTH" \
        OTEL_ERRORS_AGENT_TELEMETRY_PORT="$AGENT_TELEMETRY_PORT" \
        OTEL_ERRORS_GATEWAY_ENDPOINT="$GATEWAY_GRPC" OTEL_ERRORS_QUEUE_DIR="$DIR/data/queue/agent" \
            start agent "$OTELCOL_BIN" --config="$HERE/otelcol/agent.yaml" ;;
    alertmanager)
        start alertmanager "$ALERTMANAGER_BIN" \
            --config.file="$DIR/config/alertmanager/alertmanager.yml" \
            --storage.path="$DIR/data/alertmanager" --web.listen-address="$ALERTMANAGER" \
            --web.external-url="http://$ALERTMANAGER" --cluster.listen-address= ;;
    prometheus)
        start prometheus "$PROMETHEUS_BIN" --config.file="$DIR/config/prometheus/prometheus.yml" \
            --storage.tsdb.path="$DIR/data/prometheus" --storage.tsdb.retention.time=30d \
            --web.listen-address="$PROMETHEUS" \
            --enable-feature=exemplar-storage ;;
    grafana)
        GF_PATHS_PROVISIONING="$DIR/config/grafana/provisioning" GF_PATHS_DATA="$DIR/data/grafana" \
        GF_PATHS_LOGS="$DIR/logs" GF_SERVER_HTTP_ADDR="${GRAFANA%:*}" \
        GF_SERVER_HTTP_PORT="${GRAFANA##*:}" GF_AUTH_ANONYMOUS_ENABLED=true \
        GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer GF_ANALYTICS_REPORTING_ENABLED=false \
        GF_ANALYTICS_CHECK_FOR_UPDATES=false \
        GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH="$HERE/grafana/dashboards/otel-errors.json" \
        PROMETHEUS_URL="http://$PROMETHEUS" LOKI_URL="http://127.0.0.1:$LOKI_HTTP" \
        JAEGER_URL="http://$JAEGER_QUERY" \
            start grafana "$GRAFANA_EXE" server --homepath="${GRAFANA_HOME:-/usr/share/grafana}" ;;
    esac
}

stop_service() { # NAME
    local pid i
    pid="$(pid_of "$1")"
    if [[ -n "$pid" ]]; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_SECONDS * 10; i++)); do
            [[ -n "$(pid_of "$1")" ]] || break
            sleep 0.1
        done
        if [[ -n "$(pid_of "$1")" ]]; then
            log "$1 (pid $pid) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        log "stopped $1"
    fi
    rm -f "$DIR/run/$1.pid"
}

urls() {
    cat <<EOF
OTLP for applications (agent)  gRPC $AGENT_GRPC, HTTP http://$AGENT_HTTP
Jaeger (traces; API, UI when built with it)  http://$JAEGER_QUERY
Prometheus (metrics, alerts)   http://$PROMETHEUS
Alertmanager                   http://$ALERTMANAGER
Gateway metrics (scraped)      http://$GATEWAY_EXPORTER/metrics
EOF
    if [[ -n "$LOKI" ]]; then echo "Loki                           http://127.0.0.1:$LOKI_HTTP"
    else echo "Loki                           not started (no loki binary): logs are dropped"; fi
    if [[ -n "$GRAFANA_EXE" ]]; then echo "Grafana (dashboard otel-errors) http://$GRAFANA"
    else echo "Grafana                        not started (no grafana binary)"; fi
    echo "Logs and state                 $DIR"
}

up() {
    local paths
    paths="$("$HERE/build.sh")"
    eval "$paths"  # OTELCOL_BIN=... JAEGER_BIN=... PROMETHEUS_BIN=... (build.sh output)
    mkdir -p "$DIR"/{run,logs,data/prometheus,data/alertmanager,data/loki,data/grafana}
    render_prometheus "$PROMTOOL_BIN"
    render_alertmanager "$AMTOOL_BIN"
    [[ -z "$GRAFANA_EXE" ]] || render_grafana
    local name url addresses address
    while read -r name url addresses; do
        if [[ -n "$(pid_of "$name")" ]]; then log "$name already runs"; continue; fi
        for address in $addresses; do
            port_in_use "$address" && die "$address (for $name) is in use; stop what uses it or move $name (see the header of $0)"
        done
        log "starting $name"
        start_service "$name"
        local deadline=$((SECONDS + WAIT_SECONDS)) pid
        read -r pid _ <"$DIR/run/$name.pid"
        until healthy "$url"; do
            # Alive by pid, not by pid_of: until the child has exec'd the binary, its
            # command line is still the shell's.
            if ! running "$pid" || ((SECONDS >= deadline)); then
                tail -n 20 "$DIR/logs/$name.log" >&2 || true
                down
                die "$name did not become healthy at $url (log: $DIR/logs/$name.log)"
            fi
            sleep 0.2
        done
    done < <(services)
    urls
}

status() {
    local name url addresses pid state rc=0
    while read -r name url addresses; do
        pid="$(pid_of "$name")"
        if [[ -z "$pid" ]]; then state=stopped; rc=3
        elif healthy "$url"; then state=healthy
        else state=unhealthy; rc=3; fi
        printf '%-13s %-9s %-8s %s\n' "$name" "$state" "${pid:--}" "$url"
    done < <(services)
    return "$rc"
}

down() {
    local names=() name _
    while read -r name _; do names+=("$name"); done < <(services)
    # pid files of services not configured now (e.g. Loki found on the last `up` only)
    if [[ -d "$DIR/run" ]]; then
        for name in "$DIR"/run/*.pid; do
            [[ -e "$name" ]] || continue
            name="$(basename "$name" .pid)"
            [[ " ${names[*]} " == *" $name "* ]] || names+=("$name")
        done
    fi
    local i
    for ((i = ${#names[@]} - 1; i >= 0; i--)); do stop_service "${names[i]}"; done
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
*) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
