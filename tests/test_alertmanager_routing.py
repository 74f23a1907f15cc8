"""The shipped Alertmanager routing, grouping and inhibition, in the real Alertmanager.

Alerts are posted to its API as Prometheus would send them; PagerDuty, Slack, the SMS
relay and the dead man's switch are local capture servers (``_e2e_capture``), the
mail relay a local SMTP server. Only addresses and grouping waits differ from the
shipped file (``_e2e_alertmanager``).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from _e2e_alertmanager import write_alertmanager_config
from _e2e_capture import PAGERDUTY, SLACK, WEBHOOK, CaptureServer, SmtpCapture
from _e2e_processes import free_port, get_json, services, wait_for

DEPLOY = Path(__file__).resolve().parent.parent / "collector-config"
pytestmark = pytest.mark.e2e


@dataclass
class Alertmanager:
    """The running Alertmanager and the stand-ins it notifies."""

    url: str
    captures: dict[str, CaptureServer]

    def post(self, *alerts: dict[str, str]) -> None:
        """Sends firing alerts (labels only) as Prometheus does."""
        body = [{"labels": labels, "annotations": {"summary": labels.get("error_code", "x"),
                                                   "runbook_url": "https://r/x"}}
                for labels in alerts]  # fmt: skip
        requests.post(f"{self.url}/api/v2/alerts", json=body, timeout=10).raise_for_status()

    def alerts(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.url}/api/v2/alerts"))

    def pages(self, service: str) -> list[dict[str, Any]]:
        return [c.json() for c in self.captures["pagerduty"].received()
                if c.json()["payload"]["custom_details"]["service"] == service]  # fmt: skip


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory) -> Iterator[Alertmanager]:
    build = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), "alertmanager"], capture_output=True, text=True,
        timeout=3600, check=True,
    )  # fmt: skip
    binary = dict(line.split("=", 1) for line in build.stdout.split())["ALERTMANAGER_BIN"]
    directory = tmp_path_factory.mktemp("alertmanager")
    replies = {"pagerduty": PAGERDUTY, "slack": SLACK, "sms": WEBHOOK, "deadmansswitch": WEBHOOK}
    captures = {name: CaptureServer(reply) for name, reply in replies.items()}
    smtp = SmtpCapture(free_port())
    address = f"127.0.0.1:{free_port()}"
    try:
        config = write_alertmanager_config(
            directory, {name: c.url for name, c in captures.items()}, smtp.port
        )
        with services(directory) as started:
            process = started.start("alertmanager", [
                binary, f"--config.file={config}", f"--storage.path={directory / 'data'}",
                f"--web.listen-address={address}", "--cluster.listen-address=",
            ])  # fmt: skip
            started.wait_healthy(process, f"http://{address}/-/ready")
            yield Alertmanager(f"http://{address}", captures)
    finally:
        smtp.close()
        for capture in captures.values():
            capture.close()


def _alert(service: str, severity: str, code: str, name: str = "") -> dict[str, str]:
    return {"alertname": name or f"OtelErrors_{code.replace('-', '_')}", "severity": severity,
            "error_code": code, "service_name": service,
            "deployment_environment_name": "prod"}  # fmt: skip


def _state(manager: Alertmanager, service: str, code: str) -> dict[str, Any]:
    found = [a for a in manager.alerts() if a["labels"].get("service_name") == service
             and a["labels"].get("error_code") == code]  # fmt: skip
    assert len(found) == 1, found
    return dict(found[0]["status"])


def test_a_p1_inhibits_the_p2_p3_and_p4_of_its_service_only(alertmanager):
    """While a P1 fires, the same service's P2-P4 are suppressed; other services' are not."""
    alertmanager.post(
        _alert("shop", "P1", "PAY-001"), _alert("shop", "P2", "PAY-003"),
        _alert("shop", "P3", "BUG-003"), _alert("shop", "P4", "SHOP-001"),
        _alert("billing", "P2", "NET-001"),
    )  # fmt: skip

    def settled() -> bool:
        return _state(alertmanager, "shop", "PAY-003")["state"] == "suppressed"

    wait_for(settled, "the shop's P2 inhibited", 20)
    for code in ("PAY-003", "BUG-003", "SHOP-001"):
        state = _state(alertmanager, "shop", code)
        assert state["state"] == "suppressed", (code, state)
        assert state["inhibitedBy"], (code, state)
    assert _state(alertmanager, "shop", "PAY-001")["state"] == "active"
    assert _state(alertmanager, "billing", "NET-001")["state"] == "active"


def test_one_page_per_service_and_severity_lists_every_code(alertmanager):
    """Three P2 codes of one service make one PagerDuty event that names all three."""
    codes = ["DB-1001", "NET-002", "CACHE-001"]
    alertmanager.post(*(_alert("orders", "P2", code) for code in codes))
    pages = wait_for(lambda: alertmanager.pages("orders"), "the orders P2 page", 20)
    assert len(pages) == 1, pages
    details = pages[0]["payload"]["custom_details"]
    assert sorted(details["error_codes"].split(", ")) == sorted(codes)
    assert details["error_code"] in codes
    assert pages[0]["payload"]["summary"].startswith("[P2] orders (prod): 3 alerts: ")


def test_an_unexpected_severity_still_reaches_people(alertmanager):
    """An alert whose severity no route knows goes to Slack (and e-mail) marked UNROUTED."""
    alertmanager.post(_alert("shop", "P9", "ODD-001"))

    def unrouted() -> list[str]:
        texts = [c.body.decode() for c in alertmanager.captures["slack"].received()]
        return [text for text in texts if "ODD-001" in text]

    texts = wait_for(unrouted, "the unrouted alert in Slack", 20)
    assert "[UNROUTED] [P9] shop (prod): ODD-001" in json.loads(texts[0])["attachments"][0]["title"]


def test_the_watchdog_reaches_the_dead_mans_switch(alertmanager):
    """The Watchdog goes to the dead man's switch webhook, nowhere else."""
    alertmanager.post({"alertname": "OtelErrors_Watchdog", "severity": "none"})
    switch = alertmanager.captures["deadmansswitch"]
    pings = wait_for(lambda: switch.received("/ping"), "the Watchdog at the switch", 20)
    assert pings[0].json()["receiver"] == "deadmansswitch"
    assert pings[0].json()["commonLabels"]["alertname"] == "OtelErrors_Watchdog"
    assert not [c for c in alertmanager.captures["slack"].received() if b"Watchdog" in c.body]


def _release(service: str, severity: str, event: str, fingerprint: str) -> dict[str, str]:
    name = "OtelErrors_NewError" if event == "new" else "OtelErrors_RegressedError"
    return {**_alert(service, severity, "NET-001", name), "release_event": event,
            "error_fingerprint": fingerprint, "service_version": "1.1"}  # fmt: skip


def test_each_new_or_regressed_fingerprint_pages_on_its_own(alertmanager):
    """Two new fingerprints, a regression and a code alert of one service: four P2 pages."""
    alertmanager.post(
        _release("catalog", "P2", "new", "a" * 16), _release("catalog", "P2", "new", "b" * 16),
        _release("catalog", "P2", "regression", "a" * 16), _alert("catalog", "P2", "NET-001"),
    )  # fmt: skip
    pages = wait_for(
        lambda: (found := alertmanager.pages("catalog")) and len(found) >= 4 and found,
        "four catalog pages", 20,
    )  # fmt: skip
    assert len(pages) == 4, pages
    assert {p["payload"]["custom_details"]["firing"] for p in pages} == {1}


def test_a_p1_does_not_silence_a_new_error(alertmanager):
    """A new P3 error of a service with a P1 firing is announced; its plain P3 code is not."""
    alertmanager.post(
        _alert("search", "P1", "PAY-001"), _release("search", "P3", "new", "c" * 16),
        _alert("search", "P3", "BUG-003"),
    )  # fmt: skip

    def states() -> dict[str, str] | None:
        found = {a["labels"]["alertname"]: a["status"]["state"] for a in alertmanager.alerts()
                 if a["labels"].get("service_name") == "search"}  # fmt: skip
        return found if found.get("OtelErrors_BUG_003") == "suppressed" else None

    found = wait_for(states, "the search P3 inhibited", 20)
    assert found["OtelErrors_NewError"] == "active", found


def _caller(service: str, severity: str, code: str, origin: str) -> dict[str, str]:
    """A caller's alert for errors that began in ``origin``."""
    return {**_alert(service, severity, code), "error_origin_service": origin,
            "origin_service": origin}  # fmt: skip


def _own(service: str, severity: str, code: str) -> dict[str, str]:
    """A service's alert for errors that began there."""
    return {**_alert(service, severity, code), "origin_service": service}


def test_the_origin_alerting_inhibits_its_callers_alerts(alertmanager):
    """Payments' own P2 fires: the front door's and checkout's alerts for its fault stay quiet.

    One page goes out for the fault, to payments; a caller's alert for a quiet origin
    (ledger) and a caller's own faults still page, and a P3 origin does not hide a
    caller's P2.
    """
    alertmanager.post(
        _own("payments", "P2", "PAY-001"),
        _caller("checkout", "P2", "ORD-502", "payments"),
        _caller("frontdoor", "P1", "HTTP-502", "payments"),
        _caller("checkout", "P2", "ORD-503", "ledger"),
        _own("checkout", "P2", "ORD-777"),
        _own("frontdoor", "P2", "FD-001"),
        _own("stock", "P3", "STK-001"),
        _caller("catalog", "P2", "CAT-502", "stock"),
    )  # fmt: skip

    def settled() -> bool:
        return _state(alertmanager, "frontdoor", "HTTP-502")["state"] == "suppressed"

    wait_for(settled, "the front door's alert inhibited", 20)
    for service, code in (("checkout", "ORD-502"), ("frontdoor", "HTTP-502")):
        state = _state(alertmanager, service, code)
        assert state["state"] == "suppressed", (code, state)
        assert state["inhibitedBy"], (code, state)
    for service, code in (("payments", "PAY-001"), ("checkout", "ORD-503"), ("checkout", "ORD-777"),
                          ("frontdoor", "FD-001"),
                          ("catalog", "CAT-502"), ("stock", "STK-001")):  # fmt: skip
        assert _state(alertmanager, service, code)["state"] == "active", (service, code)
    pages = wait_for(lambda: alertmanager.pages("payments"), "the payments page", 20)
    checkout = wait_for(lambda: alertmanager.pages("checkout"), "the checkout page", 20)
    assert len(pages) == 1, pages
    codes = [sorted(page["payload"]["custom_details"]["error_codes"].split(", "))
             for page in checkout]  # fmt: skip
    assert codes == [["ORD-503", "ORD-777"]]
    # the front door's P1 for the payments fault neither pages nor hides its own P2
    frontdoor = wait_for(lambda: alertmanager.pages("frontdoor"), "the front door's page", 20)
    assert [page["payload"]["custom_details"]["error_codes"] for page in frontdoor] == ["FD-001"]


def _burn(service: str, speed: str) -> dict[str, str]:
    """A service's error-budget burn alert (its series have no origin)."""
    return _alert(service, "P2" if speed == "Fast" else "P3", "SLO-BURN",
                  f"OtelErrors_ErrorBudget{speed}Burn")  # fmt: skip


def test_a_burn_explained_by_an_upstream_fault_does_not_page_the_caller(alertmanager):
    """A caller's burn is inhibited while its alert for errors from elsewhere fires.

    Basket's P2 for the errors that began in billing explains its fast burn: basket's
    page lists its own fault only (the P2 itself is inhibited by billing's). A P3 for
    errors from elsewhere explains a slow burn (wishlist) but not a fast one
    (giftcards), and a burn beside only the service's own faults pages (returns).
    """
    alertmanager.post(
        _own("billing", "P2", "BIL-001"),
        _caller("basket", "P2", "BSK-502", "billing"), _burn("basket", "Fast"),
        _own("basket", "P2", "BSK-777"),
        _caller("wishlist", "P3", "WSH-502", "billing"), _burn("wishlist", "Slow"),
        _caller("giftcards", "P3", "GFT-502", "billing"), _burn("giftcards", "Fast"),
        _own("returns", "P2", "RET-001"), _burn("returns", "Fast"),
    )  # fmt: skip

    def burn(service: str, speed: str) -> dict[str, Any]:
        found = [a for a in alertmanager.alerts() if a["labels"].get("service_name") == service
                 and a["labels"]["alertname"] == f"OtelErrors_ErrorBudget{speed}Burn"]  # fmt: skip
        assert len(found) == 1, found
        return dict(found[0]["status"])

    wait_for(lambda: burn("basket", "Fast")["state"] == "suppressed", "basket's burn", 20)
    assert burn("wishlist", "Slow")["state"] == "suppressed"
    for service, speed in (("giftcards", "Fast"), ("returns", "Fast")):
        assert burn(service, speed)["state"] == "active", (service, speed)

    def codes(service: str) -> list[list[str]] | None:
        pages = alertmanager.pages(service)
        return [sorted(page["payload"]["custom_details"]["error_codes"].split(", "))
                for page in pages] or None  # fmt: skip

    assert wait_for(lambda: codes("basket"), "the basket page", 20) == [["BSK-777"]]
    assert wait_for(lambda: codes("returns"), "the returns page", 20) == [["RET-001", "SLO-BURN"]]
