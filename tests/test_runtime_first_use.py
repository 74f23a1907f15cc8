"""The runtime builds its registry, redactor and recorder on first use: once, and as before.

Start-up leaves them unbuilt (``test_patch_on_import``); these tests hold what that
must not change: two threads asking at once get one of each, a child forked before
the first use hashes with the key its parent drew at start-up, and a fork waits for
a build in progress.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from otel_errors._internal.config.settings import Settings
from otel_errors._internal.recording import registry, runtime

THREADS = 8


def test_threads_asking_at_once_build_one_registry_and_one_recorder(monkeypatch):
    """Every thread gets the same recorder, classifying with the one registry built."""
    built: list[registry.Registry] = []

    class Counted(registry.Registry):
        def __init__(self) -> None:
            super().__init__()
            built.append(self)

    monkeypatch.setattr(registry, "Registry", Counted)
    fresh = runtime.Runtime(Settings.load(environ={}))
    start = threading.Barrier(THREADS)
    recorders: list[object] = []

    def ask() -> None:
        start.wait()
        recorders.append(fresh.recorder)

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert len(recorders) == THREADS
    assert all(recorder is fresh.recorder for recorder in recorders)
    assert fresh.recorder.classifier is built[0].classifier


def test_threads_asking_at_once_get_one_redactor():
    """The redactor too is built once, whoever asks first."""
    fresh = runtime.Runtime(Settings.load(environ={}))
    start = threading.Barrier(THREADS)
    redactors: list[object] = []

    def ask() -> None:
        start.wait()
        redactors.append(fresh.redactor)

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {id(redactor) for redactor in redactors} == {id(fresh.redactor)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_before_the_first_use_hashes_as_its_parent():
    """No key configured: the key drawn at start-up is the parent's and every child's."""
    fresh = runtime.Runtime(Settings.load(environ={}))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child builds its redactor from the key drawn before the fork
        try:
            os.write(write, fresh.redactor.hash("user-42").encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        from_child = pipe.read()
    os.waitpid(pid, 0)
    assert from_child
    assert from_child == fresh.redactor.hash("user-42")
    assert runtime.Runtime(Settings.load(environ={})).redactor.hash("user-42") != from_child


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_waits_for_a_build_in_progress(monkeypatch):
    """A child never starts in the middle of a build (its imports' locks would stay held)."""
    started, go = threading.Event(), threading.Event()

    class Slow(registry.Registry):
        def __init__(self) -> None:
            started.set()
            go.wait()
            super().__init__()

    monkeypatch.setattr(registry, "Registry", Slow)
    fresh = runtime.Runtime(Settings.load(environ={}))
    building = threading.Thread(target=lambda: fresh.registry)
    building.start()
    started.wait()
    read, write = os.pipe()
    seen: list[str] = []

    def fork() -> None:
        pid = os.fork()
        if pid == 0:  # what the child found: the build finished, or not begun in it
            os.write(write, b"built" if fresh.registry_is_built else b"half")
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            seen.append(pipe.read())
        os.waitpid(pid, 0)

    forking = threading.Thread(target=fork)
    forking.start()
    time.sleep(0.2)  # lets the fork begin while the build waits (no figure is asserted)
    go.set()
    building.join()
    forking.join()
    assert seen == ["built"]
