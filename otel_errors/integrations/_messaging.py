"""Messages a consumer rejects without requeueing them, shared by the RabbitMQ instrumentors.

A consumer that ends a message with ``basic_nack``/``basic_reject`` and
``requeue=False`` raises nothing, yet the message is gone: the broker dead-letters it
(to the queue's dead-letter exchange) or drops it. The pika and aio-pika
instrumentors wrap their client's ``basic_nack``/``basic_reject`` and, once the
original returned, hand each call to :func:`after_rejection`; a rejection without
requeue goes to :func:`record_rejection`, which records it
through the one recording path as a :class:`MessageRejected` (``MQ-009``) on the
current span: the contrib consumer span while the callback runs, else the
application's span; without a recording span it is still counted. It is recorded as
handled: the consumer chose the outcome, so the span's status is left alone.

Like ``_http_client.HTTPErrorResponse``, the synthetic exception's traceback is the
call site (the consumer's frames), so that the fingerprint tells consumers apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.semconv._incubating.attributes.messaging_attributes import (
    MESSAGING_OPERATION_NAME,
    MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG,
    MESSAGING_SYSTEM,
    MessagingSystemValues,
)

from otel_errors._internal.helpers.fail_open import report_internal_failure
from otel_errors._internal.recording.runtime import get_recorder
from otel_errors.integrations._http_client import call_site

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.util.types import AttributeValue


class MessageRejected(Exception):
    """A message a consumer rejected without requeueing it (``MQ-009``); never raised.

    Args:
        operation: ``nack`` or ``reject``.
        delivery_tag: The message's delivery tag on its channel, if known.
        multiple: ``basic_nack(multiple=True)``: every unacknowledged message up to it.
    """

    def __init__(self, operation: str, delivery_tag: int | None, multiple: bool = False) -> None:
        """Keeps the fields as attributes and as ``args`` (so the object pickles)."""
        super().__init__(operation, delivery_tag, multiple)
        self.operation = operation
        self.delivery_tag = delivery_tag
        self.multiple = multiple

    def __str__(self) -> str:
        """``basic_nack(delivery_tag=3, requeue=False)``."""
        multiple = ", multiple=True" if self.multiple else ""
        return f"basic_{self.operation}(delivery_tag={self.delivery_tag}{multiple}, requeue=False)"


def record_rejection(operation: str, delivery_tag: object, multiple: bool = False) -> None:
    """Records a rejection without requeue on the current span (the caller guards it).

    Args:
        operation: ``nack`` or ``reject``.
        delivery_tag: The message's delivery tag (anything else is left out).
        multiple: Whether every unacknowledged message up to the tag was rejected.
    """
    if not is_instrumentation_enabled():
        return
    tag = delivery_tag if isinstance(delivery_tag, int) else None
    rejected = MessageRejected(operation, tag, multiple)
    rejected.__traceback__ = call_site()
    attributes: dict[str, AttributeValue] = {
        MESSAGING_SYSTEM: MessagingSystemValues.RABBITMQ.value,
        MESSAGING_OPERATION_NAME: operation,
    }
    if tag is not None:
        attributes[MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG] = tag
    get_recorder().record(trace.get_current_span(), rejected, handled=True, attributes=attributes)


def _nack(
    delivery_tag: object = 0, multiple: object = False, requeue: object = True, *_: Any, **__: Any
) -> tuple[object, bool, bool]:
    return delivery_tag, bool(multiple), bool(requeue)


def _reject(
    delivery_tag: object = 0, requeue: object = True, *_: Any, **__: Any
) -> tuple[object, bool, bool]:
    return delivery_tag, False, bool(requeue)


_SIGNATURES: dict[str, Callable[..., tuple[object, bool, bool]]] = {
    "nack": _nack,
    "reject": _reject,
}
"""``basic_nack(delivery_tag, multiple, requeue)`` and ``basic_reject(delivery_tag, requeue)``
as pika and aiormq spell them (aiormq adds ``wait``, and takes ``requeue`` by keyword)."""


def after_rejection(operation: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Records a ``basic_<operation>`` call that did not requeue; never raises.

    Args:
        operation: ``nack`` or ``reject``.
        args: The call's positional arguments (without the channel).
        kwargs: Its keyword arguments.
    """
    try:
        delivery_tag, multiple, requeue = _SIGNATURES[operation](*args, **kwargs)
        if not requeue:
            record_rejection(operation, delivery_tag, multiple)
    except Exception as failure:
        report_internal_failure(f"messaging.{operation}", failure)
