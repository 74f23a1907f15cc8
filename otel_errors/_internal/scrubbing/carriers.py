r"""Decoded views of a value: what it says once its carrier's encoding is undone.

A secret inside percent-encoded text (``q=password%3Dhunter2%20x``, a whole JSON body
in a query parameter, a URL inside a URL: encoded twice), JSON string escapes
(``\"token\": \"x\"``, ``\n`` inside a PEM block) or an SQL string literal (quotes
doubled: ``'curl -u ''user:x'''``) is written differently from the secret itself.
The engine runs the detectors over each decoded view as well and maps what they
find back to the original characters, so the encoded form is what gets replaced.

A view is made only when the value holds its carrier's escape (``%`` followed by two
hex digits, ``\``, two single quotes), so plain values cost an ``in`` test each.
"""

from __future__ import annotations

import re
from typing import Any

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_JSON_ESCAPE = re.compile(r"\\(?:[\"\\/bfnrt]|u[0-9A-Fa-f]{4})")
_JSON_CHARS = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_SQL_QUOTE = re.compile("''")
_DEPTH = 3
"""Encodings undone one inside the other, at most (a URL in a URL in a URL)."""

View = tuple[str, list[int]]
"""A decoded text and, for each of its positions (and its end), the original position."""


def views(text: str) -> list[View]:
    """The decoded views of ``text`` (none when it holds no escape).

    Carriers nest (JSON in a query parameter, a URL in a URL, escaped JSON in a JSON
    string): a view that still holds an escape is decoded again, up to
    ``_DEPTH`` times.
    """
    found: list[View] = []
    pending: list[View] = [(text, [])]
    for _ in range(_DEPTH):
        decoded_now: list[View] = []
        for outer, outer_positions in pending:
            for escapes, decode in _decoders(outer):
                inner, positions = _decode(outer, escapes, decode)
                if outer_positions:  # positions in the outer view: map them to the original
                    positions = [outer_positions[position] for position in positions]
                decoded_now.append((inner, positions))
        found += decoded_now
        pending = decoded_now
    return found


def _decoders(text: str) -> list[tuple[re.Pattern[str], Any]]:
    """The decodings ``text`` needs: each whose escape it holds."""
    decoders: list[tuple[re.Pattern[str], Any]] = []
    if "%" in text and _PERCENT.search(text):
        decoders.append((_PERCENT, _percent))
    if "\\" in text and _JSON_ESCAPE.search(text):
        decoders.append((_JSON_ESCAPE, _json))
    if "''" in text:
        decoders.append((_SQL_QUOTE, _sql))
    return decoders


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


def _sql(_: str) -> str:
    return "'"


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
