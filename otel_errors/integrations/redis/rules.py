"""Redis rules: server error replies by their error prefix.

A Redis error reply starts with an upper-case word, the error prefix (``WRONGTYPE
Operation against a key holding the wrong kind of value``). redis-py maps the common
ones to exception classes (matched by name in the catalogue), but leaves others as a
plain ``ResponseError``: ``WRONGTYPE``, ``BUSY``, cluster redirections outside the
cluster client, any reply from an older redis-py, and errors re-raised by pipelines,
whose message it prefixes with ``Command # N (...) of pipeline caused error:``. The
prefix decides the code for those; an unknown prefix passes to the catalogue's
``ResponseError`` entry. The prefix is also what the semantic conventions record as
``db.response.status_code`` for Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otel_errors._internal.model.classification import Classifier

BY_PREFIX = {
    "WRONGTYPE": "CACHE-011",
    "MOVED": "CACHE-007",
    "ASK": "CACHE-007",
    "TRYAGAIN": "CACHE-007",
    "CLUSTERDOWN": "CACHE-008",
    "MASTERDOWN": "CACHE-008",
    "CROSSSLOT": "CACHE-009",
    "OOM": "CACHE-010",
    "READONLY": "CACHE-006",
    "NOSCRIPT": "CACHE-012",
    "LOADING": "CACHE-005",
    "NOAUTH": "CACHE-003",
    "WRONGPASS": "CACHE-003",
    "NOPERM": "CACHE-004",
    "BUSY": "CACHE-017",
    "EXECABORT": "CACHE-016",
}
"""Redis error prefixes with a code of their own."""

_PIPELINE_MARK = " of pipeline caused error: "


def error_prefix(exc: BaseException) -> str | None:
    """The Redis error prefix of a server error reply (``WRONGTYPE``), if it has one.

    redis-py strips the prefixes it maps to classes from the message and
    keeps them in ``status_code`` (recent versions); other replies keep theirs as the
    first word of the message.
    """
    status = getattr(exc, "status_code", None)
    if isinstance(status, str) and status.isupper():
        return status
    try:
        message = str(exc)
    except Exception:
        return None
    _, mark, rest = message.partition(_PIPELINE_MARK)
    words = (rest if mark else message).split(maxsplit=1)
    if words and words[0].isupper() and words[0].isalpha():
        return words[0]
    return None


def response_code(exc: BaseException) -> str | None:
    """The code of a ``ResponseError`` by its error prefix, or None to fall through."""
    prefix = error_prefix(exc)
    return None if prefix is None else BY_PREFIX.get(prefix)


def register(classifier: Classifier) -> None:
    """Adds the rule for redis-py's ``ResponseError`` (by name, no import)."""
    classifier.add("redis.exceptions.ResponseError", response_code)
