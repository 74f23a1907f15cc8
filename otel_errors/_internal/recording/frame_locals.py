"""The failing frames' variables on an exception event (``error.locals``), opt-in.

Off by default (``OTEL_ERRORS_CAPTURE_LOCALS``): variables hold what no redaction rule
can know is personal (a customer's name, an address, a basket), while the rest of an
event only carries what code wrote on purpose. Whoever turns it on accepts that.

Shape: one attribute, a JSON string (ASCII), innermost frame first:
``[{"function": "app.orders:pay", "line": 42, "locals": {"amount": "12", ...}}]``
with ``"omitted": n`` where variables were left out. At most ``MAX_FRAMES``
application frames (the ones the fingerprint hashes), ``MAX_VARIABLES`` each, every
value at most ``MAX_VALUE_CHARS``; the whole attribute at most ``MAX_BYTES`` bytes.

Safe ``repr``: only values of exact built-in types (numbers, text, bytes, the
built-in containers, dates, ``Decimal``, ``UUID``) are rendered, through a bounded
:class:`reprlib.Repr` that never sorts and never walks past its limits; any other
object is ``<module.Class object>``, so no application ``__repr__``, property or
descriptor runs (they may be slow, raise, take locks or do I/O). A rendering that
still fails (a dict changed by another thread) is ``<repr failed: Type>``.

Redaction: each variable's text is redacted under its name (``password = 123`` is
masked by its name, an AWS key in ``x`` by its value, whatever the size), nested
dict values under their keys, and each string before it is cut, so a cut never
leaves half a secret. The exporters redact the attribute once more, like any other.

Cost: captured for a fingerprint's first occurrence in a ``WINDOW_SECONDS`` window
and at most ``MAX_CAPTURES_PER_WINDOW`` times per window in all, so a storm of one
failure, or of many, pays it rarely. Nothing keeps a frame or a value: the text is
built while recording and the frames are left to the traceback that owns them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import json
import reprlib
import time
import types
import uuid
from json.encoder import encode_basestring_ascii as _quoted
from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers import locks
from otel_errors._internal.scrubbing import DROP

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from otel_errors._internal.recording.stack import StackFormatter
    from otel_errors._internal.scrubbing import Redactor

MAX_FRAMES = 3
MAX_VARIABLES = 16
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 256
MAX_BYTES = 8192
"""Bound of the attribute's JSON text (ASCII: characters are bytes)."""
WINDOW_SECONDS = 60.0
MAX_CAPTURES_PER_WINDOW = 64
"""All fingerprints together: a storm of distinct failures pays at most this often."""
MAX_FINGERPRINTS = 1024
"""Fingerprints remembered (their last capture time), oldest forgotten first."""
_SCAN_MARGIN = 4096
"""Characters of a long string redacted past its cut: a secret starting before it is whole."""
_MAX_INT_BITS = 4096
"""Longer ints are not rendered (``int.__str__`` is quadratic, then refuses)."""

_RENDERED = frozenset({
    type(None), bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set,
    frozenset, range, dt.datetime, dt.date, dt.time, dt.timedelta,
    decimal.Decimal, uuid.UUID,
})  # fmt: skip
"""Exact types rendered by value; anything else (subclasses too) is named only."""
_SKIPPED = frozenset({
    types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
})  # fmt: skip
"""Not data: imported modules, functions and classes (a module frame's globals)."""


class _BoundedRepr(reprlib.Repr):
    """``reprlib`` limited to built-in types, without sorting, redacting text before cuts."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self.maxlevel = 3
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 8
        self.maxstring = 160
        self.maxlong = 40
        self.maxother = 80

    def repr1(self, x: Any, level: int) -> str:
        kind = type(x)
        if kind not in _RENDERED:
            return f"<{_class_name(kind)} object>"
        return super().repr1(x, level)

    def repr_str(self, x: str, level: int) -> str:  # noqa: ARG002 - reprlib's signature
        return self._text(x, len(x), str)

    def repr_bytes(self, x: bytes, level: int) -> str:  # noqa: ARG002 - reprlib's signature
        return self._text(x, len(x), bytes)

    def repr_bytearray(self, x: bytearray, level: int) -> str:  # noqa: ARG002
        head = bytes(x[: self.maxstring + _SCAN_MARGIN])
        return "bytearray(" + self._text(head, len(x), bytes) + ")"

    def _text(self, x: str | bytes, size: int, kind: type) -> str:
        head = x[: self.maxstring + _SCAN_MARGIN]
        text = head if isinstance(head, str) else head.decode("latin-1")
        redacted = self.redactor.text_into(text, [])
        if redacted is text and size <= self.maxstring:
            return repr(x)
        if kind is bytes and redacted is text:
            return repr(head[: self.maxstring]) + _cut(size)
        shown = repr(redacted[: self.maxstring])
        if kind is bytes:
            shown = "b" + shown
        return shown + (_cut(size) if size > self.maxstring else "")

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _MAX_INT_BITS:
            return f"<int of {x.bit_length()} bits>"
        return str(super().repr_int(x, level))

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = []
        for key, value in itertools.islice(x.items(), self.maxdict):
            rendered = self.repr1(value, level - 1)
            if type(key) is str:
                rendered = _under(self.redactor, key, rendered)
            pieces.append(f"{self.repr1(key, level - 1)}: {rendered}")
        if len(x) > self.maxdict:
            pieces.append("...")
        return "{" + ", ".join(pieces) + "}"

    def _unsorted(self, x: Iterable[Any], size: int, level: int, left: str, right: str) -> str:
        if not size:
            return left + right if left != "{" else "set()"
        if level <= 0:
            return left + "..." + right
        pieces = [self.repr1(item, level - 1) for item in itertools.islice(x, self.maxset)]
        if size > self.maxset:
            pieces.append("...")
        return left + ", ".join(pieces) + right

    def repr_set(self, x: set[Any], level: int) -> str:
        return self._unsorted(x, len(x), level, "{", "}")

    def repr_frozenset(self, x: frozenset[Any], level: int) -> str:
        return self._unsorted(x, len(x), level, "frozenset({", "})")


def _cut(size: int) -> str:
    return f"…[{size} chars]"


def _under(redactor: Redactor, name: str, text: str) -> str:
    """``text`` redacted as the value of ``name`` (a name that is a secret masks it whole)."""
    value, _ = redactor.redact_value(name, text)
    return "[REDACTED]" if value is DROP else str(value)


def _class_name(kind: type) -> str:
    # type's own descriptors: no metaclass code runs
    module = type.__dict__["__module__"].__get__(kind)
    name = type.__dict__["__qualname__"].__get__(kind)
    return f"{module}.{name}" if isinstance(module, str) and module != "builtins" else str(name)


def render(frames: list[tuple[str, int, dict[str, Any]]], redactor: Redactor) -> str:
    """The ``error.locals`` JSON text of ``(function, line, variables)``, innermost first."""
    bounded = _BoundedRepr(redactor)
    result: list[dict[str, Any]] = []
    size = 2  # the brackets
    for function, line, variables in frames:
        entry: dict[str, Any] = {"function": function, "line": line, "locals": {}}
        size += len(json.dumps(entry)) + 2
        taken = omitted = 0
        for name, value in list(variables.items()):
            if _skipped(name, value):
                continue
            if taken >= MAX_VARIABLES:
                omitted += 1
                continue
            text = _value_text(bounded, redactor, name, value)
            piece = len(_quoted(name[:MAX_NAME_CHARS])) + len(_quoted(text)) + 2
            if size + piece > MAX_BYTES - 32:  # room for "omitted"
                omitted += 1
                continue
            entry["locals"][name[:MAX_NAME_CHARS]] = text
            size += piece
            taken += 1
        if omitted:
            entry["omitted"] = omitted
            size += 16
        result.append(entry)
    return json.dumps(result, separators=(",", ":"))


def _skipped(name: object, value: object) -> bool:
    return (
        type(name) is not str
        or name.startswith("__")
        or type(value) in _SKIPPED
        or isinstance(value, type)
    )


def _value_text(bounded: _BoundedRepr, redactor: Redactor, name: str, value: Any) -> str:
    try:
        text = bounded.repr(value)
    except Exception as failure:  # any failure of a rendering is a placeholder
        text = f"<repr failed: {type(failure).__name__}>"
    text = _under(redactor, name, text)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


class LocalsCapture:
    """Decides when to capture (first occurrences) and captures; one per runtime.

    Args:
        enabled: ``OTEL_ERRORS_CAPTURE_LOCALS``.
        redactor: The redactor in use.
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        *,
        enabled: bool,
        redactor: Callable[[], Redactor],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Starts with no fingerprint seen."""
        self.enabled = enabled
        self._redactor = redactor
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._window_start = -WINDOW_SECONDS
        self._window_count = 0
        self._lock = locks.lock()

    def due(self, fingerprint: str) -> bool:
        """Whether this occurrence of ``fingerprint`` is captured (and counts it if so)."""
        now = self._clock()
        with self._lock:
            last = self._seen.get(fingerprint)
            if last is not None and now - last < WINDOW_SECONDS:
                return False
            if now - self._window_start >= WINDOW_SECONDS:
                self._window_start, self._window_count = now, 0
            if self._window_count >= MAX_CAPTURES_PER_WINDOW:
                return False
            self._window_count += 1
            self._seen.pop(fingerprint, None)
            if len(self._seen) >= MAX_FINGERPRINTS:
                self._seen.pop(next(iter(self._seen)))
            self._seen[fingerprint] = now
            return True

    def capture(self, exc: BaseException, fingerprint: str, stack: StackFormatter) -> str | None:
        """``error.locals`` of ``exc`` when capture is on and this occurrence is due."""
        if not self.enabled or exc.__traceback__ is None or not self.due(fingerprint):
            return None
        frames = stack.innermost_app_frames(exc.__traceback__, MAX_FRAMES)
        if not frames:
            return None
        return render(frames, self._redactor())

    def after_fork(self) -> None:
        """A forked child captures its own first occurrences."""
        self._seen = {}
        self._window_start, self._window_count = -WINDOW_SECONDS, 0
