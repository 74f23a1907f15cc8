"""Stack trace text and fingerprints: as ``traceback`` writes them, whatever was remembered."""

from __future__ import annotations

import sys
import traceback
from typing import TYPE_CHECKING

import pytest

from otel_errors._internal.model.classification import qualified_name as qualified
from otel_errors._internal.recording.stack import StackFormatter

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType


def _traceback_of(call: Callable[[], object]) -> TracebackType:
    try:
        call()
    except Exception as exc:
        assert exc.__traceback__ is not None
        return exc.__traceback__
    raise AssertionError("did not raise")


def _as_traceback_writes_it(tb: TracebackType) -> str:
    summary = traceback.StackSummary.extract(traceback.walk_tb(tb), capture_locals=False)
    return "Traceback (most recent call last):\n" + "".join(summary.format())


def _nested() -> None:
    def inner() -> None:
        {}["missing"]

    inner()


def _recursive(depth: int) -> None:
    if depth:
        _recursive(depth - 1)
    raise ValueError(depth)


def _from_file(tmp_path: Path) -> Callable[[], object]:
    """A function of a module file that is then changed on disk (``traceback`` rereads it)."""
    path = tmp_path / "edited_module.py"
    path.write_text("def fail():\n    raise RuntimeError('x')\n")
    namespace: dict[str, object] = {"__name__": "edited_module"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - a test module
    path.write_text("def fail():\n    raise RuntimeError('the line after the edit')\n")
    fail = namespace["fail"]
    assert callable(fail)
    return fail


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda _: _nested, id="nested functions"),
        pytest.param(lambda _: lambda: int("x"), id="a lambda"),
        pytest.param(lambda _: lambda: _recursive(6), id="recursion, collapsed"),
        pytest.param(lambda _: lambda: exec("1 / 0"), id="code without a file"),  # noqa: S102 - no file
        pytest.param(_from_file, id="a source file edited after import"),
    ],
)
def test_frames_read_as_traceback_writes_them(make, tmp_path) -> None:
    """The frames' text is ``traceback``'s (without carets), whatever the frames are."""
    tb = _traceback_of(make(tmp_path))
    described = StackFormatter(16384, 1024)._format_frames(tb)
    assert described.text == _as_traceback_writes_it(tb)


def _calls(fail: Callable[[], object]) -> None:
    fail()


def test_frames_shared_by_two_locations_read_as_traceback_writes_them() -> None:
    """A frame written for one failure location is the same text in the next one."""
    formatter = StackFormatter(16384, 1024)
    for fail in (_nested, lambda: int("x"), _nested):
        tb = _traceback_of(lambda fail=fail: _calls(fail))
        assert formatter._format_frames(tb).text == _as_traceback_writes_it(tb)


def test_a_traceback_limit_is_honoured(monkeypatch) -> None:
    """With ``sys.tracebacklimit`` set, the frames are cut where ``traceback`` cuts them."""
    tb = _traceback_of(_nested)
    monkeypatch.setattr(sys, "tracebacklimit", 1, raising=False)
    described = StackFormatter(16384, 1024)._format_frames(tb)
    assert described.text == _as_traceback_writes_it(tb)
    assert described.text.count('  File "') == 1


def _raised_here(cls: type[Exception]) -> Exception:
    try:
        raise cls("same place")
    except Exception as exc:
        return exc


def test_a_remembered_fingerprint_is_the_one_computed_afresh() -> None:
    """Per location, each code and class keeps its own fingerprint, the full computation's."""
    formatter = StackFormatter(16384, 1024)
    for code, cls in [("A-1", ValueError), ("A-2", ValueError), ("A-1", KeyError)] * 2:
        exc = _raised_here(cls)
        assert exc.__traceback__ is not None
        described = formatter.describe(exc, code, "same place")
        assert described.fingerprint == StackFormatter(16384, 1024).fingerprint(exc, code)
        assert described.stacktrace == _as_traceback_writes_it(exc.__traceback__) + (
            f"{qualified(cls)}: same place\n"
        )
