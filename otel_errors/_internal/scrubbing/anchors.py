"""One pass that finds where each detector is worth running in a value.

Python's ``re`` costs a few nanoseconds per character to skip, and about a hundred
per position where a pattern's first character occurs and the pattern has to be
tried; a Python call costs a microsecond. So a value is read three ways, each
in C, and a detector runs only at its anchors:

- shapes in the value's shape (:func:`shape_of`, one ``bytes.translate``), with
  one regular expression per first byte (``bytes.find`` reads a text of four
  classes byte by byte: a ``find`` per shape cost twice these searches): a card
  starts a word with four digits, an IBAN with two letters and two digits; the
  shapes holding four digits are only looked for when four digits follow each
  other somewhere;
- literals (``@``, ``://``, ``eyJ``, ``AKIA``, ``ghp_``, ``-----BEGIN``, ``Bearer``)
  with one regular expression, each literal entered at its rarest character:
  ``eyJ`` is looked for from its ``J`` (then checked behind), so the search stops
  at the few positions holding a ``J`` instead of at every ``e``. The literals of
  provider tokens are only looked for in a value holding a run of 16 word
  characters, as each of those tokens does.

What a value's anchors are is remembered by its template (see ``templates``): every
shape and literal treats the ten digits alike, except ``%40``, so a value holding a
``%`` is read each time.
"""

from __future__ import annotations

import re
import string
from bisect import insort
from typing import TYPE_CHECKING

from otel_errors._internal.scrubbing.templates import template_of

if TYPE_CHECKING:
    from otel_errors._internal.scrubbing.detectors import Detector

_SHAPES_REMEMBERED = 1024
_NO_ANCHORS: list[int] = []
_DIGITS = b"9999"
"""Four digits in a row: the gate of the shapes that hold them."""
_RARITY = "%@>JQZXKVWYGFHBDPMLUCNRSIOTEAzqjxkv-byw_gpfmculdhrsnioate"
"""Characters from the rarest in telemetry text to the most common; others come last."""


def _shape_table() -> bytes:
    table = bytearray(b" " * 256)
    for chars, shape in (
        (string.digits, "9"),
        (string.ascii_uppercase, "A"),
        (string.ascii_lowercase + "_", "a"),
    ):
        for char in chars:
            table[ord(char)] = ord(shape)
    return bytes(table)


_SHAPES = _shape_table()
_RUNS = bytes(
    ord("w") if chr(i).isascii() and (chr(i).isalnum() or chr(i) in "_-") else 32
    for i in range(256)
)
"""Letters, digits, ``_`` and ``-`` (which tokens hold) become ``w``, the rest a space."""
_CLASSES = bytes(
    ord("t")
    if chr(i) in string.ascii_uppercase + "ghijklmnopqrstuvwxyz_"
    else ord("h")
    if chr(i) in "abcdef"
    else 32
    for i in range(256)
)
"""A token's characters (upper case, a letter past ``f``, ``_``) become ``t``, an id's
letters (``a`` to ``f``) ``h``: a run holding a ``t`` is a token, else one holding an
``h`` an id."""
_RUN_LENGTH = 16
_RUN = b"w" * _RUN_LENGTH
"""The shortest run of word characters a token family needs (``whsec_`` and ten more)."""


def shape_of(text: str) -> bytes:
    """``text`` as shapes: a space, then ``9``, ``A`` or ``a`` per digit, capital, other.

    Lower-case letters and ``_`` are ``a``; every other character becomes a space. The
    leading space makes position 0 a word start and puts ``text[i]`` at ``i + 1``: so
    ``shape.find(b" 9999")`` is the index in ``text`` of a word starting with four
    digits. Non-ASCII characters count as spaces (one each: positions still match).
    """
    return b" " + text.encode("ascii", "replace").translate(_SHAPES)


class Anchors:
    """Where the triggers of ``detectors`` occur in a value.

    Args:
        detectors: The detectors in use; see ``Detector.triggers``.
    """

    def __init__(self, detectors: list[Detector]) -> None:
        """Compiles the searches."""
        shapes = {t for d in detectors for t in d.triggers if isinstance(t, bytes)}
        if any(b"  " in shape or shape.endswith(b" ") for shape in shapes):
            # ``_shapes_in_tokens`` relies on it: a blanked token run is no part of a match.
            raise ValueError("a shape holds two spaces in a row or ends with one")
        self._shapes = _shape_searches(detectors, [t for t in shapes if _DIGITS not in t])
        self._digit_shapes = _shape_searches(detectors, list(shapes))  # after four digits
        self._longest_shape = max(map(len, shapes), default=0)
        self._common = b"99" if all(b"99" in shape for shape in shapes) else b""
        self._literals = _literal_search([d for d in detectors if not d.token])
        self._tokens = _literal_search([d for d in detectors if d.token])
        self._scanners = tuple(d for d in detectors if not d.triggers)
        self._by_shape: dict[bytes, list[tuple[Detector, list[int]]]] = {}
        self._by_template: dict[bytes, dict[Detector, list[int]]] = {}

    def secrets(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, rule)`` of each secret the detectors find at their anchors."""
        found: list[tuple[int, int, str]] = []
        template = template_of(text)
        remembered = None if template is None else self._by_template.get(template)
        if remembered is not None:
            starts = remembered
        else:
            starts, tokens = self._starts(text, template)
            # Not remembered: a value with ``%40`` (a literal with digits) and one holding a
            # token, whose letters change per request (its template would not come back,
            # and would push out templates that do).
            if template is not None and not tokens and b"%" not in template:
                if len(self._by_template) >= _SHAPES_REMEMBERED:
                    self._by_template.clear()
                self._by_template[template] = starts
        for detector, positions in starts.items():
            for start, end in detector.find(text, positions):
                found.append((start, end, detector.name))
        for detector in self._scanners:  # they find their own anchors, where their gate is
            if detector.gate in text:
                for start, end in detector.find(text, _NO_ANCHORS):
                    found.append((start, end, detector.name))
        return found

    def _starts(self, text: str, template: bytes | None) -> tuple[dict[Detector, list[int]], bool]:
        """The detectors worth running on ``text``, each with its anchors; if it holds a token.

        What the shapes anchor is remembered by shape: a log line or message built
        from one template has one shape whatever its numbers and words. Identifiers
        (UUIDs, trace ids, digests: runs of lower-case hexadecimal) hold neither tokens
        nor numbers of a family; they are left out of the shape, which then stays the
        same from one request's id to the next. (One function on purpose: it runs for
        every value scanned, and a call costs what a few steps do.) An ASCII text's
        ``template`` is its encoding with digits as ``0``, which every translation below
        treats as any digit: it stands for the encoding.
        """
        encoded = (  # one byte per character: positions match
            template if template is not None and text.isascii() else text.encode("ascii", "replace")
        )
        shape = b" " + encoded.translate(_SHAPES)  # see ``shape_of``
        remembered_as = shape
        windows = [(0, len(text), self._literals)]
        tokens: list[tuple[int, int]] = []
        ids: list[tuple[int, int]] = []
        if len(text) >= _RUN_LENGTH:
            runs = encoded.translate(_RUNS)
            index = runs.find(_RUN)
            if index != -1:
                tokens, ids, remembered_as = _runs(encoded, runs, index, shape)
                windows += [
                    (max(0, start - _RUN_LENGTH), end, self._tokens) for start, end in tokens
                ]
        memo = self._by_shape.get(remembered_as)
        if memo is None:
            memo = self._shape_anchors(remembered_as)
        starts: dict[Detector, list[int]] = dict(memo)  # lists shared: never changed in place
        if tokens:
            self._shapes_in_tokens(shape, tokens, ids, starts)
        for start, end, (literals, branches) in windows:
            # ``search`` from each match's end finds what ``finditer`` would (no literal
            # is empty), without its iterator: most values hold no literal at all.
            match = literals.search(text, start, end)
            while match is not None:
                detectors, back = branches[match.lastindex]  # type: ignore[index]
                for detector in detectors:
                    starts[detector] = [*starts.get(detector, ()), match.start() - back]
                match = literals.search(text, match.end(), end)
        return starts, bool(tokens)

    def _shapes_in_tokens(
        self,
        shape: bytes,
        tokens: list[tuple[int, int]],
        ids: list[tuple[int, int]],
        starts: dict[Detector, list[int]],
    ) -> None:
        """Adds to ``starts`` the shapes that overlap a token run (left out of the memo).

        A token's letters change from one request to the next, so the memo's shape has
        its token runs blanked (see ``_runs``); a shape match overlapping a run (an
        IBAN or a fiscal code written without spaces is such a run) is looked for here,
        near each run, in ``shape`` (ids not blanked: a match overlapping one is left
        out, as the memo's shape leaves it out). A blanked run, with the spaces on both
        sides of it, cannot be part of a match: no shape holds two spaces in a row, nor
        ends with one. Every shape holds ``common`` (two digits): a window without it
        is not searched.
        """
        reach = self._longest_shape - 1
        for start, end in tokens:
            first, last = start + 1, end + 1  # the run in the shape, one longer than the text
            low, high = max(0, first - reach), last + reach
            if shape.find(self._common, low, high) == -1:
                continue
            searches = self._digit_shapes if shape.find(_DIGITS, low, high) != -1 else self._shapes
            for search, branches in searches:
                match = search.search(shape, low, high)
                while match is not None:
                    if match.end() > first and not _overlaps(match, ids):  # it overlaps the run
                        detectors, shift = branches[match.lastindex]  # type: ignore[index]
                        for detector in detectors:
                            known = starts.get(detector, [])
                            if match.start() - shift not in known:  # two runs, one match
                                # In text order, as the finders read them (a card's skip).
                                starts[detector] = merged = known.copy()
                                insort(merged, match.start() - shift)
                    match = search.search(shape, match.start() + 1, high)

    def _shape_anchors(self, shape: bytes) -> list[tuple[Detector, list[int]]]:
        by_detector: dict[Detector, list[int]] = {}
        for search, branches in self._digit_shapes if _DIGITS in shape else self._shapes:
            match = search.search(shape)
            while match is not None:  # from the next byte on: shapes may overlap
                detectors, shift = branches[match.lastindex]  # type: ignore[index]
                for detector in detectors:
                    by_detector.setdefault(detector, []).append(match.start() - shift)
                match = search.search(shape, match.start() + 1)
        memo = list(by_detector.items())
        if len(self._by_shape) >= _SHAPES_REMEMBERED:
            self._by_shape.clear()
        self._by_shape[shape] = memo
        return memo


def _overlaps(match: re.Match[bytes], ids: list[tuple[int, int]]) -> bool:
    """Whether ``match`` (in a shape, one longer than the text) overlaps one of ``ids``."""
    return any(match.start() <= end and match.end() > start + 1 for start, end in ids)


def _runs(
    encoded: bytes, runs: bytes, index: int, shape: bytes
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], bytes]:
    """Token runs and id runs in a value, and its ``shape`` to remember, both left out.

    ``encoded`` is the value in ASCII, ``runs`` its translation by ``_RUNS`` and
    ``index`` where its first run of 16 letters, digits, ``_`` or ``-`` starts. A
    provider token is such a run or starts one (``AKIA...``, ``ghp_...``, the header
    of a JWT), or ends its literal just before one (``bedrock-api-key-...``). A run of
    lower-case hexadecimal and dashes with a letter in it is an id (UUID, trace id,
    digest), no token: each token family has a letter past ``f`` or an upper-case one
    in its prefix. A run of digits alone may be a card number: neither. Ids and tokens
    become spaces in the shape remembered: both change per request, and the shapes
    overlapping a token are looked for apart (``Anchors._shapes_in_tokens``).
    """
    tokens: list[tuple[int, int]] = []
    ids: list[tuple[int, int]] = []
    pieces: list[bytes] = []  # the shape remembered, blanks for runs (the shape is one longer)
    done = 0
    classes = encoded.translate(_CLASSES)
    while index != -1:
        end = runs.find(b" ", index)
        end = len(runs) if end == -1 else end
        if classes.find(b"t", index, end) != -1:
            tokens.append((index, end))
        elif classes.find(b"h", index, end) != -1:
            ids.append((index, end))
        else:
            index = runs.find(_RUN, end)
            continue
        pieces.append(shape[done : index + 1])
        pieces.append(b" " * (end - index))
        done = end + 1
        index = runs.find(_RUN, end)
    if not pieces:
        return tokens, ids, shape
    pieces.append(shape[done:])
    return tokens, ids, b"".join(pieces)  # a join: a bytearray and slices cost twice


def _shape_searches(
    detectors: list[Detector], shapes: list[bytes]
) -> list[tuple[re.Pattern[bytes], list[tuple[tuple[Detector, ...], int]]]]:
    """One regular expression per first byte of ``shapes``, and per branch its detectors.

    ``find`` reads a shape byte by byte whatever it looks for (four classes defeat
    its skips), so one search per first byte replaces a ``find`` per shape: ``re``
    skips to that byte, or to the literal prefix the shapes share (``999999``). A
    branch gives its detectors, with those of the shapes it starts with (the longest
    is tried first), and ``shift``: 1 for a shape that does not start with a space
    (the shape is one longer than the text at its start).
    """
    by_first: dict[bytes, list[bytes]] = {}
    for shape in sorted(shapes, key=lambda shape: (-len(shape), shape)):
        by_first.setdefault(shape[:1], []).append(shape)
    searches = []
    for first, group in sorted(by_first.items()):
        branches: list[tuple[tuple[Detector, ...], int]] = [((), 0)]  # group 0: the whole match
        for shape in group:
            found = tuple(
                d
                for d in detectors
                if any(shape.startswith(t) for t in d.triggers if isinstance(t, bytes))
            )
            branches.append((found, int(first != b" ")))
        alternatives = b"|".join(re.escape(shape[1:]) + b"()" for shape in group)
        searches.append((re.compile(re.escape(first) + b"(?:" + alternatives + b")"), branches))
    return searches


def _literal_search(
    detectors: list[Detector],
) -> tuple[re.Pattern[str], list[tuple[tuple[Detector, ...], int]]]:
    """One regular expression for every literal trigger, and per branch its detectors.

    ``re`` skips ahead quickly to the characters that can start an alternative and
    tries the alternatives there; so each literal is entered at its rarest
    character (``J(?<=eyJ)``) and the alternatives are grouped by that character.
    An empty group in each alternative names it (``match.lastindex``); its entry
    gives the detectors and how far before the matched character the literal starts.
    A case-insensitive literal is searched as written in lower, title and upper case.
    """
    by_literal: dict[str, list[Detector]] = {}
    for detector in detectors:
        for trigger in detector.triggers:
            if isinstance(trigger, bytes):
                continue
            spellings = (
                {trigger, trigger.capitalize(), trigger.upper()} if detector.any_case else {trigger}
            )
            for spelling in spellings:
                by_literal.setdefault(spelling, []).append(detector)
    by_anchor: dict[str, list[tuple[str, tuple[Detector, ...], int]]] = {}
    for literal in sorted(by_literal, key=lambda lit: (-len(lit), lit)):  # the longest wins
        back = min(range(len(literal)), key=lambda i: (_rarity(literal[i]), i))
        behind = f"(?<={re.escape(literal)})" if back else ""
        by_anchor.setdefault(literal[back], []).append(
            (f"{re.escape(literal[back + 1 :])}(){behind}", tuple(by_literal[literal]), back)
        )
    branches: list[tuple[tuple[Detector, ...], int]] = [((), 0)]  # group 0: the whole match
    groups = []
    for anchor, alternatives in sorted(by_anchor.items()):
        groups.append(f"{re.escape(anchor)}(?:{'|'.join(a for a, _, _ in alternatives)})")
        branches += [(found, back) for _, found, back in alternatives]  # groups in order
    return re.compile("|".join(groups) or "(?!)"), branches


def _rarity(char: str) -> int:
    index = _RARITY.find(char)
    return len(_RARITY) if index == -1 else index
