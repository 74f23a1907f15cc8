r"""A value's template: its text with every ASCII digit written as ``0``.

Telemetry repeats templates whose numbers change: ``declined: card 4000... expired``,
``SELECT ... WHERE id = 42``, a URL with an order number in its path. Where a search
treats all ten digits alike (a character class such as ``[0-9]`` or ``\w``, never
one digit on its own), its result is the same for every text of one template, so it
is remembered by the template instead of the text: the anchors of a value (see
``anchors``) and a value holding no key that names a secret (see ``key_values``).

The template is bytes: UTF-8 (surrogates passed through) keeps every other character
distinct, and ASCII digits are the only bytes changed. A value that does not repeat
its template costs one encoding and one translation (C, a fraction of a microsecond)
and finds nothing remembered.
"""

from __future__ import annotations

TEMPLATE_MAX_LENGTH = 1024
"""Longer texts are not remembered by template: a memo of thousands stays a few MB."""
_ZEROS = bytes.maketrans(b"123456789", b"000000000")


_last: tuple[str, bytes | None] = ("", b"")
"""The last text asked about and its template: the anchors and the key search ask in turn."""


def template_of(text: str) -> bytes | None:
    """``text`` with its ASCII digits as ``0``, as bytes; None for a text too long to keep."""
    global _last  # noqa: PLW0603  (one tuple, swapped whole: safe between threads)
    last = _last
    if last[0] is text:
        return last[1]
    template = (
        None
        if len(text) > TEMPLATE_MAX_LENGTH
        else text.encode("utf-8", "surrogatepass").translate(_ZEROS)
    )
    _last = (text, template)
    return template
