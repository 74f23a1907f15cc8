"""The new and regressed error rules, run by ``promtool test rules`` on generated series.

The rules are generated from the shipped catalogue with short windows (the shipped
14 days would take promtool tens of thousands of evaluation steps); the expressions
are the same. One timeline covers every case: release 1.0 of ``shop`` runs from 0m with
a failure it keeps (shared) and one that stops at 20m (regressed), 1.1 replaces it at
125m with both, a new failure, a failure under a new fingerprint scheme and
fingerprints past the process's cap (OVERFLOW).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from otel_errors._internal.recording.registry import shipped_catalog
from otel_errors._internal.tooling.alert_policy import AlertPolicy, ReleaseWindows
from otel_errors._internal.tooling.alert_rules import rules_document
from otel_errors._internal.tooling.alert_tests import rendered
from otel_errors._internal.tooling.release_rules import (
    FINGERPRINTS,
    NEW_ALERT,
    OVERFLOW_ALERT,
    REGRESSION_ALERT,
    RELEASES_GROUP,
)

DEPLOY = Path(__file__).resolve().parent.parent / "collector-config"
pytestmark = pytest.mark.e2e

WINDOWS = ReleaseWindows(
    interval="1m", active="5m", offset="10m", lookback="3h", absence="1h", settle="30m"
)
POLICY = AlertPolicy(releases=WINDOWS)
SERVICE = {"service_name": "shop", "deployment_environment_name": "test"}
CODE, SEVERITY = "NET-001", "P2"
SHARED, REGRESSED, NEW, RESCHEMED = "a" * 16, "b" * 16, "c" * 16, "d" * 16


@pytest.fixture(scope="module")
def promtool() -> str:
    result = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), "prometheus"], capture_output=True, text=True,
        timeout=3600, check=True,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in result.stdout.split())["PROMTOOL_BIN"]


def _labels(version: str, fingerprint: str, scheme: str = "1") -> dict[str, str]:
    return {
        **SERVICE,
        "service_version": version,
        "error_fingerprint": fingerprint,
        "error_fingerprint_version": scheme,
        "error_code": CODE,
        "error_severity": SEVERITY,
    }


def _series(labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{FINGERPRINTS}{{{inner}}}", "values": values}


def _expected(alert: dict[str, object], event: str, fingerprint: str) -> dict[str, object]:
    labels = {**_labels("1.1", fingerprint), "severity": SEVERITY, "release_event": event,
              "category": "release"}  # fmt: skip
    annotations = dict(alert["annotations"])  # type: ignore[call-overload]
    title = shipped_catalog()[CODE].title
    for key, text in annotations.items():
        start = text.find("{{ with printf")
        if start >= 0:
            end = text.index("{{ end }}", start) + len("{{ end }}")
            annotations[key] = text[:start] + title + text[end:]
    return {"exp_labels": labels, "exp_annotations": rendered(annotations, 1, labels)}


def _unit_tests(rule_file: str) -> dict[str, object]:
    group = next(
        g for g in rules_document(shipped_catalog(), POLICY)["groups"]
        if g["name"] == RELEASES_GROUP
    )  # fmt: skip
    alert = {rule["alert"]: rule for rule in group["rules"] if "alert" in rule}
    overflow = {**_labels("1.1", "OVERFLOW"), "error_code": "OVERFLOW"}
    series = [
        _series(_labels("1.0", SHARED), "1+1x120"),  # 1.0 fails all along, 1.1 too
        _series(_labels("1.1", SHARED), "_x125 1+1x60"),
        _series(_labels("1.0", REGRESSED), "1+1x20"),  # stops at 20m, back with 1.1
        _series(_labels("1.1", REGRESSED), "_x125 1+1x60"),
        _series(_labels("1.1", NEW), "_x125 1+1x60"),  # never seen before 1.1
        _series(_labels("1.1", RESCHEMED, scheme="2"), "_x125 1+1x60"),  # a new scheme
        _series(overflow, "_x125 5+5x60"),
    ]
    quiet = [NEW_ALERT, REGRESSION_ALERT, OVERFLOW_ALERT]
    overflow_labels = {**SERVICE, "service_version": "1.1", "severity": "P3",
                       "error_code": "OVERFLOW", "category": "overflow"}  # fmt: skip
    return {
        "rule_files": [rule_file],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    # a first deployment: every fingerprint is new, its scheme is too
                    *({"eval_time": "2m", "alertname": name, "exp_alerts": []} for name in quiet),
                    {
                        "eval_time": "127m",
                        "alertname": NEW_ALERT,
                        "exp_alerts": [_expected(alert[NEW_ALERT], "new", NEW)],
                    },
                    {
                        "eval_time": "127m",
                        "alertname": REGRESSION_ALERT,
                        "exp_alerts": [_expected(alert[REGRESSION_ALERT], "regression", REGRESSED)],
                    },
                    {
                        "eval_time": "127m",
                        "alertname": OVERFLOW_ALERT,
                        "exp_alerts": [
                            {
                                "exp_labels": overflow_labels,
                                "exp_annotations": rendered(
                                    alert[OVERFLOW_ALERT]["annotations"], 1, overflow_labels
                                ),
                            }
                        ],
                    },
                    # past the offset the fingerprints are history, not news
                    *(
                        {"eval_time": "140m", "alertname": name, "exp_alerts": []}
                        for name in quiet[:2]
                    ),
                ],
            }
        ],
    }


def test_new_regressed_shared_rescheme_and_overflow_in_promtool(promtool, tmp_path):
    """One new and one regression notice for release 1.1; shared, re-schemed: nothing."""
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(rules_document(shipped_catalog(), POLICY)))
    tests = tmp_path / "tests.yml"
    tests.write_text(yaml.safe_dump(_unit_tests(str(rules)), sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
