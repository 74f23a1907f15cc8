"""Build-time metadata: the instrumentor entry points and the extras, from ``libraries.py``.

A hatchling metadata hook (``[tool.hatch.metadata.hooks.custom]`` in pyproject.toml): a
library registered by its line in ``libraries.py`` gets its ``otel_errors_<name>``
entry point (when its unit has an instrumentor) and its ``otel-errors[<name>]`` extra
(the library and its contrib instrumentation) without an edit to pyproject.toml. The
other entry points and extras are the hook's configuration there. It runs in the
build's environment, which has hatchling and nothing of ours: ``libraries.py`` is read
by path. Not shipped in the wheel.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from hatchling.metadata.plugin.interface import MetadataHookInterface


class LibrariesMetadataHook(MetadataHookInterface):  # type: ignore[misc]  # untyped base
    """Adds one entry point and one extra per registered library."""

    def update(self, metadata: dict[str, Any]) -> None:
        """Fills ``entry-points`` and ``optional-dependencies`` (both dynamic)."""
        found = runpy.run_path(str(Path(self.root) / "otel_errors/integrations/libraries.py"))
        libraries, contrib_line = found["LIBRARIES"], found["CONTRIB"]
        entry_points = {
            group: dict(points) for group, points in self.config["entry-points"].items()
        }
        extras = {name: list(reqs) for name, reqs in self.config["optional-dependencies"].items()}
        instrumentors = entry_points.setdefault("opentelemetry_instrumentor", {})
        for library in libraries:
            if library.instrumentor:
                module = f"otel_errors.integrations.{library.name}.instrumentor"
                suffix = library.entry_point or library.name
                instrumentors[f"otel_errors_{suffix}"] = f"{module}:{library.instrumentor}"
            contrib = [library.contrib + contrib_line] if library.contrib else []
            requirements = [*library.requires, *contrib, *library.extra]
            if requirements:
                extras[library.name] = requirements
        metadata["entry-points"] = entry_points
        metadata["optional-dependencies"] = extras
