"""grpcio: calls by their status (``RPC-*``), the status on the event, the server's log."""

from __future__ import annotations

from otel_errors._internal.model.unit import Unit
from otel_errors.integrations.grpc import rules

UNIT = Unit(
    catalog="errors.toml",
    rules=rules.register,
    enrichers=((rules.MODULES, rules.status_attributes),),
    upstream_readers=((("grpc.",), rules.upstream_attributes),),
    server_loggers=("grpc._server",),  # "Exception calling application"
)
