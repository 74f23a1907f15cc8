"""The Grafana dashboard generated with grafana-foundation-sdk, and the rules it must follow.

Neither Grafana (nor its dashboard linter) nor Loki runs here, so the rules a linter
or Loki would enforce are checked on the generated JSON: data sources are dashboard
variables, every panel says what it shows, metric panels ask for exemplars, and every
LogQL stream selector has a matcher that cannot match the empty string (Loki rejects
``{service_name=~".*"}``), whatever the variables hold. The PromQL queries run against
the real Prometheus in the end-to-end test. What stays unchecked: how Grafana renders
the panels, LogQL beyond its stream selector, and the data links in a browser.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="grafana-foundation-sdk needs Python 3.11"
)
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _dashboard() -> dict:
    from otel_errors._internal.tooling.dashboards import dashboard_json

    return json.loads(dashboard_json())


def _panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_dashboard_has_the_promised_panels():
    """Errors, RED from span metrics, critical operations, collector health, logs, alerts."""
    dashboard = _dashboard()
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Errors", "Requests, failures and duration per service (span metrics)",
                    "Critical operations", "Collector health", "Logs and alerts"]  # fmt: skip
    assert [p["title"] for p in _panels(dashboard)] == [
        "Error rate per endpoint (unhandled errors per request)",
        "Top error codes",
        "Errors per second by severity",
        "Errors per second by code",
        "Errors per second by origin service",
        "Requests per second per service",
        "Failed requests per service (share)",
        "Duration p95 per service",
        "Latency p95 per endpoint",
        "Success rate per endpoint",
        "Telemetry accepted per second by collector tier",
        "Telemetry refused or dropped per second",
        "Exporter queue usage",
        "Pipeline alerts",
        "Recent error logs",
        "Alert state",
    ]
    assert dashboard["uid"] == "otel-errors"
    names = [v["name"] for v in dashboard["templating"]["list"]]
    assert names == ["prometheus", "loki", "service", "environment"]


def test_data_sources_are_variables_with_the_provisioned_defaults():
    """Every query names its data source through a variable; defaults are the provisioned uids."""
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for kind in ("prometheus", "loki"):
        assert variables[kind]["type"] == "datasource"
        assert variables[kind]["query"] == kind
        assert variables[kind]["current"]["value"] == kind  # the provisioned uid
    for name in ("service", "environment"):
        assert variables[name]["datasource"] == {"type": "prometheus", "uid": "${prometheus}"}
    targets = [(p["title"], t) for p in _panels(dashboard) for t in p["targets"]]
    assert targets
    for title, target in targets:
        kind = target["datasource"]["type"]
        assert target["datasource"]["uid"] == f"${{{kind}}}", title


def test_every_panel_says_what_it_shows_and_metric_panels_link_to_traces():
    """Descriptions on every panel; exemplars on every time-series query."""
    for panel in _panels(_dashboard()):
        assert len(panel.get("description", "")) > 20, panel["title"]
        if panel["type"] == "timeseries":
            assert all(t["exemplar"] is True for t in panel["targets"]), panel["title"]


def _empty_match_only(selector: str) -> bool:
    """Whether every matcher of a LogQL stream selector matches the empty string."""
    matchers = _MATCHER.findall(selector)
    assert matchers, selector

    def matches_empty(op: str, value: str) -> bool:
        if op == "=":
            return value == ""
        if op == "!=":
            return value != ""
        matched = re.fullmatch(value, "") is not None
        return matched if op == "=~" else not matched

    return all(matches_empty(op, value) for _, op, value in matchers)


@pytest.mark.parametrize("choice", ["All", "one value", "two values"])
def test_logql_selectors_never_match_only_the_empty_string(choice):
    """With All, one or several services and environments, Loki accepts each selector."""
    dashboard = _dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    value = {"All": None, "one value": "shop", "two values": "(shop|billing)"}[choice]
    logql = [t["expr"] for p in _panels(dashboard) for t in p["targets"]
             if t["datasource"]["type"] == "loki"]  # fmt: skip
    assert logql
    for expr in logql:
        assert ".*" not in expr, expr
        assert "$service" in expr and "$environment" in expr, expr  # noqa: PT018
        filled = expr
        for name in ("service", "environment"):
            filled = filled.replace(f"${name}", value or variables[name]["allValue"])
        selector = filled[: filled.index("}") + 1]
        assert not _empty_match_only(selector), selector


def test_the_empty_match_check_catches_what_loki_rejects():
    """The check itself: `=~".*"` alone is rejected, `=~".+"` or a value is not."""
    assert _empty_match_only('{service_name=~".*"}')
    assert _empty_match_only('{service_name=~".*", env!="prod"}')
    assert not _empty_match_only('{service_name=~".+"}')
    assert not _empty_match_only('{service_name="shop", env=~".*"}')


def test_every_prometheus_target_is_a_known_query():
    """The targets are exactly the expressions the e2e test evaluates."""
    from otel_errors._internal.tooling.dashboards import panel_queries

    queries = panel_queries()
    for panel in _panels(_dashboard()):
        for target in panel["targets"]:
            if target["datasource"]["type"] == "prometheus":
                assert target["expr"] in queries[panel["title"]]
