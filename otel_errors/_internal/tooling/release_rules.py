"""Prometheus rules for new and regressed errors per release, from ``otel_errors.fingerprints``.

Why in Prometheus: the state (which fingerprints a service has had, and when) must
hold across replicas and restarts; Prometheus already stores every series the
gateway exports for its retention, so the history is a query, not a new component.

``otel_errors:fingerprint_active`` marks a fingerprint whose counter rose within the
``active`` window (a series born within it counts by its existence: SDK counters
start at 1, and a new release is a new series since ``service_version`` is a label).
A fingerprint active now is new when the service had it nowhere in the ``lookback``
window before ``offset``, and regressed when it was absent for the ``absence`` window
before ``offset`` but active earlier in the lookback. The offset keeps the present
out of the history; it is also how long the condition holds.

A new fingerprint scheme (``error.fingerprint.version``: a changed computation gives
every failure another fingerprint) would make every failure look new.
``otel_errors:fingerprint_scheme_since`` records when a service first had a scheme,
carrying its own last value forward, and both alerts stay quiet while the scheme is
younger than ``settle``. The alert's title comes from ``otel_errors:catalog_title``,
one constant series per catalogue code, looked up by the annotation's template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otel_errors._internal.names import OVERFLOW_CODE
from otel_errors._internal.tooling.alert_policy import duration, seconds

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.model.catalog import Catalog
    from otel_errors._internal.tooling.alert_policy import AlertPolicy

RELEASES_GROUP = "otel_errors.releases"
"""Its alerts have their own promtool cases (tests/test_release_rules.py), short windows."""
FINGERPRINTS = "otel_errors_fingerprints_total"
ACTIVE = "otel_errors:fingerprint_active"
SCHEME_SINCE = "otel_errors:fingerprint_scheme_since"
CATALOG_TITLE = "otel_errors:catalog_title"
NEW_ALERT = "OtelErrors_NewError"
REGRESSION_ALERT = "OtelErrors_RegressedError"
OVERFLOW_ALERT = "OtelErrors_FingerprintOverflow"
RELEASE_EVENT = "release_event"
"""Alert label (``new``, ``regression``): Alertmanager routes these one per fingerprint."""
SERVICE = "service_name, deployment_environment_name"
FINGERPRINT = f"{SERVICE}, error_fingerprint"
SCHEME = f"{SERVICE}, error_fingerprint_version"
SERIES = f"{SERVICE}, service_version, error_fingerprint, error_fingerprint_version, error_code, error_severity"  # noqa: E501
_TITLE = (
    '{{ with printf "' + CATALOG_TITLE + '{error_code=%q}" $labels.error_code | query }}'
    '{{ . | first | label "title" }}{{ else }}{{ $labels.error_code }}{{ end }}'
)


def release_rules(
    catalog: Catalog, policy: AlertPolicy, logs_url: Callable[[str | None, AlertPolicy], str]
) -> dict[str, Any]:
    """The rule group of new and regressed errors, evaluated every ``releases.interval``.

    ``logs_url`` makes the Grafana link of a service (and code) as the code alerts do.
    """
    code_logs = logs_url("CODE", policy).replace("CODE", "{{ $labels.error_code | urlquery }}")
    windows = policy.releases
    offset, absence = seconds(windows.offset), seconds(windows.absence)
    lookback = seconds(windows.lookback)
    born = f"({FINGERPRINTS} unless {FINGERPRINTS} offset {windows.active})"
    rose = f"increase({FINGERPRINTS}[{windows.active}]) > 0"
    current = f'{ACTIVE}{{error_fingerprint!="{OVERFLOW_CODE}"}}'
    settling = f"time() - {SCHEME_SINCE} < {seconds(windows.settle)}"
    new = (
        f"{current} unless on ({FINGERPRINT}) "
        f"max_over_time({ACTIVE}[{windows.lookback}] offset {windows.offset})"
        f" unless on ({SCHEME}) ({settling})"
    )
    regressed = (
        f"{current} unless on ({FINGERPRINT}) "
        f"max_over_time({ACTIVE}[{windows.absence}] offset {windows.offset})"
        f" and on ({FINGERPRINT}) max_over_time({ACTIVE}[{duration(lookback - absence)}]"
        f" offset {duration(offset + absence)})"
        f" unless on ({SCHEME}) ({settling})"
    )
    rules: list[dict[str, Any]] = [
        {"record": ACTIVE, "expr": f"group by ({SERIES}) ({born} or {rose})"},
        {
            "record": SCHEME_SINCE,
            "expr": (
                f"last_over_time({SCHEME_SINCE}[{windows.settle}])"
                f" or time() * group by ({SCHEME}) ({ACTIVE})"
            ),
        },
        *(
            {
                "record": CATALOG_TITLE,
                "expr": "vector(1)",
                "labels": {"error_code": entry.code, "title": entry.title},
            }
            for entry in catalog
            if entry.code != OVERFLOW_CODE
        ),
        _release_alert(NEW_ALERT, "new", new, policy, code_logs),
        _release_alert(REGRESSION_ALERT, "regression", regressed, policy, code_logs),
        _overflow_alert(policy, logs_url(None, policy)),
    ]
    return {"name": RELEASES_GROUP, "interval": windows.interval, "rules": rules}


def _with_severity(expr: str) -> str:
    return f'label_replace({expr}, "severity", "$1", "error_severity", "(.+)")'


def _release_alert(
    name: str, event: str, expr: str, policy: AlertPolicy, logs: str
) -> dict[str, Any]:
    windows = policy.releases
    where = "{{ $labels.service_name }} ({{ $labels.deployment_environment_name }})"
    if event == "new":
        summary = f"New error in release {{{{ $labels.service_version }}}}: {_TITLE}"
        description = (
            "Fingerprint {{ $labels.error_fingerprint }} ({{ $labels.error_code }}) was never "
            f"seen in {where} during the {windows.lookback} before; release "
            "{{ $labels.service_version }} brought it."
        )
    else:
        summary = f"Regression in release {{{{ $labels.service_version }}}}: {_TITLE}"
        description = (
            "Fingerprint {{ $labels.error_fingerprint }} ({{ $labels.error_code }}) was absent "
            f"from {where} for {windows.absence} and came back with release "
            "{{ $labels.service_version }}."
        )
    return {
        "alert": name,
        "expr": _with_severity(expr),
        "labels": {RELEASE_EVENT: event, "category": "release"},
        "annotations": {
            "summary": f"{where}: {summary} [{{{{ $labels.error_code }}}}]",
            "description": description,
            "action": (
                "Open an example trace of the fingerprint; compare the release with the "
                "previous one."
            ),
            "runbook_url": f"{policy.docs_url}#{{{{ $labels.error_code | toLower }}}}",
            "logs_url": logs,
            "traces_url": (
                f"{policy.jaeger_url}/search?service={{{{ $labels.service_name | urlquery }}}}"
                "&tags=%7B%22error.fingerprint%22%3A%22{{ $labels.error_fingerprint }}%22%7D"
                "&lookback=1h"
            ),
        },
    }


def _overflow_alert(policy: AlertPolicy, logs: str) -> dict[str, Any]:
    return {
        "alert": OVERFLOW_ALERT,
        "expr": (
            f"group by ({SERVICE}, service_version) "
            f'({ACTIVE}{{error_fingerprint="{OVERFLOW_CODE}"}})'
        ),
        "labels": {"severity": "P3", "error_code": OVERFLOW_CODE, "category": "overflow"},
        "annotations": {
            "summary": (
                "{{ $labels.service_name }} ({{ $labels.deployment_environment_name }}): "
                "fingerprints folded into OVERFLOW by the cardinality cap"
            ),
            "description": (
                "Release {{ $labels.service_version }} counted more distinct fingerprints than "
                "OTEL_ERRORS_FINGERPRINTS_LIMIT in one process: new and regressed errors past "
                "the cap cannot be announced."
            ),
            "action": (
                "Look for a failure whose fingerprint varies (generated code, recursion) or "
                "raise OTEL_ERRORS_FINGERPRINTS_LIMIT."
            ),
            "runbook_url": f"{policy.docs_url}#new-and-regressed-errors",
            "logs_url": logs,
            "traces_url": (
                f"{policy.jaeger_url}/search?service={{{{ $labels.service_name | urlquery }}}}"
                "&lookback=1h"
            ),
        },
    }
