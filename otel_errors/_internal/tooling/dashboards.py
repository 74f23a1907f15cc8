"""The Grafana dashboard of otel_errors, built in code with ``grafana-foundation-sdk``.

Panels: error rate per service and endpoint, top error codes, error trends by
severity, latency and success rate of the endpoints, recent error logs (Loki), and
the state of the otel_errors alerts. Every Prometheus query uses only metric and
label names the collector deployment produces from otel_errors' telemetry (see
``alert_rules``), so the end-to-end test can run each panel's query against a real
Prometheus. Data source uids match ``collector-config/grafana/provisioning``.

``grafana-foundation-sdk`` is imported lazily: only this generator needs it (the
``deploy`` extra), and it requires Python 3.11.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from otel_errors._internal.tooling.alert_rules import ERRORS, REQUESTS

if TYPE_CHECKING:
    from grafana_foundation_sdk.builders.dashboard import Dashboard

PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
DASHBOARD_UID = "otel-errors"
_SERVICE = 'service_name=~"$service", deployment_environment_name=~"$environment"'
_BY = "service_name, http_route"
_BUCKETS = REQUESTS.removesuffix("_count") + "_bucket"


def panel_queries() -> dict[str, list[str]]:
    """Panel title -> its Prometheus expressions (what the e2e test evaluates)."""
    return {
        "Error rate per endpoint (unhandled errors per request)": [
            (
                f'sum by ({_BY}) (rate({ERRORS}{{{_SERVICE}, error_handled="false"}}'
                "[$__rate_interval]))"
                f" / sum by ({_BY}) (rate({REQUESTS}{{{_SERVICE}}}[$__rate_interval]))"
            )
        ],
        "Top error codes": [
            (
                f"topk(10, sum by (service_name, error_code, error_severity) "
                f"(increase({ERRORS}{{{_SERVICE}}}[$__range])))"
            )
        ],
        "Errors per second by severity": [
            f"sum by (error_severity) (rate({ERRORS}{{{_SERVICE}}}[$__rate_interval]))"
        ],
        "Errors per second by code": [
            f"sum by (error_code) (rate({ERRORS}{{{_SERVICE}}}[$__rate_interval]))"
        ],
        "Latency p95 per endpoint": [
            (
                f"histogram_quantile(0.95, sum by (le, {_BY}) "
                f"(rate({_BUCKETS}{{{_SERVICE}}}[$__rate_interval])))"
            )
        ],
        "Success rate per endpoint": [
            (
                f"1 - (sum by ({_BY}) (rate({REQUESTS}{{{_SERVICE}, "
                'http_response_status_code=~"5.."}[$__rate_interval])) or '
                f"0 * sum by ({_BY}) (rate({REQUESTS}{{{_SERVICE}}}[$__rate_interval])))"
                f" / sum by ({_BY}) (rate({REQUESTS}{{{_SERVICE}}}[$__rate_interval]))"
            )
        ],
        "Alert state": ['ALERTS{alertname=~"OtelErrors_.*", ' + _SERVICE + "}"],
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

    prom = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
    queries = panel_queries()

    def promql(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
        query = prometheus.Dataquery().expr(expr).datasource(prom).legend_format(legend)
        return query.instant().format(PromQueryFormat.TABLE) if instant else query.range()

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
            .all_value(".*")
        )

    def series(title: str, legend: str, unit: str) -> timeseries.Panel:
        panel = timeseries.Panel().title(title).unit(unit).height(8).span(12)
        for expr in queries[title]:
            panel = panel.with_target(promql(expr, legend))
        return panel

    top_codes = "Top error codes"
    alerts = "Alert state"
    return (
        dashboard.Dashboard("otel_errors: errors")
        .uid(DASHBOARD_UID)
        .tags(["otel_errors", "errors", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .with_variable(variable("service", "service_name"))
        .with_variable(variable("environment", "deployment_environment_name"))
        .with_row(dashboard.Row("Errors"))
        .with_panel(
            series(
                "Error rate per endpoint (unhandled errors per request)",
                "{{service_name}} {{http_route}}",
                "percentunit",
            )
        )
        .with_panel(
            table.Panel()
            .title(top_codes)
            .height(8)
            .span(12)
            .with_target(promql(queries[top_codes][0], instant=True))
        )
        .with_panel(series("Errors per second by severity", "{{error_severity}}", "short"))
        .with_panel(series("Errors per second by code", "{{error_code}}", "short"))
        .with_row(dashboard.Row("Critical operations"))
        .with_panel(series("Latency p95 per endpoint", "{{service_name}} {{http_route}}", "s"))
        .with_panel(
            series("Success rate per endpoint", "{{service_name}} {{http_route}}", "percentunit")
        )
        .with_row(dashboard.Row("Logs and alerts"))
        .with_panel(
            logs.Panel()
            .title("Recent error logs")
            .height(10)
            .span(16)
            .with_target(
                loki.Dataquery()
                .datasource(DataSourceRef(type_val="loki", uid=LOKI_UID))
                .expr('{service_name=~"$service"} | error_code != ""')
            )
        )
        .with_panel(
            table.Panel()
            .title(alerts)
            .height(10)
            .span(8)
            .with_target(promql(queries[alerts][0], instant=True))
        )
    )


def dashboard_json() -> str:
    """The dashboard as the JSON Grafana provisions."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    model: Any = build_dashboard().build()
    return json.dumps(json.loads(JSONEncoder().encode(model)), indent=2, sort_keys=True) + "\n"
