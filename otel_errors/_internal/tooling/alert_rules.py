"""Prometheus recording and alerting rules generated from the error catalogue.

Why generated: the catalogue already knows each code's severity, title, suggested
action and runbook; an alert written by hand would copy them and drift. Each code
gets one alert on its unhandled errors, with a threshold by severity, and
annotations that carry what the on-call engineer needs: summary, action, runbook,
and links to the logs (Grafana Explore on Loki) and traces (Jaeger search) of that
service and code. ``UNKNOWN`` (unclassified) and ``OVERFLOW`` (the counter's
cardinality cap) get one alert per severity, since their series carry the severity
of the errors they stand for.

How errors are counted in a window: SDK counters start at 1, so ``increase()``,
which needs two samples, never sees a series' first error. The recording rules
count a series born within the window by its value (``x unless x offset w``) and
an older one by its increase, so a new P1 code pages on its first error.

P1 pages on that first error and keeps firing for a while (``keep_firing_for``)
instead of flapping; P2 and P3 fire when a code's errors are a share of the
service's requests (server and consumer spans, from the gateway's span metrics)
and at least a minimum number of errors and requests were seen, so that one error
in three requests pages no one; services without span metrics fall back to the
error count alone. P4 only feeds the daily digest.

Errors across services: a caller's errors that began in another service carry
``error_origin_service`` (from ``errors_total``), and every code alert carries
``origin_service``, the service where its errors began (its own name when they began
there). Alertmanager's inhibit rules use both: while the origin's own alert fires, the
callers' alerts for the same origin stay quiet, so one fault pages its owner once.

On top, multi-window multi-burn-rate alerts (Google SRE workbook, chapter 5) watch
an availability SLO per service, on failed requests (5xx) and on requests that end
in an unhandled error, each with a minimum-traffic guard; ``alert_pipeline`` adds
the pipeline's own health and the Watchdog.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from otel_errors._internal.model.catalog import UNKNOWN
from otel_errors._internal.names import OVERFLOW_CODE, UNKNOWN_CODE
from otel_errors._internal.tooling.alert_pipeline import pipeline_alerts
from otel_errors._internal.tooling.catalog_tools import code_anchor
from otel_errors._internal.tooling.release_rules import release_rules

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import Catalog, ErrorCode
    from otel_errors._internal.tooling.alert_policy import AlertPolicy, Threshold

ERRORS = "errors_total"
REQUESTS = "http_server_request_duration_seconds_count"
CALLS = "traces_span_metrics_calls_total"
SERVED = f'{CALLS}{{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}}'
"""Requests a service served: its server and consumer spans, counted before sampling."""
UNHANDLED = f'{ERRORS}{{error_handled!="true"}}'
"""Unhandled errors; OVERFLOW series have no ``error_handled`` label and count too."""
UPSTREAM_ORIGIN = "error_origin_service"
"""``error.origin.service`` in Prometheus: only on errors that began in another service."""
ORIGIN = "origin_service"
"""On every code alert: where its errors began (the alert's own service, or the upstream's)."""
SERVICE_LABELS = ("service_name", "deployment_environment_name")
SEVERITIES = ("P1", "P2", "P3", "P4")
_BY_SERVICE = "service_name, deployment_environment_name"
_ON_SERVICE = f"on ({_BY_SERVICE})"
_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
_BURNS = (("fast", "1h", "5m", 14.4, "6h", "30m", 6.0), ("slow", "1d", "2h", 3.0, "3d", "6h", 1.0))
OVERFLOW_TITLE = "Errors folded into OVERFLOW by the cardinality cap"
OVERFLOW_ACTION = (
    "The errors counter reached OTEL_ERRORS_METRICS_CARDINALITY_LIMIT attribute sets: "
    "look for an unbounded endpoint attribute or raise the limit; the traces and logs "
    "still carry the real codes."
)


def alert_name(code: str) -> str:
    """A Prometheus-valid alert name for a code: ``OtelErrors_PAY_002``."""
    return "OtelErrors_" + re.sub(r"[^A-Za-z0-9]", "_", code)


def rules_document(catalog: Catalog, policy: AlertPolicy) -> dict[str, Any]:
    """The rules file: recording rules, the code alerts, SLO burn rates and the pipeline's."""
    codes = [entry for entry in catalog if entry.code not in (UNKNOWN_CODE, OVERFLOW_CODE)]
    return {
        "groups": [
            {"name": "otel_errors.recording", "rules": _recording_rules(policy)},
            {
                "name": "otel_errors.codes",
                "rules": [
                    *_window_rules(policy),
                    *(_code_alert(entry, policy) for entry in codes),
                    *_fallback_alerts(policy),
                ],
            },
            {"name": "otel_errors.slo", "rules": burn_rate_alerts(policy)},
            release_rules(catalog, policy, logs_url),
            {"name": "otel_errors.pipeline", "rules": pipeline_alerts(policy)},
        ]
    }


def _recording_rules(policy: AlertPolicy) -> list[dict[str, Any]]:
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
    for window in _WINDOWS:
        rules += [
            {
                "record": f"otel_errors:request_failure_ratio:rate{window}",
                "expr": (
                    f"sum by ({_BY_SERVICE}) "
                    f'(rate({REQUESTS}{{http_response_status_code=~"5.."}}[{window}]))'
                    f" / sum by ({_BY_SERVICE}) (rate({REQUESTS}[{window}]))"
                ),
            },
            {
                "record": f"otel_errors:unhandled_error_ratio:rate{window}",
                "expr": (
                    f'sum by ({_BY_SERVICE}) (rate({ERRORS}{{error_handled="false"}}[{window}]))'
                    f" / sum by ({_BY_SERVICE}) (rate({SERVED}[{window}]))"
                ),
            },
        ]
    rules += [
        {
            "record": f"otel_errors:{kind}:increase{window}",
            "expr": f"sum by ({_BY_SERVICE}) (increase({metric}[{window}]))",
        }
        for kind, metric in (("http_requests", REQUESTS), ("requests", SERVED))
        for window in ("1h", "1d")
        # the code alerts' windows are recorded in their group
        if kind == "http_requests" or window not in policy.windows()
    ]
    return rules


def _window_rules(policy: AlertPolicy) -> list[dict[str, Any]]:
    """Errors and requests per window, recorded in the alerts' group so they are current."""
    rules = []
    for window in policy.windows():
        born = f"({UNHANDLED} unless {UNHANDLED} offset {window})"
        errors = (
            f"sum by ({_BY_SERVICE}, error_code, error_severity, {UPSTREAM_ORIGIN}) "
            f"({born} or increase({UNHANDLED}[{window}]))"
        )
        rules += [
            {
                "record": f"otel_errors:unhandled_errors:increase{window}",
                "expr": with_origin(errors),
            },
            {
                "record": f"otel_errors:requests:increase{window}",
                "expr": f"sum by ({_BY_SERVICE}) (increase({SERVED}[{window}]))",
            },
        ]
    return rules


def with_origin(expr: str) -> str:
    """``expr`` with ``origin_service``: ``error_origin_service`` if set, else ``service_name``."""
    own = f'label_replace({expr}, "{ORIGIN}", "$1", "service_name", "(.*)")'
    return f'label_replace({own}, "{ORIGIN}", "$1", "{UPSTREAM_ORIGIN}", "(.+)")'


def threshold_expr(selector: str, threshold: Threshold) -> str:
    """The condition of a code alert; its value is the number of errors in the window."""
    errors = f"otel_errors:unhandled_errors:increase{threshold.window}{{{selector}}}"
    counted = f"{errors} >= {threshold.min_errors}"
    if threshold.ratio is None:
        return counted
    requests = f"otel_errors:requests:increase{threshold.window}"
    return (
        f"({counted} and ({errors} / {_ON_SERVICE} group_left {requests} >= {threshold.ratio:g})"
        f" and {_ON_SERVICE} {requests} >= {threshold.min_requests})"
        f" or ({counted} unless {_ON_SERVICE} {requests})"
    )


def _condition_text(threshold: Threshold) -> str:
    if threshold.ratio is None:
        return f"at least {threshold.min_errors} in {threshold.window}"
    return (
        f"at least {threshold.min_errors} and {threshold.ratio:.4g} of the service's requests "
        f"in {threshold.window}, with {threshold.min_requests} requests or more"
    )


def _code_alert(entry: ErrorCode, policy: AlertPolicy) -> dict[str, Any]:
    threshold = policy.thresholds[entry.severity.value]
    return _alert(
        alert_name(entry.code),
        threshold_expr(f'error_code="{entry.code}"', threshold),
        threshold,
        labels={
            "severity": entry.severity.value,
            "error_code": entry.code,
            "category": entry.category.value,
        },
        annotations=code_annotations(entry, threshold, policy),
    )


def _fallback_alerts(policy: AlertPolicy) -> list[dict[str, Any]]:
    """UNKNOWN and OVERFLOW, one alert per severity their series carry."""
    alerts = []
    for code, category in ((UNKNOWN_CODE, "unclassified"), (OVERFLOW_CODE, "overflow")):
        for severity in SEVERITIES:
            threshold = policy.thresholds[severity]
            selector = f'error_code="{code}", error_severity="{severity}"'
            if code == UNKNOWN_CODE:
                annotations = code_annotations(UNKNOWN, threshold, policy, severity=severity)
            else:
                annotations = _annotations(
                    code=code, title=OVERFLOW_TITLE, kinds="their codes folded by the cap",
                    message="(the messages of the folded codes)", action=OVERFLOW_ACTION,
                    runbook="", threshold=threshold, severity=severity, policy=policy,
                    linked_code=None,
                )  # fmt: skip
            alerts.append(
                _alert(
                    alert_name(code),
                    threshold_expr(selector, threshold),
                    threshold,
                    labels={"severity": severity, "error_code": code, "category": category},
                    annotations=annotations,
                )
            )
    return alerts


def _alert(
    name: str,
    expr: str,
    threshold: Threshold,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr, "for": threshold.for_}
    if threshold.keep_firing_for:
        rule["keep_firing_for"] = threshold.keep_firing_for
    rule["labels"] = labels
    rule["annotations"] = annotations
    return rule


def code_annotations(
    entry: ErrorCode, threshold: Threshold, policy: AlertPolicy, severity: str = ""
) -> dict[str, str]:
    """Summary, description, action, runbook and the logs and traces links of a code."""
    return _annotations(
        code=entry.code,
        title=entry.title,
        kinds=f"{entry.category.value}, {entry.kind.value}",
        message=entry.message,
        action=entry.action or "See the traces of the failing requests.",
        runbook=entry.runbook,
        threshold=threshold,
        severity=severity or entry.severity.value,
        policy=policy,
        linked_code=entry.code,
    )


def _annotations(
    *,
    code: str,
    title: str,
    kinds: str,
    message: str,
    action: str,
    runbook: str,
    threshold: Threshold,
    severity: str,
    policy: AlertPolicy,
    linked_code: str | None,
) -> dict[str, str]:
    return {
        "summary": (
            "{{ $labels.service_name }} ({{ $labels.deployment_environment_name }}): "
            f"{title} [{code}]"
        ),
        "description": (
            f"{{{{ $value | humanize }}}} unhandled {code} errors ({kinds}) in the last "
            f"{threshold.window}; {severity} fires at {_condition_text(threshold)}. "
            f"Users see: {message}"
        ),
        "action": action,
        "runbook_url": runbook or f"{policy.docs_url}#{code_anchor(code)}",
        "logs_url": logs_url(linked_code, policy),
        "traces_url": _traces_url(linked_code, policy.jaeger_url),
    }


def logs_url(code: str | None, policy: AlertPolicy) -> str:
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


def _traces_url(code: str | None, jaeger_url: str) -> str:
    url = f"{jaeger_url}/search?service={{{{ $labels.service_name | urlquery }}}}"
    if code is not None:
        tags = quote(json.dumps({"error.code": code}, separators=(",", ":")), safe="")
        url += f"&tags={tags}"
    return url + "&lookback=1h"


def burn_rate_alerts(policy: AlertPolicy) -> list[dict[str, Any]]:
    """Fast (P2) and slow (P3) burn of the error budget, on 5xx and on unhandled errors."""
    budget = round(1 - policy.slo, 10)
    slo_percent = f"{policy.slo * 100:g}%"
    alerts = []
    for series, requests, prefix, what in (
        ("request_failure_ratio", "http_requests", "ErrorBudget", "fail (5xx)"),
        ("unhandled_error_ratio", "requests", "UnhandledErrorBudget", "end in an unhandled error"),
    ):

        def burning(long: str, short: str, factor: float, series: str = series) -> str:
            bound = round(factor * budget, 10)
            return (
                f"(otel_errors:{series}:rate{long} > {bound}"
                f" and otel_errors:{series}:rate{short} > {bound})"
            )

        for speed, long1, short1, factor1, long2, short2, factor2 in _BURNS:
            guard = f"otel_errors:{requests}:increase{long1}"
            alerts.append(
                {
                    "alert": f"OtelErrors_{prefix}{speed.capitalize()}Burn",
                    "expr": (
                        f"({burning(long1, short1, factor1)} or {burning(long2, short2, factor2)})"
                        f" and {_ON_SERVICE} {guard} >= {policy.burn_min_requests}"
                    ),
                    "for": "2m" if speed == "fast" else "15m",
                    "labels": {
                        "severity": "P2" if speed == "fast" else "P3",
                        "error_code": "SLO-BURN",
                        "category": "slo",
                    },
                    "annotations": {
                        "summary": (
                            f"{{{{ $labels.service_name }}}}: error budget burning {speed}ly "
                            f"(SLO {slo_percent})"
                        ),
                        "description": (
                            f"{{{{ $value | humanizePercentage }}}} of requests {what}; "
                            + (
                                "at this rate the monthly error budget is gone within days."
                                if speed == "fast"
                                else "more than the SLO allows over days."
                            )
                        ),
                        "action": "Look at the top error codes of the service and their traces.",
                        "runbook_url": f"{policy.docs_url}#error-budget",
                        "logs_url": logs_url(None, policy),
                        "traces_url": _traces_url(None, policy.jaeger_url),
                    },
                }
            )
    return alerts
