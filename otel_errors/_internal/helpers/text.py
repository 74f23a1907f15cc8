"""Turning arbitrary objects into exportable text: never raising, bounded, valid UTF-8.

Exception messages are user data: ``__str__`` may raise, return a megabyte, or hold
lone surrogates from ``surrogateescape``-decoded bytes that would make the OTLP
protobuf encoder fail for the whole batch.
"""

from __future__ import annotations

_MARK = "…[truncated {} chars]…"


def safe_str(obj: object) -> str:
    """``str(obj)``, or a placeholder naming its type when ``__str__`` fails."""
    try:
        return str(obj)
    except Exception:
        return f"<unprintable {_type_name(obj)} object>"


def _type_name(obj: object) -> str:
    try:
        return type(obj).__qualname__
    except Exception:
        return "?"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    mark = _MARK.format(len(text) - limit)
    return text[: max(limit - len(mark), 0)] + mark


def truncate_middle(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters: a quarter from the head, the rest from the tail.

    The tail of a stack trace holds the innermost frames and the message, the part a
    reader needs first; the head shows where the call came from.
    """
    if len(text) <= limit:
        return text
    mark = "\n" + _MARK.format(len(text) - limit) + "\n"
    room = max(limit - len(mark), 0)
    head = room // 4
    return text[:head] + mark + text[len(text) - (room - head) :]


def sanitize(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates become backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
