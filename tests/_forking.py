"""Helpers for the fork tests: run work in a forked child with a bound, hold a lock elsewhere.

A child that hangs is killed after the bound and reported as hung (``None``), so a
deadlock fails the test instead of stalling the suite.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

HANG_BOUND = 30.0
"""Seconds a child may take; the work in these tests takes milliseconds."""


def start_child(work: Callable[[], int]) -> int:
    """Forks; the child runs ``work`` and exits with its result (70 if it raised)."""
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            code = work()
        finally:
            os._exit(code)
    return pid


def wait_child(pid: int, bound: float = HANG_BOUND) -> int | None:
    """The child's exit code, or None if it was still running after ``bound`` (then killed)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def in_child(work: Callable[[], int], bound: float = HANG_BOUND) -> int | None:
    """Runs ``work`` in a forked child; its exit code, or None if it hung."""
    return wait_child(start_child(work), bound)


@contextlib.contextmanager
def held_by_another_thread(lock: Any) -> Iterator[None]:
    """Another thread holds ``lock`` for the duration of the block (as when a fork hits)."""
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            acquired.set()
            release.wait(HANG_BOUND)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert acquired.wait(5), "the helper thread never got the lock"
    try:
        yield
    finally:
        release.set()
        holder.join(5)
