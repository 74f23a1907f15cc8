"""The local JSON-lines files: private, never redirected, and no record lost to a torn line.

They hold stack traces, SQL, client addresses and request ids, so:

- a directory we create is 0700 and a file 0600 (one of ours found looser is
  tightened); a directory that is not ours (owned by another user, or a symlink
  another user planted) is refused, and so is a file that is a symlink, not a
  regular file, hard-linked elsewhere or owned by someone else: otherwise whoever can
  write to the directory chooses which file our records are appended to;
- a writer killed mid-write (``kill -9``) leaves a last line without its newline;
  each append starts on a fresh line when the file does not end with one, so the
  next record is not glued to the torn one (which ``otel-errors report`` skips and
  counts);
- with ``OTEL_ERRORS_LOCAL_DIR`` unset, the directory is the first of
  ``$XDG_STATE_HOME/otel-errors``, ``~/.local/state/otel-errors`` and
  ``<temp dir>/otel-errors-<uid>`` that can be used: an absolute place that does not
  depend on the working directory, and that works for a service user without a home.

Each batch is appended with one open/write/close, so several processes (web server
workers) can share a file, and a file rotates to ``<name>.1`` past its size limit.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_errors._internal.helpers import locks

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

_DIRECTORY_MODE = 0o700
_FILE_MODE = 0o600
_OPEN_FLAGS = (
    os.O_RDWR
    | os.O_APPEND
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class UnsafeLocalPathError(OSError):
    """A local directory or file that we must not write to (the message says why)."""


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


class JsonLinesFile:
    """Appends lines to one file, rotating it once it grows past ``max_bytes``."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        """Creates the writer; the directory is created (0700) on first write."""
        self.path = path
        self.max_bytes = max_bytes
        self._lock = locks.lock()

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Writes ``records`` as one JSON object per line.

        Raises:
            UnsafeLocalPathError: the directory or the file is not safely ours.
            OSError: the write failed.
        """
        text = "".join(
            json.dumps(r, separators=(",", ":"), default=_json_default, ensure_ascii=False) + "\n"
            for r in records
        )
        if not text:
            return
        data = text.encode("utf-8", "backslashreplace")
        with self._lock:
            ensure_private_directory(self.path.parent)
            size = _append(self.path, data)
            if size > self.max_bytes:
                self.path.replace(self.path.with_name(self.path.name + ".1"))


def ensure_private_directory(directory: Path) -> None:
    """Creates ``directory`` (0700) if needed; refuses it unless it is ours.

    Raises:
        UnsafeLocalPathError: it is a symlink of another user, or owned by another user,
            or not a directory.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=_DIRECTORY_MODE)
    me = os.geteuid()
    link = directory.lstat()
    if stat.S_ISLNK(link.st_mode) and link.st_uid not in (me, 0):
        raise UnsafeLocalPathError(f"{directory} is a symlink owned by uid {link.st_uid}")
    target = directory.stat()
    if not stat.S_ISDIR(target.st_mode):
        raise UnsafeLocalPathError(f"{directory} is not a directory")
    if target.st_uid != me:
        raise UnsafeLocalPathError(
            f"{directory} is owned by uid {target.st_uid}, not by this process (uid {me})"
        )


def _append(path: Path, data: bytes) -> int:
    """Appends ``data`` on a fresh line of ``path``; returns the file's new size."""
    try:
        fd = os.open(path, _OPEN_FLAGS, _FILE_MODE)
    except OSError as exc:
        if path.is_symlink():
            raise UnsafeLocalPathError(f"{path} is a symlink") from exc
        raise
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or found.st_nlink != 1:
            raise UnsafeLocalPathError(f"{path} is not a regular file with a single link")
        if found.st_uid != os.geteuid():
            raise UnsafeLocalPathError(f"{path} is owned by uid {found.st_uid}")
        if found.st_mode & 0o077:
            os.fchmod(fd, _FILE_MODE)
        if found.st_size and _last_byte(fd, found.st_size) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return found.st_size + len(data)
    finally:
        os.close(fd)


def _last_byte(fd: int, size: int) -> bytes:
    os.lseek(fd, size - 1, os.SEEK_SET)
    return os.read(fd, 1)


def default_directory_candidates(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where the local files go when ``OTEL_ERRORS_LOCAL_DIR`` is unset, best first."""
    environ = os.environ if environ is None else environ
    candidates: list[Path] = []
    state_home = Path(environ.get("XDG_STATE_HOME", ""))
    if state_home.is_absolute():
        candidates.append(state_home / "otel-errors")
    home = Path(environ.get("HOME", "") or _account_home())
    if home.is_absolute() and home != Path("/"):
        candidates.append(home / ".local" / "state" / "otel-errors")
    candidates.append(Path(tempfile.gettempdir()) / f"otel-errors-{os.geteuid()}")
    return candidates


def _account_home() -> str:
    try:
        return str(Path.home())
    except RuntimeError:  # no HOME and no passwd entry (an arbitrary container uid)
        return ""


def choose_directory(configured: str, environ: Mapping[str, str] | None = None) -> Path:
    """The absolute local directory: ``configured``, else the first default that works.

    A default works when it can be created and is ours; the last one is returned
    anyway (its first write then reports why it cannot be used).
    """
    if configured:
        return Path(configured).expanduser().absolute()
    candidates = default_directory_candidates(environ)
    for candidate in candidates:
        try:
            ensure_private_directory(candidate)
        except OSError:
            continue
        return candidate
    return candidates[-1]
