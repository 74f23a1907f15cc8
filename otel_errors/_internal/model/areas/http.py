"""HTTP client rules: the socket failure inside the wrapper, and the status of error responses.

HTTP client libraries wrap the failure that matters. A refused connection through
requests arrives as ``requests.ConnectionError``, whose ``args`` and
``__context__`` hold urllib3's ``MaxRetryError``, whose ``reason`` and
``__cause__`` hold ``NewConnectionError``, whose cause is the
``ConnectionRefusedError``; httpx chains ``httpx.ConnectError`` from
``httpcore.ConnectError`` from the socket error; aiohttp keeps it as ``os_error``.
The code the on-call engineer needs (NET-001, not "network error") is the one of
the innermost socket failure, so the rules registered here for those wrapper
classes walk ``__cause__``, ``__context__``, ``args``, ``reason``, ``os_error``
and ``original_error`` (breadth first, outermost first, bounded) and return the
first code that settles it. The classifier's own cause-following does not do
this: it only follows ``__cause__``, and only when no rule matched the wrapper,
whereas every wrapper here has a catch-all code that must stay the fallback.

Responses: ``requests.HTTPError``, ``httpx.HTTPStatusError``, aiohttp's
``ClientResponseError`` and our ``otel_errors.HTTPErrorResponse`` carry a status,
which picks ``HTTP-<status>`` when catalogued, else the 4xx or 5xx catch-all.
urllib3 reports exhausted status retries only as text ("too many 503 error
responses"), which is read the same way.

Class-only mappings to HTTP codes live in ``http.toml``; the ones here map
library classes to the generic codes of ``generic.toml`` (whose entries this
section cannot extend). Nothing here imports an HTTP library.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections import deque
from typing import TYPE_CHECKING

from otel_errors._internal.helpers.text import safe_str
from otel_errors._internal.model.classification import qualified_name

if TYPE_CHECKING:
    from otel_errors._internal.model.catalog import Catalog
    from otel_errors._internal.model.classification import Classifier

_CLIENT_ERROR, _SERVER_ERROR, _LAST_STATUS = 400, 500, 599
_MAX_VISITED = 32
_INNER_ATTRIBUTES = ("reason", "os_error", "original_error")
_REFUSED = frozenset({errno.ECONNREFUSED})
_RESET = frozenset({errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE})
_RESET_TYPES = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
_RESPONSE_ERROR = "urllib3.exceptions.ResponseError"
_TOO_MANY_STATUS = re.compile(r"too many (\d{3}) error responses")

_CONTINUE = ""
"""In :data:`_SETTLING`: this class settles nothing, look further inside."""

_SETTLING: dict[str, str] = {
    "urllib3.exceptions.NameResolutionError": "NET-003",
    "urllib3.exceptions.NewConnectionError": _CONTINUE,
    "urllib3.exceptions.ConnectTimeoutError": "HTTP-1001",
    "urllib3.exceptions.ReadTimeoutError": "HTTP-1002",
    "urllib3.exceptions.SSLError": "NET-004",
    "urllib3.exceptions.ProxyError": "HTTP-1007",
    "aiohttp.http_exceptions.ContentEncodingError": "HTTP-1006",
}
"""Classes met inside a wrapper that settle its code (checked along each MRO)."""

GENERIC_CODES: dict[str, str] = {
    "requests.exceptions.ConnectionError": "NET-005",
    "requests.exceptions.SSLError": "NET-004",
    "requests.exceptions.Timeout": "GEN-001",
    "urllib3.exceptions.NewConnectionError": "NET-005",
    "urllib3.exceptions.NameResolutionError": "NET-003",
    "urllib3.exceptions.SSLError": "NET-004",
    "urllib3.exceptions.TimeoutError": "GEN-001",
    "httpx.NetworkError": "NET-005",
    "httpx.TimeoutException": "GEN-001",
    "aiohttp.client_exceptions.ClientConnectionError": "NET-005",
    "aiohttp.client_exceptions.ClientConnectionResetError": "NET-002",
    "aiohttp.client_exceptions.ClientConnectorDNSError": "NET-003",
    "aiohttp.client_exceptions.ClientSSLError": "NET-004",
    "aiohttp.client_exceptions.ServerFingerprintMismatch": "NET-004",
    "aiohttp.client_exceptions.ServerTimeoutError": "GEN-001",
}
"""Library classes whose meaning is a generic code (NET-*, GEN-001)."""

WRAPPERS = (
    "requests.exceptions.ConnectionError",
    "requests.exceptions.ChunkedEncodingError",
    "requests.exceptions.RetryError",
    "urllib3.exceptions.MaxRetryError",
    "urllib3.exceptions.NewConnectionError",
    "urllib3.exceptions.ProtocolError",
    _RESPONSE_ERROR,
    "httpx.NetworkError",
    "httpx.RemoteProtocolError",
    "aiohttp.client_exceptions.ClientConnectionError",
    "aiohttp.client_exceptions.ClientPayloadError",
)
"""Classes whose code is that of the failure they wrap, when one is found."""

STATUS_ERRORS = (
    "requests.exceptions.HTTPError",
    "httpx.HTTPStatusError",
    "aiohttp.client_exceptions.ClientResponseError",
    "otel_errors.HTTPErrorResponse",
)
"""Classes that carry the status of an HTTP response."""


def status_code(status: int, catalog: Catalog) -> str | None:
    """``HTTP-<status>`` when catalogued, else the 4xx or 5xx catch-all; None below 400."""
    if not _CLIENT_ERROR <= status <= _LAST_STATUS:
        return None
    code = f"HTTP-{status}"
    if code in catalog:
        return code
    return "HTTP-5000" if status >= _SERVER_ERROR else "HTTP-4000"


def response_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (its response's, or its own), or None."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is None:
        status = getattr(exc, "status", None)
    if status is None:
        status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def inner_code(exc: BaseException, catalog: Catalog) -> str | None:
    """The code of the failure ``exc`` wraps (socket error, urllib3 reason), or None."""
    queue: deque[BaseException] = deque([exc])
    seen: set[int] = set()
    while queue and len(seen) < _MAX_VISITED:
        current = queue.popleft()
        if id(current) in seen:
            continue
        seen.add(id(current))
        code = _settled(current, catalog)
        if code:
            return code
        queue.extend(_inside(current))
    return None


def _settled(exc: BaseException, catalog: Catalog) -> str | None:
    code = _socket_code(exc)
    if code is not None:
        return code
    for cls in type(exc).__mro__:
        name = qualified_name(cls)
        if name == _RESPONSE_ERROR:
            return _response_error_code(exc, catalog)
        if name in _SETTLING:
            return _SETTLING[name] or None
    return None


def _socket_code(exc: BaseException) -> str | None:
    if isinstance(exc, socket.gaierror):
        return "NET-003"
    if isinstance(exc, ssl.SSLError):
        return "NET-004"
    number = getattr(exc, "errno", None)
    if not isinstance(number, int):
        number = None
    if isinstance(exc, ConnectionRefusedError) or number in _REFUSED:
        return "NET-001"
    if isinstance(exc, _RESET_TYPES) or number in _RESET:
        return "NET-002"
    return None


def _response_error_code(exc: BaseException, catalog: Catalog) -> str | None:
    text = safe_str(exc)
    if "too many redirects" in text:
        return "HTTP-1003"
    found = _TOO_MANY_STATUS.search(text)
    return status_code(int(found.group(1)), catalog) if found else None


def _inside(exc: BaseException) -> list[BaseException]:
    candidates = (
        exc.__cause__,
        exc.__context__,
        *exc.args,
        *(getattr(exc, attribute, None) for attribute in _INNER_ATTRIBUTES),
    )
    return [candidate for candidate in candidates if isinstance(candidate, BaseException)]


def register(classifier: Classifier) -> None:
    """Adds the HTTP client rules (by class name: no HTTP library is imported)."""
    catalog = classifier.catalog

    def by_status(exc: BaseException) -> str | None:
        status = response_status(exc)
        return None if status is None else status_code(status, catalog)

    def by_inner_failure(exc: BaseException) -> str | None:
        return inner_code(exc, catalog)

    # Added first so that, for the same class, the rules below are tried before them.
    for name, code in GENERIC_CODES.items():
        classifier.add(name, code)
    for name in WRAPPERS:
        classifier.add(name, by_inner_failure)
    for name in STATUS_ERRORS:
        classifier.add(name, by_status)
