"""pika: a message its consumer rejects without requeueing it, recorded as ``MQ-009``.

What needs no instrumentor here: pika raises what fails (a connection refused or
lost, a channel the broker closed, an unroutable or nacked publish under
``confirm_delivery``), and the unit's catalogue and rules classify it wherever it is
recorded. A consumer callback that raises is recorded by contrib's
``opentelemetry-instrumentation-pika``: its consumer span (``<exchange> receive``)
wraps the callback with ``use_span``, whose ``record_exception`` goes through our
recorder, so the exception gets its code there, unhandled, once; it then escapes
``start_consuming`` to the application (pika does not catch it), and an outer span in
the same trace does not record it again.

What this module adds: a consumer that ends a message with ``basic_nack`` or
``basic_reject`` and ``requeue=False`` raises nothing, yet the message is gone: the
broker dead-letters it (to the queue's dead-letter exchange) or drops it. The
consumer span would end OK and no counter would move, while the work the message
carried was not done; that is the failure an on-call engineer wants to see, as they
see Celery's ``Reject``. It is recorded by ``integrations/_messaging.py`` (shared with
aio-pika) as a ``MessageRejected`` on the current span (contrib's consumer span while
the callback runs; the application's span otherwise; counted even without a
recording span), as handled (``error.handled=true``: the consumer chose the outcome;
the span's status is left alone), with ``messaging.system``,
``messaging.operation.name`` (``nack``/``reject``) and
``messaging.rabbitmq.message.delivery_tag``. A requeue is not recorded: the message
will be delivered again. pika's own rejects (requeued, when a consumer is cancelled)
are not either.

Where we hook: ``pika.channel.Channel.basic_nack`` and ``basic_reject``, which every
adapter calls (``BlockingChannel`` through its ``_impl``). The original runs first,
unchanged; only when it returns does the wrapper record (``after_rejection``, which
never raises: its failures go to ``report_internal_failure``). The success path
(``basic_ack``) is not wrapped.
"""

from __future__ import annotations

from typing import Any

from otel_errors._internal.recording.patching import ImportPatches, Patch
from otel_errors.integrations._messaging import after_rejection
from otel_errors.integrations._patching import PatchingInstrumentor


def _basic_nack(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    after_rejection("nack", args, kwargs)
    return result


def _basic_reject(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    after_rejection("reject", args, kwargs)
    return result


_PATCHES = ImportPatches(
    "pika",
    Patch("pika.channel", "Channel.basic_nack", _basic_nack),
    Patch("pika.channel", "Channel.basic_reject", _basic_reject),
)


class PikaErrorsInstrumentor(PatchingInstrumentor):
    """Messages rejected without requeue, recorded on the consumer's span."""

    requirements = ("pika >= 1.0",)
    """Needs pika 1.0 or newer (``basic_nack``/``basic_reject`` keyword names)."""
    patches = _PATCHES
