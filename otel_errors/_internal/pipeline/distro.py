"""The ``opentelemetry_distro`` entry point: environment defaults for the launcher."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from opentelemetry.instrumentation import dependencies
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]

from otel_errors._internal.config.defaults import apply_environment_defaults
from otel_errors.integrations.libraries import LIBRARIES

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

OWN_PREFIX = "otel_errors_"
"""Entry point names of our instrumentors start with this."""


class OtelErrorsDistro(BaseDistro):  # type: ignore[misc]  # untyped base
    """Sets defaults (``setdefault``: the user's environment wins) before the configurator runs.

    Defaults: OTLP over HTTP/protobuf with gzip when an endpoint is configured, the
    local JSON-lines exporter otherwise; W3C tracecontext + baggage; stable HTTP
    semantic conventions; and our configurator, even when another one is installed.
    """

    def _configure(self, **kwargs: Any) -> None:  # noqa: ARG002 - BaseDistro's signature
        apply_environment_defaults(os.environ)

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: Any) -> None:
        """Instruments one entry point; ours always check their library's version.

        The launcher skips the per-instrumentor dependency check because it already
        checked the distribution's ``instruments`` extra, which a distribution holding
        many instrumentors cannot declare. Ours therefore run the check themselves,
        so a missing library is skipped (logged at debug level by the launcher) and a
        version conflict is logged as an error, exactly as for contrib instrumentations.
        Checked once: when the check below ran, ``instrument`` does not look the
        versions up again (each lookup searches every ``sys.path`` entry).
        """
        if entry_point.name.startswith(OWN_PREFIX):
            kwargs.pop("skip_dep_check", None)
            kwargs["raise_exception_on_conflict"] = True
            if _check_before_import(entry_point.name):
                kwargs["skip_dep_check"] = True
        entry_point.load()().instrument(**kwargs)


def _check_before_import(name: str) -> bool:
    """The instrumentor's own dependency check, made before its module is imported.

    Its requirements are the library's line in ``LIBRARIES`` (``tests/test_distro.py``
    holds each instrumentor to it): a library that is not installed is skipped exactly
    as the instrumentor would skip it (the same conflict, the same exception for the
    launcher to log), without importing a module that patches nothing.

    Returns:
        Whether the check ran (and found no conflict).
    """
    requires = _REQUIREMENTS.get(name)
    error = getattr(dependencies, "DependencyConflictError", None)
    if not requires or error is None:
        return False
    conflict = dependencies.get_dependency_conflicts(requires)
    if conflict is not None:
        raise error(conflict)
    return True


_REQUIREMENTS = {
    OWN_PREFIX + (library.entry_point or library.name): library.requires
    for library in LIBRARIES
    if library.instrumentor is not None
}
"""Each of our instrumentor entry points' requirements, from the libraries' table."""
