"""Parity harness: real projects' own test suites, under the vanilla distro and under otel_errors.

Each suite (Django's and Starlette's, from their sdists on PyPI, version and sha256
pinned below) runs twice under ``opentelemetry-instrument``, OTLP over HTTP to a
collector stand-in on 127.0.0.1: once in a virtual environment with the vanilla
``opentelemetry-distro``, once in one with otel_errors built from this checkout.
Both environments install the same lock (``tests/parity/<suite>.txt``: the project,
its test requirements, the contrib instrumentations, our dependencies), so the
distro is the only difference. The per-test outcomes are compared; a test that
does worse under otel_errors than under vanilla (passed or skipped there, failed,
errored or not run here) is a parity failure, and the harness exits 1.

Determinism: the suites run in their own fixed order, one process each (Django's
``--parallel 1``). Every test that does worse under otel_errors is run again once
on both sides, with the rest of its module (so its local context stays); it
counts only if the rerun shows the difference again. One that does not is
reported as flaky, not failed; one that does better under otel_errors is only
reported. Tests that fail on both sides are listed, not judged: they fail without
otel_errors too. When more than ``RERUN_LIMIT`` tests do worse, the difference is
systematic and the first run's verdict stands.

Downloads and the four environments are cached under
``${OTEL_ERRORS_CACHE:-~/.cache/otel-errors}/parity``, keyed by the sdist hashes,
the lock contents and the Python version; entries of other keys are deleted, so
the cache holds one generation. Run alone::

    .venv/bin/python tests/parity/harness.py                # both suites
    .venv/bin/python tests/parity/harness.py --suite django --report parity.json
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GLUE = HERE / "glue"
sys.path.insert(0, str(ROOT / "tests"))

from _collector_standin import CollectorStandIn  # noqa: E402 - needs the path above

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SIDES = ("vanilla", "otel_errors")
RERUN_LIMIT = 200
"""More tests doing worse under otel_errors than this are a systematic difference."""
DEFAULT_TIMEOUT = 900.0
"""Seconds one run of one suite may take before it is killed (and its tests count as not run)."""
_RANK = {"passed": 2, "xfailed": 2, "skipped": 1, "failed": 0, "error": 0, "not run": 0}
"""How well a test did: a parity failure is a lower rank under otel_errors than under vanilla."""
_SEVERITY = {"passed": 0, "xfailed": 0, "skipped": 1, "failed": 2, "error": 3}
"""Which of several outcomes recorded for one test stands (setup, call, teardown, subtests)."""


class HarnessError(Exception):
    """The harness itself could not run (download, install, a run without any result)."""


@dataclass(frozen=True)
class Suite:
    """One project's own test suite, taken from its sdist.

    Attributes:
        name: The suite's name (its lock is ``tests/parity/<name>.txt``).
        project: The PyPI project.
        version: The sdist's version; the lock pins the same one.
        sha256: The sdist's hash, checked by pip.
        extract: Members of the sdist (below its top folder) the run needs.
        workdir: Where the suite runs, below the extracted sdist.
        labels: What the run is given to run (test labels or paths).
        why: Why these parts (printed in the report).
        options: Options of the suite's runner that both sides get.
    """

    name: str
    project: str
    version: str
    sha256: str
    extract: tuple[str, ...]
    workdir: str
    labels: tuple[str, ...]
    why: str
    options: tuple[str, ...] = ()

    @property
    def lock(self) -> Path:
        """The suite's lock file."""
        return HERE / f"{self.name}.txt"

    def command(self, python: Path, results: Path, tests: Sequence[str]) -> list[str]:
        """The launcher command running ``tests`` (all of :attr:`labels` when empty)."""
        launcher = [str(python.parent / "opentelemetry-instrument"), str(python)]
        if self.name == "django":
            return [
                *launcher,
                "runtests.py",
                "--settings=parity_settings",
                *self.options,
                *(tests or self.labels),
            ]
        if tests:
            results.with_suffix(".args").write_text("\n".join(tests) + "\n")
            selection = [f"@{results.with_suffix('.args')}"]
        else:
            selection = list(self.labels)
        plugins = ["-p", "parity_pytest", "-p", "no:cacheprovider"]
        return [*launcher, "-m", "pytest", *plugins, *self.options, *selection]

    def pythonpath(self, workdir: Path) -> str:
        """The glue modules, and Django's test settings, which the launcher imports early."""
        paths = [str(GLUE)] + ([str(workdir)] if self.name == "django" else [])
        return os.pathsep.join(paths)

    def module_of(self, test_id: str) -> str:
        """The rerun label of a test's module (keeps the test's local context)."""
        if test_id.startswith("collect:"):
            return test_id.removeprefix("collect:")
        if self.name == "django":
            # ``view_tests.tests.test_debug.DebugViewTests.test_x`` -> its module; an
            # ``_ErrorHolder`` id reads ``setUpClass (view_tests.tests.test_debug.X)``.
            match = re.search(r"\(([\w.]+)\)", test_id)
            parts = (match.group(1) if match else test_id).split(".")
            classes = [i for i, part in enumerate(parts) if part[:1].isupper()]
            return ".".join(parts[: classes[0] if classes else -1])
        return test_id.split("::", 1)[0]


SUITES = {
    "django": Suite(
        name="django",
        project="django",
        version="5.2.20",
        sha256="37a2895b4039ad388ffc8fb62603aba497b0c2fe884eb40ead3e8ad7a3ccad57",
        extract=("tests/",),
        workdir="tests",
        options=("--parallel=1", "--noinput", "-v", "0"),
        labels=(
            "handlers",
            "asgi",
            "wsgi",
            "servers",
            "builtin_server",
            "middleware",
            "middleware_exceptions",
            "view_tests",
            "urlpatterns_reverse",
            "logging_tests",
            "requests_tests",
            "file_uploads",
            "responses",
            "httpwrappers",
            "conditional_processing",
            "csrf_tests",
            "test_client",
            "test_client_regress",
        ),
        why=(
            "WSGI and ASGI request handling and its exception-to-response conversion "
            "(handlers, asgi), the middleware chain and exceptions raised in it "
            "(middleware, middleware_exceptions), the error views and the technical 500 "
            "page with its exception reporter (view_tests), the django.request logging "
            "(logging_tests), request parsing errors (requests_tests), CSRF 403 answers "
            "(csrf_tests) and the test client, which re-raises a view's exception through "
            "got_request_exception (test_client, test_client_regress): the places where "
            "otel_errors' middleware, logging hooks and exception recording act"
        ),
    ),
    "starlette": Suite(
        name="starlette",
        project="starlette",
        version="1.10.0",
        sha256="b8399098d4c1e3522734f7235dc79b1fc967f96cf139c81e0fa30479e0685f9b",
        extract=("tests/", "pyproject.toml"),
        workdir="",
        labels=("tests",),
        # Contrib's Starlette instrumentation imports starlette, hence anyio, when the
        # launcher starts, before pytest loads anyio's plugin: pytest warns that it
        # cannot rewrite anyio's asserts, and the suite's ``filterwarnings = error``
        # stops the session before collecting a test, with the vanilla distro too. Only
        # that warning is let through; every other one still fails as the suite wants.
        options=("-W", "ignore::pytest.PytestAssertRewriteWarning", "-q"),
        why="the whole suite, on the asyncio and trio backends (about a minute)",
    ),
}


@dataclass
class Run:
    """One run of one suite on one side."""

    outcomes: dict[str, tuple[str, str]]
    """Test id -> (outcome, reason); tests the run never reached are absent."""
    exit_code: int
    wall: float
    cpu: float
    tail: str
    """The end of the run's output: why tests are missing when it ended early."""
    telemetry: dict[str, Any] = field(default_factory=dict)


def cache_dir() -> Path:
    """``${OTEL_ERRORS_CACHE:-~/.cache/otel-errors}/parity``."""
    base = os.environ.get("OTEL_ERRORS_CACHE") or str(Path.home() / ".cache" / "otel-errors")
    return Path(base).expanduser() / "parity"


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """One harness at a time per cache: another checkout's run waits instead of racing."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _key(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def _prune(folder: Path, prefix: str, keep: set[str]) -> None:
    """Deletes the entries of ``folder`` named ``prefix*`` other than ``keep``."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(prefix) and entry.name not in keep:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def _pip(*args: str, python: Path | None = None) -> None:
    command = [sys.executable, "-m", "pip", "-q"]
    if python is not None:
        command += ["--python", str(python)]
    try:
        subprocess.run([*command, *args], check=True, capture_output=True, text=True, timeout=1800)
    except subprocess.CalledProcessError as failure:
        raise HarnessError(f"pip {' '.join(args)} failed:\n{failure.stderr[-3000:]}") from None


def ensure_source(suite: Suite, cache: Path) -> Path:
    """The suite's sdist, downloaded by pip (which checks the pinned hash), partly extracted."""
    stem = f"{suite.project}-{suite.version}-{suite.sha256[:12]}"
    target = cache / "src" / stem
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            requirement = Path(scratch, "sdist.txt")
            requirement.write_text(
                f"{suite.project}=={suite.version} --hash=sha256:{suite.sha256}\n"
            )
            _pip(
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                scratch,
                "-r",
                str(requirement),
            )
            (archive,) = Path(scratch).glob("*.tar.gz")
            _extract(archive, target, suite.extract)
        (target / ".complete").touch()
    _prune(target.parent, f"{suite.project}-", {stem})
    return target / suite.workdir


def _extract(archive: Path, target: Path, wanted: tuple[str, ...]) -> None:
    with tarfile.open(archive) as sdist:
        members = []
        for member in sdist.getmembers():
            _, _, inner = member.name.partition("/")
            if member.isfile() and inner.startswith(wanted):
                member.name = inner
                members.append(member)
        sdist.extractall(target, members=members, filter="data")


def ensure_venv(name: str, lock_path: Path, side: str, cache: Path, *, bootstrap: bool) -> Path:
    """A side's environment from a lock: with the vanilla distro, or without it for otel_errors.

    Args:
        name: The environment's name (a suite, or ``startup`` for the benchmark).
        lock_path: The lock holding both sides' needs.
        side: ``vanilla`` or ``otel_errors`` (which gets the checkout from
            :func:`install_checkout`).
        cache: The harness's cache directory.
        bootstrap: Check that the lock holds every instrumentation
            ``opentelemetry-bootstrap`` would install in the vanilla environment.

    Returns:
        The environment's Python.
    """
    lock = lock_path.read_text()
    python_version = ".".join(map(str, sys.version_info[:3]))
    folder = f"{name}-{side}-{_key(lock, side, python_version, sys.base_prefix)}"
    venv = cache / "venvs" / folder
    python = venv / "bin" / "python"
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        requirements = [
            line
            for line in lock.splitlines()
            if not (side == "otel_errors" and line.startswith("opentelemetry-distro=="))
        ]
        lock_copy = venv / "requirements.txt"
        lock_copy.write_text("\n".join(requirements) + "\n")
        _pip("install", "--no-deps", "-r", str(lock_copy), python=python)
        if bootstrap and side == "vanilla":
            _check_bootstrap(venv)
        (venv / ".complete").touch()
    _prune(venv.parent, f"{name}-{side}-", {folder})
    return python


def _check_bootstrap(venv: Path) -> None:
    """The lock holds every instrumentation ``opentelemetry-bootstrap`` would install here."""
    wanted = subprocess.run(
        [str(venv / "bin" / "opentelemetry-bootstrap"), "-a", "requirements"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    installed = {line.split("==")[0] for line in (venv / "requirements.txt").read_text().split()}
    missing = sorted(r for r in wanted if r.split("==")[0] not in installed)
    if missing:
        raise HarnessError(f"add to the suite's .in file and relock (tests/lock.sh): {missing}")


def install_checkout(python: Path, cache: Path) -> None:
    """Builds otel_errors from this checkout and installs it, unless that build is installed."""
    package = (ROOT / "otel_errors").rglob("*")
    files = [
        ROOT / "pyproject.toml",
        *sorted(p for p in package if p.is_file() and "__pycache__" not in p.parts),
    ]
    build = _key(*(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes() for p in files))
    marker = python.parent.parent / ".otel-errors-build"
    if marker.exists() and marker.read_text() == build:
        return
    with tempfile.TemporaryDirectory(dir=cache) as wheels:
        _pip("wheel", "--no-deps", "-w", wheels, str(ROOT))
        (wheel,) = Path(wheels).glob("*.whl")
        _pip("install", "--no-deps", "--force-reinstall", str(wheel), python=python)
    marker.write_text(build)


def child_env(python: Path, extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without OpenTelemetry, Python, pytest and Django settings."""
    dropped = ("OTEL_", "PYTHON", "PYTEST_", "DJANGO_", "VIRTUAL_ENV", "COV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


def wait(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, float]:
    """Waits for ``process`` (killing its group past ``timeout``); returns exit code and CPU s."""

    def kill() -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_utime + usage.ru_stime


def run_side(
    suite: Suite, python: Path, workdir: Path, tests: Sequence[str], timeout: float
) -> Run:
    """Runs ``tests`` (or the suite's labels) under the launcher, OTLP to a fresh stand-in."""
    standin = CollectorStandIn(grpc_receiver=False)
    with tempfile.TemporaryDirectory(prefix=f"parity-{suite.name}-") as scratch:
        results = Path(scratch, "results.jsonl")
        results.touch()
        env = child_env(
            python,
            {
                "OTEL_SERVICE_NAME": f"parity-{suite.name}",
                "OTEL_EXPORTER_OTLP_ENDPOINT": standin.http_endpoint,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                "PYTHONPATH": suite.pythonpath(workdir),
                "DJANGO_SETTINGS_MODULE": "parity_settings",
                "PARITY_RESULTS": str(results),
            },
        )
        output = Path(scratch, "output.txt")
        started = time.perf_counter()
        with output.open("wb") as sink:
            process = subprocess.Popen(
                suite.command(python, results, tests),
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            exit_code, cpu = wait(process, timeout)
        wall = time.perf_counter() - started
        outcomes = _read_outcomes(results)
        tail = output.read_text(errors="replace")[-3000:]
    standin.close()
    spans = standin.spans()
    telemetry = {
        "spans": len(spans),
        "logs": len(standin.log_records()),
        "metric_exports": len(standin.metrics()),
        "span_scopes": dict(Counter(_scope_names(standin)).most_common()),
        "error_spans": sum(1 for s in spans if s.status.code == 2),  # STATUS_CODE_ERROR
    }
    if exit_code < 0 or wall >= timeout:
        tail += f"\n[killed after {timeout:.0f} s]"
    return Run(outcomes, exit_code, wall, cpu, tail, telemetry)


def _scope_names(standin: CollectorStandIn) -> list[str]:
    with standin._lock:
        requests = list(standin._received.traces)
    return [
        scope.scope.name
        for request in requests
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for _ in scope.spans
    ]


def _read_outcomes(results: Path) -> dict[str, tuple[str, str]]:
    outcomes: dict[str, tuple[str, str]] = {}
    for line in results.read_text().splitlines():
        entry = json.loads(line)
        previous = outcomes.get(entry["id"])
        if previous is None or _SEVERITY[entry["outcome"]] > _SEVERITY[previous[0]]:
            outcomes[entry["id"]] = (entry["outcome"], entry["reason"])
    return outcomes


def _outcome(run: Run, test: str) -> tuple[str, str]:
    return run.outcomes.get(test, ("not run", run.tail))


def _worse(vanilla: Run, ours: Run, test: str) -> bool:
    """Whether ``test`` did worse under otel_errors (a test only ours ran counts when it fails)."""
    theirs = vanilla.outcomes.get(test, ("passed", ""))[0]
    return _RANK[_outcome(ours, test)[0]] < _RANK[theirs]


def counts(run: Run) -> dict[str, int]:
    """Tests run and each outcome's count."""
    tally = Counter(outcome for outcome, _ in run.outcomes.values())
    return {
        "run": len(run.outcomes),
        "passed": tally["passed"],
        "failed": tally["failed"],
        "errors": tally["error"],
        "skipped": tally["skipped"],
        "xfailed": tally["xfailed"],
    }


_EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(: |:?$)")


def reason_line(reason: str) -> str:
    """The line of a failure's text that names it: pytest's first ``E`` line, else the exception."""
    lines = reason.strip().splitlines()
    pytest_lines = [line[1:].strip() for line in lines if line.startswith("E ")]
    unittest_lines = [
        line
        for line in lines
        if _EXCEPTION_LINE.match(line)
        and not line.startswith(("Traceback", "During handling", "The above exception"))
    ]
    meaningful = pytest_lines[:1] or unittest_lines[-1:] or [x for x in lines if x.strip()][-1:]
    return (meaningful or ["(no output)"])[0][:300]


def compare(suite: Suite, runs: dict[str, Run], rerun: dict[str, Run] | None) -> dict[str, Any]:
    """Verdicts for one suite: regressions (reproduced), flaky differences, both-failed counts."""
    vanilla, ours = runs["vanilla"], runs["otel_errors"]
    tests = sorted(set(vanilla.outcomes) | set(ours.outcomes))
    worse = [t for t in tests if _worse(vanilla, ours, t)]
    regressions, flaky = [], []
    for test in worse:
        entry = {
            "test": test,
            "vanilla": vanilla.outcomes.get(test, ("not run", ""))[0],
            "otel_errors": _outcome(ours, test)[0],
            "reason": reason_line(_outcome(ours, test)[1]),
            "detail": _outcome(ours, test)[1][-1500:],
        }
        if rerun is None or _worse(rerun["vanilla"], rerun["otel_errors"], test):
            regressions.append(entry)
        else:
            entry["rerun"] = {side: _outcome(rerun[side], test)[0] for side in SIDES}
            flaky.append(entry)
    better = [
        {
            "test": t,
            "vanilla": _outcome(vanilla, t)[0],
            "vanilla_reason": reason_line(_outcome(vanilla, t)[1]),
        }
        for t in tests
        if _RANK[_outcome(ours, t)[0]] > _RANK[_outcome(vanilla, t)[0]]
    ]
    both_failed = [
        {"test": t, "vanilla_reason": reason_line(_outcome(vanilla, t)[1])}
        for t in tests
        if _RANK[_outcome(vanilla, t)[0]] == 0 and _RANK[_outcome(ours, t)[0]] == 0
    ]
    return {
        "suite": suite.name,
        "project": f"{suite.project}=={suite.version}",
        "sdist_sha256": suite.sha256,
        "labels": list(suite.labels),
        "why": suite.why,
        "counts": {side: counts(runs[side]) for side in SIDES},
        "exit_codes": {side: runs[side].exit_code for side in SIDES},
        "wall_seconds": {side: round(runs[side].wall, 1) for side in SIDES},
        "cpu_seconds": {side: round(runs[side].cpu, 1) for side in SIDES},
        "wall_ratio": round(ours.wall / vanilla.wall, 2),
        "cpu_ratio": round(ours.cpu / vanilla.cpu, 2) if vanilla.cpu else None,
        "telemetry": {side: runs[side].telemetry for side in SIDES},
        "regressions": regressions,
        "flaky": flaky,
        "rerun": "none needed" if rerun is None and not worse else _rerun_note(rerun, worse),
        "better_under_otel_errors": better,
        "failed_under_both": both_failed,
    }


def _rerun_note(rerun: dict[str, Run] | None, worse: list[str]) -> str:
    if rerun is None:
        return f"none: {len(worse)} tests doing worse is a systematic difference"
    return f"{len(rerun['vanilla'].outcomes)} tests of their modules, both sides"


def run_suite(suite: Suite, cache: Path, timeout: float) -> dict[str, Any]:
    """Prepares, runs and compares one suite on both sides."""
    workdir = ensure_source(suite, cache)
    pythons = {
        side: ensure_venv(suite.name, suite.lock, side, cache, bootstrap=True) for side in SIDES
    }
    install_checkout(pythons["otel_errors"], cache)
    runs = {side: run_side(suite, pythons[side], workdir, (), timeout) for side in SIDES}
    if not runs["vanilla"].outcomes:
        raise HarnessError(f"{suite.name}: no test ran under vanilla:\n{runs['vanilla'].tail}")
    if not runs["vanilla"].telemetry["spans"]:
        raise HarnessError(f"{suite.name}: vanilla exported no span; the launcher did not run")
    tests = set(runs["vanilla"].outcomes) | set(runs["otel_errors"].outcomes)
    differing = sorted(t for t in tests if _worse(runs["vanilla"], runs["otel_errors"], t))
    rerun = None
    if differing and len(differing) <= RERUN_LIMIT:
        modules = sorted({suite.module_of(t) for t in differing})
        rerun = {side: run_side(suite, pythons[side], workdir, modules, timeout) for side in SIDES}
    return compare(suite, runs, rerun)


def summary(report: dict[str, Any]) -> str:
    """The human-readable part of one suite's report."""
    lines = [f"{report['project']} ({', '.join(report['labels'])})"]
    for side in SIDES:
        c, t = report["counts"][side], report["telemetry"][side]
        wall, cpu = report["wall_seconds"][side], report["cpu_seconds"][side]
        lines.append(
            f"  {side:12} run {c['run']:5}  passed {c['passed']:5}  failed {c['failed']:4}  "
            f"errors {c['errors']:4}  skipped {c['skipped']:4}  xfailed {c['xfailed']:3}  "
            f"wall {wall:6.1f} s  cpu {cpu:6.1f} s  "
            f"exit {report['exit_codes'][side]}  spans {t['spans']}  logs {t['logs']}"
        )
    lines.append(
        f"  wall-time ratio otel_errors/vanilla {report['wall_ratio']:.2f} "
        f"(cpu {report['cpu_ratio']:.2f}); failed under both: {len(report['failed_under_both'])}; "
        f"rerun: {report['rerun']}"
    )
    regressions = report["regressions"]
    lines.append(f"  passed under vanilla, failed under otel_errors: {len(regressions)}")
    by_reason = Counter(_shape(r["reason"]) for r in regressions)
    for reason, count in by_reason.most_common(15):
        examples = [r["test"] for r in regressions if _shape(r["reason"]) == reason][:3]
        lines.append(f"    {count:4} x {reason}")
        lines.extend(f"           {example}" for example in examples)
    lines.extend(
        f"  flaky (not reproduced on rerun): {entry['test']} {entry['rerun']}"
        for entry in report["flaky"]
    )
    lines.extend(
        f"  better under otel_errors: {entry['test']} (vanilla: {entry['vanilla_reason']})"
        for entry in report["better_under_otel_errors"][:10]
    )
    return "\n".join(lines)


def _shape(reason: str) -> str:
    """A reason without its ids and addresses, so that the same failure groups together."""
    return re.sub(r"\b(0x)?[0-9a-f]{8,}\b", "…", reason)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the chosen suites; exit 0 at parity, 1 on a parity failure, 2 if the harness failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", action="append", choices=sorted(SUITES))
    parser.add_argument("--report", type=Path, help="also write the full report as JSON here")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    options = parser.parse_args(argv)
    cache = cache_dir()
    started = time.perf_counter()
    try:
        with locked(cache):
            reports = [
                run_suite(SUITES[name], cache, options.timeout) for name in options.suite or SUITES
            ]
    except HarnessError as failure:
        print(f"parity harness: {failure}", file=sys.stderr)
        return 2
    for report in reports:
        print(summary(report))
    print(f"parity harness: {time.perf_counter() - started:.0f} s in all")
    if options.report:
        options.report.write_text(json.dumps(reports, indent=1) + "\n")
    return 1 if any(report["regressions"] for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
