"""Patch on import: start-up imports no library the application has not imported.

Under ``opentelemetry-instrument`` every installed instrumentation loads. The contrib
ones import their libraries (that is the same with the vanilla distro); ours must
not: each waits until the application imports its library, then patches it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from otel_errors._internal.recording.patching import ImportPatches, OnImport, Patch

BIN = Path(sys.executable).parent
LIBRARIES = (
    "aio_pika",
    "aiohttp",
    "aiormq",
    "anyio",
    "botocore",
    "celery",
    "django",
    "fastapi",
    "flask",
    "grpc",
    "h2",
    "httpcore",
    "httpx",
    "pika",
    "psycopg",
    "pybreaker",
    "redis",
    "requests",
    "sqlalchemy",
    "starlette",
    "tenacity",
    "trio",
    "urllib3",
)


def _launch(tmp_path: Path, code: str) -> dict:
    contrib = sorted(
        ep.name
        for ep in entry_points(group="opentelemetry_instrumentor")
        if not ep.name.startswith("otel_errors_")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_SERVICE_NAME="imports",
        OTEL_ERRORS_LOCAL_DIR=str(tmp_path / "data"),
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=",".join(contrib),
    )
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_start_up_imports_none_of_the_instrumented_libraries(tmp_path):
    """With only our instrumentations loaded, no instrumented library is imported."""
    found = _launch(
        tmp_path,
        f"""
        import json, sys
        print(json.dumps(sorted(m for m in {list(LIBRARIES)!r} if m in sys.modules)))
        """,
    )
    assert found == []


def test_a_library_imported_later_is_patched_then(tmp_path):
    """Importing requests after start-up applies our patch to it at that moment."""
    found = _launch(
        tmp_path,
        """
        import json, sys
        before = "requests" in sys.modules
        import requests.adapters
        send = vars(requests.adapters.HTTPAdapter)["send"]
        print(json.dumps([before, type(send).__name__]))
        """,
    )
    assert found == [False, "FunctionWrapper"]


class _Target:
    def method(self) -> str:
        return "original"


def _loud(wrapped, instance, args, kwargs):
    return "patched " + wrapped(*args, **kwargs)


def test_patches_of_an_imported_module_apply_at_once_and_undo():
    """For a module imported already, apply patches now; remove restores the original."""
    patches = ImportPatches("tests", Patch(__name__, "_Target.method", _loud))
    patches.apply()
    try:
        assert _Target().method() == "patched original"
        patches.apply()  # a second instrument() does not wrap twice
        assert _Target().method() == "patched original"
    finally:
        patches.remove()
    assert _Target().method() == "original"


def test_a_failing_step_is_counted_and_the_others_apply(metric_points):
    """A step that raises never reaches the application; the next steps still apply."""

    def broken(module):
        raise RuntimeError("cannot patch")

    undone = []
    patches = ImportPatches(
        "tests_broken",
        OnImport(__name__, broken, undone.append),
        Patch(__name__, "_Target.method", _loud),
    )
    patches.apply()
    try:
        assert _Target().method() == "patched original"
    finally:
        patches.remove()
    assert undone == []  # what never applied is not undone
    failures = [a["component"] for a, _ in metric_points("otel_errors.internal_failures")]
    assert "tests_broken.patch" in failures


@pytest.mark.parametrize("module", ["json.decoder"])
def test_steps_wait_for_a_module_not_yet_imported(module, monkeypatch):
    """A step for a module imported later runs when it is imported, not before."""
    monkeypatch.delitem(sys.modules, module)
    seen = []
    patches = ImportPatches("tests_wait", OnImport(module, seen.append, lambda m: None))
    patches.apply()
    assert seen == []
    imported = __import__(module, fromlist=["_"])
    assert seen == [imported]
    patches.remove()


def test_start_up_builds_no_registry_redactor_or_recorder(tmp_path):
    """Built on first use: start-up neither compiles the detectors nor reads a catalogue."""
    found = _launch(
        tmp_path,
        """
        import json, sys
        from otel_errors._internal.recording import runtime
        engine = "otel_errors._internal.scrubbing.engine"
        heavy = (engine, "otel_errors._internal.recording.registry",
                 "otel_errors._internal.recording.recorder", "tomllib", "tomli")
        active = runtime.current()
        before = [active.configured, *(m for m in heavy if m in sys.modules)]
        runtime.get_recorder()
        print(json.dumps([before, active.registry_is_built, engine in sys.modules]))
        """,
    )
    assert found == [[True], True, True]
