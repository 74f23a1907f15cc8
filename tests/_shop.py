"""The example shop as a running service, for the tests and the benchmarks.

The shop and its fake payment provider are started on 127.0.0.1, the shop under the
launcher or plain Python, and always stopped (SIGTERM, then SIGKILL) however the block
ends. Its stderr goes to a file: a full pipe would stall the shop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from _e2e_processes import free_port, http_get, wait_for

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop"
BIN = Path(sys.executable).parent

AUTO = "import otel_errors.auto, runpy; runpy.run_path({path!r}, run_name='__main__')"


@dataclass
class RunningShop:
    """A shop that answers at ``base``."""

    base: str
    process: subprocess.Popen[bytes]
    stderr: Path


def shop_environment(
    *, postgres_dsn: str = "", redis_url: str = "", **extra: str
) -> dict[str, str]:
    """The shop's environment without any OTEL_* of the caller's; empty DSNs mean stand-ins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_SERVICE_NAME="shop", OTEL_ERRORS_CATALOG=str(SHOP / "errors.toml"))
    if postgres_dsn:
        env["SHOP_DATABASE_URL"] = postgres_dsn
    if redis_url:
        env["SHOP_REDIS_URL"] = redis_url
    env.update(extra)
    return env


@contextlib.contextmanager
def running_shop(
    env: Mapping[str, str], workdir: Path, *, bin_dir: Path = BIN, how: str = "launcher"
) -> Iterator[RunningShop]:
    """Starts the payment provider and the shop (``how``: launcher, auto or plain).

    ``workdir`` is outside the repository (the launcher puts the working directory on
    sys.path) and receives ``shop.stderr``.
    """
    python = str(bin_dir / "python")
    shop_port, payments_port = free_port(), free_port()
    env = {
        **env,
        "SHOP_PORT": str(shop_port),
        "PAYMENTS_PORT": str(payments_port),
        "SHOP_PAYMENTS_URL": f"http://127.0.0.1:{payments_port}",
        "SHOP_RECOMMENDER_URL": env.get("SHOP_RECOMMENDER_URL", f"http://127.0.0.1:{free_port()}"),
    }
    app = str(SHOP / "app.py")
    command = {
        "launcher": [str(bin_dir / "opentelemetry-instrument"), python, app],
        "auto": [python, "-c", AUTO.format(path=app)],
        "plain": [python, app],
    }[how]
    stderr_path = workdir / "shop.stderr"
    with (
        subprocess.Popen([python, str(SHOP / "payments.py")], env=env, cwd=workdir) as payments,
        stderr_path.open("w") as stderr,
        subprocess.Popen(command, env=env, stderr=stderr, cwd=workdir) as shop,
    ):
        base = f"http://127.0.0.1:{shop_port}"
        try:
            wait_for(lambda: http_get(f"{base}/health")[0] == 200 or shop.poll() is not None,
                     "the shop to answer /health", 60, interval=0.2)  # fmt: skip
            assert shop.poll() is None, stderr_path.read_text()
            yield RunningShop(base, shop, stderr_path)
        finally:
            for process in (shop, payments):
                _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
