"""The Grafana dashboard of otel_errors, built in code with ``grafana-foundation-sdk``.

Panels: error rate per service and endpoint, top error codes, error trends by
severity, code and origin service (where a failure seen across services began); RED
(rate, errors, duration) per service from the gateway's span metrics, so services
without otel_errors show too; latency and success rate of the endpoints; the
collectors' own health; recent error logs (Loki) and the state of the alerts. Every
Prometheus query uses only metric and label names the collector deployment produces
(see ``alert_rules``), so the end-to-end test can run each panel's query against a
real Prometheus. Data sources are dashboard variables (the uids of
``collector-config/grafana/provisioning`` are their defaults), metric panels show
exemplars (a point links to its trace), and "All" is ``.+``: Loki rejects a stream
selector whose matchers all match the empty string, as ``=~".*"`` does.

``grafana-foundation-sdk`` is imported lazily: only this generator needs it (the
``deploy`` extra), and it requires Python 3.11.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from otel_errors._internal.tooling.alert_pipeline import counters
from otel_errors._internal.tooling.alert_rules import (
    CALLS,
    ERRORS,
    REQUESTS,
    UPSTREAM_ORIGIN,
    with_origin,
)

if TYPE_CHECKING:
    from grafana_foundation_sdk.builders.dashboard import Dashboard

PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
DASHBOARD_UID = "otel-errors"
ALL = ".+"
"""The value of "All" in the service and environment variables (never the empty match)."""
_SERVICE = 'service_name=~"$service", deployment_environment_name=~"$environment"'
_SERVED = f'{_SERVICE}, span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"'
_BY = "service_name, http_route"
_BUCKETS = REQUESTS.removesuffix("_count") + "_bucket"
_SPAN_BUCKETS = CALLS.replace("calls_total", "duration_seconds_bucket")
LOGS_QUERY = (
    '{service_name=~"$service", deployment_environment_name=~"$environment"} | error_code != ""'
)


def _rate(selector: str) -> str:
    return f"rate({selector}[$__rate_interval])"


def panel_queries() -> dict[str, list[str]]:
    """Panel title -> its Prometheus expressions (what the e2e test evaluates)."""
    errors = f"{ERRORS}{{{_SERVICE}}}"
    unhandled = f'{ERRORS}{{{_SERVICE}, error_handled="false"}}'
    requests = f"{REQUESTS}{{{_SERVICE}}}"
    failed_requests = f'{REQUESTS}{{{_SERVICE}, http_response_status_code=~"5.."}}'
    calls = f"{CALLS}{{{_SERVED}}}"
    failed_calls = f'{CALLS}{{{_SERVED}, status_code="STATUS_CODE_ERROR"}}'
    accepted = counters("rate", "$__rate_interval", "receiver_accepted")
    lost = counters("rate", "$__rate_interval", "receiver_refused", "exporter_send_failed")
    pipeline = "OtelErrors_(Collector|Pipeline|TailSampling|Telemetry|Watchdog).*"
    return {
        "Error rate per endpoint (unhandled errors per request)": [
            f"sum by ({_BY}) ({_rate(unhandled)}) / sum by ({_BY}) ({_rate(requests)})"
        ],
        "Top error codes": [
            (
                "topk(10, sum by (service_name, error_code, error_severity) "
                f"(increase({errors}[$__range])))"
            )
        ],
        "Errors per second by severity": [f"sum by (error_severity) ({_rate(errors)})"],
        "Errors per second by code": [f"sum by (error_code) ({_rate(errors)})"],
        "Errors per second by origin service": [
            with_origin(f"sum by (service_name, {UPSTREAM_ORIGIN}) ({_rate(errors)})")
        ],
        "Requests per second per service": [f"sum by (service_name) ({_rate(calls)})"],
        "Failed requests per service (share)": [
            (
                f"sum by (service_name) ({_rate(failed_calls)})"
                f" / sum by (service_name) ({_rate(calls)})"
            )
        ],
        "Duration p95 per service": [
            (
                "histogram_quantile(0.95, sum by (le, service_name) "
                f"({_rate(f'{_SPAN_BUCKETS}{{{_SERVED}}}')}))"
            )
        ],
        "Latency p95 per endpoint": [
            (f"histogram_quantile(0.95, sum by (le, {_BY}) ({_rate(f'{_BUCKETS}{{{_SERVICE}}}')}))")
        ],
        "Success rate per endpoint": [
            (
                f"1 - (sum by ({_BY}) ({_rate(failed_requests)}) or "
                f"0 * sum by ({_BY}) ({_rate(requests)}))"
                f" / sum by ({_BY}) ({_rate(requests)})"
            )
        ],
        "Telemetry accepted per second by collector tier": [f"sum by (tier) ({accepted})"],
        "Telemetry refused or dropped per second": [f"sum by (tier, receiver, exporter) ({lost})"],
        "Exporter queue usage": [
            (
                "max by (tier, exporter) "
                "(otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)"
            )
        ],
        "Pipeline alerts": [f'ALERTS{{alertname=~"{pipeline}"}}'],
        "Alert state": ['ALERTS{alertname=~"OtelErrors_.+", ' + _SERVICE + "}"],
    }


_DESCRIPTIONS = {
    "Error rate per endpoint (unhandled errors per request)": (
        "Unhandled errors (otel_errors' errors_total) per HTTP request of each endpoint. "
        "Points carry exemplars: click one to open its trace."
    ),
    "Top error codes": "The ten codes with the most errors in the selected range.",
    "Errors per second by severity": "All recorded errors, handled or not, by P1-P4.",
    "Errors per second by code": "All recorded errors by catalogue code (UNKNOWN: unclassified).",
    "Errors per second by origin service": (
        "All recorded errors by the service where the failure began (origin -> the service "
        "that recorded it): a fault in one service shows in each of its callers, with "
        "OTEL_ERRORS_PROPAGATE_ERRORS=true on the services that answer."
    ),
    "Requests per second per service": (
        "Server and consumer spans per second, from the gateway's span metrics (before "
        "sampling): every traced service, with or without otel_errors."
    ),
    "Failed requests per service (share)": (
        "Share of server and consumer spans with status ERROR, from the span metrics."
    ),
    "Duration p95 per service": "95th percentile of server and consumer span durations.",
    "Latency p95 per endpoint": "95th percentile of HTTP server request durations per route.",
    "Success rate per endpoint": "Share of HTTP requests per route not answered with a 5xx.",
    "Telemetry accepted per second by collector tier": (
        "Spans, metric points and log records each collector tier accepted: a drop to zero "
        "means applications stopped sending or cannot reach the agents."
    ),
    "Telemetry refused or dropped per second": (
        "Data the receivers refused (memory limiter) or the exporters gave up on: lost "
        "telemetry. Zero is healthy."
    ),
    "Exporter queue usage": (
        "Sending queue fill per exporter (1 = full: new data is dropped). Rising means the "
        "backend behind it is down or slow."
    ),
    "Pipeline alerts": "Firing alerts on the pipeline itself; the Watchdog always fires.",
    "Recent error logs": "Log lines with an error code, from Loki, linked to their traces.",
    "Alert state": "Firing and pending otel_errors alerts of the selected services.",
}


def build_dashboard() -> Dashboard:
    """The dashboard builder (call ``.build()`` for the model)."""
    from grafana_foundation_sdk.builders import dashboard, logs, loki, prometheus, table, timeseries
    from grafana_foundation_sdk.models.dashboard import (
        DataSourceRef,
        VariableRefresh,
        VariableSort,
    )
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat

    prom = DataSourceRef(type_val="prometheus", uid="${prometheus}")
    queries = panel_queries()

    def promql(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
        query = prometheus.Dataquery().expr(expr).datasource(prom).legend_format(legend)
        if instant:
            return query.instant().format(PromQueryFormat.TABLE)
        return query.range().exemplar(True)  # noqa: FBT003 - the builder's API

    def source(name: str, kind: str, default: str) -> dashboard.DatasourceVariable:
        return (
            dashboard.DatasourceVariable(name)
            .label(kind.capitalize())
            .type(kind)
            .current({"text": default, "value": default})
        )

    def variable(name: str, label: str) -> dashboard.QueryVariable:
        return (
            dashboard.QueryVariable(name)
            .label(label)
            .datasource(prom)
            .query(f"label_values({ERRORS}, {label})")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)  # noqa: FBT003 - the builder's API
            .include_all(True)  # noqa: FBT003 - the builder's API
            .all_value(ALL)
        )

    def series(title: str, legend: str, unit: str, width: int = 12) -> timeseries.Panel:
        panel = timeseries.Panel().title(title).description(_DESCRIPTIONS[title]).unit(unit)
        panel = panel.height(8).span(width)
        for expr in queries[title]:
            panel = panel.with_target(promql(expr, legend))
        return panel

    def instant_table(title: str, height: int, width: int) -> table.Panel:
        panel = table.Panel().title(title).description(_DESCRIPTIONS[title]).height(height)
        return panel.span(width).with_target(promql(queries[title][0], instant=True))

    by_endpoint = "{{service_name}} {{http_route}}"
    return (
        dashboard.Dashboard("otel_errors: errors")
        .uid(DASHBOARD_UID)
        .tags(["otel_errors", "errors", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(source("prometheus", "prometheus", PROMETHEUS_UID))
        .with_variable(source("loki", "loki", LOKI_UID))
        .with_variable(variable("service", "service_name"))
        .with_variable(variable("environment", "deployment_environment_name"))
        .with_row(dashboard.Row("Errors"))
        .with_panel(
            series(
                "Error rate per endpoint (unhandled errors per request)", by_endpoint, "percentunit"
            )
        )
        .with_panel(instant_table("Top error codes", 8, 12))
        .with_panel(series("Errors per second by severity", "{{error_severity}}", "short"))
        .with_panel(series("Errors per second by code", "{{error_code}}", "short"))
        .with_panel(
            series(
                "Errors per second by origin service",
                "{{origin_service}} -> {{service_name}}",
                "short",
                24,
            )
        )
        .with_row(dashboard.Row("Requests, failures and duration per service (span metrics)"))
        .with_panel(series("Requests per second per service", "{{service_name}}", "reqps", 8))
        .with_panel(
            series("Failed requests per service (share)", "{{service_name}}", "percentunit", 8)
        )
        .with_panel(series("Duration p95 per service", "{{service_name}}", "s", 8))
        .with_row(dashboard.Row("Critical operations"))
        .with_panel(series("Latency p95 per endpoint", by_endpoint, "s"))
        .with_panel(series("Success rate per endpoint", by_endpoint, "percentunit"))
        .with_row(dashboard.Row("Collector health"))
        .with_panel(series("Telemetry accepted per second by collector tier", "{{tier}}", "short"))
        .with_panel(
            series(
                "Telemetry refused or dropped per second",
                "{{tier}} {{receiver}}{{exporter}}",
                "short",
            )
        )
        .with_panel(series("Exporter queue usage", "{{tier}} {{exporter}}", "percentunit"))
        .with_panel(instant_table("Pipeline alerts", 8, 12))
        .with_row(dashboard.Row("Logs and alerts"))
        .with_panel(
            logs.Panel()
            .title("Recent error logs")
            .description(_DESCRIPTIONS["Recent error logs"])
            .height(10)
            .span(16)
            .with_target(
                loki.Dataquery()
                .datasource(DataSourceRef(type_val="loki", uid="${loki}"))
                .expr(LOGS_QUERY)
            )
        )
        .with_panel(instant_table("Alert state", 10, 8))
    )


def dashboard_json() -> str:
    """The dashboard as the JSON Grafana provisions."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    model: Any = build_dashboard().build()
    return json.dumps(json.loads(JSONEncoder().encode(model)), indent=2, sort_keys=True) + "\n"
