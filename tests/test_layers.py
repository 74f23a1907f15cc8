"""The package's shape: imports go only downward, no cycle, state lives in the runtime.

Read from the source (``ast``), so that every import counts: at the top, inside
functions and under ``TYPE_CHECKING``, and the units the registry imports by name
(``integrations/libraries.py``). A new module either falls into a layer below or
this test names it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from otel_errors.integrations.libraries import LIBRARIES

PACKAGE = Path(__file__).resolve().parent.parent / "otel_errors"

# Lowest first. A module may import its own layer and the layers before it.
LAYERS = [
    "helpers",  # _internal.names, _internal.version, _internal.helpers
    "scrubbing",
    "config",
    "model",
    "declarations",  # integrations/libraries.py and each unit's codes, rules, enrichers
    "recording",  # and otel_errors.logging, the public handler
    "export",
    "pipeline",
    "instrumentation",  # integrations' instrumentors and their shared helpers
    "public",  # otel_errors, otel_errors.auto
    "tooling",  # may need extras the runtime never imports
]
BUILD_ONLY = {"otel_errors.integrations._build_metadata"}  # runs in hatchling, not at run time
UNITS = {library.name for library in LIBRARIES}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["otel_errors", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer_name(module: str) -> str:
    parts = module.split(".")[1:]
    if parts in ([], ["auto"]):
        return "public"
    if parts == ["logging"]:
        return "recording"
    if parts[0] == "_internal":
        inner = parts[1] if len(parts) > 1 else "names"
        return "helpers" if inner in ("names", "version", "helpers") else inner
    if parts[0] == "integrations":
        unit = parts[1] if len(parts) > 1 else None
        if unit in (None, "libraries") or (unit in UNITS and parts[2:] in ([], ["rules"])):
            return "declarations"
        return "instrumentation"
    raise AssertionError(f"{module} is in no layer: place it in _layer_name")


def layer_of(module: str) -> int:
    """The index in LAYERS of the layer ``module`` belongs to."""
    name = _layer_name(module)
    assert name in LAYERS, f"{module}: layer {name!r} is not in LAYERS"
    return LAYERS.index(name)


def imports_of(module: str) -> set[str]:
    """Every otel_errors module that ``module`` imports, wherever the import statement is."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (
                node.module or "" if not node.level else ".".join(filter(None, [base, node.module]))
            )
            # ``from package import submodule`` imports the submodule; the package's
            # __init__ runs first anyway, as for any submodule, and is not counted.
            submodules = {f"{target}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(submodules or {target})
    if module == "otel_errors._internal.recording.registry":
        found.update(f"otel_errors.integrations.{library.name}" for library in LIBRARIES)
    return {name for name in found if name in MODULES and name != module}


def test_every_module_is_in_a_layer():
    """A new module is placed on purpose: its layer decides what it may import."""
    for module in MODULES.keys() - BUILD_ONLY:
        layer_of(module)


def test_imports_go_only_downward():
    """Recording never reaches the pipeline, nothing reaches tooling (it needs extras)."""
    upward = [
        f"{module} ({_layer_name(module)}) imports {target} ({_layer_name(target)})"
        for module in sorted(MODULES.keys() - BUILD_ONLY)
        for target in sorted(imports_of(module))
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def _cycle() -> list[str] | None:
    graph = {module: imports_of(module) for module in MODULES}
    # A package imports its parent package's __init__ first: that is not an edge of ours.
    done: set[str] = set()
    for start in sorted(graph):
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(start, iter(sorted(graph[start])))]
        if start in done:
            continue
        path.append(start)
        on_path.add(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
                on_path.add(child)
    return None


def test_no_import_cycle():
    """No module imports itself through others, counting imports inside functions."""
    assert _cycle() is None


def test_the_checks_see_an_upward_import_and_a_cycle(monkeypatch: pytest.MonkeyPatch):
    """The checks above can fail: an injected upward edge and a cycle are found."""
    real = imports_of

    def with_injected(module: str) -> set[str]:
        found = real(module)
        if module == "otel_errors._internal.recording.recorder":
            found.add("otel_errors._internal.pipeline.setup")
        if module == "otel_errors._internal.pipeline.setup":
            found.add("otel_errors._internal.recording.recorder")
        return found

    monkeypatch.setitem(globals(), "imports_of", with_injected)
    assert _cycle() is not None
    recorder, setup = (
        layer_of("otel_errors._internal.recording.recorder"),
        layer_of("otel_errors._internal.pipeline.setup"),
    )
    assert setup > recorder


# Module-level state that is not in the runtime object, each with why. Everything else a
# run keeps lives in ``recording.runtime.Runtime`` (one pointer, ``runtime._current``).
INTERPRETER_STATE: dict[str, dict[str, str]] = {
    "_internal.recording.runtime": {
        "_current": "the one pointer to the runtime",
        "_lock": "guards building the first runtime and its parts; held across os.fork",
    },
    "_internal.helpers.locks": {"_locks": "every lock of ours, released in a forked child"},
    "_internal.helpers.fail_open": {
        "_lock": "the failure reporter must work when everything else failed",
        "_logged": "the first failure of each component is logged once per process",
    },
    "_internal.model.declarations": {"declared": "codes declared by AppError classes"},
    "_internal.scrubbing.key_values": {
        "_verdicts": "memo of a pure function of the key",
        "_backward_verdicts": "memo of a pure function of the key",
        "_keyless": "memo of a pure function of the value's template",
    },
    "_internal.scrubbing.templates": {"_last": "memo of a pure function of the text"},
    "_internal.scrubbing.validators": {
        "_bban_patterns": "the registry's patterns, compiled on first use per country"
    },
    "_internal.pipeline.setup": {"_lock": "one setup at a time"},
    "_internal.pipeline.sdk_patch": {"_installed": "the SDK class is patched once"},
    "_internal.export.local": {"_announced": "the local-files notice is printed once"},
    "_internal.recording.handling": {"_spanless_logged": "a ContextVar: per request"},
    "_internal.recording.request_id": {"current_request_id": "a ContextVar: per request"},
    "logging": {
        "_lock": "the logging handlers are installed once per process",
        "_console": "the installed handler, removed by uninstall",
        "_otel": "the installed handler, removed by uninstall",
        "_originals": "the patched logging methods, restored by uninstall",
    },
    "integrations.process_hooks.instrumentor": {
        "_guard": "re-entrancy guard of the hooks",
        "_active": "the hooks are process-wide",
        "_hooks": "the replaced hooks, restored by uninstrument",
        "_wrapped_loops": "the patched loop classes, restored by uninstrument",
        "_watching_uvloop": "one post-import hook per process",
    },
    "integrations.process_hooks.logging_exc_info": {
        "_guard": "re-entrancy guard of the patch",
        "_active": "one patch per process",
    },
    "integrations.pybreaker.instrumentor": {
        "_lock": "guards the listener",
        "_breakers": "the breakers that exist (weakly), which the gauge reads",
        "_listener": "one listener on pybreaker per process",
        "_gauge_created": "the gauge's callback is registered once",
    },
}


def _is_state(node: ast.stmt) -> bool:
    """A module-level binding of a value: not a type alias, a re-export or a logger."""
    value = getattr(node, "value", None)
    if not isinstance(node, (ast.Assign, ast.AnnAssign)) or value is None:
        return False
    if isinstance(value, (ast.Subscript, ast.Name, ast.Attribute)):
        return False
    return not (
        isinstance(value, ast.Call) and ast.unparse(value.func) in ("logging.getLogger", "TypeVar")
    )


def _run_at_import(body: list[ast.stmt]) -> list[ast.stmt]:
    """The module's statements, and those inside its top-level ``if`` and ``try``."""
    found = []
    for node in body:
        found.append(node)
        if isinstance(node, (ast.If, ast.Try)):
            found += _run_at_import([*node.body, *node.orelse, *getattr(node, "finalbody", [])])
        if isinstance(node, ast.Try):
            found += _run_at_import([s for handler in node.handlers for s in handler.body])
    return found


def module_state(module: str) -> set[str]:
    """Lower-case names bound at module level to a value, and names declared ``global``."""
    tree = ast.parse(MODULES[module].read_text())
    found = {name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names}
    for node in _run_at_import(tree.body):
        if _is_state(node):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]  # type: ignore[attr-defined]
            found.update(
                t.id
                for t in targets
                if isinstance(t, ast.Name) and not t.id.isupper() and not t.id.startswith("__")
            )
    return found


def test_run_state_lives_in_the_runtime():
    """Module-level variables are only the interpreter-level ones named above, with reasons."""
    found = {
        module.removeprefix("otel_errors."): names
        for module in sorted(MODULES.keys() - BUILD_ONLY)
        if (names := module_state(module))
    }
    expected = {module: set(names) for module, names in INTERPRETER_STATE.items()}
    assert found == expected, "new module state belongs in the Runtime (or here, with a reason)"


def test_the_state_check_sees_a_new_module_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The check above can fail: a cache added at module level is found."""
    source = tmp_path / "cache.py"
    source.write_text(
        "import logging\nlogger = logging.getLogger('x')\n_seen: dict = {}\nLIMIT = 3\n"
    )
    monkeypatch.setitem(MODULES, "otel_errors._internal.recording.cache", source)
    assert module_state("otel_errors._internal.recording.cache") == {"_seen"}
