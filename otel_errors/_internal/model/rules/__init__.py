"""Shipped classification rules that need code, one module per area.

Rules that only name exception classes live in the catalogue's ``match`` lists.
Rules here look inside exception objects (errno, SQLSTATE, HTTP status, ...) and
never import the library they classify: they read attributes with ``getattr``.
Each module exposes ``register(classifier)``; :data:`SHIPPED` lists them, and
:data:`ENRICHERS` the event attributes some of them read from exceptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_errors._internal.model.rules import aws, db, generic, grpc, http, redis, resilience, web

if TYPE_CHECKING:
    from collections.abc import Callable

    from otel_errors._internal.model.classification import Classifier
    from otel_errors._internal.model.enrichment import Enricher

SHIPPED: tuple[Callable[[Classifier], None], ...] = (
    generic.register,
    web.register,
    db.register,
    redis.register,
    http.register,
    resilience.register,
    grpc.register,
    aws.register,
)
ENRICHERS: tuple[tuple[tuple[str, ...], Enricher], ...] = (
    (grpc.MODULES, grpc.status_attributes),
    (aws.MODULES, aws.request_attributes),
)
"""Shipped enrichers by exception module prefix (see ``enrichment``)."""
