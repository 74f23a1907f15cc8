"""Prometheus rules and their unit tests, generated from the catalogue."""

from __future__ import annotations

from pathlib import Path

import yaml

from otel_errors import Catalog
from otel_errors._internal.recording.registry import shipped_catalog
from otel_errors._internal.tooling.alert_rules import (
    AlertPolicy,
    alert_name,
    rules_document,
    unit_tests_document,
)
from otel_errors._internal.tooling.cli import main

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop" / "errors.toml"


def _catalog() -> Catalog:
    catalog = shipped_catalog()
    catalog.update(Catalog.from_toml(SHOP))
    return catalog


def _alerts(document):
    return {r["alert"]: r for g in document["groups"] for r in g["rules"] if "alert" in r}


def test_one_alert_per_code_with_the_catalogue_in_its_annotations():
    """Each code's alert carries its severity, action, runbook and log/trace links."""
    catalog = _catalog()
    alerts = _alerts(
        rules_document(catalog, AlertPolicy(grafana_url="https://g", jaeger_url="https://j"))
    )
    assert {alert_name(e.code) for e in catalog} <= alerts.keys()
    pay = alerts["OtelErrors_PAY_001"]
    assert pay["labels"] == {"severity": "P1", "error_code": "PAY-001", "category": "transient"}
    assert pay["for"] == "0m"
    assert pay["expr"].endswith(">= 1")
    assert 'error_code="PAY-001", error_handled="false"' in pay["expr"]
    annotations = pay["annotations"]
    assert annotations["runbook_url"] == "https://runbooks.example.com/shop/pay-001"
    assert annotations["action"].startswith("Check the payment provider")
    assert "Payment provider unavailable [PAY-001]" in annotations["summary"]
    assert annotations["logs_url"].startswith("https://g/explore?")
    assert "error_code%3D%5C%22PAY-001" in annotations["logs_url"]
    assert annotations["traces_url"].startswith("https://j/search?service={{ $labels.service_name")
    assert alerts["OtelErrors_SHOP_001"]["labels"]["severity"] == "P4"


def test_burn_rate_alerts_follow_the_slo():
    """Fast burn pages (P2) at 14.4x and 6x the budget; slow burn notifies (P3) at 3x and 1x."""
    alerts = _alerts(rules_document(shipped_catalog(), AlertPolicy(slo=0.99)))
    fast = alerts["OtelErrors_ErrorBudgetFastBurn"]
    assert fast["labels"]["severity"] == "P2"
    assert "rate1h > 0.144" in fast["expr"]
    assert "rate30m > 0.06" in fast["expr"]
    assert alerts["OtelErrors_ErrorBudgetSlowBurn"]["labels"]["severity"] == "P3"


def test_unit_tests_cover_every_alert():
    """The generated promtool tests name every alert of the rules file."""
    catalog = _catalog()
    policy = AlertPolicy()
    tested = {
        case["alertname"]
        for test in unit_tests_document(catalog, policy, "rules.yml")["tests"]
        for case in test["alert_rule_test"]
    }
    assert tested == set(_alerts(rules_document(catalog, policy)))


def test_cli_writes_yaml(tmp_path, capsys):
    """`otel-errors alerts rules` prints valid YAML with the application's codes."""
    assert main(["alerts", "rules", "--catalog", str(SHOP)]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert "OtelErrors_PAY_003" in _alerts(document)
    assert main(["alerts", "rules", "--slo", "2"]) == 2
    assert "--slo 2.0 must be between 0 and 1" in capsys.readouterr().err
