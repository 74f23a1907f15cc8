"""Fresh virtual environments built from the locked versions, cached between runs.

The doctor and packaging tests need environments that differ in what is installed
(with and without the contrib instrumentations), which the test's own ``.venv``
cannot show. Each is built once with pip from ``tests/locks/dev.txt`` (exact
versions) into ``${OTEL_ERRORS_CACHE:-~/.cache/otel-errors}/venvs/<name>-<key>``,
keyed by the lock, the requirements and the interpreter, like the parity harness's
environments; this checkout is then (re)installed from a wheel whenever its source
changed (``harness.install_checkout``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "parity"))
import harness

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "tests" / "locks" / "dev.txt"


def cache_dir() -> Path:
    """``${OTEL_ERRORS_CACHE:-~/.cache/otel-errors}/venvs``."""
    base = os.environ.get("OTEL_ERRORS_CACHE") or str(Path.home() / ".cache" / "otel-errors")
    return Path(base).expanduser() / "venvs"


def locked_venv(name: str, requirements: list[str]) -> Path:
    """The environment's Python, with ``requirements`` (``{root}``: this checkout) as locked."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for part in (
        LOCK.read_bytes(),
        (ROOT / "pyproject.toml").read_bytes(),
        (ROOT / "otel_errors" / "integrations" / "libraries.py").read_bytes(),
        "\0".join(requirements).encode(),
        sys.version.encode(),
        sys.base_prefix.encode(),
    ):
        digest.update(part)
    folder = f"{name}-{digest.hexdigest()[:12]}"
    venv = cache / folder
    python = venv / "bin" / "python"
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
            wanted = [r.format(root=ROOT) for r in requirements]
            subprocess.run(
                [sys.executable, "-m", "pip", "-q", "--python", str(python), "install",
                 "--disable-pip-version-check", "-c", str(LOCK), *wanted],
                check=True, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            (venv / ".complete").touch()
        for entry in cache.iterdir():
            if entry.name.startswith(f"{name}-") and entry.name != folder:
                shutil.rmtree(entry, ignore_errors=True)
        harness.install_checkout(python, cache)
    return python
