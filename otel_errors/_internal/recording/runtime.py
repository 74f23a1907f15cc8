"""Everything otel_errors keeps while a process runs, in one object, and the one pointer to it.

Setup builds a :class:`Runtime` from the settings and installs it; recording before
setup (``record_error`` in a script, a test) gets one built from the defaults on first
use. It holds the settings, the registry (catalogue, classifier, enrichers), the
redactor, the recorder and the state the recorder shares with the export: logged
exceptions waiting for their outcome, the ``error.type`` given to each span, the open
request of each trace. Layers above the recording core keep their state here too,
as *parts* (:meth:`Runtime.part`: the exit clock, the export gates, our instruments),
so that a test gets all of it fresh by installing a new runtime, and a forked child
resets all of it in one place (:meth:`Runtime.after_fork`).

What is not here describes the interpreter, not a run: which methods are patched,
which hooks and handlers are installed (identical in a forked child, and undone only by
``uninstrument``), and the failure reporter of ``helpers.fail_open``, which must keep
working when everything else has failed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, TypeVar

from otel_errors._internal.config.settings import Settings, value_length_limit
from otel_errors._internal.helpers import fail_open, locks
from otel_errors._internal.recording.error_types import ErrorTypes
from otel_errors._internal.recording.frame_locals import LocalsCapture
from otel_errors._internal.recording.local_roots import LocalRoots
from otel_errors._internal.recording.outcome import Outcomes
from otel_errors._internal.recording.own_metrics import Instruments
from otel_errors._internal.recording.recorder import ErrorRecorder
from otel_errors._internal.recording.registry import Registry
from otel_errors._internal.scrubbing import RedactionConfig, Redactor

if TYPE_CHECKING:
    from collections.abc import Mapping

T = TypeVar("T")


class Runtime:
    """The state of otel_errors in this process.

    Args:
        settings: The resolved settings.
        registry: Catalogue, classifier and enrichers (the shipped ones when omitted).
        redactor: The redactor (built-in rules when omitted).
        environ: Where the recorder reads ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``.
        configured: Built by setup (the launcher, ``otel_errors.auto`` or ``configure()``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        registry: Registry | None = None,
        redactor: Redactor | None = None,
        environ: Mapping[str, str] | None = None,
        configured: bool = False,
    ) -> None:
        """Builds the recorder and the state it shares with the export."""
        self.settings = settings
        self.configured = configured
        self.registry = registry if registry is not None else Registry()
        self.redactor = redactor if redactor is not None else default_redactor(settings)
        self.outcomes = Outcomes()
        self.error_types = ErrorTypes()
        self.local_roots = LocalRoots()
        self.instruments = Instruments()
        self.frame_locals = LocalsCapture(
            enabled=settings.capture_locals, redactor=lambda: self.redactor
        )
        self.recorder = ErrorRecorder(
            settings,
            self.registry.classifier,
            os.environ if environ is None else environ,
            self.registry.enrichers,
            outcomes=self.outcomes,
            error_types=self.error_types,
            local_roots=self.local_roots,
            redactor=lambda: self.redactor,
            frame_locals=self.frame_locals,
        )
        self._parts: dict[type[Any], Any] = {}
        self._lock = locks.lock()

    def part(self, kind: type[T]) -> T:
        """This runtime's instance of ``kind`` (made with ``kind()`` the first time).

        For the state of layers above the recording core (the exit clock, the export
        gates), which this module cannot name.
        """
        found = self._parts.get(kind)
        if found is None:
            with self._lock:
                found = self._parts.setdefault(kind, kind())
        return found  # type: ignore[no-any-return]

    def after_fork(self) -> None:
        """In a forked child: the parent's counts, requests and outcomes are not the child's."""
        self.recorder.metrics.after_fork()
        self.recorder.fingerprints.after_fork()
        states = (self.outcomes, self.error_types, self.local_roots, self.frame_locals)
        for state in (*states, *self._parts.values()):
            reset = getattr(state, "after_fork", None)
            if callable(reset):
                reset()


def default_redactor(settings: Settings) -> Redactor:
    """The built-in rules, as the settings switch them (until setup builds the configured one)."""
    config = RedactionConfig.build(
        hash_key=settings.redaction_key or None, max_length=value_length_limit()
    )
    return Redactor(config, enabled=settings.redaction)


_current: Runtime | None = None
_lock = locks.lock()


def current() -> Runtime:
    """The installed runtime, or one built from the defaults on first use."""
    runtime = _current
    if runtime is not None:
        return runtime
    with _lock:
        if _current is None:
            # configure() reports bad variables; recording before it uses the defaults.
            install(Runtime(Settings.resolve()[0]))
        return _current  # type: ignore[return-value]  # installed just above


def installed() -> Runtime | None:
    """The installed runtime, without building one."""
    return _current


def install(runtime: Runtime) -> None:
    """Makes ``runtime`` the one every path uses."""
    global _current  # noqa: PLW0603 - the one pointer to the process' runtime
    _current = runtime


def get_recorder() -> ErrorRecorder:
    """The recorder of the current runtime (every recording path asks this)."""
    return current().recorder


def _in_forked_child() -> None:
    """Runs in the child right after ``os.fork``: locks released, counts its own.

    Why: ``os.fork`` copies memory but only the thread that forked. A lock another
    thread held at that moment stays held forever in the child, which then hangs at
    its first error or at exit; pre-fork servers (gunicorn, uWSGI, Celery prefork,
    multiprocessing) fork while the parent's threads work. The child also inherits the
    parent's metric aggregations, so with cumulative temporality it would re-export
    the parent's counts as its own. Each step is guarded alone, so one failure cannot
    leave the rest held. The SDK's metric internals are imported here, not at the top:
    a process that never forks does not pay for them.
    """
    from otel_errors._internal.recording.sdk_internals import reset_metrics_after_fork

    steps = [locks.release_all, reset_metrics_after_fork, fail_open.forget_parent_logs]
    if _current is not None:
        steps.append(_current.after_fork)
    for step in steps:
        try:
            step()
        except Exception as failure:  # noqa: PERF203 - each step fails alone
            fail_open.report_internal_failure("fork.reset", failure)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_forked_child)
