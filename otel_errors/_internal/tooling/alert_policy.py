"""The alerting policy: per-severity thresholds, the SLO and where annotations link.

Its own module because both the code alerts (``alert_rules``) and the pipeline's
own alerts (``alert_pipeline``) read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Threshold:
    """When a code's alert fires: errors in ``window``, as a count and as a share of requests."""

    window: str
    """The window errors and requests are counted in."""
    for_: str
    """How long the condition must hold before the alert fires."""
    min_errors: int
    """Unhandled errors within ``window`` (the only condition where ``ratio`` is None)."""
    ratio: float | None = None
    """Errors of the code per request of the service; None: the count alone decides."""
    min_requests: int = 0
    """Requests within ``window`` below which a ratio alert stays quiet (low traffic)."""
    keep_firing_for: str = ""
    """How long the alert keeps firing after the condition ends (against flapping)."""


@dataclass(frozen=True)
class ReleaseWindows:
    """The windows of the new and regressed error rules (``release_rules``)."""

    interval: str = "1m"
    """Evaluation interval of the release rules' group."""
    active: str = "5m"
    """A fingerprint counted within this window is active."""
    offset: str = "10m"
    """History is looked up before this: how long a fingerprint stays new or regressed."""
    lookback: str = "14d"
    """A fingerprint not active within this window before ``offset`` is new."""
    absence: str = "1d"
    """A fingerprint not active within this window before ``offset``, but earlier, regressed."""
    settle: str = "14d"
    """How long a new fingerprint scheme of a service is quiet (its fingerprints all look new)."""


@dataclass(frozen=True)
class AlertPolicy:
    """Thresholds, the SLO, and where the links in annotations point."""

    thresholds: dict[str, Threshold] = field(
        default_factory=lambda: {
            "P1": Threshold("5m", "0m", 1, keep_firing_for="15m"),
            "P2": Threshold("5m", "5m", 5, ratio=0.01, min_requests=100),
            "P3": Threshold("15m", "15m", 20, ratio=0.05, min_requests=300),
            "P4": Threshold("1h", "0m", 50),
        }
    )
    slo: float = 0.999
    """Availability objective: the share of requests that must not fail."""
    burn_min_requests: int = 100
    """Requests within a burn-rate alert's long window below which it stays quiet."""
    grafana_url: str = "http://localhost:3000"
    jaeger_url: str = "http://localhost:16686"
    docs_url: str = "https://errors.example.com/catalogue"
    """Where ``otel-errors catalog docs`` is published: runbook of codes without their own."""
    loki_datasource_uid: str = "loki"
    pipeline_window: str = "5m"
    """Window of the pipeline's own alerts (exporters, queues, receivers, sampling)."""
    pipeline_for: str = "5m"
    """How long a pipeline condition must hold before its alert fires."""
    releases: ReleaseWindows = field(default_factory=ReleaseWindows)
    """Windows of the new and regressed error alerts."""

    def windows(self) -> list[str]:
        """The distinct windows of the code alerts, shortest first."""
        return sorted({t.window for t in self.thresholds.values()}, key=minutes)


def seconds(duration: str) -> int:
    """Seconds in a Prometheus duration of one unit (``90s``, ``5m``, ``14d``)."""
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def duration(total: int) -> str:
    """A Prometheus duration of one unit for ``total`` seconds, the largest that fits."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}s"


def minutes(duration: str) -> int:
    """Minutes in a Prometheus duration of one unit (``90s`` is not one)."""
    value, unit = int(duration[:-1]), duration[-1]
    return value * {"m": 1, "h": 60, "d": 1440}[unit]
