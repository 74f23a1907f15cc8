"""Errors across services: what a peer said about a failure (pure: no OpenTelemetry call).

The wire contract (README § Errors across services) is four response headers (HTTP)
or trailing metadata keys (gRPC, the same names in lower case):

- ``Otel-Errors-Code``: the error code of the failure, as the answering service
  classified it;
- ``Otel-Errors-Service``: the service that answered (its ``service.name``);
- ``Otel-Errors-Origin``: the service where the failure began (the answering service
  itself, or the origin it received from its own upstream);
- ``Otel-Errors-Origin-Code``: the code the failure had where it began.

They are read from untrusted peers: each value is read only up to a small bound and
kept only when it is well formed (a catalogue code, a service name of safe
characters). A peer without otel_errors sends none of them, and nothing changes.

What was read travels with the failure as an :class:`Upstream` set on the exception
that stands for it (the synthetic ``HTTPErrorResponse``, the ``HTTPError`` of
``raise_for_status()``); the recorder finds it on any exception whose chain
(``raise OrderFailed() from exc``, or one raised while handling it) leads there, so
every event recorded for that failure carries it, and this service's own answer names
the same origin (A → B → C: everyone says origin C). It sits in the model layer so that
library declarations (gRPC's trailing metadata, read by an enricher) can use it;
``recording.upstream`` adds what needs the running SDK (this service's name, answers).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from otel_errors._internal import names

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.util.types import AttributeValue

HEADER_CODE: Final = "Otel-Errors-Code"
HEADER_SERVICE: Final = "Otel-Errors-Service"
HEADER_ORIGIN: Final = "Otel-Errors-Origin"
HEADER_ORIGIN_CODE: Final = "Otel-Errors-Origin-Code"
HEADERS: Final = (HEADER_CODE, HEADER_SERVICE, HEADER_ORIGIN, HEADER_ORIGIN_CODE)

MAX_VALUE_LENGTH: Final = 64
"""Longest header value read; a longer one is dropped, not cut (a cut name is a wrong name)."""

_CODE: Final = re.compile(r"[A-Z][A-Z0-9]{0,11}-[0-9]{3,4}|UNKNOWN")
"""The catalogue's code shape (``catalog.CODE_PATTERN``) and the unclassified code."""

_SERVICE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,63}")
"""A ``service.name`` of safe characters: no spaces, commas, quotes or control characters."""

_MARK: Final = "_otel_errors_upstream"
_MAX_CHAIN: Final = 16


@dataclass(frozen=True)
class Upstream:
    """What an upstream service said about a failure it answered.

    Args:
        code: Its error code (``PAY-001``).
        service: The service that answered, if it said so.
        origin_service: The service where the failure began, if known.
        origin_code: The code the failure had where it began, if known.
    """

    code: str
    service: str | None = None
    origin_service: str | None = None
    origin_code: str | None = None

    def attributes(self) -> dict[str, AttributeValue]:
        """The ``error.upstream.*`` and ``error.origin.*`` attributes of a client span or event."""
        result: dict[str, AttributeValue] = {names.ERROR_UPSTREAM_CODE: self.code}
        if self.service:
            result[names.ERROR_UPSTREAM_SERVICE] = self.service
        origin_service, origin_code = self.origin()
        if origin_service:
            result[names.ERROR_ORIGIN_SERVICE] = origin_service
        result[names.ERROR_ORIGIN_CODE] = origin_code
        return result

    def origin(self) -> tuple[str | None, str]:
        """Where the failure began and its code there: the peer's origin, else the peer."""
        return self.origin_service or self.service, self.origin_code or self.code


def read(header: Callable[[str], str | bytes | None]) -> Upstream | None:
    """The upstream failure a response announces, or None (absent or malformed code).

    Args:
        header: Looks a header (or metadata key) up by name; it returns None when absent.
            Names are given as in :data:`HEADERS`; lookups must ignore case.
    """
    code = _valid(header(HEADER_CODE), _CODE)
    if code is None:
        return None
    return Upstream(
        code,
        _valid(header(HEADER_SERVICE), _SERVICE),
        _valid(header(HEADER_ORIGIN), _SERVICE),
        _valid(header(HEADER_ORIGIN_CODE), _CODE),
    )


def _valid(value: object, pattern: re.Pattern[str]) -> str | None:
    """``value`` when it is a short, well-formed string (or ASCII bytes); else None."""
    if isinstance(value, bytes):
        if len(value) > MAX_VALUE_LENGTH:
            return None
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str) or len(value) > MAX_VALUE_LENGTH:
        return None
    value = value.strip()
    return value if pattern.fullmatch(value) else None


def attach(exc: BaseException, upstream: Upstream) -> None:
    """Lets ``exc`` carry what the upstream service said (objects refusing it carry nothing)."""
    with contextlib.suppress(Exception):
        setattr(exc, _MARK, upstream)


def carried_by(exc: BaseException) -> Upstream | None:
    """The upstream failure behind ``exc``: its own, or the nearest one down its chain.

    The chain is what Python shows in a traceback: ``__cause__``, else ``__context__``
    unless suppressed (``raise ... from None`` cuts it), at most 16 links, no cycles.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and len(seen) < _MAX_CHAIN and id(current) not in seen:
        seen.add(id(current))
        found = getattr(current, _MARK, None)
        if isinstance(found, Upstream):
            return found
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause
    return None


def valid_code(value: object) -> str | None:
    """``value`` if it is a well-formed code of at most :data:`MAX_VALUE_LENGTH` characters."""
    return _valid(value, _CODE)


def valid_service(value: object) -> str | None:
    """``value`` if it is a well-formed service name of at most :data:`MAX_VALUE_LENGTH`."""
    return _valid(value, _SERVICE)
