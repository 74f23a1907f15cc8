"""The shipped deployment files, checked by the real tools they are written for.

The collector, Prometheus (promtool) and Alertmanager (amtool) binaries come from
``collector-config/build.sh`` (built from the Go module proxy, cached outside the
repository); ``tests/run.sh`` builds them before the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from otel_errors._internal.recording.registry import shipped_catalog
from otel_errors._internal.tooling.alert_policy import AlertPolicy
from otel_errors._internal.tooling.alert_rules import rules_document
from otel_errors._internal.tooling.alert_tests import unit_tests_document

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "collector-config"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def binaries() -> dict[str, str]:
    result = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), "prometheus", "alertmanager", "collector", "jaeger"],
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"collector-config/build.sh failed:\n{result.stderr[-3000:]}"
    return dict(line.split("=", 1) for line in result.stdout.split())


def _run(*command: str, cwd: Path = DEPLOY) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _yaml_file(path: Path) -> object:
    return yaml.safe_load(path.read_text())


def test_shipped_rules_are_generated_from_the_catalogue():
    """The committed rules and unit tests are exactly what `otel-errors alerts` generates."""
    policy = AlertPolicy()
    rules = DEPLOY / "prometheus" / "rules" / "otel-errors.rules.yml"
    tests = DEPLOY / "prometheus" / "tests" / "otel-errors.rules.test.yml"
    assert _yaml_file(rules) == rules_document(shipped_catalog(), policy)
    expected = unit_tests_document(shipped_catalog(), policy, "../rules/otel-errors.rules.yml")
    assert _yaml_file(tests) == expected


@pytest.mark.skipif(sys.version_info < (3, 11), reason="grafana-foundation-sdk needs 3.11")
def test_shipped_dashboard_is_generated():
    """The committed dashboard JSON is what `otel-errors dashboard` generates."""
    from otel_errors._internal.tooling.dashboards import dashboard_json

    shipped = DEPLOY / "grafana" / "dashboards" / "otel-errors.json"
    assert shipped.read_text() == dashboard_json()


def test_promtool_checks_and_unit_tests_every_alert(binaries):
    """Promtool accepts the rules, and every alert fires and stays quiet as intended."""
    promtool = binaries["PROMTOOL_BIN"]
    out = _run(promtool, "check", "rules", "prometheus/rules/otel-errors.rules.yml")
    assert "SUCCESS" in out
    assert "SUCCESS" in _run(
        promtool, "test", "rules", "prometheus/tests/otel-errors.rules.test.yml"
    )


def test_rules_from_an_application_catalogue(binaries, tmp_path):
    """Rules generated with the shop's catalogue pass promtool's checks and unit tests."""
    catalog = ROOT / "examples" / "shop" / "errors.toml"
    cli = [sys.executable, "-m", "otel_errors._internal.tooling.cli", "alerts"]
    rules = tmp_path / "rules.yml"
    rules.write_text(_run(*cli, "rules", "--catalog", str(catalog)))
    tests = tmp_path / "tests.yml"
    tests.write_text(_run(*cli, "tests", "--catalog", str(catalog), "--rule-file", "rules.yml"))
    assert "OtelErrors_PAY_001" in rules.read_text()
    _run(binaries["PROMTOOL_BIN"], "test", "rules", str(tests), cwd=tmp_path)


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ("severity=P1 service_name=shop", "p1-page"),
        ("severity=P2 service_name=shop", "p2-page"),
        ("severity=P3 service_name=shop", "p3-notify"),
        ("severity=P4 service_name=shop", "p4-daily-digest"),
        ("service_name=shop", "unrouted"),
        ("severity=P5 service_name=shop", "unrouted"),
        ("alertname=OtelErrors_Watchdog severity=none", "deadmansswitch"),
        ("release_event=new severity=P1 service_name=shop", "p1-page"),
        ("release_event=regression severity=P2 service_name=shop", "p2-page"),
        ("release_event=new severity=P3 service_name=shop", "p3-notify"),
        ("release_event=new severity=P4 service_name=shop", "p4-daily-digest"),
        ("release_event=new service_name=shop", "unrouted"),
    ],
)
def test_alertmanager_routes_each_severity(binaries, labels, receiver):
    """amtool: P1/P2 page, P3 notifies, P4 digests, Watchdog to the switch, the rest unrouted.

    New and regressed errors take the same receivers by severity (their own grouping).
    """
    amtool = binaries["AMTOOL_BIN"]
    _run(amtool, "check-config", "alertmanager/alertmanager.yml")
    out = _run(amtool, "config", "routes", "test", "--config.file=alertmanager/alertmanager.yml",
               *labels.split())  # fmt: skip
    assert out.strip() == receiver


def test_validate_script(binaries):
    """collector-config/validate.sh: otelcol validate on every config, tools, smoke runs."""
    env = {**os.environ}
    result = subprocess.run(
        ["bash", str(DEPLOY / "validate.sh")], capture_output=True, text=True, env=env,
        timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert " 0 failed" in result.stdout
