"""Prometheus recording and alerting rules generated from the error catalogue.

Why generated: the catalogue already knows each code's severity, title, suggested
action and runbook; an alert written by hand would copy them and drift. Each code
gets one alert on its unhandled errors, with a threshold and ``for`` duration by
severity (P1 pages on the first error, P4 only feeds the daily digest), and
annotations that carry what the on-call engineer needs: summary, action, runbook,
and links to the logs (Grafana Explore on Loki) and traces (Jaeger search) of that
service and code. On top, multi-window multi-burn-rate alerts (Google SRE workbook,
chapter 5) watch an availability SLO per service: failed requests (5xx) over
requests, fast burn pages (P2), slow burn notifies (P3).

Names follow what the collector's Prometheus exporter produces from otel_errors'
metrics with resource-to-telemetry conversion: ``errors_total`` with ``error_code``,
``error_severity``, ``error_handled``, ``http_route``, ``service_name``,
``deployment_environment_name``; ``http_server_request_duration_seconds_count``
with ``http_response_status_code``.

The same policy also generates ``promtool test rules`` unit tests: for every
alert, a series that must fire it and one that must not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import Catalog, ErrorCode

ERRORS = "errors_total"
REQUESTS = "http_server_request_duration_seconds_count"
SERVICE_LABELS = ("service_name", "deployment_environment_name")
_BY_SERVICE = "service_name, deployment_environment_name"
_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


@dataclass(frozen=True)
class Threshold:
    """When a code's alert fires: ``count`` unhandled errors within ``window``, for ``for_``."""

    count: int
    window: str
    for_: str


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds, the SLO, and where the links in annotations point."""

    thresholds: dict[str, Threshold] = field(
        default_factory=lambda: {
            "P1": Threshold(1, "5m", "0m"),
            "P2": Threshold(5, "5m", "5m"),
            "P3": Threshold(20, "15m", "15m"),
            "P4": Threshold(50, "1h", "0m"),
        }
    )
    slo: float = 0.999
    """Availability objective: the share of requests that must not fail (5xx)."""
    grafana_url: str = "http://localhost:3000"
    jaeger_url: str = "http://localhost:16686"
    loki_datasource_uid: str = "loki"


def alert_name(code: str) -> str:
    """A Prometheus-valid alert name for a code: ``OtelErrors_PAY_002``."""
    return "OtelErrors_" + re.sub(r"[^A-Za-z0-9]", "_", code)


def rules_document(catalog: Catalog, policy: AlertPolicy) -> dict[str, Any]:
    """The rules file: recording rules, one alert per code, and the burn-rate alerts."""
    return {
        "groups": [
            {"name": "otel_errors.recording", "rules": _recording_rules()},
            {
                "name": "otel_errors.codes",
                "rules": [_code_alert(entry, policy) for entry in catalog],
            },
            {"name": "otel_errors.slo", "rules": _burn_rate_alerts(policy)},
        ]
    }


def _recording_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "record": "otel_errors:errors_per_request:rate5m",
            "expr": (
                f'sum by ({_BY_SERVICE}, http_route) (rate({ERRORS}{{error_handled="false"}}[5m]))'
                f" / sum by ({_BY_SERVICE}, http_route) (rate({REQUESTS}[5m]))"
            ),
        },
        {
            "record": "otel_errors:errors:rate5m",
            "expr": f"sum by ({_BY_SERVICE}, error_code, error_severity) (rate({ERRORS}[5m]))",
        },
        {
            "record": "otel_errors:errors:top10_rate1h",
            "expr": (
                f"topk(10, sum by ({_BY_SERVICE}, error_code, error_severity) (rate({ERRORS}[1h])))"
            ),
        },
    ]
    rules.extend(
        {
            "record": f"otel_errors:request_failure_ratio:rate{window}",
            "expr": (
                f"sum by ({_BY_SERVICE}) "
                f'(rate({REQUESTS}{{http_response_status_code=~"5.."}}[{window}]))'
                f" / sum by ({_BY_SERVICE}) (rate({REQUESTS}[{window}]))"
            ),
        }
        for window in _WINDOWS
    )
    return rules


def _code_alert(entry: ErrorCode, policy: AlertPolicy) -> dict[str, Any]:
    threshold = policy.thresholds[entry.severity.value]
    selector = f'error_code="{entry.code}", error_handled="false"'
    annotations = {
        "summary": (
            "{{ $labels.service_name }} ({{ $labels.deployment_environment_name }}): "
            f"{entry.title} [{entry.code}]"
        ),
        "description": (
            f"{{{{ $value | humanize }}}} unhandled {entry.code} errors "
            f"({entry.category.value}, {entry.kind.value}) in the last {threshold.window}. "
            f"Users see: {entry.message}"
        ),
        "action": entry.action or "See the traces of the failing requests.",
        "logs_url": _logs_url(entry.code, policy),
        "traces_url": _traces_url(entry.code, policy),
    }
    if entry.runbook:
        annotations["runbook_url"] = entry.runbook
    return {
        "alert": alert_name(entry.code),
        "expr": (
            f"sum by ({_BY_SERVICE}, error_code) "
            f"(increase({ERRORS}{{{selector}}}[{threshold.window}])) >= {threshold.count}"
        ),
        "for": threshold.for_,
        "labels": {
            "severity": entry.severity.value,
            "error_code": entry.code,
            "category": entry.category.value,
        },
        "annotations": annotations,
    }


def _logs_url(code: str | None, policy: AlertPolicy) -> str:
    """Grafana Explore on Loki for the alert's service (and code); Go templates fill it in."""
    expr = '{service_name="SERVICE"}'
    if code is not None:
        expr += f' | error_code="{code}"'
    panes = {
        "a": {
            "datasource": policy.loki_datasource_uid,
            "queries": [{"refId": "A", "expr": expr}],
            "range": {"from": "now-1h", "to": "now"},
        }
    }
    encoded = quote(json.dumps(panes, separators=(",", ":")), safe="")
    encoded = encoded.replace("SERVICE", "{{ $labels.service_name | urlquery }}")
    return f"{policy.grafana_url}/explore?schemaVersion=1&panes={encoded}"


def _traces_url(code: str, policy: AlertPolicy) -> str:
    tags = quote(json.dumps({"error.code": code}, separators=(",", ":")), safe="")
    return (
        f"{policy.jaeger_url}/search?service={{{{ $labels.service_name | urlquery }}}}"
        f"&tags={tags}&lookback=1h"
    )


def _burn_rate_alerts(policy: AlertPolicy) -> list[dict[str, Any]]:
    budget = round(1 - policy.slo, 10)

    def burning(long: str, short: str, factor: float) -> str:
        bound = round(factor * budget, 10)
        return (
            f"(otel_errors:request_failure_ratio:rate{long} > {bound}"
            f" and otel_errors:request_failure_ratio:rate{short} > {bound})"
        )

    common = {
        "logs_url": _logs_url(None, policy),
        "action": "Look at the top error codes of the service and their traces.",
    }
    slo_percent = f"{policy.slo * 100:g}%"
    return [
        {
            "alert": "OtelErrors_ErrorBudgetFastBurn",
            "expr": f"{burning('1h', '5m', 14.4)} or {burning('6h', '30m', 6)}",
            "for": "2m",
            "labels": {"severity": "P2", "error_code": "SLO-BURN", "category": "slo"},
            "annotations": {
                "summary": (
                    f"{{{{ $labels.service_name }}}}: error budget burning fast (SLO {slo_percent})"
                ),
                "description": (
                    "{{ $value | humanizePercentage }} of requests fail; at this rate the "
                    "monthly error budget is gone within days."
                ),
                **common,
            },
        },
        {
            "alert": "OtelErrors_ErrorBudgetSlowBurn",
            "expr": f"{burning('1d', '2h', 3)} or {burning('3d', '6h', 1)}",
            "for": "15m",
            "labels": {"severity": "P3", "error_code": "SLO-BURN", "category": "slo"},
            "annotations": {
                "summary": (
                    "{{ $labels.service_name }}: error budget burning slowly "
                    f"(SLO {slo_percent})"
                ),
                "description": (
                    "{{ $value | humanizePercentage }} of requests fail, more than the SLO "
                    "allows over days."
                ),
                **common,
            },
        },
    ]


def unit_tests_document(catalog: Catalog, policy: AlertPolicy, rule_file: str) -> dict[str, Any]:
    """``promtool test rules`` cases: each code alert fires on unhandled errors only.

    The expected annotations are rendered here as Prometheus renders them, so the
    tests also prove that the templates produce the intended text and links.
    """
    tests = []
    for entry in catalog:
        threshold = policy.thresholds[entry.severity.value]
        per_minute = max(threshold.count, 1)
        labels = (
            f'service_name="shop", deployment_environment_name="test", '
            f'error_code="{entry.code}", error_severity="{entry.severity.value}"'
        )
        minutes = _minutes(threshold.window) + _minutes(threshold.for_) + 5
        # Just below the threshold over the window: must not fire.
        quiet = (threshold.count - 1) / _minutes(threshold.window) / 2
        tests.append(
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'{ERRORS}{{{labels}, error_handled="false"}}',
                        "values": f"0+{per_minute}x{minutes}",
                    },
                    {
                        "series": f"{ERRORS}{{{labels.replace('shop', 'calm')}, "
                        'error_handled="true"}',
                        "values": f"0+{per_minute * 10}x{minutes}",
                    },
                    {
                        "series": f"{ERRORS}{{{labels.replace('shop', 'quiet')}, "
                        'error_handled="false"}',
                        "values": f"0+{quiet:g}x{minutes}",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": f"{minutes}m",
                        "alertname": alert_name(entry.code),
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": entry.severity.value,
                                    "error_code": entry.code,
                                    "category": entry.category.value,
                                    "service_name": "shop",
                                    "deployment_environment_name": "test",
                                },
                                "exp_annotations": _rendered(
                                    _code_alert(entry, policy)["annotations"],
                                    per_minute * _minutes(threshold.window),
                                    service="shop",
                                ),
                            }
                        ],
                    }
                ],
            }
        )
    tests.extend(_burn_rate_tests(policy))
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def _rendered(annotations: dict[str, str], value: float, service: str) -> dict[str, str]:
    """Annotations as Prometheus renders them for ``service`` and ``$value``."""
    replacements = {
        "{{ $labels.service_name | urlquery }}": quote_plus(service),
        "{{ $labels.service_name }}": service,
        "{{ $labels.deployment_environment_name }}": "test",
        "{{ $value | humanize }}": _humanize(value),
        "{{ $value | humanizePercentage }}": f"{value * 100:.4g}%",
    }
    rendered = {}
    for key, template_text in annotations.items():
        text = template_text
        for template, replacement in replacements.items():
            text = text.replace(template, replacement)
        rendered[key] = text
    return rendered


def _humanize(value: float) -> str:
    """Prometheus' ``humanize`` for values of 1 and more (SI prefixes, 4 digits)."""
    prefix = ""
    for candidate in ("k", "M", "G", "T", "P", "E"):
        if abs(value) < 1000:  # noqa: PLR2004 - the SI step
            break
        prefix, value = candidate, value / 1000
    return f"{value:.4g}{prefix}"


def _burn_rate_tests(policy: AlertPolicy) -> list[dict[str, Any]]:
    """Fast burn fires at 20% failures, not at 0.05%; slow burn fires at 0.45% (fast does not)."""

    def requests(service: str, failing: float, total: int, minutes: int) -> list[dict[str, str]]:
        base = f'service_name="{service}", deployment_environment_name="test"'
        return [
            {
                "series": f'{REQUESTS}{{{base}, http_response_status_code="500"}}',
                "values": f"0+{failing:g}x{minutes}",
            },
            {
                "series": f'{REQUESTS}{{{base}, http_response_status_code="200"}}',
                "values": f"0+{total - failing:g}x{minutes}",
            },
        ]

    alerts = {rule["alert"]: rule for rule in _burn_rate_alerts(policy)}

    def expected(service: str, alert: str, failing_share: float) -> dict[str, Any]:
        rule = alerts[alert]
        return {
            "exp_labels": {**rule["labels"], "service_name": service,
                           "deployment_environment_name": "test"},
            "exp_annotations": _rendered(rule["annotations"], failing_share, service),
        }  # fmt: skip

    return [
        {
            "interval": "1m",
            "input_series": requests("burning", 20, 100, 80) + requests("healthy", 0.05, 100, 80),
            "alert_rule_test": [
                {
                    "eval_time": "75m",
                    "alertname": "OtelErrors_ErrorBudgetFastBurn",
                    "exp_alerts": [expected("burning", "OtelErrors_ErrorBudgetFastBurn", 0.2)],
                }
            ],
        },
        {
            "interval": "10m",
            "input_series": requests("leaking", 0.45, 100, 160)
            + requests("healthy", 0.05, 100, 160),
            "alert_rule_test": [
                {
                    "eval_time": "26h",
                    "alertname": "OtelErrors_ErrorBudgetSlowBurn",
                    "exp_alerts": [expected("leaking", "OtelErrors_ErrorBudgetSlowBurn", 0.0045)],
                },
                {
                    "eval_time": "26h",
                    "alertname": "OtelErrors_ErrorBudgetFastBurn",
                    "exp_alerts": [],
                },
            ],
        },
    ]


def _minutes(duration: str) -> int:
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"m": 1, "h": 60, "d": 1440}[unit]
