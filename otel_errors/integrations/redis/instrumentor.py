"""Redis (redis-py, sync and asyncio): the error prefix and command on the exception event.

Classification does not need this module (``errors.toml`` and ``rules.py`` of this unit).
What contrib's ``RedisInstrumentor`` leaves out of a failed command is what the
semantic conventions require for it: ``db.response.status_code``, the Redis error
prefix (``WRONGTYPE``, ``READONLY``, ``OOM``), and ``db.operation.name``. This module
records server error replies on contrib's span with those attributes (plus
``db.system.name``).

Where we hook, and why there: contrib wraps ``Redis.execute_command``, the pipelines'
``execute``/``immediate_execute_command`` and the cluster clients. A server error
reply is raised by ``Redis.parse_response`` (sync and asyncio), which contrib does not
wrap and which runs inside contrib's span; we wrap it. Recording there, before
redis-py decides what to do with the error, is only right when redis-py cannot
handle it itself, so the wrapper leaves alone:

- connection errors and timeouts: redis-py's ``Retry`` may retry them;
- ``MOVED``/``ASK``/``TRYAGAIN``/``CLUSTERDOWN``/``MASTERDOWN``: the cluster client
  follows or retries them;
- replies read by a pipeline: it collects them and raises (or returns) them later;
- any call outside a Redis client span: without contrib there is no span for the
  command, and the application's span is not where a reply it may well expect
  (``except ResponseError``) belongs.

Those are recorded, classified, by whoever sees them escape. The success path pays
for one wrapt layer around reading each reply.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv.attributes.db_attributes import (
    DB_OPERATION_NAME,
    DB_RESPONSE_STATUS_CODE,
    DB_SYSTEM_NAME,
)

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._db_errors import record_db_error
from otel_errors.integrations._patching import PatchingInstrumentor
from otel_errors.integrations.redis.rules import error_prefix

SYSTEM = "redis"
HANDLED_BY_REDIS_PY = frozenset({"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN"})
"""Error prefixes that redis-py's cluster client follows or retries itself."""
_SYSTEM_ATTRIBUTES = ("db.system.name", "db.system")
"""Where a Redis client span says it is one (stable and older semantic conventions)."""


def _parse_response(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return wrapped(*args, **kwargs)
    except Exception as exc:
        _record(exc, instance, args, kwargs)
        raise


async def _parse_response_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    except Exception as exc:
        _record(exc, instance, args, kwargs)
        raise


def _record(exc: Exception, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        if not is_instrumentation_enabled() or hasattr(client, "command_stack"):
            return  # suppressed, or a pipeline (see the module docstring)
        if not any(cls.__name__ == "ResponseError" for cls in type(exc).__mro__):
            return
        prefix = error_prefix(exc) or "ERR"
        if prefix in HANDLED_BY_REDIS_PY:
            return
        span = trace.get_current_span()
        if not _is_redis_span(span):
            return
        attributes: dict[str, Any] = {DB_SYSTEM_NAME: SYSTEM, DB_RESPONSE_STATUS_CODE: prefix}
        command = args[1] if len(args) > 1 else kwargs.get("command_name")
        if isinstance(command, bytes):
            command = command.decode("utf-8", "replace")
        if isinstance(command, str) and command:
            attributes[DB_OPERATION_NAME] = command
        record_db_error(span, exc, attributes)
    except Exception as failure:
        report_internal_failure("redis.record", failure)


def _is_redis_span(span: trace.Span) -> bool:
    attributes = getattr(span, "attributes", None)
    if not span.is_recording() or attributes is None:
        return False
    return any(attributes.get(key) == SYSTEM for key in _SYSTEM_ATTRIBUTES)


_PATCHES = ImportPatches(
    "redis",
    Patch("redis.client", "Redis.parse_response", _parse_response),
    Patch("redis.asyncio.client", "Redis.parse_response", _parse_response_async),
)


class RedisErrorsInstrumentor(PatchingInstrumentor):
    """Redis error replies with their prefix and command on contrib's span."""

    requirements = ("redis >= 4.2",)
    """redis-py 4.2 or newer (asyncio support)."""
    patches = _PATCHES
