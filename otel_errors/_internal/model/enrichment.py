"""Extra event attributes read from inside an exception: the hook libraries plug into.

Why here and not in instrumentors: an instrumentor sees a failure only where it
wraps a method, and wrapping a hot method costs every successful call (a wrapt
layer on a database cursor's ``execute`` was measured at 4% of a local query).
Every exception, whoever records it (a contrib span's context manager, a framework,
``record_error``), passes through the recorder; an enricher registered for the
exception's module runs there, on the failure path only, and gets the span it is
recorded on (a contrib client span carries the statement, the peer, the command).

An enricher returns attributes to add to the event. Returning ``exception.message``
or ``exception.stacktrace`` replaces the computed ones, which is how database
enrichers take values (``DETAIL: Key (email)=(...)``) out of driver messages.
Failures are counted and skipped: the event is recorded without the extras.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.fail_open import report_internal_failure

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from opentelemetry import trace
    from opentelemetry.util.types import AttributeValue

    Enricher = Callable[
        [BaseException, "trace.Span" | None, "Mapping[str, AttributeValue]"],
        "Mapping[str, AttributeValue] | None",
    ]

_MAX_CHAIN = 8
_MATCHES_KEPT = 256
"""Distinct cause chains (their modules) whose matching enrichers are remembered."""


class Enrichers:
    """Enrichers by exception module prefix (``"psycopg."`` matches ``psycopg.errors``)."""

    def __init__(self) -> None:
        """Creates an empty registry."""
        self._entries: list[tuple[tuple[str, ...], Enricher]] = []
        self._matches: dict[tuple[str, ...], tuple[Enricher, ...]] = {}
        """The enrichers matching each chain of modules seen (an error storm repeats one)."""
        self._lock = locks.lock()

    def add(self, module_prefixes: tuple[str, ...], enricher: Enricher) -> None:
        """Runs ``enricher`` for exceptions (or their causes) from these modules."""
        with self._lock:
            self._entries.append((module_prefixes, enricher))
            self._matches = {}

    def apply(
        self,
        exc: BaseException,
        span: trace.Span | None,
        attributes: dict[str, AttributeValue],
    ) -> None:
        """Adds the attributes of every matching enricher to ``attributes`` (in place).

        An enricher matches when ``exc`` or an exception in its cause chain (wrappers
        such as SQLAlchemy's carry the driver error there) comes from its modules.
        """
        if not self._entries:
            return
        for enricher in self._matching(_chain_modules(exc)):
            try:
                extra = enricher(exc, span, attributes)
            except Exception as failure:
                report_internal_failure("enrichment", failure)
                continue
            if extra:
                attributes.update(extra)

    def _matching(self, modules: tuple[str, ...]) -> tuple[Enricher, ...]:
        """The enrichers registered for any of ``modules``, in registration order."""
        matches = self._matches
        found = matches.get(modules)
        if found is None:
            found = tuple(
                enricher
                for prefixes, enricher in self._entries
                if any(module.startswith(prefixes) for module in modules)
            )
            if len(matches) >= _MATCHES_KEPT:
                matches.clear()
            matches[modules] = found
        return found


def _chain_modules(exc: BaseException) -> tuple[str, ...]:
    modules: list[str] = []
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen and len(modules) < _MAX_CHAIN:
        seen.add(id(current))
        module = getattr(type(current), "__module__", None)
        if isinstance(module, str):
            modules.append(module + ".")
        current = current.__cause__ or getattr(current, "orig", None)
    return tuple(modules)
