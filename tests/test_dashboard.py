"""The Grafana dashboard generated with grafana-foundation-sdk."""

from __future__ import annotations

import json
import sys

import pytest

pytestmark = pytest.mark.skipif(
    sys.version_info < (3, 11), reason="grafana-foundation-sdk needs Python 3.11"
)


def test_dashboard_has_the_promised_panels():
    """Error rate, top codes, trends, latency, success rate, logs and alert state."""
    from otel_errors._internal.tooling.dashboards import dashboard_json

    dashboard = json.loads(dashboard_json())
    titles = [p["title"] for p in dashboard["panels"] if p["type"] != "row"]
    assert titles == [
        "Error rate per endpoint (unhandled errors per request)",
        "Top error codes",
        "Errors per second by severity",
        "Errors per second by code",
        "Latency p95 per endpoint",
        "Success rate per endpoint",
        "Recent error logs",
        "Alert state",
    ]
    assert dashboard["uid"] == "otel-errors"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["service", "environment"]
    datasources = {
        t["datasource"]["uid"] for p in dashboard["panels"] for t in p.get("targets", ())
    }
    assert datasources == {"prometheus", "loki"}


def test_every_prometheus_target_is_a_known_query():
    """The targets are exactly the expressions the e2e test evaluates."""
    from otel_errors._internal.tooling.dashboards import dashboard_json, panel_queries

    dashboard = json.loads(dashboard_json())
    queries = panel_queries()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", ()):
            if target["datasource"]["uid"] == "prometheus":
                assert target["expr"] in queries[panel["title"]]
