#!/usr/bin/env bash
# Validate every shipped deployment config with the real binaries.
#
#   collector-config/validate.sh              # all checks incl. a live smoke run
#   collector-config/validate.sh --no-smoke   # static checks only
#
# Binaries come from build.sh (cached; built on first use). Checks:
#  1. otelcol-otel-errors validate  on otelcol/*.yaml, and on each overlay of
#     otelcol/*/ (TLS and token, Kubernetes) merged over its base, with every
#     variable unset (the defaults) and with a set of non-default values;
#  2. the resolved configs (print-config): the manifest's components are exactly
#     the ones the configs use; every ${env:...} has a default; no default binds
#     beyond 127.0.0.1; the redaction block is identical in agent, gateway and
#     all-in-one; no literal secrets;
#  3. jaeger validate  on jaeger/config.yaml;
#  4. promtool check config  on prometheus/prometheus.yml (its rule_files too)
#     and  promtool check rules  on prometheus/rules/*.yml;
#  5. amtool check-config  on alertmanager/*.yml, if any;
#  6. loki/config.yaml parses and has the settings OTLP ingestion needs (Loki
#     itself is not available here);
#  7. smoke: Jaeger + the all-in-one collector on spare loopback ports; one
#     error trace and one exception log over OTLP/HTTP; checks that Jaeger has
#     the trace with secrets masked and attributes normalised, that the
#     Prometheus exporter serves span metrics, exception counts and exemplars
#     (promtool check metrics), and the health check; then agent -> load
#     balancer -> gateway -> the same Jaeger; then stops them all.
# Exits non-zero if any check fails.
set -euo pipefail
shopt -s inherit_errexit nullglob

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SMOKE=1
for arg in "$@"; do
    case "$arg" in
        --no-smoke) SMOKE=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done

PASSED=0
FAILED=0
FAILURES=()
WORK="$(mktemp -d "${TMPDIR:-/tmp}/otel-errors-validate.XXXXXX")"
PIDS=()
cleanup() {
    local pid i
    # newest first: the collector before the Jaeger it keeps a connection to
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid="${PIDS[i]}"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# check NAME COMMAND...: run, record, show the output on failure
check() {
    local name="$1"; shift
    local log="$WORK/check.log"
    if "$@" >"$log" 2>&1; then
        PASSED=$((PASSED + 1)); printf 'ok    %s\n' "$name"
    else
        FAILED=$((FAILED + 1)); FAILURES+=("$name"); printf 'FAIL  %s\n' "$name"
        sed 's/^/      /' "$log" | tail -n 40
    fi
}

# ---- binaries -----------------------------------------------------------------
command -v jq >/dev/null || {
    if [[ $(id -u) -eq 0 ]]; then apt-get install -y -q jq >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q jq >/dev/null; }
    else echo "validate.sh needs jq" >&2; exit 1; fi
}
paths="$("$HERE/build.sh")"
OTELCOL_BIN="$(sed -n 's/^OTELCOL_BIN=//p' <<<"$paths")"
JAEGER_BIN="$(sed -n 's/^JAEGER_BIN=//p' <<<"$paths")"
PROMTOOL_BIN="$(sed -n 's/^PROMTOOL_BIN=//p' <<<"$paths")"
AMTOOL_BIN="$(sed -n 's/^AMTOOL_BIN=//p' <<<"$paths")"
for b in "$OTELCOL_BIN" "$JAEGER_BIN" "$PROMTOOL_BIN" "$AMTOOL_BIN"; do
    [[ -x "$b" ]] || { echo "build.sh did not give an executable: '$b'" >&2; exit 1; }
done

# Run a command with none of the configs' variables set (so defaults apply), but the
# node name the Kubernetes DaemonSet always sets (k8s_attributes needs it to start).
with_defaults() {
    env $(compgen -e | grep -E '^(OTEL_ERRORS_|JAEGER_|LOKI_|ALERTMANAGER_URL$)' | sed 's/^/-u /' | grep -v '^-u OTEL_ERRORS_CACHE$' || true) \
        K8S_NODE_NAME=node-1 "$@"
}
# ... and with non-default values (what a container deployment sets).
with_overrides() {
    env \
        OTEL_ERRORS_AGENT_GRPC_ADDR=0.0.0.0:4317 OTEL_ERRORS_AGENT_HTTP_ADDR=0.0.0.0:4318 \
        OTEL_ERRORS_AGENT_HEALTH_ADDR=0.0.0.0:13133 OTEL_ERRORS_AGENT_TELEMETRY_HOST=0.0.0.0 \
        OTEL_ERRORS_AGENT_TELEMETRY_PORT=18888 \
        OTEL_ERRORS_GATEWAY_ENDPOINT=otel-gateway:4317 OTEL_ERRORS_GATEWAY_INSECURE=false \
        OTEL_ERRORS_GATEWAY_CA_FILE=/etc/ssl/certs/ca-certificates.crt \
        OTEL_ERRORS_GATEWAY_GRPC_ADDR=0.0.0.0:4317 OTEL_ERRORS_GATEWAY_HTTP_ADDR=0.0.0.0:4318 \
        OTEL_ERRORS_GATEWAY_HEALTH_ADDR=0.0.0.0:13133 OTEL_ERRORS_GATEWAY_TELEMETRY_PORT=18889 \
        OTEL_ERRORS_GATEWAY_ENDPOINTS='[otel-gateway-0:4317, otel-gateway-1:4317, otel-gateway-2:4317]' \
        OTEL_ERRORS_LB_GRPC_ADDR=0.0.0.0:4317 OTEL_ERRORS_LB_HTTP_ADDR=0.0.0.0:4318 \
        OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR=0.0.0.0:9464 \
        JAEGER_OTLP_ENDPOINT=jaeger:4317 JAEGER_OTLP_INSECURE=true \
        LOKI_OTLP_ENDPOINT=http://loki:3100/otlp LOKI_TENANT_ID=team-a \
        OTEL_ERRORS_DEFAULT_ENVIRONMENT=production \
        OTEL_ERRORS_TAIL_DECISION_WAIT=30s OTEL_ERRORS_TAIL_NUM_TRACES=200000 \
        OTEL_ERRORS_TAIL_SAMPLING_PERCENTAGE=2.5 OTEL_ERRORS_TAIL_LATENCY_THRESHOLD_MS=5000 \
        OTEL_ERRORS_SPANMETRICS_FLUSH_INTERVAL=30s OTEL_ERRORS_SPANMETRICS_CARDINALITY_LIMIT=20000 \
        OTEL_ERRORS_MEMORY_LIMIT_PERCENTAGE=75 OTEL_ERRORS_MEMORY_SPIKE_PERCENTAGE=15 \
        OTEL_ERRORS_BATCH_TIMEOUT=1s OTEL_ERRORS_REDACTION_SUMMARY=silent \
        OTEL_ERRORS_DEBUG_VERBOSITY=normal OTEL_ERRORS_COLLECTOR_LOG_LEVEL=warn \
        JAEGER_OTLP_GRPC_ADDR=0.0.0.0:4317 JAEGER_QUERY_HTTP_ADDR=0.0.0.0:16686 \
        JAEGER_MEMORY_MAX_TRACES=500000 JAEGER_PROMETHEUS_URL=http://prometheus:9090 \
        OTEL_ERRORS_QUEUE_DIR=/var/lib/otel-errors/queue OTEL_ERRORS_PIPELINE_TOKEN_FILE=/run/token \
        OTEL_ERRORS_TLS_CERT_FILE=/run/tls/tls.crt OTEL_ERRORS_TLS_KEY_FILE=/run/tls/tls.key \
        K8S_NODE_NAME=node-1 K8S_CLUSTER_NAME=prod-eu \
        OTEL_ERRORS_GATEWAY_HEADLESS_SERVICE=gw-headless.observability.svc.cluster.local \
        OTEL_ERRORS_GATEWAY_TLS_SERVER_NAME=gw.observability \
        "$@"
}

echo "== collector configs ($("$OTELCOL_BIN" --version))"
COLLECTOR_CONFIGS=("$HERE"/otelcol/*.yaml)
((${#COLLECTOR_CONFIGS[@]})) || { echo "no otelcol/*.yaml" >&2; exit 1; }
for cfg in "${COLLECTOR_CONFIGS[@]}"; do
    rel="${cfg#"$HERE"/}"
    check "otelcol validate $rel (defaults)" with_defaults "$OTELCOL_BIN" validate --config="$cfg"
    check "otelcol validate $rel (overrides)" with_overrides "$OTELCOL_BIN" validate --config="$cfg"
    with_defaults "$OTELCOL_BIN" print-config --format=json --config="$cfg" \
        > "$WORK/$(basename "$cfg" .yaml).json" 2>"$WORK/$(basename "$cfg" .yaml).err" || true
done

# Overlays merged over their base config (otelcol/<dir>/<tier>.yaml over otelcol/<tier>.yaml):
# TLS and the bearer token (secure/), Kubernetes (kubernetes/).
OVERLAYS=("$HERE"/otelcol/*/*.yaml)
for overlay in "${OVERLAYS[@]}"; do
    rel="${overlay#"$HERE"/}"
    base="$HERE/otelcol/$(basename "$overlay")"
    check "otelcol validate ${base#"$HERE"/} + $rel (defaults)" \
        with_defaults "$OTELCOL_BIN" validate --config="$base" --config="$overlay"
    check "otelcol validate ${base#"$HERE"/} + $rel (overrides)" \
        with_overrides "$OTELCOL_BIN" validate --config="$base" --config="$overlay"
    out="$WORK/$(basename "$(dirname "$overlay")")-$(basename "$overlay" .yaml).json"
    with_defaults "$OTELCOL_BIN" print-config --format=json --config="$base" --config="$overlay" \
        > "$out" 2>"${out%.json}.err" || true
done

# components built into the binary, per kind: "kind type" lines
"$OTELCOL_BIN" components 2>/dev/null | awk '
    /^(receivers|processors|exporters|connectors|extensions):/ { kind=$1; sub(":", "", kind); next }
    /^[a-z]/ { kind="" }
    kind != "" && $1 == "-" && $2 == "name:" { print kind, $3 }' | sort -u > "$WORK/built.txt"

used_components() {
    local json
    for json in "$WORK"/*.json; do
        jq -r '["receivers","processors","exporters","connectors","extensions"][] as $k
               | (.[$k] // {}) | keys[] | "\($k) \(split("/")[0])"' "$json"
    done | sort -u
}
check_manifest_exact() {
    local json
    for json in "$WORK"/*.json; do
        [[ -s "$json" ]] || { echo "print-config failed for ${json%.json}"; cat "${json%.json}.err"; return 1; }
    done
    used_components > "$WORK/used.txt"
    if ! diff -u "$WORK/built.txt" "$WORK/used.txt"; then
        echo "builder-config.yaml components (-) differ from those the configs use (+)"
        return 1
    fi
}
check "builder-config.yaml names exactly the components the configs use" check_manifest_exact

check_env_defaults() {
    local bad
    bad="$(grep -nE '\$\{env:[A-Za-z_][A-Za-z0-9_]*\}' "$HERE"/otelcol/*.yaml "$HERE"/otelcol/*/*.yaml "$HERE"/jaeger/*.yaml || true)"
    [[ -z "$bad" ]] || { echo "env references without a default:"; echo "$bad"; return 1; }
    bad="$(grep -nE '\$\{[A-Za-z_][A-Za-z0-9_]*\}' "$HERE"/loki/config.yaml || true)"
    [[ -z "$bad" ]] || { echo "env references without a default:"; echo "$bad"; return 1; }
}
check "every environment reference has a default" check_env_defaults

check_loopback_defaults() {
    # no address literal binding all interfaces outside comments
    local bad
    bad="$(grep -nE '0\.0\.0\.0|\[::\]' "$HERE"/otelcol/*.yaml "$HERE"/otelcol/*/*.yaml "$HERE"/jaeger/*.yaml "$HERE"/loki/*.yaml \
        "$HERE"/prometheus/prometheus.yml | grep -vE '^[^:]+:[0-9]+:[[:space:]]*#' || true)"
    [[ -z "$bad" ]] || { echo "binds beyond loopback by default:"; echo "$bad"; return 1; }
    # resolved collector configs: no endpoint/host on all interfaces (":4317", "0.0.0.0:4317")
    local json
    bad="$(for json in "$WORK"/*.json; do
        jq -r --arg f "$(basename "$json")" '.. | objects | (.endpoint?, .host?) | strings | "\($f) \(.)"' "$json"
    done | grep -E ' (0\.0\.0\.0|\[?::\]?)?:[0-9]+$| 0\.0\.0\.0$' || true)"
    [[ -z "$bad" ]] || { echo "listeners on all interfaces by default:"; echo "$bad"; return 1; }
}
check "defaults bind 127.0.0.1 only" check_loopback_defaults

check_redaction_identical() {
    local ref="" f cur
    for f in agent gateway all-in-one; do
        [[ -s "$WORK/$f.json" ]] || { echo "no resolved config for $f"; return 1; }
        cur="$(jq -S '.processors.redaction' "$WORK/$f.json")"
        [[ "$cur" != null ]] || { echo "$f.yaml has no redaction processor"; return 1; }
        if [[ -z "$ref" ]]; then ref="$cur"
        elif [[ "$cur" != "$ref" ]]; then
            echo "redaction block of $f.yaml differs from agent.yaml:"
            diff <(echo "$ref") <(echo "$cur") || true
            return 1
        fi
    done
}
check "redaction block identical in agent, gateway, all-in-one" check_redaction_identical

check_no_literal_secrets() {
    # YAML keys that hold credentials must take their value from the environment
    local bad
    bad="$(grep -nEi '^\s*[A-Za-z0-9_.-]*(password|passwd|secret|token|api[_-]?key|authorization|bearer)[A-Za-z0-9_.-]*:\s*[^[:space:]#]' \
        "$HERE"/otelcol/*.yaml "$HERE"/otelcol/*/*.yaml "$HERE"/jaeger/*.yaml "$HERE"/loki/*.yaml "$HERE"/prometheus/prometheus.yml \
        | grep -vE ':\s*("?\$\{|\[|$)' || true)"
    [[ -z "$bad" ]] || { echo "literal credential values:"; echo "$bad"; return 1; }
}
check "no literal secrets in the shipped configs" check_no_literal_secrets

echo "== jaeger ($("$JAEGER_BIN" version 2>/dev/null | jq -r .gitVersion 2>/dev/null || echo '?'))"
check "jaeger validate jaeger/config.yaml (defaults)" with_defaults "$JAEGER_BIN" validate --config="$HERE/jaeger/config.yaml"
check "jaeger validate jaeger/config.yaml (overrides)" with_overrides "$JAEGER_BIN" validate --config="$HERE/jaeger/config.yaml"

echo "== prometheus ($("$PROMTOOL_BIN" --version 2>&1 | head -1))"
check "promtool check config prometheus/prometheus.yml" "$PROMTOOL_BIN" check config "$HERE/prometheus/prometheus.yml"
rules=("$HERE"/prometheus/rules/*.yml "$HERE"/prometheus/rules/*.yaml)
if ((${#rules[@]})); then
    check "promtool check rules prometheus/rules/*" "$PROMTOOL_BIN" check rules "${rules[@]}"
fi

amconfigs=("$HERE"/alertmanager/*.yml "$HERE"/alertmanager/*.yaml)
if ((${#amconfigs[@]})); then
    echo "== alertmanager ($("$AMTOOL_BIN" --version 2>&1 | head -1))"
    for c in "${amconfigs[@]}"; do
        check "amtool check-config ${c#"$HERE"/}" "$AMTOOL_BIN" check-config "$c"
    done
fi

echo "== loki (static checks; Loki is not run here)"
check_loki() {
    local f="$HERE/loki/config.yaml" py=""
    for cand in python3 /work/venv/bin/python python; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import yaml' 2>/dev/null; then py="$cand"; break; fi
    done
    if [[ -n "$py" ]]; then
        "$py" - "$f" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
lim = c["limits_config"]
assert lim["allow_structured_metadata"] is True, "allow_structured_metadata must be true"
labels = [a for ac in lim["otlp_config"]["resource_attributes"]["attributes_config"]
          if ac["action"] == "index_label" for a in ac.get("attributes", [])]
for want in ("service.name", "deployment.environment.name"):
    assert want in labels, f"{want} is not an OTLP index label"
assert c["schema_config"]["configs"][-1]["schema"] == "v13"
assert c["schema_config"]["configs"][-1]["store"] == "tsdb"
if c.get("compactor", {}).get("retention_enabled"):
    assert c["compactor"].get("delete_request_store"), "retention needs delete_request_store"
print("loki config ok")
PY
    else
        echo "no Python with PyYAML: textual checks only"
        grep -q 'allow_structured_metadata: true' "$f" && grep -q 'action: index_label' "$f" \
            && grep -q 'deployment.environment.name' "$f" && grep -q 'delete_request_store:' "$f"
    fi
}
check "loki/config.yaml: OTLP ingestion settings" check_loki

# ---- smoke ----------------------------------------------------------------------
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_http() { # URL [tries]
    local i
    for ((i = 0; i < ${2:-100}; i++)); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.2; done
    return 1
}
smoke() {
    local p ports=(27317 27318 27686 27685 27133 27269 28317 28318 28133 28888 28464 28999)
    for p in "${ports[@]}"; do port_free "$p" || { echo "port $p is in use; smoke test needs it"; return 1; }; done

    JAEGER_OTLP_GRPC_ADDR=127.0.0.1:27317 JAEGER_OTLP_HTTP_ADDR=127.0.0.1:27318 \
    JAEGER_QUERY_HTTP_ADDR=127.0.0.1:27686 JAEGER_QUERY_GRPC_ADDR=127.0.0.1:27685 \
    JAEGER_HEALTH_ADDR=127.0.0.1:27133 JAEGER_TELEMETRY_PORT=27269 \
        "$JAEGER_BIN" --config="$HERE/jaeger/config.yaml" >"$WORK/jaeger.log" 2>&1 &
    PIDS+=($!)
    OTEL_ERRORS_AGENT_GRPC_ADDR=127.0.0.1:28317 OTEL_ERRORS_AGENT_HTTP_ADDR=127.0.0.1:28318 \
    OTEL_ERRORS_AGENT_HEALTH_ADDR=127.0.0.1:28133 OTEL_ERRORS_AGENT_TELEMETRY_PORT=28888 \
    OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR=127.0.0.1:28464 \
    JAEGER_OTLP_ENDPOINT=127.0.0.1:27317 LOKI_OTLP_ENDPOINT=http://127.0.0.1:28999/otlp \
    OTEL_ERRORS_TAIL_DECISION_WAIT=1s OTEL_ERRORS_SPANMETRICS_FLUSH_INTERVAL=2s \
    OTEL_ERRORS_TAIL_SAMPLING_PERCENTAGE=0 OTEL_ERRORS_DEFAULT_ENVIRONMENT=smoke \
    OTEL_ERRORS_QUEUE_DIR="$WORK/queue/all-in-one" \
        "$OTELCOL_BIN" --config="$HERE/otelcol/all-in-one.yaml" >"$WORK/otelcol.log" 2>&1 &
    PIDS+=($!)

    wait_http http://127.0.0.1:27133/status || { echo "jaeger did not become healthy"; tail -20 "$WORK/jaeger.log"; return 1; }
    wait_http http://127.0.0.1:28133/ || { echo "collector did not become healthy"; tail -20 "$WORK/otelcol.log"; return 1; }

    local now trace_id ok_trace i got
    now="$(date +%s%N)"
    trace_id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    ok_trace="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    local res='{"attributes":[{"key":"service.name","value":{"stringValue":"smoke-svc"}},{"key":"deployment.environment","value":{"stringValue":"staging"}}]}'
    cat >"$WORK/traces.json" <<EOF
{"resourceSpans":[{"resource":$res,"scopeSpans":[{"scope":{"name":"smoke"},"spans":[
 {"traceId":"$trace_id","spanId":"1111111111111111","name":"POST /pay","kind":2,
  "startTimeUnixNano":"$((now - 50000000))","endTimeUnixNano":"$now",
  "status":{"code":2,"message":"payment failed"},
  "attributes":[{"key":"http.method","value":{"stringValue":"POST"}},
                {"key":"http.route","value":{"stringValue":"/pay"}},
                {"key":"http.status_code","value":{"intValue":"500"}},
                {"key":"error.type","value":{"stringValue":"PAY-001"}},
                {"key":"enduser.id","value":{"stringValue":"user-42"}},
                {"key":"card","value":{"stringValue":"paid with 4111 1111 1111 1111 ok"}},
                {"key":"http.request.header.authorization","value":{"stringValue":"Bearer abc.def"}},
                {"key":"db.connection_string","value":{"stringValue":"postgres://app:hunter2@db:5432/x"}}],
  "events":[{"timeUnixNano":"$((now - 1000))","name":"exception","attributes":[
                {"key":"exception.type","value":{"stringValue":"payments.CardDeclined"}},
                {"key":"exception.message","value":{"stringValue":"declined for alice@example.com token=s3cr3t Bearer 9f8e7d6c5b4a; basic authentication failed"}},
                {"key":"error.code","value":{"stringValue":"PAY-001"}},
                {"key":"error.severity","value":{"stringValue":"P2"}},
                {"key":"error.category","value":{"stringValue":"permanent"}}]}]},
 {"traceId":"$ok_trace","spanId":"2222222222222222","name":"GET /healthz","kind":2,
  "startTimeUnixNano":"$((now - 1000000))","endTimeUnixNano":"$now",
  "attributes":[{"key":"http.route","value":{"stringValue":"/healthz"}}]}
]}]}]}
EOF
    cat >"$WORK/logs.json" <<EOF
{"resourceLogs":[{"resource":$res,"scopeLogs":[{"scope":{"name":"smoke"},"logRecords":[
 {"timeUnixNano":"$now","severityNumber":17,"severityText":"ERROR",
  "body":{"stringValue":"card 5555555555554444 declined"},"traceId":"$trace_id","spanId":"1111111111111111",
  "attributes":[{"key":"exception.type","value":{"stringValue":"payments.CardDeclined"}},
                {"key":"error.code","value":{"stringValue":"PAY-001"}},
                {"key":"error.severity","value":{"stringValue":"P2"}}]}]}]}]}
EOF
    curl -fsS -H 'Content-Type: application/json' --data-binary @"$WORK/traces.json" http://127.0.0.1:28318/v1/traces >/dev/null \
        || { echo "OTLP/HTTP trace export refused"; return 1; }
    curl -fsS -H 'Content-Type: application/json' --data-binary @"$WORK/logs.json" http://127.0.0.1:28318/v1/logs >/dev/null \
        || { echo "OTLP/HTTP log export refused"; return 1; }

    # spanmetrics attaches exemplars for one flush interval (2s here): poll
    # right after sending.
    local metrics="$WORK/metrics.txt" exemplar=0
    for ((i = 0; i < 40; i++)); do
        curl -fsS -H 'Accept: application/openmetrics-text;version=1.0.0' http://127.0.0.1:28464/metrics >"$metrics" 2>/dev/null || true
        grep -q "trace_id=\"$trace_id\"" "$metrics" && exemplar=1
        ((exemplar)) && grep -q '^otel_errors_exception_logs_total' "$metrics" \
            && grep -q '^traces_span_metrics_calls_total' "$metrics" && break
        sleep 0.25
    done
    grep -E '^(traces_span_metrics_calls_total|otel_errors_exception_(events|logs)_total)\{' "$metrics" | sed 's/^/metric:     /' | cut -c1-400
    grep -q '^traces_span_metrics_calls_total{.*http_route="/pay"' "$metrics" || { echo "no span metrics for /pay"; return 1; }
    grep -q '^traces_span_metrics_calls_total{.*service_name="smoke-svc"' "$metrics" || { echo "no service_name label"; return 1; }
    grep -q '^traces_span_metrics_calls_total{.*deployment_environment_name="staging"' "$metrics" || { echo "no deployment_environment_name label"; return 1; }
    grep -q 'http_route="/healthz"' "$metrics" && { echo "health-check span counted in span metrics"; return 1; }
    grep -qE '^otel_errors_exception_events_total\{.*error_code="PAY-001".*\} 1(\.0)?( |$)' "$metrics" || { echo "exception event not counted once"; return 1; }
    grep -q '^otel_errors_exception_logs_total{.*error_code="PAY-001"' "$metrics" || { echo "exception log not counted"; return 1; }
    grep -q 'redaction_' "$metrics" && { echo "redaction summary attributes leaked into metric labels"; return 1; }
    ((exemplar)) || { echo "no exemplar with the trace id on the span metrics"; return 1; }
    # the error trace must reach Jaeger through tail sampling (decision_wait 1s)
    got=""
    for ((i = 0; i < 60; i++)); do
        got="$(curl -fsS "http://127.0.0.1:27686/api/traces/$trace_id" 2>/dev/null || true)"
        [[ "$(jq -r '.data[0].spans | length' <<<"$got" 2>/dev/null)" == 1 ]] && break
        got=""; sleep 0.5
    done
    [[ -n "$got" ]] || { echo "error trace $trace_id not found in Jaeger"; tail -30 "$WORK/otelcol.log"; return 1; }
    jq '.data[0].spans[0] | {tags, logs, process: .processID}' <<<"$got" > "$WORK/span.json"
    local tags; tags="$(jq -c '[.data[0].spans[0].tags[] | {(.key): .value}] | add' <<<"$got")"
    local events; events="$(jq -c '[.data[0].spans[0].logs[].fields[] | {(.key): .value}] | add' <<<"$got")"
    local proc; proc="$(jq -c '[.data[0].processes[].tags[] | {(.key): .value}] | add' <<<"$got")"
    echo "span tags:  $tags"
    echo "event:      $events"
    echo "resource:   $proc"
    jq -e '."http.request.method" == "POST" and ."http.method" == null'            <<<"$tags"  >/dev/null || { echo "http.method not normalised"; return 1; }
    jq -e '."http.response.status_code" == 500 or ."http.response.status_code" == "500"' <<<"$tags" >/dev/null || { echo "http.status_code not normalised"; return 1; }
    jq -e '."http.request.header.authorization" == null'                           <<<"$tags"  >/dev/null || { echo "authorization header not stripped"; return 1; }
    jq -e '(.card | contains("4111")) | not'                                        <<<"$tags"  >/dev/null || { echo "card number not masked"; return 1; }
    jq -e '(."db.connection_string" | contains("hunter2")) | not'                   <<<"$tags"  >/dev/null || { echo "URL password not masked"; return 1; }
    jq -e '."enduser.id" != "user-42"'                                              <<<"$tags"  >/dev/null || { echo "enduser.id not hashed"; return 1; }
    jq -e '(."exception.message" | (contains("alice@example.com") or contains("s3cr3t") or contains("9f8e7d6c5b4a"))) | not' <<<"$events" >/dev/null || { echo "exception message not redacted"; return 1; }
    jq -e '."exception.message" | contains("basic authentication failed")' <<<"$events" >/dev/null || { echo "prose masked as a credential"; return 1; }
    jq -e '."error.code" == "PAY-001" and ."error.severity" == "P2"'               <<<"$events" >/dev/null || { echo "error attributes damaged"; return 1; }
    jq -e '."deployment.environment.name" == "staging" and ."deployment.environment" == null' <<<"$proc" >/dev/null || { echo "deployment.environment not normalised"; return 1; }

    # the successful health-check trace is dropped (filter/probes; sampling 0%)
    sleep 2
    if curl -fsS "http://127.0.0.1:27686/api/traces/$ok_trace" 2>/dev/null | jq -e '.data[0].spans | length > 0' >/dev/null 2>&1; then
        echo "health-check trace was not dropped"; return 1
    fi

    # Prometheus exporter: span metrics, exception counts, exemplars
    # exposition format lint on the classic text format
    curl -fsS http://127.0.0.1:28464/metrics >"$WORK/metrics.prom" || { echo "cannot scrape the exporter"; return 1; }
    "$PROMTOOL_BIN" check metrics --extended --lint=none <"$WORK/metrics.prom" || { echo "promtool cannot parse the exposition"; return 1; }
    grep -q "^traces_span_metrics_duration_seconds_bucket" "$WORK/metrics.prom" || { echo "no duration histogram in seconds"; return 1; }
    # collector self-telemetry
    curl -fsS http://127.0.0.1:28888/metrics | grep -q '^otelcol_receiver_accepted_spans' \
        || { echo "no collector self-metrics"; return 1; }
    grep -iE '"level":"(error|fatal)"|\berror\b' "$WORK/otelcol.log" | grep -v 'loki\|28999\|otlp_http' | head -5 || true
}
# agent -> load balancer -> gateway -> Jaeger (started by smoke) with the
# shipped tier configs, wired together through their environment variables.
smoke_chain() {
    local p ports=(29317 29318 29133 29888 29417 29418 29135 29890 29517 29518 29134 29889 29464)
    for p in "${ports[@]}"; do port_free "$p" || { echo "port $p is in use; smoke test needs it"; return 1; }; done
    OTEL_ERRORS_GATEWAY_GRPC_ADDR=127.0.0.1:29517 OTEL_ERRORS_GATEWAY_HTTP_ADDR=127.0.0.1:29518 \
    OTEL_ERRORS_GATEWAY_HEALTH_ADDR=127.0.0.1:29134 OTEL_ERRORS_GATEWAY_TELEMETRY_PORT=29889 \
    OTEL_ERRORS_PROMETHEUS_EXPORTER_ADDR=127.0.0.1:29464 \
    JAEGER_OTLP_ENDPOINT=127.0.0.1:27317 LOKI_OTLP_ENDPOINT=http://127.0.0.1:28999/otlp \
    OTEL_ERRORS_TAIL_DECISION_WAIT=1s OTEL_ERRORS_SPANMETRICS_FLUSH_INTERVAL=1s \
    OTEL_ERRORS_TAIL_SAMPLING_PERCENTAGE=0 OTEL_ERRORS_QUEUE_DIR="$WORK/queue/gateway" \
        "$OTELCOL_BIN" --config="$HERE/otelcol/gateway.yaml" >"$WORK/gateway.log" 2>&1 &
    PIDS+=($!)
    OTEL_ERRORS_LB_GRPC_ADDR=127.0.0.1:29417 OTEL_ERRORS_LB_HTTP_ADDR=127.0.0.1:29418 \
    OTEL_ERRORS_LB_HEALTH_ADDR=127.0.0.1:29135 OTEL_ERRORS_LB_TELEMETRY_PORT=29890 \
    OTEL_ERRORS_GATEWAY_ENDPOINTS='[127.0.0.1:29517]' OTEL_ERRORS_QUEUE_DIR="$WORK/queue/lb" \
        "$OTELCOL_BIN" --config="$HERE/otelcol/gateway-loadbalancer.yaml" >"$WORK/lb.log" 2>&1 &
    PIDS+=($!)
    OTEL_ERRORS_AGENT_GRPC_ADDR=127.0.0.1:29317 OTEL_ERRORS_AGENT_HTTP_ADDR=127.0.0.1:29318 \
    OTEL_ERRORS_AGENT_HEALTH_ADDR=127.0.0.1:29133 OTEL_ERRORS_AGENT_TELEMETRY_PORT=29888 \
    OTEL_ERRORS_GATEWAY_ENDPOINT=127.0.0.1:29417 OTEL_ERRORS_QUEUE_DIR="$WORK/queue/agent" \
        "$OTELCOL_BIN" --config="$HERE/otelcol/agent.yaml" >"$WORK/agent.log" 2>&1 &
    PIDS+=($!)
    wait_http http://127.0.0.1:29134/ || { echo "gateway did not become healthy"; tail -20 "$WORK/gateway.log"; return 1; }
    wait_http http://127.0.0.1:29135/ || { echo "load balancer did not become healthy"; tail -20 "$WORK/lb.log"; return 1; }
    wait_http http://127.0.0.1:29133/ || { echo "agent did not become healthy"; tail -20 "$WORK/agent.log"; return 1; }

    local now trace_id i got=""
    now="$(date +%s%N)"
    trace_id="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    cat >"$WORK/chain.json" <<JSON
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"chain-svc"}}]},
 "scopeSpans":[{"scope":{"name":"smoke"},"spans":[
 {"traceId":"$trace_id","spanId":"3333333333333333","name":"GET /orders/{id}","kind":2,
  "startTimeUnixNano":"$((now - 20000000))","endTimeUnixNano":"$now","status":{"code":2},
  "attributes":[{"key":"http.route","value":{"stringValue":"/orders/{id}"}},
                {"key":"http.target","value":{"stringValue":"/orders/7?password=hunter2"}}],
  "events":[{"timeUnixNano":"$now","name":"exception","attributes":[
                {"key":"exception.type","value":{"stringValue":"KeyError"}},
                {"key":"error.code","value":{"stringValue":"ORD-404"}},
                {"key":"error.severity","value":{"stringValue":"P3"}}]}]}]}]}]}
JSON
    curl -fsS -H 'Content-Type: application/json' --data-binary @"$WORK/chain.json" http://127.0.0.1:29318/v1/traces >/dev/null \
        || { echo "agent refused the trace"; return 1; }
    for ((i = 0; i < 60; i++)); do
        got="$(curl -fsS "http://127.0.0.1:27686/api/traces/$trace_id" 2>/dev/null || true)"
        [[ "$(jq -r '.data[0].spans | length' <<<"$got" 2>/dev/null)" == 1 ]] && break
        got=""; sleep 0.5
    done
    if [[ -z "$got" ]]; then
        echo "trace did not reach Jaeger through agent -> lb -> gateway"
        for p in agent lb gateway; do echo "--- $p"; tail -8 "$WORK/$p.log"; done
        return 1
    fi
    local tags; tags="$(jq -c '[.data[0].spans[0].tags[] | {(.key): .value}] | add' <<<"$got")"
    echo "chain span tags: $tags"
    jq -e '."url.path" == "/orders/7" and ."http.target" == null' <<<"$tags" >/dev/null \
        || { echo "http.target not normalised to url.path"; return 1; }
    for ((i = 0; i < 20; i++)); do
        curl -fsS http://127.0.0.1:29464/metrics 2>/dev/null \
            | grep -q 'otel_errors_exception_events_total{.*error_code="ORD-404"' && return 0
        sleep 0.5
    done
    echo "gateway did not export the exception count"
    return 1
}

if ((SMOKE)); then
    echo "== smoke runs (jaeger + collectors on 127.0.0.1:27xxx-29xxx)"
    command -v curl >/dev/null || { echo "smoke needs curl" >&2; exit 1; }
    check "smoke: all-in-one collector -> Jaeger / Prometheus exporter" smoke
    if [[ "${FAILURES[*]}" != *smoke* ]]; then
        check "smoke: agent -> load balancer -> gateway -> Jaeger" smoke_chain
    fi
fi

echo
echo "$PASSED passed, $FAILED failed"
((FAILED == 0)) || { printf 'failed: %s\n' "${FAILURES[@]}" >&2; exit 1; }
