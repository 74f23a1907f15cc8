"""The instrumentor of a unit whose whole work at run time is its import patches.

``BaseInstrumentor`` asks each subclass for the library versions it supports and
for its instrument and uninstrument steps. For most of our units those are a
requirement string and ``ImportPatches.apply`` / ``remove`` (the patches wait for
the library's import; see ``recording.patching``): this base class says so once,
and a unit's instrumentor names its requirements and its patches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)

if TYPE_CHECKING:
    from collections.abc import Collection

    from otel_errors._internal.recording.patching import ImportPatches


class PatchingInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # untyped base
    """Applies ``patches`` on ``instrument()``, removes them on ``uninstrument()``."""

    requirements: ClassVar[tuple[str, ...]]
    """The library versions the unit supports, as ``instrumentation_dependencies``."""
    patches: ClassVar[ImportPatches]
    """The unit's patches, applied when their library is imported."""

    def instrumentation_dependencies(self) -> Collection[str]:
        """The unit's ``requirements``."""
        return self.requirements

    def _instrument(self, **kwargs: Any) -> None:
        self.patches.apply()

    def _uninstrument(self, **kwargs: Any) -> None:
        self.patches.remove()
