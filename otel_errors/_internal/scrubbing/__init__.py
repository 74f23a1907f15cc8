"""Redaction of secrets and personal data: a pure engine, no OpenTelemetry imports.

``Redactor(RedactionConfig.build(...))`` redacts attribute maps
(:meth:`~Redactor.redact_attributes`) and texts (:meth:`~Redactor.redact_text`); the
span, log and metric adapters live in ``otel_errors._internal.export.redaction``.

The names below are loaded when first asked for (PEP 562): importing the package (for
``DROP``) compiles none of the detectors, so a process that redacts nothing before
its first export does not pay for them at start-up.
"""

from __future__ import annotations

import importlib
from importlib.machinery import EXTENSION_SUFFIXES
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otel_errors._internal.scrubbing.config import RedactionConfig, RedactionConfigError
    from otel_errors._internal.scrubbing.drop import DROP
    from otel_errors._internal.scrubbing.engine import Redactor

__all__ = ["DROP", "RedactionConfig", "RedactionConfigError", "Redactor", "compiled"]

_MODULE_OF = {
    "DROP": "drop",
    "RedactionConfig": "config",
    "RedactionConfigError": "config",
    "Redactor": "engine",
}


def compiled() -> bool:
    """Whether the engine runs compiled by mypyc (a platform wheel) or from its source.

    Both give the same results; the compiled one costs a quarter to a third less CPU.
    The doctor reports it, and the benchmarks name the engine they measured.
    """
    from otel_errors._internal.scrubbing import engine

    return str(engine.__file__).endswith(tuple(EXTENSION_SUFFIXES))


def __getattr__(name: str) -> Any:
    """Imports the module that defines ``name`` the first time it is asked for."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
