r"""Decoded views of a value: what it says once its carrier's encoding is undone.

A secret inside percent-encoded text (``q=password%3Dhunter2%20x``, a whole JSON body
in a query parameter) or JSON string escapes (``\"token\": \"x\"``, ``\n`` inside a
PEM block) is written differently from the secret itself. The engine runs the
detectors over each decoded view as well and maps what they find back to the
original characters, so the encoded form is what gets replaced.

A view is made only when the value holds its carrier's escape character (``%``
followed by two hex digits, or ``\``), so plain values cost one ``in`` test each.
"""

from __future__ import annotations

import re

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_JSON_ESCAPE = re.compile(r"\\(?:[\"\\/bfnrt]|u[0-9A-Fa-f]{4})")
_JSON_CHARS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

View = tuple[str, list[int]]
"""A decoded text and, for each of its positions (and its end), the original position."""


def views(text: str) -> list[View]:
    """The decoded views of ``text`` (none when it holds no escape)."""
    found: list[View] = []
    if "%" in text and _PERCENT.search(text):
        found.append(_decode(text, _PERCENT, _percent))
    if "\\" in text and _JSON_ESCAPE.search(text):
        found.append(_decode(text, _JSON_ESCAPE, _json))
    return found


def original_span(view: View, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that the view's ``start:end`` was decoded from."""
    positions = view[1]
    return positions[start], positions[end]


def _percent(escape: str) -> str:
    code = int(escape[1:], 16)
    return chr(code) if code < 0x80 else "\ufffd"  # noqa: PLR2004 - bytes of UTF-8 sequences


def _json(escape: str) -> str:
    if escape[1] == "u":
        return chr(int(escape[2:], 16))  # noqa: FURB166 - "\\u" is not a base prefix
    return _JSON_CHARS.get(escape[1], escape[1])


def _decode(text: str, escapes: re.Pattern[str], decode: object) -> View:
    """``text`` with each match of ``escapes`` replaced by ``decode(match)``, and positions.

    In a percent-encoded view ``+`` is a space too (form encoding).
    """
    pieces: list[str] = []
    positions: list[int] = []
    last = 0
    plus_is_space = escapes is _PERCENT
    for match in escapes.finditer(text):
        start = match.start()
        _plain(text, last, start, pieces, positions, plus_is_space=plus_is_space)
        pieces.append(decode(match.group()))  # type: ignore[operator]
        positions.append(start)
        last = match.end()
    _plain(text, last, len(text), pieces, positions, plus_is_space=plus_is_space)
    positions.append(len(text))
    return "".join(pieces), positions


def _plain(
    text: str,
    start: int,
    end: int,
    pieces: list[str],
    positions: list[int],
    *,
    plus_is_space: bool,
) -> None:
    chunk = text[start:end]
    pieces.append(chunk.replace("+", " ") if plus_is_space else chunk)
    positions.extend(range(start, end))
