"""aio-pika (RabbitMQ over aiormq): its errors get pika's ``MQ-*`` codes; consumer rejections.

aiormq raises a class per AMQP reply code (``ChannelNotFoundEntity`` for 404,
``ChannelPreconditionFailed`` for 406, ...), so classes are enough: no catalogue and
no rules of its own, only its classes mapped to the codes of the pika unit's
section (same broker, same failures, same on-call action). aiormq's
``AMQPConnectionError`` is also a builtin ``ConnectionError``: mapping it here keeps it
from taking the generic ``NET-005``.
"""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit

UNIT = Unit(
    exceptions={
        "aiormq.exceptions.AMQPConnectionError": "MQ-001",
        "aiormq.exceptions.IncompatibleProtocolError": "MQ-001",
        "aiormq.exceptions.ConnectionClosed": "MQ-002",
        "aiormq.exceptions.ConnectionInternalError": "MQ-002",
        "aiormq.exceptions.AuthenticationError": "MQ-003",
        "aiormq.exceptions.ProbableAuthenticationError": "MQ-003",
        "aiormq.exceptions.ConnectionNotAllowed": "MQ-004",
        "aiormq.exceptions.ChannelAccessRefused": "MQ-004",
        "aiormq.exceptions.ChannelNotFoundEntity": "MQ-005",
        "aiormq.exceptions.ChannelPreconditionFailed": "MQ-006",
        "aiormq.exceptions.PublishError": "MQ-007",
        "aiormq.exceptions.DeliveryError": "MQ-008",
        "aiormq.exceptions.ChannelInvalidStateError": "MQ-012",
        "aio_pika.exceptions.MessageProcessError": "MQ-012",
        "aiormq.exceptions.AMQPChannelError": "MQ-013",
        "aiormq.exceptions.AMQPError": "MQ-099",
    }
)
