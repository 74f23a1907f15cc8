"""Patches applied when their library is imported, never by importing it.

An instrumentor's patches wait for the application to import the module that holds
what they patch (wrapt's post-import hooks); if it is imported already they apply at
once. So start-up imports nothing the application has not imported, and an
instrumentor costs nothing for a library the application never uses. ``remove``
undoes what was applied and stops waiting (wrapt cannot unregister a hook, so ours
stay registered and do nothing until applied again).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from otel_errors._internal.helpers import locks
from otel_errors._internal.helpers.fail_open import report_internal_failure

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


@dataclass(frozen=True)
class Patch:
    """``wrapper`` around ``<module>.<target>`` (``target`` like ``Class.method``)."""

    module: str
    target: str
    wrapper: Callable[..., Any]


@dataclass(frozen=True)
class OnImport:
    """A step of our own to run when ``module`` is imported, undone by ``undo``."""

    module: str
    apply: Callable[[ModuleType], None]
    undo: Callable[[ModuleType], None]


class ImportPatches:
    """Patches and steps of one instrumentor, applied when their modules are imported.

    Args:
        name: The instrumentor, for failures counted on ``otel_errors.internal_failures``.
        steps: What to apply, in order, per module.
    """

    def __init__(self, name: str, *steps: Patch | OnImport) -> None:
        """Nothing is applied until :meth:`apply`."""
        self.name = name
        self.steps = steps
        self._active = False
        self._registered: set[str] = set()
        self._applied: dict[Patch | OnImport, ModuleType] = {}
        self._lock = locks.rlock()

    def apply(self) -> None:
        """Applies every step now for imported modules, and later for the others."""
        with self._lock:
            self._active = True
            for module in dict.fromkeys(step.module for step in self.steps):
                if module not in self._registered:
                    self._registered.add(module)
                    wrapt.register_post_import_hook(self._on_import, module)
                else:
                    self._apply_imported(module)

    def remove(self) -> None:
        """Undoes what was applied, newest first; waiting hooks do nothing from now on."""
        with self._lock:
            self._active = False
            applied, self._applied = self._applied, {}
        for step, module in reversed(list(applied.items())):
            if isinstance(step, Patch):
                owner_path, _, attribute = step.target.rpartition(".")
                owner = _resolve(module, owner_path)
                unwrap(owner, attribute)
            else:
                step.undo(module)

    def _apply_imported(self, name: str) -> None:
        module = sys.modules.get(name)
        if module is not None:
            self._on_import(module)

    def _on_import(self, module: ModuleType) -> None:
        with self._lock:
            if not self._active:
                return
            for step in self.steps:
                if step.module != module.__name__ or step in self._applied:
                    continue
                try:
                    if isinstance(step, Patch):
                        wrapt.wrap_function_wrapper(module, step.target, step.wrapper)
                    else:
                        step.apply(module)
                except Exception as failure:
                    report_internal_failure(f"{self.name}.patch", failure)
                    continue
                self._applied[step] = module


def _resolve(module: ModuleType, path: str) -> Any:
    owner: Any = module
    for part in path.split(".") if path else ():
        owner = getattr(owner, part)
    return owner
