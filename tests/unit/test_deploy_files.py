"""What the shipped deployment files promise about accounts, checked on the files themselves."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def test_the_semon_up_unit_creates_no_demo_users() -> None:
    service = _unit("semon-up.service")["Service"]
    assert service["Environment"] == "SEMON_AUTH_DEMO_USERS=false"
    example = (DEPLOY / "systemd" / "semon.env.example").read_text().splitlines()
    assert not [line for line in example if line.startswith("SEMON_AUTH_DEMO")]  # only commented out


def test_service_accounts_are_named_after_their_client_ids() -> None:
    # The broker forces client id = username: the URL's user must be the client id the service uses.
    env = dict(line.split("=", 1) for line in (DEPLOY / "systemd" / "semon.env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["SEMON_MQTT_URL"].startswith(f"mqtt://{env['SEMON_INGEST_CLIENT_ID']}:")
    compose = (DEPLOY / "compose.yaml").read_text()
    urls = dict(re.findall(r"SEMON_MQTT_URL: mqtt://([a-z0-9-]+):\$\{(SEMON_[A-Z_]+):", compose))
    ids = re.findall(r"SEMON_(?:INGEST|RULES)_CLIENT_ID: (\S+)", compose)
    assert sorted(urls) == sorted(ids) == ["semon-ingest-1", "semon-rules-1"]
    acl = (DEPLOY / "mosquitto" / "semon.acl").read_text().splitlines()
    users = {line.split()[1] for line in acl if line.startswith("user ")}
    assert {env["SEMON_INGEST_CLIENT_ID"], *ids} <= users


def test_compose_publishes_plain_mqtt_to_this_host_only() -> None:
    ports = re.findall(r'^\s+- "(\S+:1883|\S+:8883)"', (DEPLOY / "compose.yaml").read_text(), re.M)
    assert sorted(ports) == ["127.0.0.1:1883:1883", "8883:8883"]
