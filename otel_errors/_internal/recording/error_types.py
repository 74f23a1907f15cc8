"""The ``error.type`` the recorder gave each span, so that the export can put it back.

Instrumentations set ``error.type`` from the HTTP status (``"500"``) or the exception
class after the recorder set it to the error code, and DESIGN.md promises the code.
The recorder remembers which spans it marked (bounded, oldest forgotten first) and
the exporting span processor restores the code when it finds it overwritten.
"""

from __future__ import annotations

from otel_errors._internal.helpers import locks

_MAX_REMEMBERED = 8192


class ErrorTypes:
    """``error.type`` by span id (64 random bits: collisions are negligible)."""

    def __init__(self) -> None:
        """An empty memory."""
        self._types: dict[int, str] = {}
        self._lock = locks.lock()

    def __bool__(self) -> bool:
        """Whether anything is remembered (the success path checks only this)."""
        return bool(self._types)

    def remember(self, span_id: int, value: str) -> None:
        """Records the ``error.type`` we gave a span."""
        with self._lock:
            if len(self._types) >= _MAX_REMEMBERED:
                self._types.pop(next(iter(self._types)))
            self._types[span_id] = value

    def get(self, span_id: int) -> str | None:
        """The ``error.type`` we gave the span, if any."""
        return self._types.get(span_id)

    def after_fork(self) -> None:
        """In a forked child: the parent's spans are not the child's."""
        self._types = {}
