"""Settings in sections: every variable of the flat settings class they replaced still sets its
setting, now in its section; the checks across fields still refuse what they refused."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from assembly.cli import main
from semon.settings import (
    IncidentSettings,
    MqttSettings,
    NoticeSettings,
    RegistrySettings,
    RulesSettings,
    Settings,
    SettingsProblem,
    SmtpSettings,
    TelemetrySettings,
    load_settings,
)
from tests.flat_settings import FLAT_FIELDS, flat_settings


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, BaseModel):
        return value.model_dump()
    return value


def _at(settings: Settings, path: str) -> object:
    value: object = settings
    for name in path.split("."):
        value = getattr(value, name)
    return value


def test_every_flat_field_has_a_row() -> None:
    # 89 once; the arrival limit per district (2) gave way to the limits per area (SECTION_ONLY).
    assert len(FLAT_FIELDS) == 87
    assert len({name for name, *_ in FLAT_FIELDS}) == len({path for _, path, *_ in FLAT_FIELDS}) == 87


@pytest.mark.parametrize(("name", "path", "env", "expected"), FLAT_FIELDS, ids=[row[0] for row in FLAT_FIELDS])
def test_the_old_variable_sets_the_new_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, path: str,
                                             env: str, expected: object) -> None:
    assert _plain(_at(Settings(), path)) != expected  # the value differs from the default
    if name.startswith("mqtt_") and name.endswith("_file"):  # a TLS file must exist to be taken
        monkeypatch.chdir(tmp_path)
        (tmp_path / env).write_text("")
    monkeypatch.setenv(f"SEMON_{name.upper()}", env)
    assert _plain(_at(Settings(), path)) == expected


# Settings born in their sections (no flat name): their variable, a value, and what it reads as.
SECTION_ONLY: list[tuple[str, str, str, Any]] = [
    ("SEMON_REGISTRY_ELEVATOR_SCHEME", "registry.elevator_scheme", "yearly", "yearly"),
    ("SEMON_REGISTRY_ELEVATOR_SCHEME_BY_REGION", "registry.elevator_scheme_by_region", '{"6301": "yearly"}',
     {"6301": "yearly"}),
    ("SEMON_REGISTRY_RATE_FORMULA", "registry.rate_formula", "passed_over_due", "passed_over_due"),
    # the 96333 rescue workflow (alerts/incidents.py)
    ("SEMON_INCIDENT_RESPONSE_DEADLINE_S", "incidents.response_deadline_s", "60.5", 60.5),
    ("SEMON_INCIDENT_ARRIVAL_DEADLINE_URBAN_S", "incidents.arrival_deadline_urban_s", "1200.5", 1200.5),
    ("SEMON_INCIDENT_ARRIVAL_DEADLINE_OTHER_S", "incidents.arrival_deadline_other_s", "2400.5", 2400.5),
    ("SEMON_INCIDENT_SECOND_TIER_STATIONS", "incidents.second_tier_stations",
     '[{"name": "城东网格救援站", "phone": "0971-8123456", "district_code": "630102", "latitude": 36.62, '
     '"longitude": 101.8}]',
     ({"name": "城东网格救援站", "phone": "0971-8123456", "district_code": "630102", "latitude": 36.62,
       "longitude": 101.8},)),
    ("SEMON_INCIDENT_FIRE_BRIGADE", "incidents.fire_brigade", "12119", "12119"),
    ("SEMON_REGISTRY_REPORT_MAX_BYTES", "registry.report_max_bytes", "2048", 2048),
    ("SEMON_REGISTRY_RESULTS_MAX_BYTES", "registry.results_max_bytes", "4096", 4096),
    # the installer's
    ("SEMON_API_ACCESS_LOG", "api.access_log", "true", True),
    ("SEMON_RULES_MQTT_URL", "rules.mqtt_url", "mqtt://semon-rules-1:pw@broker:1883", "mqtt://semon-rules-1:pw@broker:1883"),
    ("SEMON_API_TRUSTED_PROXIES", "api.trusted_proxies", '["127.0.0.1", "10.1.0.0/16"]', ["127.0.0.1", "10.1.0.0/16"]),
    # cluster mode's
    ("SEMON_CLUSTER_NATS_URLS", "cluster.nats_urls", "nats://10.0.0.1:4222,nats://10.0.0.2:4222",
     "nats://10.0.0.1:4222,nats://10.0.0.2:4222"),
    ("SEMON_CLUSTER_USER", "cluster.user", "semon-ingest", "semon-ingest"),
    ("SEMON_CLUSTER_PASSWORD", "cluster.password", "s3cret", "s3cret"),
    ("SEMON_CLUSTER_REPLICAS", "cluster.replicas", "1", 1),
    ("SEMON_CLUSTER_RETENTION_H", "cluster.retention_h", "48", 48.0),
    ("SEMON_CLUSTER_PARTITIONS", "cluster.partitions", "24", 24),
    ("SEMON_CLUSTER_ACK_WAIT_S", "cluster.ack_wait_s", "60", 60.0),
    ("SEMON_CLUSTER_PULL_EXPIRES_S", "cluster.pull_expires_s", "5", 5.0),
    ("SEMON_CLUSTER_INGEST_MAX_PENDING", "cluster.ingest_max_pending", "1000", 1000),
    ("SEMON_CLUSTER_LEASE_S", "cluster.lease_s", "10", 10.0),
]


def test_every_setting_is_covered() -> None:
    """A setting with a flat name has a row in FLAT_FIELDS; a newer one in SECTION_ONLY."""
    paths: set[str] = set()
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            paths.update(f"{name}.{inner}" for inner in section.model_fields)
        else:
            paths.add(name)
    assert paths == {path for _, path, *_ in FLAT_FIELDS} | {path for _, path, *_ in SECTION_ONLY}


@pytest.mark.parametrize(("variable", "path", "env", "expected"), SECTION_ONLY)
def test_section_only_settings_read_their_variable(monkeypatch: pytest.MonkeyPatch, variable: str, path: str,
                                                   env: str, expected: Any) -> None:
    monkeypatch.setenv(variable, env)
    assert _plain(_at(Settings(), path)) == expected


def test_an_elevator_scheme_by_region_takes_the_longest_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMON_REGISTRY_ELEVATOR_SCHEME_BY_REGION", '{"63": "yearly", "630121": "tsg2023"}')
    from registry.due import Rules

    rules = Rules.of(RegistrySettings())
    assert [rules.scheme_of(None, d) for d in ("630102", "630121", "110101", None)] == [
        "yearly", "tsg2023", "tsg2023", "tsg2023"]
    monkeypatch.setenv("SEMON_REGISTRY_ELEVATOR_SCHEME_BY_REGION", '{"Xining": "yearly"}')
    with pytest.raises(ValueError, match="not a division code prefix"):
        RegistrySettings()


def test_a_section_reads_the_environment_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMON_RULES_CLIENT_ID", "rules-x")
    monkeypatch.setenv("SEMON_DEADLINE_CHECK_INTERVAL_S", "2.5")
    monkeypatch.setenv("SEMON_SMTP_FROM", "notices@example.org")
    assert RulesSettings().client_id == "rules-x"
    assert IncidentSettings().check_interval_s == 2.5
    assert SmtpSettings().sender == "notices@example.org"


def test_fields_with_an_old_name_are_set_by_their_name_in_code() -> None:
    assert IncidentSettings(check_interval_s=3.0).check_interval_s == 3.0
    assert NoticeSettings(webhook_timeout_s=4.0).webhook_timeout_s == 4.0
    assert RegistrySettings(timezone="UTC").timezone == "UTC"


def test_the_checks_still_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="Asia/Beijing"):
        RegistrySettings(timezone="Asia/Beijing")
    with pytest.raises(ValidationError, match="no code table 'nonesuch'"):
        RulesSettings(code_table="nonesuch")
    with pytest.raises(ValidationError, match="exceeds SEMON_RETENTION_DAYS"):
        TelemetrySettings(retention_days=30, max_timestamp_age_days=31)
    monkeypatch.setenv("SEMON_RETENTION_DAYS", "30")
    monkeypatch.setenv("SEMON_MAX_TIMESTAMP_AGE_DAYS", "31")
    with pytest.raises(ValidationError, match="exceeds SEMON_RETENTION_DAYS"):
        Settings()


def test_a_dump_is_taken_back_whole() -> None:
    """What ``semon up`` hands its parts: ``Settings(**settings.model_dump())``."""
    settings = Settings(rules=RulesSettings(client_id="r"),
                        incidents=IncidentSettings(check_interval_s=7.0), smtp=SmtpSettings(sender="a@b"))
    again = Settings(**settings.model_dump())
    assert again == settings
    assert again.incidents.check_interval_s == 7.0 and again.smtp.sender == "a@b"


def test_flat_names_set_their_section_for_the_tests() -> None:
    settings = flat_settings(rules_client_id="r", smtp_from="a@b", database_url="postgresql:///x",
                             backoff_max_s=3.0, notice_timezone="UTC")
    assert settings.rules.client_id == "r" and settings.smtp.sender == "a@b"
    assert settings.database_url == "postgresql:///x" and settings.backoff.max_s == 3.0
    assert settings.registry.timezone == "UTC"
    with pytest.raises(KeyError):
        flat_settings(no_such_setting=1)


@pytest.mark.parametrize("name", ["SEMON_API", "SEMON_UP", "SEMON_RULES", "SEMON_MQTT", "SEMON_BACKOFF"])
@pytest.mark.parametrize("value", ["http://example/api", "1", '{"port": 1}'])
def test_a_variable_named_after_a_whole_section_is_nobodys(monkeypatch: pytest.MonkeyPatch, name: str,
                                                             value: str) -> None:
    monkeypatch.setenv(name, value)
    assert load_settings() == Settings()


def test_a_sections_variable_is_not_overridden_by_one_named_after_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMON_API", '{"port": 1}')
    monkeypatch.setenv("SEMON_API_PORT", "1234")
    assert load_settings().api.port == 1234


def _refusal(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsProblem) as refused:
        load_settings()
    return str(refused.value).splitlines()


def test_a_refused_value_is_named_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _refusal(monkeypatch, SEMON_RULES_RECEIVE_MAXIMUM="0", SEMON_API_PORT="99999",
                     SEMON_DEADLINE_CHECK_INTERVAL_S="-1", SEMON_NOTICE_TIMEZONE="Mars/Olympus")
    assert sorted(line.partition("=")[0] for line in lines) == [
        "SEMON_API_PORT", "SEMON_DEADLINE_CHECK_INTERVAL_S", "SEMON_NOTICE_TIMEZONE", "SEMON_RULES_RECEIVE_MAXIMUM"]
    assert "SEMON_RULES_RECEIVE_MAXIMUM='0': Input should be greater than or equal to 1" in lines


def test_a_list_that_is_not_json_is_named_with_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = _refusal(monkeypatch, SEMON_RULES_ENTRAPMENT_HELD_MODES="inspection")
    assert line.startswith("SEMON_RULES_ENTRAPMENT_HELD_MODES='inspection': not JSON")


def test_a_check_across_fields_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = _refusal(monkeypatch, SEMON_RETENTION_DAYS="5", SEMON_MAX_TIMESTAMP_AGE_DAYS="9")
    assert line.startswith("SEMON_MAX_TIMESTAMP_AGE_DAYS (9) exceeds SEMON_RETENTION_DAYS (5)")


def test_the_command_refuses_bad_settings_before_it_starts(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEMON_INGEST_WRITERS", "0")
    assert main(["migrate"]) == 2
    assert "SEMON_INGEST_WRITERS='0': Input should be greater than or equal to 1" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ca_file", "cert_file", "key_file"])
def test_a_tls_file_that_cannot_be_read_is_refused_naming_the_variable_and_the_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    variable = f"SEMON_MQTT_{name.upper()}"
    monkeypatch.setenv(variable, "/nonexistent/tls.pem")
    with pytest.raises(ValidationError, match=re.escape(f"{variable}=/nonexistent/tls.pem: no such file")):
        MqttSettings()
    monkeypatch.setenv(variable, str(tmp_path))  # a directory
    with pytest.raises(ValidationError, match=re.escape(f"{variable}={tmp_path}: not a file")):
        MqttSettings()
    present = tmp_path / "tls.pem"
    present.write_text("")
    monkeypatch.setenv(variable, str(present))
    assert getattr(MqttSettings(), name) == str(present)
    monkeypatch.setenv(variable, "")
    assert getattr(MqttSettings(), name) is None  # empty: unset
    if os.geteuid() != 0:  # root reads anything
        present.chmod(0)
        monkeypatch.setenv(variable, str(present))
        with pytest.raises(ValidationError, match=re.escape(f"{variable}={present}: the file cannot be read")):
            MqttSettings()


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_no_delay_or_limit_is_infinite(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    [line] = _refusal(monkeypatch, SEMON_RULES_SILENT_AFTER_S=value)
    assert line == f"SEMON_RULES_SILENT_AFTER_S={value!r}: Input should be a finite number"


def test_the_first_retry_delay_is_not_beyond_the_longest(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = _refusal(monkeypatch, SEMON_BACKOFF_INITIAL_S="20", SEMON_BACKOFF_MAX_S="1")
    assert line == "SEMON_BACKOFF_INITIAL_S (20.0) exceeds SEMON_BACKOFF_MAX_S (1.0)"
