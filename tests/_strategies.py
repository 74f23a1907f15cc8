"""Hypothesis strategies for hostile exceptions and every kind of OTel attribute value.

Shared by the property tests of recording, classification and export; the redaction
work builds its "a planted secret never survives" property on ``messages`` and
``exceptions`` (plant the secret in a message, a ``__str__`` or an attribute value).

An exception may: carry text, bytes, huge or undecodable messages; have a ``__str__``
or ``__repr__`` that raises, returns a non-string or a megabyte; be raised (with a
traceback) or not; chain causes and contexts up to 40 deep, possibly in a cycle; be
an exception group of such leaves, nested.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from hypothesis import strategies as st

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
PLAIN_TEXT = st.text(max_size=60)
"""Text the application might put in attribute values (no lone surrogates)."""

HUGE = st.tuples(st.text(min_size=1, max_size=8), st.integers(10_000, 300_000)).map(
    lambda parts: (parts[0] * (parts[1] // len(parts[0]) + 1))[: parts[1]]
)
"""Texts of tens to hundreds of thousands of characters."""

messages = st.one_of(
    st.text(),
    st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=40),
    st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape")),
    HUGE,
)
"""Exception messages: plain, with lone surrogates, undecodable bytes, huge."""

attribute_values = st.one_of(
    PLAIN_TEXT,
    st.booleans(),
    INT64,
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(PLAIN_TEXT, max_size=5),
    st.lists(st.booleans(), max_size=5),
    st.lists(INT64, max_size=5),
    st.lists(st.floats(), max_size=5),
)
"""Every OTel attribute value type: str, bool, int64, float and homogeneous sequences."""

attributes = st.dictionaries(st.text(min_size=1, max_size=20), attribute_values, max_size=6)


class Misbehaving(Exception):
    """An exception whose ``__str__`` and ``__repr__`` do what the example says."""

    def __init__(self, as_str: tuple[str, Any], as_repr: tuple[str, Any]) -> None:
        super().__init__("misbehaving")
        self.as_str, self.as_repr = as_str, as_repr

    def __str__(self) -> str:
        return _behave(self.as_str)

    def __repr__(self) -> str:
        return _behave(self.as_repr)


def _behave(behaviour: tuple[str, Any]) -> Any:
    kind, value = behaviour
    if kind == "raise":
        raise value
    return value  # a string, or on purpose something that is not one


behaviours = st.one_of(
    messages.map(lambda text: ("value", text)),
    st.sampled_from([ValueError("no str"), RuntimeError("no repr"), RecursionError()]).map(
        lambda exc: ("raise", exc)
    ),
    st.sampled_from([42, None, b"bytes", ["a", "list"], 1.5]).map(lambda obj: ("value", obj)),
)

_CLASSES = (ValueError, TimeoutError, KeyError, OSError, ConnectionRefusedError, ZeroDivisionError)


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@st.composite
def leaves(draw: st.DrawFn) -> BaseException:
    """One exception that is not a group."""
    if draw(st.booleans()):
        exc: BaseException = Misbehaving(draw(behaviours), draw(behaviours))
    else:
        exc = draw(st.sampled_from(_CLASSES))(draw(messages))
    return _raised(exc) if draw(st.booleans()) else exc


@st.composite
def chained(draw: st.DrawFn, base: st.SearchStrategy[BaseException]) -> BaseException:
    """An exception with a chain of causes and contexts, possibly cycling back."""
    chain = [draw(base) for _ in range(draw(st.integers(1, 40)))]
    for outer, inner in itertools.pairwise(chain):
        if draw(st.booleans()):
            outer.__cause__ = inner
        else:
            outer.__context__ = inner
    if len(chain) > 1 and draw(st.booleans()):
        chain[-1].__cause__ = chain[draw(st.integers(0, len(chain) - 2))]
    return chain[0]


@st.composite
def groups(draw: st.DrawFn) -> BaseException:
    """An exception group of chained leaves, sometimes nested once."""
    members = draw(st.lists(chained(leaves()), min_size=1, max_size=4))
    if draw(st.booleans()):
        members.append(ExceptionGroup("inner", draw(st.lists(leaves(), min_size=1, max_size=3))))
    group = ExceptionGroup(draw(PLAIN_TEXT), members)
    return _raised(group) if draw(st.booleans()) else group


exceptions = st.one_of(leaves(), chained(leaves()), groups())
"""Hostile exceptions of every shape above."""
