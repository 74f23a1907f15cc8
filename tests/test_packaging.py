"""The release artefacts: an sdist and a wheel that ``twine check`` accepts and that install.

``python -m build`` makes both (the wheel from the sdist); the wheel installs into a
fresh environment with its console script and entry points.

``build`` and ``twine`` run from an environment of their own built from the lock
(``tests/_venvs.py``), so the check is the same in the oldest-supported run, whose
``test`` group does not carry them. The fresh environment takes the package's
dependencies from the package registry, at the locked versions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from _venvs import LOCK, ROOT, locked_venv

from otel_errors._internal.version import __version__
from otel_errors.integrations.libraries import LIBRARIES


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and the wheel, built from this checkout (the wheel from the sdist)."""
    tools = locked_venv("packaging-tools", ["build", "twine"])
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(tools), "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    check = subprocess.run(
        [str(tools), "-m", "twine", "check", "--strict", *map(str, sorted(out.iterdir()))],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("PASSED") == 2, check.stdout
    return out


def test_sdist_and_wheel_carry_the_one_version(dist):
    """Both artefacts are named after ``_internal/version.py``; the sdist has what it needs."""
    names = sorted(p.name for p in dist.iterdir())
    assert names == [
        f"otel_errors-{__version__}-py3-none-any.whl",
        f"otel_errors-{__version__}.tar.gz",
    ]
    with tarfile.open(dist / f"otel_errors-{__version__}.tar.gz") as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    assert {"README.md", "CHANGELOG.md", "pyproject.toml"} <= members
    assert "otel_errors/integrations/_build_metadata.py" in members  # the build needs it
    with zipfile.ZipFile(dist / f"otel_errors-{__version__}-py3-none-any.whl") as wheel:
        files = set(wheel.namelist())
    assert "otel_errors/py.typed" in files
    assert "otel_errors/integrations/redis/errors.toml" in files
    assert "otel_errors/_internal/model/areas/generic.toml" in files
    assert "otel_errors/integrations/_build_metadata.py" not in files


def test_changelog_has_the_release():
    """The version being built has its own CHANGELOG section."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(
        rf"^## \[{re.escape(__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.MULTILINE
    )


def test_wheel_installs_into_a_fresh_environment(dist, tmp_path):
    """Import, version, console script and the OpenTelemetry entry points, from the wheel."""
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (wheel,) = dist.glob("*.whl")
    subprocess.run(
        [sys.executable, "-m", "pip", "-q", "--python", str(python), "install",
         "--disable-pip-version-check", "-c", str(LOCK), str(wheel)],
        check=True, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    probe = """
import json, otel_errors
from importlib import metadata
groups = ("opentelemetry_distro", "opentelemetry_configurator", "opentelemetry_instrumentor",
          "opentelemetry_traces_exporter", "console_scripts")
dist = metadata.distribution("otel-errors")
print(json.dumps({
    "file": otel_errors.__file__,
    "version": dist.version,
    "extras": dist.metadata.get_all("Provides-Extra"),
    "entry_points": {g: sorted(e.name for e in dist.entry_points if e.group == g) for g in groups},
}))
"""
    found = json.loads(
        subprocess.run(
            [str(python), "-c", probe], cwd=tmp_path, check=True, capture_output=True, text=True
        ).stdout
    )
    assert found["file"].startswith(str(venv))  # the wheel, not this checkout
    assert found["version"] == __version__
    points = found["entry_points"]
    assert points["opentelemetry_distro"] == ["otel_errors"]
    assert points["opentelemetry_configurator"] == ["otel_errors"]
    assert points["opentelemetry_traces_exporter"] == ["otel_errors_local"]
    assert points["console_scripts"] == ["otel-errors"]
    assert points["opentelemetry_instrumentor"] == sorted(
        f"otel_errors_{lib.entry_point or lib.name}" for lib in LIBRARIES if lib.instrumentor
    )
    assert {"flask", "deploy"} <= set(found["extras"])
    help_text = subprocess.run(
        [str(venv / "bin" / "otel-errors"), "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "doctor" in help_text
    assert "report" in help_text
