"""Prometheus rules and their unit tests, generated from the catalogue."""

from __future__ import annotations

from pathlib import Path

import yaml

from otel_errors import Catalog
from otel_errors._internal.recording.registry import shipped_catalog
from otel_errors._internal.tooling.alert_policy import AlertPolicy
from otel_errors._internal.tooling.alert_rules import alert_name, rules_document
from otel_errors._internal.tooling.alert_tests import unit_tests_document
from otel_errors._internal.tooling.cli import main
from otel_errors._internal.tooling.release_rules import NEW_ALERT, OVERFLOW_ALERT, REGRESSION_ALERT

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop" / "errors.toml"


def _catalog() -> Catalog:
    catalog = shipped_catalog()
    catalog.update(Catalog.from_toml(SHOP))
    return catalog


def _alerts(document):
    return {r["alert"]: r for g in document["groups"] for r in g["rules"] if "alert" in r}


def _all_alerts(document):
    return [r for g in document["groups"] for r in g["rules"] if "alert" in r]


def test_one_alert_per_code_with_the_catalogue_in_its_annotations():
    """Each code's alert carries its severity, action, runbook and log/trace links."""
    catalog = _catalog()
    alerts = _alerts(
        rules_document(catalog, AlertPolicy(grafana_url="https://g", jaeger_url="https://j"))
    )
    assert {alert_name(e.code) for e in catalog} <= alerts.keys()
    pay = alerts["OtelErrors_PAY_001"]
    assert pay["labels"] == {"severity": "P1", "error_code": "PAY-001", "category": "transient"}
    assert (pay["for"], pay["keep_firing_for"]) == ("0m", "15m")
    assert pay["expr"] == 'otel_errors:unhandled_errors:increase5m{error_code="PAY-001"} >= 1'
    annotations = pay["annotations"]
    assert annotations["runbook_url"] == "https://runbooks.example.com/shop/pay-001"
    assert annotations["action"].startswith("Check the payment provider")
    assert "Payment provider unavailable [PAY-001]" in annotations["summary"]
    assert annotations["logs_url"].startswith("https://g/explore?")
    assert "error_code%3D%5C%22PAY-001" in annotations["logs_url"]
    assert annotations["traces_url"].startswith("https://j/search?service={{ $labels.service_name")
    assert alerts["OtelErrors_SHOP_001"]["labels"]["severity"] == "P4"
    assert alerts["OtelErrors_SHOP_001"]["annotations"]["runbook_url"] == (
        "https://errors.example.com/catalogue#shop-001"
    )


def test_every_alert_has_a_runbook_and_every_page_its_links():
    """runbook_url on every alert; summary, action and log links on every one that can page."""
    for rule in _all_alerts(rules_document(_catalog(), AlertPolicy(docs_url="https://d/c"))):
        annotations = rule["annotations"]
        assert annotations["runbook_url"].startswith("https://"), rule["alert"]
        assert annotations["summary"], rule["alert"]
        assert annotations["action"], rule["alert"]
        if rule["labels"]["category"] not in ("pipeline", "watchdog"):
            assert annotations["logs_url"].startswith("http://localhost:3000/explore?")
            assert annotations["traces_url"].startswith("http://localhost:16686/search?")


def test_unknown_and_overflow_alert_by_severity():
    """UNKNOWN and OVERFLOW have one alert per severity, each with that severity's threshold."""
    rules = _all_alerts(rules_document(shipped_catalog(), AlertPolicy()))
    for code in ("UNKNOWN", "OVERFLOW"):
        by_severity = {r["labels"]["severity"]: r for r in rules if r["alert"] == alert_name(code)}
        assert sorted(by_severity) == ["P1", "P2", "P3", "P4"]
        p1 = by_severity["P1"]["expr"]
        assert f'error_code="{code}", error_severity="P1"' in p1
        assert by_severity["P1"]["keep_firing_for"] == "15m"
        assert "otel_errors:requests:increase5m >= 100" in by_severity["P2"]["expr"]


def test_p2_and_p3_are_ratios_with_a_traffic_guard():
    """P2/P3 need a share of the service's requests, a minimum of errors and of requests."""
    alerts = _alerts(rules_document(_catalog(), AlertPolicy()))
    p2 = alerts["OtelErrors_PAY_003"]["expr"]
    errors = 'otel_errors:unhandled_errors:increase5m{error_code="PAY-003"}'
    assert f"{errors} >= 5 and ({errors} / on (service_name, deployment_environment_name)" in p2
    assert "group_left otel_errors:requests:increase5m >= 0.01)" in p2
    assert "otel_errors:requests:increase5m >= 100)" in p2
    # a service without request metrics (a worker) falls back to the count
    assert p2.endswith(
        f"or ({errors} >= 5 unless on (service_name, deployment_environment_name) "
        "otel_errors:requests:increase5m)"
    )


def test_burn_rate_alerts_follow_the_slo():
    """Fast burn pages (P2) at 14.4x and 6x the budget; slow burn notifies (P3) at 3x and 1x."""
    alerts = _alerts(rules_document(shipped_catalog(), AlertPolicy(slo=0.99)))
    for kind, guard in (("ErrorBudget", "http_requests"), ("UnhandledErrorBudget", "requests")):
        fast = alerts[f"OtelErrors_{kind}FastBurn"]
        assert fast["labels"]["severity"] == "P2"
        assert "rate1h > 0.144" in fast["expr"]
        assert "rate30m > 0.06" in fast["expr"]
        assert fast["expr"].endswith(f"otel_errors:{guard}:increase1h >= 100")
        assert alerts[f"OtelErrors_{kind}SlowBurn"]["labels"]["severity"] == "P3"
    assert (
        "unhandled_error_ratio:rate1h" in alerts["OtelErrors_UnhandledErrorBudgetFastBurn"]["expr"]
    )


def test_unit_tests_cover_every_alert():
    """The generated promtool tests name every alert of the rules file.

    The release alerts are tested with short windows in tests/test_release_rules.py.
    """
    catalog = _catalog()
    policy = AlertPolicy()
    tested = {
        case["alertname"]
        for test in unit_tests_document(catalog, policy, "rules.yml")["tests"]
        for case in test["alert_rule_test"]
    }
    releases = {NEW_ALERT, REGRESSION_ALERT, OVERFLOW_ALERT}
    assert tested | releases == set(_alerts(rules_document(catalog, policy)))


def test_catalogue_docs_hold_the_runbook_anchors(capsys):
    """`otel-errors catalog docs` has an anchor per code and a section per other alert."""
    assert main(["catalog", "docs"]) == 0
    text = capsys.readouterr().out
    document = rules_document(shipped_catalog(), AlertPolicy())
    linked = [r["annotations"]["runbook_url"] for r in _all_alerts(document)]
    anchors = [url.split("#", 1)[1] for url in linked if url.startswith(AlertPolicy.docs_url)]
    # a templated anchor (a release alert's code) is one of the codes' anchors
    anchors = [anchor for anchor in anchors if "{{" not in anchor]
    assert len(anchors) > 150
    assert [anchor for anchor in anchors if f'<a id="{anchor}"></a>' not in text] == []


def test_cli_writes_yaml(tmp_path, capsys):
    """`otel-errors alerts rules` prints valid YAML with the application's codes."""
    assert main(["alerts", "rules", "--catalog", str(SHOP)]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert "OtelErrors_PAY_003" in _alerts(document)
    assert main(["alerts", "rules", "--docs-url", "https://d/x"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert _alerts(document)["OtelErrors_BUG_001"]["annotations"]["runbook_url"] == (
        "https://d/x#bug-001"
    )
    assert main(["alerts", "rules", "--slo", "2"]) == 2
    assert "--slo 2.0 must be between 0 and 1" in capsys.readouterr().err


def test_release_windows_are_set_at_generation(capsys):
    """`--release-*` options set the new/regressed windows; a bad one is one clear error."""
    assert main(["alerts", "rules", "--release-lookback", "7d", "--release-absence", "6h"]) == 0
    regressed = _alerts(yaml.safe_load(capsys.readouterr().out))[REGRESSION_ALERT]
    assert "fingerprint_active[6h] offset 10m" in regressed["expr"]
    assert "fingerprint_active[162h] offset 370m" in regressed["expr"]
    assert main(["alerts", "rules", "--release-offset", "soon"]) == 2
    assert "--release-offset 'soon': expected a duration" in capsys.readouterr().err
    assert main(["alerts", "rules", "--release-absence", "30d"]) == 2
    assert "must be shorter than --release-lookback 14d" in capsys.readouterr().err


def test_code_alerts_say_where_their_errors_began():
    """The window rules keep error_origin_service and add origin_service; promtool tests both."""
    document = rules_document(shipped_catalog(), AlertPolicy())
    recorded = {r["record"]: r["expr"] for g in document["groups"] for r in g["rules"]
                if "record" in r}  # fmt: skip
    expr = recorded["otel_errors:unhandled_errors:increase5m"]
    assert "error_code, error_severity, error_origin_service)" in expr
    assert expr.startswith("label_replace(label_replace(sum by (")
    assert expr.endswith(
        '"origin_service", "$1", "service_name", "(.*)"), '
        '"origin_service", "$1", "error_origin_service", "(.+)")'
    )
    tests = unit_tests_document(shipped_catalog(), AlertPolicy(), "rules.yml")["tests"]
    expected = [alert["exp_labels"] for test in tests for case in test["alert_rule_test"]
                for alert in case["exp_alerts"]]  # fmt: skip
    callers = [labels for labels in expected if "error_origin_service" in labels]
    assert callers, "no promtool case for errors that began in another service"
    assert all(labels["origin_service"] == labels["error_origin_service"] for labels in callers)
    codes = [labels for labels in expected if labels.get("category") not in ("slo", "pipeline")]
    own = [labels for labels in codes if labels not in callers and "service_name" in labels]
    assert own
    assert all(labels["origin_service"] == labels["service_name"] for labels in own)
