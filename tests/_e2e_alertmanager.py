"""The shipped Alertmanager config made local: secrets in temporary files, endpoints on loopback.

Shared by the end-to-end stack test and the Alertmanager routing test, so that both
run exactly the shipped routing, grouping and inhibition with only addresses and
waits changed.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "collector-config"
ROUTING_KEY = "e2e-routing-key-0123456789abcdef"
SMTP_PASSWORD = "e2e-smtp-password"  # noqa: S105 - the relay's login, checked on arrival


def write_alertmanager_config(
    directory: Path, urls: dict[str, str], smtp: int, *, shipped_group_waits: bool = False
) -> Path:
    """The shipped config with local secrets and endpoints, and 1-2 s grouping waits.

    Args:
        directory: where the config and its secret files go.
        urls: base URLs of the ``pagerduty``, ``slack``, ``sms`` and ``deadmansswitch``
            stand-ins.
        smtp: port of the local mail relay.
        shipped_group_waits: keep each route's ``group_wait`` as shipped (10 s for P1,
            30 s else): the time alerts of several services have to reach Alertmanager
            before a group's first notification, which inhibition across services needs
            when the origin's metrics arrive a scrape later than a caller's.

    Returns:
        The path of the written config.
    """
    secrets = directory / "secrets"
    secrets.mkdir()
    (secrets / "smtp-password").write_text(SMTP_PASSWORD)
    (secrets / "pagerduty-routing-key").write_text(ROUTING_KEY)
    (secrets / "slack-webhook-url").write_text(f"{urls['slack']}/services/T0/B0/e2e")
    (secrets / "sms-webhook-url").write_text(f"{urls['sms']}/sms")
    (secrets / "deadmansswitch-url").write_text(f"{urls['deadmansswitch']}/ping")
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())

    def local(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: local(value) for key, value in node.items()}
        if isinstance(node, list):
            return [local(value) for value in node]
        if isinstance(node, str) and node.startswith("/etc/alertmanager/secrets/"):
            path = secrets / node.rsplit("/", 1)[1]
            assert path.exists(), f"alertmanager.yml reads a secret the test does not plant: {node}"
            return str(path)
        if isinstance(node, str) and node.startswith("https://events.pagerduty.com/"):
            return urls["pagerduty"] + urllib.parse.urlsplit(node).path
        return node

    config = local(config)
    config["global"].update(smtp_smarthost=f"127.0.0.1:{smtp}", smtp_require_tls=False)
    config["templates"] = [str(DEPLOY / "alertmanager" / "templates" / "*.tmpl")]
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_interval"] = "2s"
        if not shipped_group_waits:
            route["group_wait"] = "1s"
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
