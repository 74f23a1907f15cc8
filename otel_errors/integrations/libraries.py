"""Every supported library, one line each: the one place a library is registered.

Read by the package (the registry loads each unit's catalogue, rules and enrichers;
the launcher finds each instrumentor) and by the build (``_metadata_hook``: the
``opentelemetry_instrumentor`` entry points and the ``otel-errors[<name>]`` extras are
made from these lines, so ``pyproject.toml`` never lists them). That is why this
module imports nothing: the build reads it without the package's dependencies.

A line names the unit (``otel_errors.integrations.<name>``, its catalogue, rules and
enrichers), what must be installed for its instrumentor to patch anything, the
contrib instrumentation an extra brings along, and the instrumentor class in the
unit's ``instrumentor`` module when it has one (entry point ``otel_errors_<name>``).
"""

from __future__ import annotations

from typing import NamedTuple

CONTRIB = ">=0.61b0,<1"
"""The contrib instrumentation line an extra installs (the SDK line we support)."""


class Library(NamedTuple):
    """One supported library."""

    name: str
    """The unit's package, the extra and the entry point's suffix."""
    requires: tuple[str, ...] = ()
    """Installed versions the instrumentor works with (``instrumentation_dependencies``)."""
    contrib: str | None = None
    """The contrib instrumentation package an extra brings (its spans and metrics)."""
    instrumentor: str | None = None
    """The class in ``otel_errors.integrations.<name>.instrumentor``, if the unit patches."""
    extra: tuple[str, ...] = ()
    """What ``otel-errors[<name>]`` installs besides ``requires`` and ``contrib``."""
    entry_point: str | None = None
    """The entry point's suffix when it is not ``name`` (kept for existing settings)."""


LIBRARIES: tuple[Library, ...] = (
    Library("process_hooks", (), None, "ProcessHooksErrorsInstrumentor"),
    Library("flask", ("flask >= 2.2",), "opentelemetry-instrumentation-flask", "FlaskErrorsInstrumentor"),
    Library("starlette", ("starlette >= 0.27",), "opentelemetry-instrumentation-starlette", "StarletteErrorsInstrumentor"),
    Library("fastapi", ("fastapi >= 0.100",), "opentelemetry-instrumentation-fastapi"),
    Library("django", ("django >= 4.2",), "opentelemetry-instrumentation-django", "DjangoErrorsInstrumentor"),
    Library("uvicorn", ("uvicorn >= 0.29",), None, "UvicornErrorsInstrumentor"),
    Library("gunicorn", ("gunicorn >= 22",), None, "GunicornErrorsInstrumentor"),
    Library("requests", ("requests >= 2.0",), "opentelemetry-instrumentation-requests", "RequestsErrorsInstrumentor"),
    Library("httpx", ("httpx >= 0.23", "httpcore >= 0.15"), "opentelemetry-instrumentation-httpx", "HTTPXErrorsInstrumentor"),
    Library("urllib3", ("urllib3 >= 2.0, < 3",), "opentelemetry-instrumentation-urllib3", "URLLib3ErrorsInstrumentor"),
    Library("aiohttp", ("aiohttp ~= 3.0",), "opentelemetry-instrumentation-aiohttp-client", "AioHttpClientErrorsInstrumentor", entry_point="aiohttp_client"),
    Library("grpc", ("grpcio >= 1.60",), "opentelemetry-instrumentation-grpc", "GrpcErrorsInstrumentor"),
    Library("botocore", ("botocore >= 1.34",), "opentelemetry-instrumentation-botocore"),
    Library("psycopg", ("psycopg >= 3.1",), "opentelemetry-instrumentation-psycopg", "PsycopgErrorsInstrumentor"),
    Library("psycopg2", (), "opentelemetry-instrumentation-psycopg2"),  # psycopg2 or psycopg2-binary: yours
    Library("sqlite3", ()),
    Library("sqlalchemy", ("sqlalchemy >= 1.4",), "opentelemetry-instrumentation-sqlalchemy", "SQLAlchemyErrorsInstrumentor"),
    Library("redis", ("redis >= 4.2",), "opentelemetry-instrumentation-redis", "RedisErrorsInstrumentor"),
    Library("celery", ("celery >= 5",), "opentelemetry-instrumentation-celery", "CeleryErrorsInstrumentor"),
    Library("pika", ("pika >= 1.0",), "opentelemetry-instrumentation-pika", "PikaErrorsInstrumentor"),
    Library("aio_pika", ("aio-pika >= 9",), "opentelemetry-instrumentation-aio-pika", "AioPikaErrorsInstrumentor"),
    Library("tenacity", ("tenacity >= 8.3",), None, "TenacityErrorsInstrumentor"),
    Library("pybreaker", ("pybreaker >= 1.0",), None, "PyBreakerErrorsInstrumentor"),
)  # fmt: skip
