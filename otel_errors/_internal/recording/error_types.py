"""The ``error.type`` the recorder gave each span, so that the export can put it back.

Instrumentations set ``error.type`` from the HTTP status (``"500"``) or the exception
class after the recorder set it to the error code, and DESIGN.md promises the code.
The recorder remembers which spans it marked (bounded, oldest forgotten first) and
the exporting span processor restores the code when it finds it overwritten.
"""

from __future__ import annotations

from otel_errors._internal.helpers import locks

_MAX_REMEMBERED = 8192


class ErrorTypes(dict[int, str]):
    """``error.type`` by span id (64 random bits: collisions are negligible).

    A dictionary itself, so that the success path's check (is anything remembered?)
    and the lookup cost no Python call.
    """

    def __init__(self) -> None:
        """An empty memory."""
        super().__init__()
        self._lock = locks.lock()

    def remember(self, span_id: int, value: str) -> None:
        """Records the ``error.type`` we gave a span."""
        with self._lock:
            if len(self) >= _MAX_REMEMBERED:
                self.pop(next(iter(self)))
            self[span_id] = value

    def after_fork(self) -> None:
        """In a forked child: the parent's spans are not the child's."""
        self.clear()
