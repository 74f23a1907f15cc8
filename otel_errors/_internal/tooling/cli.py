"""The ``otel-errors`` command: report (text, JSON, HTML), doctor, catalogue tools, settings."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from otel_errors._internal.config.environment_variables import OTEL_ERRORS_CATALOG, SETTINGS
from otel_errors._internal.model.catalog import Catalog, CatalogError
from otel_errors._internal.recording.runtime import current
from otel_errors._internal.tooling.alert_policy import ReleaseWindows

if TYPE_CHECKING:
    from collections.abc import Sequence

    from otel_errors._internal.tooling.alert_policy import AlertPolicy

EXIT_OK = 0
EXIT_BREAKING = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except CatalogError as exc:
        print(f"otel-errors: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `otel-errors report | head`
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-errors", description="Error catalogue and local error report for otel_errors."
    )
    commands = parser.add_subparsers(required=True, metavar="command")

    report = commands.add_parser("report", help="summarise errors from the local JSON-lines files")
    report.add_argument("--dir", type=Path, help="data directory (default: OTEL_ERRORS_LOCAL_DIR)")
    report.add_argument("--top", type=int, default=15, help="number of error codes to show")
    report.add_argument("--json", action="store_true", help="print JSON instead of tables")
    report.add_argument(
        "--absence",
        default="1d",
        help="a fingerprint back after this long without an occurrence (90s, 30m, 6h, 1d) "
        "regressed (default 1d, as the alert rules)",
    )
    report.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="write one self-contained HTML page (tables and charts) to FILE",
    )
    _catalog_option(report)
    report.set_defaults(run=_report)

    catalog = commands.add_parser("catalog", help="check or document the error catalogue")
    catalog_commands = catalog.add_subparsers(required=True, metavar="action")
    check = catalog_commands.add_parser(
        "check", help="report removed or re-purposed codes between two catalogue files"
    )
    check.add_argument("old", type=Path)
    check.add_argument("new", type=Path)
    check.set_defaults(run=_check)
    docs = catalog_commands.add_parser("docs", help="render the catalogue as Markdown")
    _catalog_option(docs)
    docs.add_argument(
        "--no-defaults", action="store_true", help="only the given files, not the shipped codes"
    )
    docs.set_defaults(run=_docs)

    settings = commands.add_parser("settings", help="print the OTEL_ERRORS_* settings table")
    settings.set_defaults(run=_settings)

    alerts = commands.add_parser("alerts", help="Prometheus rules generated from the catalogue")
    alert_commands = alerts.add_subparsers(required=True, metavar="what")
    rules = alert_commands.add_parser("rules", help="recording and alerting rules (YAML)")
    tests = alert_commands.add_parser("tests", help="promtool unit tests of those rules (YAML)")
    tests.add_argument("--rule-file", default="otel-errors.rules.yml", help="path of the rules")
    for sub, run in ((rules, _alert_rules), (tests, _alert_tests)):
        _catalog_option(sub)
        sub.add_argument("--slo", type=float, default=0.999, help="availability objective")
        sub.add_argument("--grafana-url", default="http://localhost:3000")
        sub.add_argument("--jaeger-url", default="http://localhost:16686")
        sub.add_argument(
            "--docs-url",
            help="where `otel-errors catalog docs` is published: the runbook link of codes "
            "without a runbook of their own (URL#code; default https://errors.example.com/"
            "catalogue)",
        )
        for window in fields(ReleaseWindows):
            sub.add_argument(
                f"--release-{window.name}",
                metavar="DURATION",
                help=f"new/regressed error rules: {window.name} (default {window.default})",
            )
        sub.set_defaults(run=run)

    doctor = commands.add_parser(
        "doctor", help="what this environment does with errors: libraries, export, files"
    )
    doctor.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for each OTLP endpoint"
    )
    doctor.set_defaults(run=_doctor)

    dashboards = commands.add_parser("dashboard", help="the Grafana dashboard (JSON)")
    dashboards.set_defaults(run=_dashboard)
    return parser


def _catalog_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog",
        action="append",
        type=Path,
        default=None,
        help=f"catalogue TOML file (repeatable; default: {OTEL_ERRORS_CATALOG})",
    )


def _catalog_files(args: argparse.Namespace) -> list[Path]:
    if args.catalog:
        return list(args.catalog)
    return [
        Path(p.strip()) for p in os.environ.get(OTEL_ERRORS_CATALOG, "").split(",") if p.strip()
    ]


def _report(args: argparse.Namespace) -> int:
    from otel_errors._internal.tooling.local_data import locate
    from otel_errors._internal.tooling.report import build_report, render_json, render_text

    data = locate(args.dir)
    if not data.has_report_data:
        print(data.no_data_message(), file=sys.stderr)
        return EXIT_USAGE
    directory = data.directory
    current().registry.load_files(_catalog_files(args))
    report = build_report(directory, _absence(args.absence))
    if args.html:
        from otel_errors._internal.tooling.report_html import render_html

        page = render_html(report, current().registry.catalog, directory, args.top)
        args.html.write_text(page, encoding="utf-8")
        print(f"otel-errors: report written to {args.html}")
    elif args.json:
        print(render_json(report, args.top))
    else:
        print(render_text(report, current().registry.catalog, directory, args.top), end="")
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from otel_errors._internal.tooling.doctor import diagnose

    findings = diagnose(timeout=args.timeout)
    print(findings.render(), end="")
    return EXIT_BREAKING if findings.problems else EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from otel_errors._internal.tooling.catalog_tools import compare

    changes = compare(Catalog.from_toml(args.old), Catalog.from_toml(args.new))
    breaking = [c for c in changes if c.breaking]
    for change in changes:
        marker = "BREAKING" if change.breaking else "ok"
        print(f"{marker:8}  {change.code:10}  {change.what}")
    print(
        f"{len(breaking)} breaking change(s), {len(changes) - len(breaking)} other change(s)"
        f" between {args.old} and {args.new}"
    )
    return EXIT_BREAKING if breaking else EXIT_OK


def _docs(args: argparse.Namespace) -> int:
    from otel_errors._internal.tooling.catalog_tools import render_markdown

    files = _catalog_files(args)
    if args.no_defaults:
        catalog = Catalog()
        for path in files:
            catalog.update(Catalog.from_toml(path))
    else:
        current().registry.load_files(files)
        catalog = current().registry.catalog
    from otel_errors._internal.tooling.alert_pipeline import runbooks_markdown

    print(render_markdown(catalog))
    print(runbooks_markdown())
    return EXIT_OK


def _absence(text: str) -> timedelta:
    from otel_errors._internal.tooling.alert_policy import seconds

    try:
        return timedelta(seconds=seconds(text))
    except (ValueError, KeyError, IndexError):
        raise CatalogError(f"--absence {text!r}: expected a duration such as 30m or 1d") from None


def _policy(args: argparse.Namespace) -> AlertPolicy:
    from otel_errors._internal.tooling.alert_policy import AlertPolicy, seconds

    if not 0 < args.slo < 1:
        raise CatalogError(f"--slo {args.slo} must be between 0 and 1")
    docs = {"docs_url": args.docs_url} if args.docs_url else {}
    windows = {}
    for window in fields(ReleaseWindows):
        given = getattr(args, f"release_{window.name}")
        if given is not None:
            try:
                seconds(given)
            except (ValueError, KeyError, IndexError):
                raise CatalogError(
                    f"--release-{window.name} {given!r}: expected a duration such as 30m or 14d"
                ) from None
            windows[window.name] = given
    releases = ReleaseWindows(**windows)
    if seconds(releases.absence) >= seconds(releases.lookback):
        raise CatalogError(
            f"--release-absence {releases.absence} must be shorter than --release-lookback "
            f"{releases.lookback}"
        )
    return AlertPolicy(
        slo=args.slo,
        grafana_url=args.grafana_url,
        jaeger_url=args.jaeger_url,
        releases=releases,
        **docs,
    )


def _yaml(document: object) -> str:
    try:
        import yaml
    except ImportError:
        raise CatalogError(
            "generating deployment files needs PyYAML: pip install 'otel-errors[deploy]'"
        ) from None
    return str(yaml.safe_dump(document, sort_keys=False, width=1000, allow_unicode=True))


def _alert_rules(args: argparse.Namespace) -> int:
    from otel_errors._internal.tooling.alert_rules import rules_document

    current().registry.load_files(_catalog_files(args))
    print(_yaml(rules_document(current().registry.catalog, _policy(args))), end="")
    return EXIT_OK


def _alert_tests(args: argparse.Namespace) -> int:
    from otel_errors._internal.tooling.alert_tests import unit_tests_document

    current().registry.load_files(_catalog_files(args))
    document = unit_tests_document(current().registry.catalog, _policy(args), args.rule_file)
    print(_yaml(document), end="")
    return EXIT_OK


def _dashboard(args: argparse.Namespace) -> int:  # noqa: ARG001 - argparse passes it
    try:
        from otel_errors._internal.tooling.dashboards import dashboard_json

        print(dashboard_json(), end="")
    except ImportError:
        raise CatalogError(
            "generating the dashboard needs grafana-foundation-sdk (Python 3.11+): "
            "pip install 'otel-errors[deploy]'"
        ) from None
    return EXIT_OK


def settings_table() -> str:
    """The README's settings table, generated from the declarations."""
    lines = [
        "| variable | `configure()` keyword | values | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(none)"
        lines.append(f"| `{s.env}` | `{s.keyword}` | {s.kind} | {default} | {s.doc} |")
    return "\n".join(lines)


def _settings(args: argparse.Namespace) -> int:  # noqa: ARG001 - argparse passes it
    print(settings_table())
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
