"""Locks that a forked child gets back released.

``os.fork`` copies memory but only the thread that forked: a lock another thread held
at that moment stays held forever in the child. Every lock of ours comes from
:func:`lock` or :func:`rlock`, which remember it (weakly), and the after-fork reset
(``recording.runtime``) releases them all with :func:`release_all`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

_locks: weakref.WeakSet[Any] = weakref.WeakSet()


def lock() -> threading.Lock:
    """A ``threading.Lock`` that a forked child gets back released."""
    new = threading.Lock()
    _locks.add(new)
    return new


def rlock() -> threading.RLock:
    """A ``threading.RLock`` that a forked child gets back released."""
    new = threading.RLock()
    _locks.add(new)
    return new


def release_all() -> None:
    """In a forked child: every lock of ours, released (held or not in the parent)."""
    # CPython's own modules (threading, logging, concurrent.futures) use this method
    # for exactly this purpose since 3.9.
    for held in list(_locks):
        held._at_fork_reinit()
