"""Alerts on the telemetry pipeline itself, and the Watchdog.

Why: when a collector drops data, cannot reach Jaeger, or stops receiving
anything, the error alerts go quiet for the wrong reason. These rules watch the
collectors' own metrics (the ``otelcol`` job) and the scrape targets, and the
Watchdog fires all the time so that a dead man's switch outside this stack
notices when alerting itself stops. The collectors' counters are named with or
without ``_total`` depending on the collector release, so selectors match both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_errors._internal.tooling.alert_policy import AlertPolicy

WATCHDOG = "OtelErrors_Watchdog"
_BY = "job, instance, tier"
SIGNALS = ("spans", "metric_points", "log_records")


@dataclass(frozen=True)
class PipelineAlert:
    """One alert on the pipeline: what it watches and what the on-call engineer does."""

    name: str
    severity: str
    summary: str
    meaning: str
    action: str

    @property
    def anchor(self) -> str:
        """Its section in the runbook appendix of the catalogue docs."""
        return self.name.removeprefix("OtelErrors_").lower()


ALERTS = (
    PipelineAlert(
        "OtelErrors_CollectorExportFailing", "P2",
        "{{ $labels.tier }} collector drops data it could not export ({{ $labels.exporter }})",
        "The exporter gave up on data after its retries, or could not queue it: that "
        "telemetry is lost.",
        "Check the backend behind the exporter (Jaeger, Loki, the next collector tier) and "
        "the collector's log; a full queue means the backend is down or too slow.",
    ),
    PipelineAlert(
        "OtelErrors_CollectorExporterStalled", "P2",
        "{{ $labels.tier }} collector cannot deliver to {{ $labels.exporter }}",
        "The exporter has requests in flight (retrying) and delivered nothing within the "
        "window: its backend is down or refuses the data. Queued data waits (on disk where "
        "the queue is persistent) until the retries run out.",
        "Check that the backend is up and reachable (address, TLS, credentials) from the "
        "collector.",
    ),
    PipelineAlert(
        "OtelErrors_CollectorQueueFilling", "P2",
        "{{ $labels.tier }} collector's queue for {{ $labels.exporter }} is over 80% full",
        "The sending queue holds more than 80% of its capacity: once full, new data is "
        "dropped.",
        "Find why the backend is slow or down; scale the backend or the gateways.",
    ),
    PipelineAlert(
        "OtelErrors_CollectorRefusingData", "P2",
        "{{ $labels.tier }} collector refuses data ({{ $labels.receiver }})",
        "The receiver refuses data, usually because the memory limiter is over its limit: "
        "senders retry, then drop.",
        "Give the collector more memory (GOMEMLIMIT, the container limit) or add replicas.",
    ),
    PipelineAlert(
        "OtelErrors_TailSamplingDroppedTooEarly", "P3",
        "{{ $labels.tier }} collector decided traces before all their spans arrived",
        "Tail sampling evicted traces before their decision wait ended: error traces may be "
        "lost or incomplete.",
        "Raise OTEL_ERRORS_TAIL_NUM_TRACES (and the memory that needs) or add gateways.",
    ),
    PipelineAlert(
        "OtelErrors_PipelineTargetDown", "P2",
        "{{ $labels.job }} target {{ $labels.instance }} is down",
        "Prometheus cannot scrape a part of the pipeline: a collector, Jaeger or "
        "Alertmanager is down or unreachable.",
        "Check the process or pod and its log; a gateway down means no error metrics.",
    ),
    PipelineAlert(
        "OtelErrors_TelemetryStopped", "P2",
        "No collector received any telemetry",
        "The collectors are up but none accepted a span, metric point or log record within "
        "the window: applications stopped sending, or cannot reach the agents.",
        "Check the applications' OTLP endpoint and the agents' receivers (address, TLS, "
        "credentials).",
    ),
    PipelineAlert(
        WATCHDOG, "none",
        "Alerting pipeline heartbeat",
        "Always firing, routed to a dead man's switch: when the switch stops hearing it, "
        "Prometheus, the rules or Alertmanager are broken.",
        "If the dead man's switch pages: check Prometheus and Alertmanager, and the route "
        "to the switch.",
    ),
)  # fmt: skip


def counters(function: str, window: str, *families: str) -> str:
    """``function`` (rate, increase) of each signal's counter of each family, to be summed.

    One selector matching several counters by name would not do: ``rate()`` drops the
    names, and the spans and metric points of one exporter then have the same labels.
    Each counter gets a ``counter`` label instead; ``(_total)?`` matches both namings.
    """
    return " or ".join(
        f'label_replace({function}({{__name__=~"otelcol_{family}_{signal}(_total)?"}}'
        f'[{window}]), "counter", "{family}_{signal}", "", "")'
        for family in families
        for signal in SIGNALS
    )


def _expressions(policy: AlertPolicy) -> dict[str, str]:
    window = policy.pipeline_window
    failed = counters("rate", window, "exporter_send_failed", "exporter_enqueue_failed")
    sent = counters("increase", window, "exporter_sent")
    refused = counters("rate", window, "receiver_refused")
    accepted = counters("rate", window, "receiver_accepted")
    early = "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early"
    early = f'{{__name__=~"{early}(_total)?"}}'
    by_exporter = f"{_BY}, exporter"
    return {
        "OtelErrors_CollectorExportFailing": f"sum by ({by_exporter}) ({failed}) > 0",
        "OtelErrors_CollectorExporterStalled": (
            f"max by ({by_exporter}) (otelcol_exporter_in_flight_requests) > 0"
            f" unless on ({by_exporter}) sum by ({by_exporter}) ({sent}) > 0"
        ),
        "OtelErrors_CollectorQueueFilling": (
            f"max by ({by_exporter}) "
            "(otelcol_exporter_queue_size / otelcol_exporter_queue_capacity) > 0.8"
        ),
        "OtelErrors_CollectorRefusingData": f"sum by ({_BY}, receiver) ({refused}) > 0",
        "OtelErrors_TailSamplingDroppedTooEarly": f"sum by ({_BY}) (rate({early}[{window}])) > 0",
        "OtelErrors_PipelineTargetDown": (
            'up{job=~"otel-errors-gateway|otelcol|jaeger|alertmanager"} == 0'
        ),
        "OtelErrors_TelemetryStopped": f"sum({accepted}) == 0",
        WATCHDOG: "vector(1)",
    }


def pipeline_alerts(policy: AlertPolicy) -> list[dict[str, Any]]:
    """The pipeline's alerts and the Watchdog, as Prometheus alerting rules."""
    expressions = _expressions(policy)
    return [
        {
            "alert": alert.name,
            "expr": expressions[alert.name],
            "for": "0m" if alert.name == WATCHDOG else policy.pipeline_for,
            "labels": {
                "severity": alert.severity,
                "category": "watchdog" if alert.name == WATCHDOG else "pipeline",
            },
            "annotations": {
                "summary": alert.summary,
                "description": alert.meaning,
                "action": alert.action,
                "runbook_url": f"{policy.docs_url}#{alert.anchor}",
            },
        }
        for alert in ALERTS
    ]


def runbooks_markdown() -> str:
    """The runbook appendix of the catalogue docs: alerts that no catalogue code stands for."""
    lines = ["## Alerts beyond the catalogue", ""]
    sections = [
        ("unknown", "UNKNOWN", "Errors no catalogue rule classified, by severity.",
         "Classify the exception: register a matcher or raise an AppError with a code."),
        ("overflow", "OVERFLOW",
         "Errors the counter folded once its cardinality cap was reached, by severity.",
         "Find the unbounded endpoint attribute or raise the cap; traces keep the codes."),
        ("new-and-regressed-errors", "New and regressed errors per release",
         ("A fingerprint never seen in the service within the lookback (new), or back after "
         "an absence (regression); the fingerprint OVERFLOW means a process counted more "
         "distinct fingerprints than OTEL_ERRORS_FINGERPRINTS_LIMIT."),
         ("Open the example trace of the fingerprint and compare the release with the previous "
         "one; for OVERFLOW, find the failure whose fingerprint varies or raise the limit.")),
        ("error-budget", "Error budget burn",
         "Multi-window burn of the availability SLO, on 5xx and on unhandled errors.",
         "Look at the top error codes of the service and their traces."),
    ]  # fmt: skip
    sections += [(a.anchor, a.name, a.meaning, a.action) for a in ALERTS]
    for anchor, title, meaning, action in sections:
        lines += [
            f'<a id="{anchor}"></a>',
            f"### {title}",
            "",
            meaning,
            "",
            f"**Action:** {action}",
        ]
        lines.append("")
    return "\n".join(lines)
