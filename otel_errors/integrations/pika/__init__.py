"""pika (RabbitMQ, AMQP 0-9-1): its errors (``MQ-*``) and the messages its consumers reject."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit
from otel_errors.integrations.pika import rules

UNIT = Unit(catalog="errors.toml", rules=rules.register)
