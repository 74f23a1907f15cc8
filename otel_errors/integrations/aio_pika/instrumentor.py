"""aio-pika: a message its consumer rejects without requeueing it, recorded as ``MQ-009``.

The same gap as with pika (see ``integrations/pika/instrumentor.py``), closed the same
way: ``IncomingMessage.reject()`` (whose default is ``requeue=False``),
``nack(requeue=False)`` and the ``message.process()`` context manager (which rejects
without requeue when the block raises) raise nothing, yet the message is
dead-lettered or dropped. ``integrations/_messaging.py`` records it on the current
span, contrib's consumer span while the callback runs
(``opentelemetry-instrumentation-aio-pika``), as handled. When ``process()`` rejects
because the block raised, the span holds two events: the exception, unhandled
(recorded by contrib as it escapes the callback), and ``MQ-009``, the fate of the
message.

Everything else needs no instrumentor: aiormq raises what fails, and the unit maps
its classes to codes; a consumer callback that raises is recorded on contrib's
consumer span (``use_span``).

Where we hook: ``aiormq.channel.Channel.basic_nack`` and ``basic_reject``, which
aio-pika's ``IncomingMessage`` calls (and applications using aiormq directly). The
original is awaited first, unchanged; only when it returns does ``after_rejection``
record (it never raises). Acknowledgements are not wrapped.
"""

from __future__ import annotations

from typing import Any

from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._messaging import after_rejection
from otel_errors.integrations._patching import PatchingInstrumentor


async def _basic_nack(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = await wrapped(*args, **kwargs)
    after_rejection("nack", args, kwargs)
    return result


async def _basic_reject(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = await wrapped(*args, **kwargs)
    after_rejection("reject", args, kwargs)
    return result


_PATCHES = ImportPatches(
    "aio_pika",
    Patch("aiormq.channel", "Channel.basic_nack", _basic_nack),
    Patch("aiormq.channel", "Channel.basic_reject", _basic_reject),
)


class AioPikaErrorsInstrumentor(PatchingInstrumentor):
    """Messages rejected without requeue, recorded on the consumer's span."""

    requirements = ("aio-pika >= 9",)
    """Needs aio-pika 9 or newer (over aiormq 6 or newer)."""
    patches = _PATCHES
