"""``promtool test rules`` cases for the generated rules, from the same policy.

Why generated: every code alert needs a case that fires it and cases that must
stay quiet, and the thresholds come from the policy; hand-written cases would
drift from both. Each code alert is tested on the shape its severity uses: P1 on
a series that appears with its first error (SDK counters start at 1) and keeps
firing for ``keep_firing_for``; P2/P3 on a real burn (fires), a busy service
below the ratio, a low-traffic service at 100% errors (both quiet), and a
service without request metrics (fires on the count); P4 on the count. A
caller's errors that began in another service alert with that origin in
``error_origin_service`` and ``origin_service``, apart from the caller's own. The
expected annotations are rendered here as Prometheus renders them, so the tests
also prove the templates' text and links.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from otel_errors._internal.names import OVERFLOW_CODE
from otel_errors._internal.tooling.alert_pipeline import WATCHDOG, pipeline_alerts
from otel_errors._internal.tooling.alert_policy import minutes
from otel_errors._internal.tooling.alert_rules import (
    CALLS,
    ERRORS,
    ORIGIN,
    REQUESTS,
    UPSTREAM_ORIGIN,
    burn_rate_alerts,
    rules_document,
)
from otel_errors._internal.tooling.release_rules import RELEASES_GROUP

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import Catalog
    from otel_errors._internal.tooling.alert_policy import AlertPolicy, Threshold

ENVIRONMENT = "test"
_TEMPLATE = re.compile(r"\{\{ \$(labels\.(\w+)|value)( \| (\w+))? \}\}")


def unit_tests_document(catalog: Catalog, policy: AlertPolicy, rule_file: str) -> dict[str, Any]:
    """The promtool test file: every alert of ``rules_document`` fires and stays quiet as meant."""
    alerts = [
        rule
        for group in rules_document(catalog, policy)["groups"]
        for rule in group["rules"]
        if "alert" in rule and rule["labels"].get("category") not in ("slo", "pipeline")
        and rule["alert"] != WATCHDOG and group["name"] != RELEASES_GROUP
    ]  # fmt: skip
    tests = [
        _severity_test([r for r in alerts if r["labels"]["severity"] == severity], threshold)
        for severity, threshold in policy.thresholds.items()
    ]
    tests.append(_origin_test(alerts, policy))
    tests += _burn_rate_tests(policy)
    tests += _pipeline_tests(policy)
    return {"rule_files": [rule_file], "evaluation_interval": "1m", "tests": tests}


def _labels(**labels: str) -> str:
    return "{" + ", ".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def _errors(
    service: str, rule: dict[str, Any], handled: str | None, origin: str | None = None
) -> str:
    labels = {"service_name": service, "deployment_environment_name": ENVIRONMENT,
              "error_code": rule["labels"]["error_code"],
              "error_severity": rule["labels"]["severity"]}  # fmt: skip
    if handled is not None:
        labels["error_handled"] = handled
    if origin is not None:
        labels[UPSTREAM_ORIGIN] = origin
    return ERRORS + _labels(**labels)


def _calls(service: str) -> str:
    return CALLS + _labels(
        service_name=service, deployment_environment_name=ENVIRONMENT,
        span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_UNSET",
    )  # fmt: skip


def _severity_test(rules: list[dict[str, Any]], threshold: Threshold) -> dict[str, Any]:
    """Cases for the code alerts of one severity, in one test group (promtool is faster so)."""
    if threshold.min_errors <= 1:
        return _first_error_test(rules, threshold)
    window = minutes(threshold.window)
    end = window + minutes(threshold.for_) + 5
    errors_per_minute = math.ceil(2 * threshold.min_errors / window)
    firing = ["shop"]
    series: list[tuple[str, float]] = []
    if threshold.ratio is None:
        quiet = (threshold.min_errors - 1) / window / 2
        per_code = [("calm", "true", errors_per_minute * 10), ("shop", "false", errors_per_minute),
                    ("quiet", "false", quiet)]  # fmt: skip
    else:
        requests = max(
            math.ceil(errors_per_minute / threshold.ratio / 2),
            math.ceil(2 * threshold.min_requests / window),
        )
        busy = math.ceil(errors_per_minute / threshold.ratio * 4)
        low = max(math.floor(threshold.min_requests / window / 2), 1)
        # busy: the same errors under the ratio; low-traffic: every request fails, but too
        # few requests to page anyone; worker: no request metrics, the error count decides
        series += [(_calls("shop"), requests), (_calls("busy"), busy), (_calls("low-traffic"), low)]
        per_code = [("calm", "true", errors_per_minute * 10), ("shop", "false", errors_per_minute),
                    ("busy", "false", errors_per_minute), ("low-traffic", "false", low),
                    ("worker", "false", errors_per_minute)]  # fmt: skip
        firing.append("worker")
    for rule in rules:
        series += [(_errors(service, rule, _handled(rule, handled)), step)
                   for service, handled, step in per_code]  # fmt: skip
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": f"0+{step:g}x{end}"} for name, step in series],
        "alert_rule_test": [
            {
                "eval_time": f"{end}m",
                "alertname": rule["alert"],
                "exp_alerts": [
                    _expected(rule, service, errors_per_minute * window) for service in firing
                ],
            }
            for rule in rules
        ],
    }


def _handled(rule: dict[str, Any], handled: str) -> str | None:
    """The error_handled label of a test series; OVERFLOW's cap folds it away."""
    if rule["labels"]["error_code"] == OVERFLOW_CODE:
        return None if handled == "false" else "true"
    return handled


def _first_error_test(rules: list[dict[str, Any]], threshold: Threshold) -> dict[str, Any]:
    """A series that appears with its first error pages at once and keeps firing a while."""
    appears = 5
    window = minutes(threshold.window)
    keep = minutes(threshold.keep_firing_for) if threshold.keep_firing_for else 0
    end = appears + window + keep + 10
    # at once; after the error left the window, while keep_firing_for holds it; resolved
    times = [appears + 1, *([appears + window + keep // 2] if keep else []), end]
    return {
        "interval": "1m",
        "input_series": [
            {"series": _errors(service, rule, _handled(rule, handled)), "values": values}
            for rule in rules
            for service, handled, values in (
                ("shop", "false", f"_x{appears} 1x{end}"),
                ("calm", "true", f"_x{appears} 1+1x{end}"),
            )
        ],
        "alert_rule_test": [
            {
                "eval_time": f"{at}m",
                "alertname": rule["alert"],
                "exp_alerts": [] if at == end else [_expected(rule, "shop", 1)],
            }
            for rule in rules
            for at in times
        ],
    }


def _origin_test(alerts: list[dict[str, Any]], policy: AlertPolicy) -> dict[str, Any]:
    """One code failing in payments and, through it, in orders: two alerts, one origin.

    Orders also fails on its own, which stays a separate alert naming orders as origin.
    """
    severity = next(name for name, t in policy.thresholds.items() if t.min_errors <= 1)
    rule = next(r for r in alerts if r["labels"]["severity"] == severity)
    # (service, error_origin_service of its series, origin_service of its alert)
    cases = (("payments", None, "payments"), ("orders", "payments", "payments"),
             ("orders", None, "orders"))  # fmt: skip
    return {
        "interval": "1m",
        "input_series": [
            {"series": _errors(service, rule, "false", upstream), "values": "_x5 1x10"}
            for service, upstream, _ in cases
        ],
        "alert_rule_test": [
            {
                "eval_time": "6m",
                "alertname": rule["alert"],
                "exp_alerts": [
                    _expected(rule, service, 1, origin=origin, upstream=upstream)
                    for service, upstream, origin in cases
                ],
            }
        ],
    }


def _expected(
    rule: dict[str, Any],
    service: str,
    value: float,
    *,
    origin: str = "",
    upstream: str | None = None,
) -> dict[str, Any]:
    labels = {"service_name": service, "deployment_environment_name": ENVIRONMENT,
              "error_severity": rule["labels"]["severity"], ORIGIN: origin or service}  # fmt: skip
    if upstream is not None:
        labels[UPSTREAM_ORIGIN] = upstream
    return {
        "exp_labels": {**rule["labels"], **labels},
        "exp_annotations": rendered(rule["annotations"], value, {**rule["labels"], **labels}),
    }


def rendered(annotations: dict[str, str], value: float, labels: dict[str, str]) -> dict[str, str]:
    """Annotations as Prometheus renders them for ``labels`` and ``$value``."""

    def fill(match: re.Match[str]) -> str:
        text = labels.get(match.group(2), "") if match.group(2) else value
        function = match.group(4)
        if function == "urlquery":
            return quote_plus(str(text))
        if function == "toLower":
            return str(text).lower()
        if function == "humanize":
            return _humanize(float(text))
        if function == "humanizePercentage":
            return f"{float(text) * 100:.4g}%"
        return str(text)

    return {key: _TEMPLATE.sub(fill, text) for key, text in annotations.items()}


def _humanize(value: float) -> str:
    """Prometheus' ``humanize`` for values of 1 and more (SI prefixes, 4 digits)."""
    prefix = ""
    for candidate in ("k", "M", "G", "T", "P", "E"):
        if abs(value) < 1000:  # noqa: PLR2004 - the SI step
            break
        prefix, value = candidate, value / 1000
    return f"{value:.4g}{prefix}"


def _burn_rate_tests(policy: AlertPolicy) -> list[dict[str, Any]]:
    """Fast burn fires at 20% failures, not at 0.05% nor on low traffic; slow burn at 0.45%."""

    def traffic(service: str, failing: float, total: float, count: int) -> list[dict[str, str]]:
        base = {"service_name": service, "deployment_environment_name": ENVIRONMENT}
        series = [
            (REQUESTS + _labels(**base, http_response_status_code="500"), failing),
            (REQUESTS + _labels(**base, http_response_status_code="200"), total - failing),
            (_calls(service), total),
            (ERRORS + _labels(**base, error_code="BUG-001", error_severity="P2",
                              error_handled="false"), failing),
        ]  # fmt: skip
        return [{"series": s, "values": f"0+{step:g}x{count}"} for s, step in series]

    alerts = {rule["alert"]: rule for rule in burn_rate_alerts(policy)}

    def expected(alert: str, service: str, share: float) -> dict[str, Any]:
        rule = alerts[alert]
        labels = {**rule["labels"], "service_name": service,
                  "deployment_environment_name": ENVIRONMENT}  # fmt: skip
        return {"exp_labels": labels, "exp_annotations": rendered(rule["annotations"], share,
                                                                  labels)}  # fmt: skip

    # per minute: 100 requests a minute clears the guard, one a minute does not
    fast_input = (
        traffic("burning", 20, 100, 80)
        + traffic("healthy", 0.05, 100, 80)
        + traffic("quiet", 0.2, 1, 80)
    )
    slow_input = traffic("leaking", 4.5, 1000, 160) + traffic("healthy", 0.5, 1000, 160)
    fast = [
        {
            "eval_time": "75m",
            "alertname": f"OtelErrors_{prefix}FastBurn",
            "exp_alerts": [expected(f"OtelErrors_{prefix}FastBurn", "burning", 0.2)],
        }
        for prefix in ("ErrorBudget", "UnhandledErrorBudget")
    ]
    slow = [
        case
        for prefix in ("ErrorBudget", "UnhandledErrorBudget")
        for case in (
            {
                "eval_time": "26h",
                "alertname": f"OtelErrors_{prefix}SlowBurn",
                "exp_alerts": [expected(f"OtelErrors_{prefix}SlowBurn", "leaking", 0.0045)],
            },
            {"eval_time": "26h", "alertname": f"OtelErrors_{prefix}FastBurn", "exp_alerts": []},
        )
    ]
    return [
        {"interval": "1m", "input_series": fast_input, "alert_rule_test": fast},
        {"interval": "10m", "input_series": slow_input, "alert_rule_test": slow},
    ]


def _pipeline_tests(policy: AlertPolicy) -> list[dict[str, Any]]:
    """Each pipeline alert fires on a broken collector and not on a healthy one; Watchdog always."""
    window = minutes(policy.pipeline_window)
    end = window + minutes(policy.pipeline_for) + 5
    rules = {rule["alert"]: rule for rule in pipeline_alerts(policy)}
    broken = {"job": "otelcol", "instance": "gw-1:8889", "tier": "gateway"}
    healthy = {"job": "otelcol", "instance": "gw-2:8889", "tier": "gateway"}
    jaeger = {"exporter": "otlp_grpc/jaeger"}
    traces = {**jaeger, "data_type": "traces"}
    cases: dict[str, tuple[list[tuple[str, dict[str, str], str, str]], dict[str, str]]] = {
        # (metric, labels, broken values, healthy values), labels of the alert
        # one exporter with two signals: the counters must not collide once named away
        "OtelErrors_CollectorExportFailing": (
            [
                ("otelcol_exporter_send_failed_spans", jaeger, f"0+5x{end}", f"0x{end}"),
                ("otelcol_exporter_send_failed_log_records", jaeger, f"0x{end}", f"0x{end}"),
            ],
            jaeger,
        ),
        "OtelErrors_CollectorExporterStalled": (
            [
                ("otelcol_exporter_in_flight_requests", traces, f"1x{end}", f"1x{end}"),
                ("otelcol_exporter_sent_spans", jaeger, f"100x{end}", f"0+100x{end}"),
                ("otelcol_exporter_sent_log_records", jaeger, f"100x{end}", f"100x{end}"),
            ],
            jaeger,
        ),
        "OtelErrors_CollectorQueueFilling": (
            [
                ("otelcol_exporter_queue_size", traces, f"4500x{end}", f"10x{end}"),
                ("otelcol_exporter_queue_capacity", traces, f"5000x{end}", f"5000x{end}"),
            ],
            jaeger,
        ),
        "OtelErrors_CollectorRefusingData": (
            [
                (
                    "otelcol_receiver_refused_spans_total",
                    {"receiver": "otlp", "transport": "grpc"},
                    f"0+10x{end}",
                    f"0x{end}",
                )
            ],
            {"receiver": "otlp"},
        ),
        "OtelErrors_TailSamplingDroppedTooEarly": (
            [
                (
                    "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
                    {},
                    f"0+3x{end}",
                    f"0x{end}",
                )
            ],
            {},
        ),
    }
    tests = []
    for name, (metrics, alert_labels) in cases.items():
        series = [
            {"series": metric + _labels(**where, **labels), "values": values}
            for metric, labels, broken_values, healthy_values in metrics
            for where, values in ((broken, broken_values), (healthy, healthy_values))
        ]
        labels = {**rules[name]["labels"], **broken, **alert_labels}
        tests.append(_one_alert(name, series, end, labels, rules[name]))
    down = {"job": "jaeger", "instance": "jaeger:14269"}
    tests.append(
        _one_alert(
            "OtelErrors_PipelineTargetDown",
            [{"series": "up" + _labels(**down), "values": f"0x{end}"},
             {"series": "up" + _labels(job="jaeger", instance="jaeger-2:14269"),
              "values": f"1x{end}"},
             {"series": "up" + _labels(job="shop", instance="shop:8000"), "values": f"0x{end}"}],
            end, {**rules["OtelErrors_PipelineTargetDown"]["labels"], **down},
            rules["OtelErrors_PipelineTargetDown"],
        )
    )  # fmt: skip
    accepted = "otelcol_receiver_accepted_spans" + _labels(**healthy, receiver="otlp")
    stopped = rules["OtelErrors_TelemetryStopped"]
    tests.append(
        {
            "interval": "1m",
            # spans arrive for an hour, then nothing does
            "input_series": [{"series": accepted, "values": f"0+10x60 600x{end + 60}"}],
            "alert_rule_test": [
                {"eval_time": "50m", "alertname": stopped["alert"], "exp_alerts": []},
                {"eval_time": f"{end + 60}m", "alertname": stopped["alert"],
                 "exp_alerts": [{"exp_labels": stopped["labels"],
                                 "exp_annotations": stopped["annotations"]}]},
            ],
        }
    )  # fmt: skip
    watchdog = rules[WATCHDOG]
    tests.append(
        {
            "interval": "1m",
            "input_series": [],
            "alert_rule_test": [
                {"eval_time": f"{at}m", "alertname": WATCHDOG,
                 "exp_alerts": [{"exp_labels": watchdog["labels"],
                                 "exp_annotations": watchdog["annotations"]}]}
                for at in (0, 60)
            ],
        }
    )  # fmt: skip
    return tests


def _one_alert(
    name: str, series: list[dict[str, str]], end: int, labels: dict[str, str], rule: dict[str, Any]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": f"{end}m",
                "alertname": name,
                "exp_alerts": [
                    {
                        "exp_labels": labels,
                        "exp_annotations": rendered(rule["annotations"], 0, labels),
                    }
                ],
            }
        ],
    }
