"""``otel-errors doctor``: what this environment will do with errors, checked, in one screen.

The questions a newcomer asks first are about the environment, not the code: is my
framework's instrumentation there (contrib and ours), where do spans go, does the
collector answer, where are the local files, is my catalogue read. Each answer here
is read the way the launcher and the exporters read it (entry points and their
dependency checks, ``OTEL_*`` variables with the distro's defaults applied, the
catalogue loaded by a fresh registry), so the doctor cannot tell a story the run
would contradict. Nothing is written or created; the only traffic is one bounded
request per distinct OTLP endpoint.
"""

from __future__ import annotations

import os
import platform
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from otel_errors._internal import scrubbing
from otel_errors._internal.config.defaults import LOCAL_EXPORTER, apply_environment_defaults
from otel_errors._internal.config.environment_variables import OTEL_ERRORS_CATALOG
from otel_errors._internal.config.settings import Settings
from otel_errors._internal.model.catalog import CatalogError
from otel_errors._internal.recording.registry import Registry
from otel_errors._internal.tooling.local_data import locate
from otel_errors._internal.version import __version__
from otel_errors.integrations.libraries import LIBRARIES, Library

if TYPE_CHECKING:
    from collections.abc import Mapping

_GROUP = "opentelemetry_instrumentor"
_SIGNALS = ("traces", "metrics", "logs")
_HTTP_PATHS = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}
_BUILT_IN = {"sqlite3": "sqlite3", "process_hooks": ""}  # no distribution to look up


@dataclass
class Findings:
    """The doctor's lines, by section, and the problems among them."""

    sections: list[tuple[str, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def section(self, title: str) -> list[str]:
        """A new section; append its lines to the returned list."""
        lines: list[str] = []
        self.sections.append((title, lines))
        return lines

    def render(self) -> str:
        """Plain text, one indented block per section, problems last."""
        out: list[str] = []
        for title, lines in self.sections:
            out += [title, *(f"  {line}" for line in lines), ""]
        if self.problems:
            out.append(f"{len(self.problems)} problem(s):")
            out += [f"  - {p}" for p in self.problems]
        else:
            out.append("No problems found.")
        return "\n".join(out) + "\n"


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _requirement_name(requirement: str) -> str:
    for stop in "<>=!~ ;[":
        requirement = requirement.split(stop, 1)[0]
    return requirement.strip()


def _library_version(library: Library) -> str | None:
    """The installed version of the library (its first requirement), or None."""
    if library.name in _BUILT_IN:
        return "built in"
    if library.name == "psycopg2":
        return _dist_version("psycopg2") or _dist_version("psycopg2-binary")
    return _dist_version(_requirement_name(library.requires[0])) if library.requires else None


def _disabled(environ: Mapping[str, str]) -> set[str]:
    value = environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return {name.strip() for name in value.split(",") if name.strip()}


def _entry_point_state(entry: metadata.EntryPoint | None, disabled: set[str]) -> str:
    """``on`` or why not, as the launcher decides (disabled list, dependency check)."""
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

    if entry is None:
        return "not installed"
    if "*" in disabled or entry.name in disabled:
        return "off (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)"
    dist = entry.dist
    conflict = get_dist_dependency_conflicts(dist) if dist is not None else None
    return f"off ({conflict})" if conflict else "on"


def _libraries(findings: Findings, environ: Mapping[str, str]) -> None:
    lines = findings.section("Libraries (instrumentation as the launcher would load it)")
    entry_points = {e.name: e for e in metadata.entry_points(group=_GROUP)}
    by_dist: dict[str, list[metadata.EntryPoint]] = {}
    for entry in entry_points.values():
        if entry.dist is not None:
            by_dist.setdefault(entry.dist.name.lower().replace("_", "-"), []).append(entry)
    disabled = _disabled(environ)
    absent = []
    for library in LIBRARIES:
        version = _library_version(library)
        if version is None:
            absent.append(library.name)
            continue
        ours_name = f"otel_errors_{library.entry_point or library.name}"
        parts = [f"{library.name} {version}".strip()]
        if library.contrib:
            contrib_version = _dist_version(library.contrib)
            if contrib_version is None:
                parts.append(
                    f"contrib {library.contrib}: not installed "
                    f"(pip install 'otel-errors[{library.name}]')"
                )
            else:
                (contrib,) = by_dist.get(library.contrib, [None])[:1] or [None]
                state = _entry_point_state(contrib, disabled)
                parts.append(f"contrib {library.contrib} {contrib_version}: {state}")
        if library.instrumentor:
            state = _entry_point_state(entry_points.get(ours_name), disabled)
            parts.append(f"ours {ours_name}: {state}")
        lines.append("; ".join(parts))
    if absent:
        lines.append(f"not installed: {', '.join(absent)}")


@dataclass(frozen=True)
class Target:
    """Where one signal goes."""

    signal: str
    exporter: str
    endpoint: str
    protocol: str


def _targets(environ: Mapping[str, str]) -> list[Target]:
    """Each signal's exporter and endpoint, with the distro's defaults applied."""
    env = dict(environ)
    apply_environment_defaults(env)
    targets = []
    for signal in _SIGNALS:
        upper = signal.upper()
        exporter = env.get(f"OTEL_{upper}_EXPORTER", "")
        protocol = env.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        endpoint = env.get(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", "")
        if not endpoint:
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or _DEFAULT_ENDPOINTS.get(protocol, "")
            if base and protocol != "grpc":
                base = base.rstrip("/") + _HTTP_PATHS[signal]
            endpoint = base
        targets.append(Target(signal, exporter, endpoint, protocol))
    return targets


def probe(target: Target, timeout: float) -> tuple[bool, str]:
    """Whether the endpoint answers: an HTTP answer (any status) or, for gRPC, a connection."""
    started = time.monotonic()
    try:
        if target.protocol == "grpc":
            parts = urlsplit(target.endpoint if "//" in target.endpoint else f"//{target.endpoint}")
            with socket.create_connection(
                (parts.hostname or "localhost", parts.port or 4317), timeout
            ):
                pass
            status = "accepts connections"
        else:
            request = urllib.request.Request(  # noqa: S310 - the user's own OTLP endpoint
                target.endpoint,
                data=b"",
                headers={"Content-Type": "application/x-protobuf"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                    status = f"HTTP {answer.status}"
            except urllib.error.HTTPError as answer:
                status = f"HTTP {answer.code}"
    except (OSError, ValueError) as failure:
        reason = getattr(failure, "reason", None) or failure
        return False, f"does not answer: {reason} (timeout {timeout:g} s)"
    return True, f"answers ({status} in {(time.monotonic() - started) * 1000:.0f} ms)"


def _export(findings: Findings, environ: Mapping[str, str], timeout: float) -> bool:
    """The export section; returns whether a signal goes to the local files."""
    lines = findings.section("Export (OTEL_* variables, with the distro's defaults)")
    targets = _targets(environ)
    for target in targets:
        where = "local JSON-lines files" if target.exporter == LOCAL_EXPORTER else target.endpoint
        protocol = f" ({target.protocol})" if target.exporter == "otlp" else ""
        lines.append(f"{target.signal:8} {target.exporter or 'none':18} {where}{protocol}")
    probed: set[str] = set()  # one probe per collector, not per signal
    for target in targets:
        server = urlsplit(target.endpoint).netloc or target.endpoint
        if target.exporter != "otlp" or server in probed:
            continue
        probed.add(server)
        ok, answer = probe(target, timeout)
        lines.append(f"collector {target.endpoint}: {answer}")
        if not ok:
            findings.problems.append(f"the OTLP endpoint {target.endpoint} {answer}")
    return any(t.exporter == LOCAL_EXPORTER for t in targets)


def _local_files(findings: Findings, environ: Mapping[str, str], *, used: bool) -> None:
    lines = findings.section("Local files")
    data = locate(None, environ)
    if not used:
        lines.append("not used: no signal goes to the otel_errors_local exporter")
    lines.append(f"directory {data.looked_in()}")
    files = data.files
    if files:
        lines += [f"{f.name}: {f.stat().st_size} bytes" for f in files]
    elif data.directory.is_dir():
        lines.append("no files yet")
    else:
        lines.append("not created yet (the first export creates it, mode 0700)")


def _catalogue(findings: Findings, environ: Mapping[str, str]) -> None:
    lines = findings.section("Catalogue")
    files = [Path(p.strip()) for p in environ.get(OTEL_ERRORS_CATALOG, "").split(",") if p.strip()]
    registry = Registry()
    shipped = len(list(registry.catalog))
    lines.append(f"{shipped} shipped codes")
    for path in files:
        before = len(list(registry.catalog))
        try:
            registry.load_files([path])
        except CatalogError as problem:
            lines.append(f"{path}: NOT LOADED: {problem}")
            findings.problems.append(f"catalogue {path}: {problem}")
            continue
        lines.append(f"{path}: loaded ({len(list(registry.catalog)) - before} new codes)")
    if not files:
        lines.append(f"no application catalogue ({OTEL_ERRORS_CATALOG} is unset)")
    for conflict in registry.conflicts:
        lines.append(f"conflict: {conflict}")
        findings.problems.append(f"catalogue conflict: {conflict}")


def diagnose(environ: Mapping[str, str] | None = None, timeout: float = 2.0) -> Findings:
    """Everything the doctor says about ``environ`` (default: this process's environment)."""
    environ = dict(os.environ if environ is None else environ)
    findings = Findings()
    head = findings.section("otel-errors doctor")
    head.append(
        f"otel_errors {__version__}, Python {platform.python_version()}, "
        f"opentelemetry-sdk {_dist_version('opentelemetry-sdk')}, redaction engine "
        f"{'compiled (mypyc)' if scrubbing.compiled() else 'pure Python'}"
    )
    _, invalid = Settings.resolve(environ=environ)
    for problem in invalid:
        head.append(f"setting: {problem}")
        findings.problems.append(problem)
    _libraries(findings, environ)
    used = _export(findings, environ, timeout)
    _local_files(findings, environ, used=used)
    _catalogue(findings, environ)
    return findings
