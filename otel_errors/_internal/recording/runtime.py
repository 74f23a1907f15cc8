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
import secrets
from typing import TYPE_CHECKING, Any, TypeVar

from otel_errors._internal.config.settings import Settings, value_length_limit
from otel_errors._internal.helpers import fail_open, locks
from otel_errors._internal.recording.error_types import ErrorTypes
from otel_errors._internal.recording.frame_locals import LocalsCapture
from otel_errors._internal.recording.local_roots import LocalRoots
from otel_errors._internal.recording.outcome import Outcomes
from otel_errors._internal.recording.own_metrics import Instruments
from otel_errors._internal.recording.signals import exception_signals

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from otel_errors._internal.recording.recorder import ErrorRecorder
    from otel_errors._internal.recording.registry import Registry
    from otel_errors._internal.scrubbing import Redactor

T = TypeVar("T")


class Runtime:
    """The state of otel_errors in this process.

    The registry, the redactor and the recorder are built on first use (once, under
    the module's lock, which ``os.fork`` waits for): importing and building them is
    most of what otel_errors would add to a process' start-up, and a process that
    records and redacts nothing never needs them. What must be decided at start-up is
    decided here: the exception-signal switch is read (a bad value is reported now),
    and the random hash key, when no key is configured, is drawn now, so that the
    children of a pre-fork server hash as their parent does.

    Args:
        settings: The resolved settings.
        registry: Catalogue, classifier and enrichers (the shipped ones when omitted).
        redactor: The redactor (built-in rules when omitted), or how to build it.
        environ: Where the recorder reads ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``.
        configured: Built by setup (the launcher, ``otel_errors.auto`` or ``configure()``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        registry: Registry | None = None,
        redactor: Redactor | Callable[[], Redactor] | None = None,
        environ: Mapping[str, str] | None = None,
        configured: bool = False,
    ) -> None:
        """Keeps what the recorder will share with the export; builds nothing heavy."""
        self.settings = settings
        self.configured = configured
        self._registry = registry
        self._redactor: Redactor | None = None
        self._build_redactor: Callable[[], Redactor]
        if redactor is None:
            random_key = secrets.token_bytes(32)
            self._build_redactor = lambda: default_redactor(settings, random_key)
        elif callable(redactor):
            self._build_redactor = redactor
        else:
            self._redactor = redactor
        self._recorder: ErrorRecorder | None = None
        self._signals = exception_signals(os.environ if environ is None else environ)
        self.outcomes = Outcomes()
        self.error_types = ErrorTypes()
        self.local_roots = LocalRoots()
        self.instruments = Instruments()
        self.frame_locals = LocalsCapture(
            enabled=settings.capture_locals, redactor=lambda: self.redactor
        )
        self._parts: dict[type[Any], Any] = {}
        self._lock = locks.lock()

    @property
    def registry(self) -> Registry:
        """Catalogue, classifier and enrichers (the shipped ones, loaded on first use)."""
        found = self._registry
        if found is None:
            with _lock:
                if self._registry is None:
                    from otel_errors._internal.recording.registry import Registry

                    self._registry = Registry()
                found = self._registry
        return found

    @property
    def registry_is_built(self) -> bool:
        """Whether the registry exists yet (rules may have been added to it)."""
        return self._registry is not None

    @property
    def redactor(self) -> Redactor:
        """The redactor (built, with its detectors compiled, on first use)."""
        found = self._redactor
        if found is None:
            with _lock:
                if self._redactor is None:
                    self._redactor = self._build_redactor()
                found = self._redactor
        return found

    @property
    def recorder(self) -> ErrorRecorder:
        """The recorder (built on first use, with the registry it classifies with)."""
        found = self._recorder
        if found is None:
            with _lock:
                if self._recorder is None:
                    self._recorder = self._new_recorder()
                found = self._recorder
        return found

    def _new_recorder(self) -> ErrorRecorder:
        from otel_errors._internal.recording.recorder import ErrorRecorder

        registry = self.registry
        return ErrorRecorder(
            self.settings,
            registry.classifier,
            {},
            registry.enrichers,
            upstream_readers=registry.upstream_readers,
            outcomes=self.outcomes,
            error_types=self.error_types,
            local_roots=self.local_roots,
            redactor=lambda: self.redactor,
            frame_locals=self.frame_locals,
            signals=self._signals,
        )

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
        if self._recorder is not None:
            self._recorder.metrics.after_fork()
            self._recorder.fingerprints.after_fork()
        states = (self.outcomes, self.error_types, self.local_roots, self.frame_locals)
        for state in (*states, *self._parts.values()):
            reset = getattr(state, "after_fork", None)
            if callable(reset):
                reset()


def default_redactor(settings: Settings, random_key: bytes) -> Redactor:
    """The built-in rules, as the settings switch them (until setup builds the configured one).

    Args:
        settings: The key, the value length limit and the on/off switch.
        random_key: The key drawn at start-up, used when no key is configured.
    """
    from otel_errors._internal.scrubbing import RedactionConfig, Redactor

    config = RedactionConfig.build(
        hash_key=settings.redaction_key or None,
        random_key=random_key,
        max_length=value_length_limit(),
    )
    return Redactor(config, enabled=settings.redaction)


_current: Runtime | None = None
_lock = locks.rlock()
"""Guards building the first runtime and each runtime's parts; held across ``os.fork``."""


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


def _hold_builds() -> None:
    """Right before ``os.fork``: a build in progress ends first, and none starts.

    Why: a build imports modules. A child forked in the middle of one would find them
    half initialised, their import locks held by a thread it does not have, and hang
    at its first error. The lock is released in the parent after the fork and made
    anew in the child (``locks.release_all``).
    """
    _lock.acquire()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_hold_builds, after_in_parent=_lock.release, after_in_child=_in_forked_child
    )
