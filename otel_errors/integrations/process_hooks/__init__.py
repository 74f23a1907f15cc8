"""Python itself: uncaught, thread, asyncio, unraisable and logged exceptions.

No library and no catalogue of its own (Python's exceptions are the generic area's);
its instrumentor installs the interpreter's reporting hooks and the logging hook.
"""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit()
