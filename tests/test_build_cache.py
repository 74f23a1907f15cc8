"""The binaries' cache keeps what later runs need, not Go's caches (issue 16: < 1 GB).

``collector-config/build.sh`` builds the Collector, Jaeger, Prometheus, Alertmanager
and kustomize with Go, whose module and build caches grow to about 9 GB and are of no
use once the binaries are kept. Run on the real cache after the test command's own
``build.sh`` (so every binary is there and the run is warm): a leftover Go cache, as an
interrupted build leaves it (module files read-only), is gone afterwards.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("OTEL_ERRORS_CACHE") or Path.home() / ".cache" / "otel-errors")
BINARIES = ("otelcol-otel-errors", "jaeger", "prometheus", "alertmanager", "kustomize")


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


@pytest.mark.skipif(
    os.environ.get("OTEL_ERRORS_KEEP_GO_CACHE") == "true", reason="Go's caches kept on purpose"
)
def test_build_leaves_the_binaries_and_no_go_cache():
    """A warm build.sh deletes a leftover Go cache; the binaries stay well under 1 GB."""
    if not all((CACHE / "bin" / name).exists() for name in BINARIES):
        pytest.skip(f"the binaries are not built in {CACHE} (tests/run.sh builds them first)")
    leftover = CACHE / "go" / "mod" / "example.com" / "module@v1.0.0"
    leftover.mkdir(parents=True, exist_ok=True)
    (leftover / "go.mod").write_text("module example.com/module\n")
    for path in (leftover / "go.mod", leftover):
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    result = subprocess.run(
        ["bash", str(ROOT / "collector-config" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "OTEL_ERRORS_CACHE": str(CACHE)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "OTELCOL_BIN=" in result.stdout
    assert not (CACHE / "go").exists(), result.stderr[-2000:]
    assert _size(CACHE / "bin") < 1 << 30
