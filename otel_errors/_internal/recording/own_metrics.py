"""Our own counters on meter ``otel_errors``, each created once, on first use.

On first use because the application may install its meter provider after importing
otel_errors: an instrument made before that would stay on the API's proxy meter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import metrics

from otel_errors._internal.names import METER_NAME

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram


class Instruments:
    """Our instruments, by name (the runtime's)."""

    def __init__(self) -> None:
        """None made yet."""
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}

    def counter(self, name: str, *, unit: str, description: str) -> Counter:
        """The counter ``name`` of meter ``otel_errors``, created the first time it is asked for."""
        found = self._counters.get(name)
        if found is None:
            found = self._counters[name] = metrics.get_meter(METER_NAME).create_counter(
                name, unit=unit, description=description
            )
        return found

    def histogram(
        self, name: str, *, unit: str, description: str, boundaries: list[float]
    ) -> Histogram:
        """The histogram ``name`` of meter ``otel_errors``, created on first use."""
        found = self._histograms.get(name)
        if found is None:
            found = self._histograms[name] = metrics.get_meter(METER_NAME).create_histogram(
                name,
                unit=unit,
                description=description,
                explicit_bucket_boundaries_advisory=boundaries,
            )
        return found
