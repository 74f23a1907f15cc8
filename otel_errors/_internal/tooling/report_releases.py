"""New and regressed fingerprints per release (``service.version``), from the local files.

The same definitions as the Prometheus rules (``release_rules``), on the unhandled
exception events of the files instead of a counter's history: a fingerprint's first
occurrence in a service is new in the release it happened in, and an occurrence after
at least ``absence`` without one is a regression in its release. The first release of
a service in the files that has a fingerprint scheme (``error.fingerprint.version``)
is that scheme's baseline: with no history before it, its fingerprints are not
announced, neither on the first run nor after an upgrade that changed the scheme (as
the rules stay quiet while a service's scheme is young).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from otel_errors._internal import names

NO_VERSION = "(no service.version)"


@dataclass
class Occurrence:
    """One unhandled exception of a fingerprint."""

    time: datetime
    release: str
    code: str
    trace_id: str
    scheme: str


@dataclass
class ReleaseEvent:
    """A fingerprint that is new, or came back, in a release of a service."""

    service: str
    release: str
    kind: str
    """``new`` or ``regressed``."""
    fingerprint: str
    code: str
    first_seen: str
    example_trace_id: str
    count: int
    """Occurrences of the fingerprint in that release."""


@dataclass
class ReleaseHistory:
    """Unhandled exceptions by service and fingerprint, and when each release first ran."""

    occurrences: dict[tuple[str, str], list[Occurrence]] = field(default_factory=dict)
    release_start: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def add_span(self, resource: dict[str, Any], time: str) -> None:
        """Notes that a release ran at ``time`` (any span: a release may have no error)."""
        moment = _parse_time(time)
        if moment is None:
            return
        key = _service_and_release(resource)
        if key not in self.release_start or moment < self.release_start[key]:
            self.release_start[key] = moment

    def add_exception(
        self, resource: dict[str, Any], attributes: dict[str, Any], time: str, trace_id: str
    ) -> None:
        """Counts one exception event or record, if it is unhandled and has a fingerprint."""
        fingerprint = attributes.get(names.ERROR_FINGERPRINT)
        moment = _parse_time(time)
        if attributes.get(names.ERROR_HANDLED) is not False or not fingerprint or moment is None:
            return
        service, release = _service_and_release(resource)
        self.add_span(resource, time)
        code = str(attributes.get(names.ERROR_CODE, names.UNKNOWN_CODE))
        scheme = str(attributes.get(names.ERROR_FINGERPRINT_VERSION, ""))
        occurrence = Occurrence(moment, release, code, trace_id, scheme)
        self.occurrences.setdefault((service, str(fingerprint)), []).append(occurrence)

    def events(self, absence: timedelta) -> list[ReleaseEvent]:
        """New and regressed fingerprints, by service, release start and time."""
        baseline = self._baselines()
        found = []
        for (service, fingerprint), occurrences in self.occurrences.items():
            occurrences.sort(key=lambda o: o.time)
            previous: Occurrence | None = None
            for occurrence in occurrences:
                if previous is None:
                    kind = (
                        "" if occurrence.release == baseline[service, occurrence.scheme] else "new"
                    )
                else:
                    kind = "regressed" if occurrence.time - previous.time >= absence else ""
                if kind:
                    found.append(
                        ReleaseEvent(
                            service=service,
                            release=occurrence.release,
                            kind=kind,
                            fingerprint=fingerprint,
                            code=occurrence.code,
                            first_seen=occurrence.time.isoformat(),
                            example_trace_id=occurrence.trace_id,
                            count=sum(o.release == occurrence.release for o in occurrences),
                        )
                    )
                previous = occurrence
        return sorted(
            found,
            key=lambda e: (e.service, self.release_start[(e.service, e.release)], e.first_seen),
        )

    def _baselines(self) -> dict[tuple[str, str], str]:
        """The first release of each service and fingerprint scheme in the files."""
        first: dict[tuple[str, str], tuple[datetime, str]] = {}
        for (service, _), occurrences in self.occurrences.items():
            for occurrence in occurrences:
                key = (service, occurrence.scheme)
                start = self.release_start[service, occurrence.release]
                if key not in first or start < first[key][0]:
                    first[key] = (start, occurrence.release)
        return {key: release for key, (_, release) in first.items()}


def _service_and_release(resource: dict[str, Any]) -> tuple[str, str]:
    service = str(resource.get("service.name", "?"))
    return service, str(resource.get("service.version") or NO_VERSION)


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
