"""Real server processes for the end-to-end tests: started on 127.0.0.1, always stopped.

Every process runs in its own session (process group), with its output in a log file,
so that stopping it also stops anything it spawned and a failing check can show what
the process said. Readiness and results are awaited with :func:`wait_for`: a bounded
poll that fails with the last observation instead of sleeping blindly.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

STOP_TIMEOUT = 15.0
"""Seconds a process gets to exit after SIGTERM before it is killed."""


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of a GET; connection failures give status 0."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), bytes(exc.read())
    except (OSError, ValueError):
        return 0, b""


def get_json(url: str, timeout: float = 10.0) -> Any:
    """The JSON body of a GET that must answer 200."""
    status, body = http_get(url, timeout)
    if status != 200:
        msg = f"GET {url} answered {status}: {body[:500]!r}"
        raise AssertionError(msg)
    return json.loads(body)


def wait_for(
    check: Callable[[], T | None],
    what: str,
    timeout: float,
    *,
    interval: float = 0.5,
    details: Callable[[], str] = lambda: "",
) -> T:
    """Polls ``check`` until it returns something truthy; fails after ``timeout`` seconds.

    Args:
        check: returns the awaited value, or None/False/empty while not there yet.
        what: what is awaited, for the failure message.
        timeout: the bound, in seconds.
        interval: pause between polls.
        details: extra context for the failure message (logs, last answers).

    Returns:
        The first truthy value ``check`` returned.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{details()}")
        time.sleep(interval)


@dataclass
class Service:
    """A started process and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after :data:`STOP_TIMEOUT`; reaps it."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)


@dataclass
class Services:
    """Processes started for one test module; :meth:`stop_all` stops them newest first."""

    directory: Path
    started: list[Service] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Service:
        """Starts ``argv`` in a new session with its output in ``<directory>/<name>.log``."""
        log = self.directory / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
            )  # fmt: skip
        service = Service(name, process, log)
        self.started.append(service)
        return service

    def wait_healthy(self, service: Service, url: str, timeout: float = 60.0) -> None:
        """Waits until ``url`` answers 200, failing early if the process died."""

        def healthy() -> bool:
            if not service.running():
                raise AssertionError(
                    f"{service.name} exited with {service.process.returncode}:\n"
                    f"{service.log_tail()}"
                )
            return http_get(url, timeout=2)[0] == 200

        wait_for(healthy, f"{service.name} at {url}", timeout, interval=0.2,
                 details=service.log_tail)  # fmt: skip

    def logs(self, lines: int = 15) -> str:
        """The tail of every log, for failure messages."""
        return "\n".join(f"--- {s.name}\n{s.log_tail(lines)}" for s in self.started)

    def stop_all(self) -> None:
        for service in reversed(self.started):
            service.stop()


@contextlib.contextmanager
def services(directory: Path) -> Iterator[Services]:
    """A :class:`Services` whose processes are stopped however the block ends."""
    started = Services(directory)
    try:
        yield started
    finally:
        started.stop_all()
