"""pika rules: channels and connections the broker closed, by their AMQP reply code.

When RabbitMQ closes a channel (``ChannelClosedByBroker``) or a connection
(``ConnectionClosedByBroker``) the exception carries the AMQP reply code
(``reply_code``, also ``args[0]``) and text. The class alone says only "closed"; the
code says why: a missing queue (404), a declaration that does not match (406), a
user without permission (403), an operator or a restart (320). Reply codes without
a code of their own fall through: a channel to ``MQ-013`` (its base class in the
catalogue), a connection to ``MQ-002`` (connection lost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_errors._internal.model.classification import Classifier

CHANNEL_REPLY_CODES = {403: "MQ-004", 404: "MQ-005", 406: "MQ-006"}
"""Channel close reply codes with a code of their own."""
CONNECTION_REPLY_CODES = {403: "MQ-003", 530: "MQ-004"}
"""Connection close reply codes with a code of their own (else: connection lost)."""
CONNECTION_LOST = "MQ-002"


def reply_code(exc: BaseException) -> int | None:
    """The AMQP reply code of a close by the broker, if the exception carries one."""
    code = getattr(exc, "reply_code", None)
    if code is None and exc.args:
        code = exc.args[0]
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def channel_closed(exc: BaseException) -> str | None:
    """The code of a channel the broker closed, or None to fall through to the catalogue."""
    code = reply_code(exc)
    return None if code is None else CHANNEL_REPLY_CODES.get(code)


def connection_closed(exc: BaseException) -> str:
    """The code of a connection the broker closed: lost, unless the reply code says more."""
    code = reply_code(exc)
    return CONNECTION_LOST if code is None else CONNECTION_REPLY_CODES.get(code, CONNECTION_LOST)


def register(classifier: Classifier) -> None:
    """Adds the rules for pika's closes by the broker (by name, no import)."""
    classifier.add("pika.exceptions.ChannelClosedByBroker", channel_closed)
    classifier.add("pika.exceptions.ConnectionClosedByBroker", connection_closed)
