"""What a library unit knows about its errors: the knowledge the registry reads at start-up.

A unit's ``UNIT`` is pure knowledge (no library import, no recorder): its catalogue
section, the classes it maps to codes of any section, the rules that look inside its
exceptions, the enrichers that add its attributes to exception events, and the loggers
through which its server reports what the application let escape, and the console
handlers its default logging configuration installs. What a unit does at
run time (patching the library) lives in its ``instrumentor`` module instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from otel_errors._internal.model.classification import Classifier
    from otel_errors._internal.model.enrichment import Enricher


@dataclass(frozen=True)
class Unit:
    """One library's knowledge about its errors."""

    catalog: str | None = None
    """A TOML file in the unit's package with the codes only this library raises."""
    exceptions: Mapping[str, str] = field(default_factory=dict)
    """Exception classes by qualified name (no import), and the code each one gets."""
    rules: Callable[[Classifier], None] | None = None
    """Registers the rules that read inside this library's exceptions."""
    enrichers: tuple[tuple[tuple[str, ...], Enricher], ...] = ()
    """Event attributes from this library's exceptions, by module prefix."""
    upstream_readers: tuple[tuple[tuple[str, ...], Enricher], ...] = ()
    """Enrichers that attach the upstream failure an exception of this library reports
    (gRPC's trailing metadata; see ``model.upstream``). Unlike the others they also run
    for an error on a span that is not sampled: its origin is counted all the same."""
    server_loggers: tuple[str, ...] = ()
    """Loggers whose ERROR records carry an exception the application let escape."""
    framework_log_handlers: tuple[tuple[str, str], ...] = ()
    """``(logger, formatter)`` of the console handlers the library's default logging
    configuration gives loggers of its own (often not propagating to the root logger):
    with JSON console logs on, such a handler formats JSON lines too. The formatter is
    its qualified class name, or ``class:format string`` when the class is the stdlib's."""
