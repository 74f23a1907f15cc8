"""Stack traces and fingerprints, computed once per failure location.

Why not ``traceback.format_exception`` every time (what the SDK does): in an error
storm the same exception is raised from the same place thousands of times, and
formatting its frames (source lookups, caret positions) dominates the cost of
recording. The frames of a traceback are identified by ``(code object, last
instruction)`` pairs; their formatted text and their fingerprint part are cached
under that key, and only the message line is rebuilt per exception.

The fingerprint hashes the error code, the exception types of the chain, and the
module and function of each application frame (frames outside site-packages, the
standard library and otel_errors; all frames when none is left). Line numbers,
messages and recursion depth are left out, so it is stable across runs, edits that
shift lines, different message values and dependency upgrades.

An exception recorded before it reaches application code (a contrib client span
ends inside the library with the exception) has no application frame in its
traceback; then the application frames of the live stack, the code that made the
call, are appended to the stack trace and to the fingerprint, so that two call
sites of the same failing query are two fingerprints.

``FINGERPRINT_VERSION`` names this computation: bump it with any change that gives an
existing failure another fingerprint, so that the release rules do not announce every
failure as new after an upgrade (see README § New and regressed errors per release).
"""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import sysconfig
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.compat import BaseExceptionGroup_
from otel_errors._internal.helpers.text import safe_str, sanitize, truncate, truncate_middle
from otel_errors._internal.model.classification import qualified_name

if TYPE_CHECKING:
    from types import CodeType, FrameType, TracebackType

FINGERPRINT_VERSION: Final = "1"
"""The fingerprint scheme (``error.fingerprint.version``): bump it when the hash changes."""

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_HEADER = "Traceback (most recent call last):\n"
_CALLER_HEADER = "\nRecorded while called from (application frames, most recent call last):\n"
_MAX_CHAIN = 16
_MAX_CALLER_FRAMES = 8
_MAX_CALLER_DEPTH = 128
_FINGERPRINTS_PER_LOCATION = 16
"""(code, class) pairs whose fingerprint a failure location remembers."""


def _library_prefixes() -> tuple[str, ...]:
    """Where library code lives (read on first use: ``sysconfig`` loads its data then)."""
    paths = sysconfig.get_paths()
    prefixes = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    prefixes |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    # otel_errors itself is never the application, even when installed editable.
    prefixes.add(str(Path(__file__).resolve().parents[1]) + os.sep)
    return tuple(sorted(p for p in prefixes if p))


@dataclass(frozen=True)
class _Frames:
    text: str
    """Formatted frames (with the header), as ``traceback`` prints them."""
    app_signature: tuple[str, ...]
    """``module:function`` of application frames, consecutive repeats collapsed."""
    all_signature: tuple[str, ...]
    """The same for every frame, used when no application frame exists."""
    fingerprints: dict[tuple[str, type], str] = field(default_factory=dict, compare=False)
    """The fingerprint of a lone exception raised here, by code and class (see ``describe``)."""


@dataclass(frozen=True)
class StackInfo:
    """What the recorder needs from an exception's traceback."""

    stacktrace: str
    fingerprint: str


class StackFormatter:
    """Formats tracebacks and computes fingerprints with a bounded cache.

    Args:
        max_length: Maximum stack trace length in characters (head and tail kept).
        max_message_length: Maximum length of each exception's message line.
        cache_size: Distinct failure locations remembered (oldest evicted first).
    """

    def __init__(self, max_length: int, max_message_length: int, cache_size: int = 512) -> None:
        """Creates a formatter with the given limits."""
        self.max_length = max_length
        self.max_message_length = max_message_length
        self.cache_size = cache_size
        self._frames: dict[tuple[tuple[CodeType, int], ...], _Frames] = {}
        self._code_info: dict[CodeType, tuple[str, bool]] = {}
        self._frame_texts: dict[tuple[CodeType, int], str] = {}
        """Each frame's text by code object and line (see ``_plain_frames_text``)."""
        self._callers: dict[tuple[tuple[CodeType, int], ...], _Frames] = {}
        self._lock = locks.lock()
        self._not_app: tuple[str, ...] | None = None
        """Prefixes of file names that are not application code (computed on first use)."""

    def describe(self, exc: BaseException, code: str, message: str) -> StackInfo:
        """Stack trace text and fingerprint of ``exc`` (whose safe message is ``message``)."""
        if (
            exc.__cause__ is None
            and (exc.__context__ is None or exc.__suppress_context__)
            and not isinstance(exc, BaseExceptionGroup_)
        ):
            lone = self._describe_lone(exc, code, message)
            if lone is not None:
                return lone
        chain = _chain(exc)
        if any(isinstance(e, BaseExceptionGroup_) for e, _ in chain):
            return self._describe_group(exc, code, chain)
        parts: list[str] = []
        signature: list[str] = [code]
        has_app_frames = False
        for index, (item, link) in enumerate(chain):
            frames = self._frames_of(item.__traceback__)
            item_message = message if item is exc else self._message(item)
            parts.append(frames.text)
            parts.append(_exception_line(item, item_message))
            if index + 1 < len(chain):
                parts.append(link)
            signature.append(qualified_name(type(item)))
            signature.extend(frames.app_signature or frames.all_signature)
            has_app_frames = has_app_frames or bool(frames.app_signature)
        if not has_app_frames:
            # Recorded before it reached the application (a client span ending inside
            # the library): the live stack says which application code made the call.
            caller = self._caller_frames()
            if caller.app_signature:
                parts.append(_CALLER_HEADER + caller.text)
                signature.extend(caller.app_signature)
        text = truncate_middle(sanitize("".join(parts)), self.max_length)
        return StackInfo(text, _hash(signature))

    def _describe_lone(self, exc: BaseException, code: str, message: str) -> StackInfo | None:
        """:meth:`describe` of an exception without cause or context, raised in application code.

        The common case, and in an error storm the same place again and again: its
        fingerprint is remembered with its frames, by code and class. None when no
        application frame is in the traceback (the caller's frames are then looked for).
        """
        frames = self._frames_of(exc.__traceback__)
        if not frames.app_signature:
            return None
        cls = type(exc)
        fingerprints = frames.fingerprints
        fingerprint = fingerprints.get((code, cls))
        if fingerprint is None:
            fingerprint = _hash([code, qualified_name(cls), *frames.app_signature])
            if len(fingerprints) >= _FINGERPRINTS_PER_LOCATION:
                fingerprints.clear()
            fingerprints[code, cls] = fingerprint
        text = sanitize(frames.text + _exception_line(exc, message))
        return StackInfo(truncate_middle(text, self.max_length), fingerprint)

    def fingerprint(self, exc: BaseException, code: str) -> str:
        """The fingerprint :meth:`describe` gives, without formatting any text.

        For errors in traces that are not sampled: no event is written, but the
        fingerprints counter still needs the fingerprint (new errors must not depend
        on head sampling).
        """
        chain = _chain(exc)
        if any(isinstance(e, BaseExceptionGroup_) for e, _ in chain):
            return self._describe_group(exc, code, chain).fingerprint
        signature: list[str] = [code]
        has_app_frames = False
        for item, _ in chain:
            frames = self._frames_of(item.__traceback__)
            signature.append(qualified_name(type(item)))
            signature.extend(frames.app_signature or frames.all_signature)
            has_app_frames = has_app_frames or bool(frames.app_signature)
        if not has_app_frames:
            signature.extend(self._caller_frames().app_signature)
        return _hash(signature)

    def _caller_frames(self) -> _Frames:
        app: list[FrameType] = []
        frame: FrameType | None = sys._getframe(1)
        depth = 0
        while frame is not None and len(app) < _MAX_CALLER_FRAMES and depth < _MAX_CALLER_DEPTH:
            if self._describe_code(frame.f_code, frame.f_globals)[1]:
                app.append(frame)
            frame, depth = frame.f_back, depth + 1
        app.reverse()
        key = tuple((f.f_code, f.f_lasti) for f in app)
        cached = self._callers.get(key)
        if cached is None:
            summary = traceback.StackSummary.extract((f, f.f_lineno) for f in app)
            names: list[str] = []
            for f in app:
                _append_collapsed(names, self._describe_code(f.f_code, f.f_globals)[0])
            cached = _Frames("".join(summary.format()), tuple(names), tuple(names))
            with self._lock:
                if len(self._callers) >= self.cache_size:
                    self._callers.pop(next(iter(self._callers)))
                self._callers[key] = cached
        return cached

    def _message(self, exc: BaseException) -> str:
        return sanitize(truncate(safe_str(exc), self.max_message_length))

    def _describe_group(
        self, exc: BaseException, code: str, chain: list[tuple[BaseException, str]]
    ) -> StackInfo:
        try:
            text = "".join(traceback.format_exception(exc))
        except Exception:
            text = _exception_line(exc, self._message(exc))
        signature = [code]
        for item, _ in chain:
            signature.append(qualified_name(type(item)))
            frames = self._frames_of(item.__traceback__)
            signature.extend(frames.app_signature or frames.all_signature)
            if isinstance(item, BaseExceptionGroup_):
                signature.extend(sorted(qualified_name(type(e)) for e in item.exceptions))
        return StackInfo(truncate_middle(sanitize(text), self.max_length), _hash(signature))

    def _frames_of(self, tb: TracebackType | None) -> _Frames:
        key = _key(tb)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        frames = self._format_frames(tb)
        with self._lock:
            if len(self._frames) >= self.cache_size:
                self._frames.pop(next(iter(self._frames)))
            self._frames[key] = frames
            if len(self._code_info) >= self.cache_size * 8:
                self._code_info.clear()
        return frames

    def _format_frames(self, tb: TracebackType | None) -> _Frames:
        if tb is None:
            return _Frames("", (), ())
        text = self._plain_frames_text(tb)
        if text is None:
            summary = traceback.StackSummary.extract(traceback.walk_tb(tb), capture_locals=False)
            text = "".join(summary.format())
        app: list[str] = []
        every: list[str] = []
        current: TracebackType | None = tb
        while current is not None:
            name, in_app = self._describe_code(current.tb_frame.f_code, current.tb_frame.f_globals)
            _append_collapsed(every, name)
            if in_app:
                _append_collapsed(app, name)
            current = current.tb_next
        return _Frames(_HEADER + text, tuple(app), tuple(every))

    def _plain_frames_text(self, tb: TracebackType) -> str | None:
        """The frames of ``tb`` as ``traceback`` writes them (``StackSummary.format``).

        Why not ``traceback`` itself: at a new failure location its machinery (a
        ``FrameSummary`` per frame, properties, ``str.format``) costs several times this
        loop, and most frames of a new location are known ones (the framework, the
        handler) that were written before. A frame is written once per code object and
        line, from ``linecache`` as ``traceback`` reads it (lazy loaders registered, each
        file of the new frames checked for changes once), and then keeps its text, as a
        whole failure location already did. None where ``traceback`` writes something
        else or may look further for a line: a frame repeated in a row (recursion, which
        it collapses), a frame without a line number or without a file (``<string>``),
        or ``sys.tracebacklimit`` set.
        """
        if getattr(sys, "tracebacklimit", None) is not None:
            return None
        written = self._frame_texts
        parts: list[str] = []
        new: list[tuple[int, CodeType, int]] = []
        previous: tuple[str, int, str] | None = None
        current: TracebackType | None = tb
        while current is not None:
            frame, lineno = current.tb_frame, current.tb_lineno
            code = frame.f_code
            place = (code.co_filename, lineno, code.co_name)
            if lineno is None or place == previous or code.co_filename.startswith("<"):
                return None
            text = written.get((code, lineno))
            if text is None:
                linecache.lazycache(code.co_filename, frame.f_globals)
                new.append((len(parts), code, lineno))
                text = ""
            parts.append(text)
            previous, current = place, current.tb_next
        for filename in {code.co_filename for _, code, _ in new}:
            linecache.checkcache(filename)
        if len(written) + len(new) > self.cache_size * 8:
            written.clear()
        for index, code, lineno in new:
            text = f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n'
            line = linecache.getline(code.co_filename, lineno).strip()
            parts[index] = written[code, lineno] = f"{text}    {line}\n" if line else text
        return "".join(parts)

    def innermost_app_frames(
        self, tb: TracebackType, limit: int
    ) -> list[tuple[str, int, dict[str, object]]]:
        """``(module:function, line, variables)`` of the last ``limit`` application frames.

        Innermost first. The variables are the frames' own mappings, to be read at
        once: nothing here keeps a frame.
        """
        found: list[tuple[str, int, dict[str, object]]] = []
        current: TracebackType | None = tb
        while current is not None:
            frame = current.tb_frame
            name, in_app = self._describe_code(frame.f_code, frame.f_globals)
            if in_app:
                found.append((name, current.tb_lineno, frame.f_locals))
                if len(found) > limit:
                    found.pop(0)
            current = current.tb_next
        found.reverse()
        return found

    def _describe_code(self, code: CodeType, f_globals: dict[str, object]) -> tuple[str, bool]:
        info = self._code_info.get(code)
        if info is None:
            module = f_globals.get("__name__")
            module_name = module if isinstance(module, str) else code.co_filename
            function = getattr(code, "co_qualname", code.co_name)
            not_app = self._not_app
            if not_app is None:
                not_app = self._not_app = (*_library_prefixes(), "<")
            in_app = not code.co_filename.startswith(not_app)
            info = (f"{module_name}:{function}", in_app)
            self._code_info[code] = info
        return info


def _append_collapsed(names: list[str], name: str) -> None:
    if not names or names[-1] != name:
        names.append(name)


def _key(tb: TracebackType | None) -> tuple[tuple[CodeType, int], ...]:
    items: list[tuple[CodeType, int]] = []
    while tb is not None:
        items.append((tb.tb_frame.f_code, tb.tb_lasti))
        tb = tb.tb_next
    return tuple(items)


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """The exception chain, oldest first, each with the separator printed after it."""
    newest_first: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen and len(newest_first) < _MAX_CHAIN:
        seen.add(id(current))
        newest_first.append((current, link))
        if current.__cause__ is not None:
            link, current = _CAUSE, current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = _CONTEXT, current.__context__
        else:
            current = None
    return list(reversed(newest_first))


def _exception_line(exc: BaseException, message: str) -> str:
    cls = type(exc)
    if isinstance(exc, SyntaxError) or getattr(exc, "__notes__", None):
        try:
            return "".join(traceback.format_exception_only(cls, exc))
        except Exception:  # noqa: S110 - fall back to the plain line below
            pass
    module = getattr(cls, "__module__", None)
    name = getattr(cls, "__qualname__", "Exception")
    if isinstance(module, str) and module not in ("__main__", "builtins"):
        name = f"{module}.{name}"
    return f"{name}: {message}\n" if message else f"{name}\n"


def _hash(parts: list[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "backslashreplace")).hexdigest()[:16]


def extend_fingerprint(fingerprint: str, *parts: str) -> str:
    """A fingerprint that also tells ``parts`` apart (a failure's upstream code)."""
    return _hash([fingerprint, *parts])
