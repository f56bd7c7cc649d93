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


# Read by `semon up` only on its private stack or with --demo (assembly.up.without_demo clears them).
DEMO_ONLY = {"SEMON_AUTH_DEMO_USERS", "SEMON_AUTH_DEMO_PASSWORD", "SEMON_REGISTRY_DEMO_UNITS", "SEMON_CITY_ELEVATORS",
             "SEMON_CITY_BOILERS", "SEMON_CITY_SEED", "SEMON_CITY_FAULT_INTERVAL_S"}
OUTSIDE_SETTINGS = {"SEMON_LOG_LEVEL"}  # read by semon.runner before the settings


def _every_variable() -> set[str]:
    from semon.settings import Settings, variable_of

    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            names.update(variable_of(section, inner) for inner in section.model_fields)
        else:
            names.add(f"SEMON_{name.upper()}")
    return names


def _variable_lines() -> list[tuple[int, str]]:
    """(line number, variable) of each VAR= or #VAR= line of the sample environment file."""
    lines = (DEPLOY / "systemd" / "semon.env.example").read_text().splitlines()
    return [(n, m.group(1)) for n, line in enumerate(lines) if (m := re.match(r"#?(SEMON_[A-Z0-9_]+)=", line))]


def test_the_sample_environment_names_every_setting_once_each_with_its_comment() -> None:
    lines = (DEPLOY / "systemd" / "semon.env.example").read_text().splitlines()
    named = _variable_lines()
    variables = [v for _, v in named]
    assert len(variables) == len(set(variables)), "a setting named twice"
    assert set(variables) - OUTSIDE_SETTINGS == _every_variable(), "settings missing from (or unknown to) the file"
    for n, variable in named:  # its one-line comment right above it, not another setting
        above = lines[n - 1]
        assert above.startswith("# ") and not re.match(r"#?SEMON_[A-Z0-9_]+=", above[2:]), variable


def test_the_demo_only_settings_are_marked_and_commented_out() -> None:
    lines = (DEPLOY / "systemd" / "semon.env.example").read_text().splitlines()
    demo_from = next(n for n, line in enumerate(lines) if line.startswith("# Demo only"))
    named = _variable_lines()
    assert {v for n, v in named if n > demo_from} == DEMO_ONLY
    assert all(lines[n].startswith("#") for n, v in named if v in DEMO_ONLY)

