"""One process of ``test_bench_launcher.py``: spans of one case, and the CPU time they cost.

Run under ``opentelemetry-instrument`` (vanilla distro or otel_errors, OTLP/HTTP to a
local sink): ``python launcher_workload.py CASE COUNT [SITES_DIR]``. It runs a few
spans to warm up, flushes, then runs ``COUNT`` spans of ``CASE`` and flushes the
tracer provider again (so the batch processor's export of those spans is paid inside
the measurement), and prints ``{"cpu": seconds}``: the process's CPU time (every
thread: the loop and the exporting thread) over that stretch, start-up excluded.

Cases:

- ``success``: a span whose body does nothing;
- ``repeated``: a span whose body raises nine frames deep, the same place every time
  (one chain of the generated module below), the message changing each time
  (``invalid quantity <n> for order``);
- ``new2`` / ``new10``: a span whose body raises two / ten frames deep through
  functions never run before: every span fails at a new site (distinct code objects,
  in a generated module under ``SITES_DIR``, a real file, as an application's are).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from types import ModuleType

from opentelemetry import trace

WARM_UP = 20
"""Spans run before the measurement (imports, first exports, caches of a running service)."""


def sites_source(depth: int, count: int) -> str:
    """A module of ``count`` call chains ``depth`` functions deep, each raising at its end."""
    lines = []
    for chain in range(count):
        for level in range(depth):
            lines.append(f"def site{chain}_{level}(n):")
            if level + 1 < depth:
                lines.append(f"    site{chain}_{level + 1}(n)")
            else:
                lines.append('    raise ValueError(f"invalid quantity {n} for order")')
    return "\n".join(lines) + "\n"


def write_sites(folder: Path, depth: int, count: int) -> str:
    """Writes the module of :func:`sites_source` into ``folder`` once; returns its name."""
    name = f"bench_sites_{depth}_{count}"
    path = folder / f"{name}.py"
    if not path.exists():
        path.write_text(sites_source(depth, count))
    return name


def _import_sites(depth: int, count: int) -> ModuleType:
    folder = Path(sys.argv[3])
    sys.path.insert(0, str(folder))
    return importlib.import_module(write_sites(folder, depth, count))


def main() -> None:
    case, count = sys.argv[1], int(sys.argv[2])
    tracer = trace.get_tracer("bench")
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "force_flush", lambda: True)
    total = WARM_UP + count
    if case == "success":
        entries = None
    elif case == "repeated":
        entries = [_import_sites(9, 1).site0_0] * total
    elif case in ("new2", "new10"):
        module = _import_sites(int(case[3:]), total)
        entries = [getattr(module, f"site{chain}_0") for chain in range(total)]
    else:
        raise SystemExit(f"unknown case {case!r}")

    def run(first: int, last: int) -> None:
        if entries is None:
            for _ in range(first, last):
                with tracer.start_as_current_span("op"):
                    pass
            return
        for n in range(first, last):
            try:
                with tracer.start_as_current_span("op"):
                    entries[n](n)
            except ValueError:  # noqa: PERF203 - a failing span is the case measured
                pass

    run(0, WARM_UP)
    flush()
    start = time.process_time()
    run(WARM_UP, total)
    flush()
    print(json.dumps({"cpu": time.process_time() - start}))


if __name__ == "__main__":
    main()
