"""The marker of a value to remove, apart from the engine so that holding it compiles nothing."""

from typing import Any

DROP: Any = object()
"""Returned by :meth:`Redactor.redact_value` when the attribute must be removed."""
