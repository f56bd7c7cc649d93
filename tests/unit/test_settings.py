"""Settings in sections: every variable of the flat settings class they replaced still sets its
setting, now in its section; the checks across fields still refuse what they refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from semon.settings import (
    IncidentSettings,
    NoticeSettings,
    RegistrySettings,
    RulesSettings,
    Settings,
    SmtpSettings,
    TelemetrySettings,
)

# Every field of the flat class (its name: SEMON_ and the name, upper-cased), where it lives now,
# a value for the environment other than the default, and what that value reads as.
FLAT_FIELDS: list[tuple[str, str, str, Any]] = [
    ('mqtt_url', 'mqtt.url', 'x-mqtt_url', 'x-mqtt_url'),
    ('database_url', 'database_url', 'x-database_url', 'x-database_url'),
    ('data_dir', 'data_dir', '/srv/semon', '/srv/semon'),
    ('ingest_client_id', 'ingest.client_id', 'x-ingest_client_id', 'x-ingest_client_id'),
    ('ingest_share_group', 'ingest.share_group', 'x-ingest_share_group', 'x-ingest_share_group'),
    ('ingest_processes', 'ingest.processes', '2', 2),
    ('up_telemetry_nice', 'up.telemetry_nice', '11', 11),
    ('ingest_receive_maximum', 'ingest.receive_maximum', '20001', 20001),
    ('ingest_batch_max', 'ingest.batch_max', '5001', 5001),
    ('ingest_writers', 'ingest.writers', '3', 3),
    ('mqtt_session_expiry_s', 'mqtt.session_expiry_s', '604801', 604801),
    ('mqtt_keepalive_s', 'mqtt.keepalive_s', '31', 31),
    ('mqtt_ca_file', 'mqtt.ca_file', 'x-mqtt_ca_file', 'x-mqtt_ca_file'),
    ('mqtt_cert_file', 'mqtt.cert_file', 'x-mqtt_cert_file', 'x-mqtt_cert_file'),
    ('mqtt_key_file', 'mqtt.key_file', 'x-mqtt_key_file', 'x-mqtt_key_file'),
    ('state_flush_interval_s', 'ingest.state_flush_interval_s', '1.5', 1.5),
    ('max_payload_bytes', 'telemetry.max_payload_bytes', '16385', 16385),
    ('ingest_reject_unregistered', 'ingest.reject_unregistered', 'true', True),
    ('registry_refresh_s', 'registry.refresh_s', '60.5', 60.5),
    ('registry_demo_units', 'registry.demo_units', '20001', 20001),
    ('max_future_skew_s', 'telemetry.max_future_skew_s', '300.5', 300.5),
    ('rejected_payload_keep_bytes', 'ingest.rejected_payload_keep_bytes', '1025', 1025),
    ('retention_days', 'telemetry.retention_days', '91', 91),
    ('retention_check_interval_s', 'telemetry.retention_check_interval_s', '3600.5', 3600.5),
    ('max_timestamp_age_days', 'telemetry.max_timestamp_age_days', '30', 30),
    ('city_elevators', 'city.elevators', '1001', 1001),
    ('city_boilers', 'city.boilers', '101', 101),
    ('city_seed', 'city.seed', '2', 2),
    ('city_fault_interval_s', 'city.fault_interval_s', '120.5', 120.5),
    ('rules_client_id', 'rules.client_id', 'x-rules_client_id', 'x-rules_client_id'),
    ('rules_subscription', 'rules.subscription', 'x-rules_subscription', 'x-rules_subscription'),
    ('rules_receive_maximum', 'rules.receive_maximum', '2001', 2001),
    ('rules_events_client_id', 'rules.events_client_id', 'x-rules_events_client_id', 'x-rules_events_client_id'),
    ('rules_events_mqtt_url', 'rules.events_mqtt_url', 'x-rules_events_mqtt_url', 'x-rules_events_mqtt_url'),
    ('rules_events_receive_maximum', 'rules.events_receive_maximum', '1001', 1001),
    ('rules_telemetry_slice', 'rules.telemetry_slice', '201', 201),
    ('rules_checkpoint_interval_s', 'rules.checkpoint_interval_s', '1.5', 1.5),
    ('rules_tick_interval_s', 'rules.tick_interval_s', '1.5', 1.5),
    ('rules_silent_after_s', 'rules.silent_after_s', '15.5', 15.5),
    ('rules_entrapment_outside_door_zone_s', 'rules.entrapment_outside_door_zone_s', '15.5', 15.5),
    ('rules_entrapment_in_door_zone_s', 'rules.entrapment_in_door_zone_s', '90.5', 90.5),
    ('rules_entrapment_min_detections', 'rules.entrapment_min_detections', '2', 2),
    ('rules_entrapment_held_modes', 'rules.entrapment_held_modes', '["inspection", "seismic"]', ['inspection', 'seismic']),
    ('rules_alarm_button_ttl_s', 'rules.alarm_button_ttl_s', '600.5', 600.5),
    ('rules_clock_tolerance_s', 'rules.clock_tolerance_s', '2.5', 2.5),
    ('rules_reorder_window', 'rules.reorder_window', '33', 33),
    ('rules_code_table', 'rules.code_table', 'chongqing', 'chongqing'),
    ('incident_ack_deadline_s', 'incidents.ack_deadline_s', '120.5', 120.5),
    ('incident_arrival_deadline_s', 'incidents.arrival_deadline_s', '1800.5', 1800.5),
    ('incident_arrival_deadline_by_district', 'incidents.arrival_deadline_by_district', '{"A": 60.5}', {'A': 60.5}),
    ('incident_second_tier', 'incidents.second_tier', 'x-incident_second_tier', 'x-incident_second_tier'),
    ('deadline_check_interval_s', 'incidents.check_interval_s', '1.5', 1.5),
    ('api_host', 'api.host', 'x-api_host', 'x-api_host'),
    ('api_port', 'api.port', '1234', 1234),
    ('live_queue_size', 'api.live_queue_size', '1001', 1001),
    ('auth_session_idle_s', 'auth.session_idle_s', '43200.5', 43200.5),
    ('auth_session_max_s', 'auth.session_max_s', '604800.5', 604800.5),
    ('auth_cookie_secure', 'auth.cookie_secure', 'true', True),
    ('auth_login_max_failures', 'auth.login_max_failures', '6', 6),
    ('auth_login_window_s', 'auth.login_window_s', '300.5', 300.5),
    ('auth_login_base_delay_s', 'auth.login_base_delay_s', '1.5', 1.5),
    ('auth_login_address_max_failures', 'auth.login_address_max_failures', '51', 51),
    ('auth_login_address_in_flight', 'auth.login_address_in_flight', '3', 3),
    ('auth_live_check_s', 'auth.live_check_s', '5.5', 5.5),
    ('auth_demo_users', 'auth.demo_users', 'false', False),
    ('auth_demo_password', 'auth.demo_password', 's3cret', 's3cret'),
    ('notice_delivery', 'notices.delivery', 'true', True),
    ('notice_months_before', 'notices.months_before', '2', 2),
    ('notice_overdue_repeat_days', 'notices.overdue_repeat_days', '8', 8),
    ('notice_timezone', 'registry.timezone', 'Europe/Paris', 'Europe/Paris'),
    ('notice_scan_interval_s', 'notices.scan_interval_s', '21600.5', 21600.5),
    ('notice_batch_size', 'notices.batch_size', '21', 21),
    ('notice_max_attempts', 'notices.max_attempts', '9', 9),
    ('notice_retry_initial_s', 'notices.retry_initial_s', '60.5', 60.5),
    ('notice_retry_max_s', 'notices.retry_max_s', '21600.5', 21600.5),
    ('notice_idle_wait_s', 'notices.idle_wait_s', '60.5', 60.5),
    ('webhook_timeout_s', 'notices.webhook_timeout_s', '10.5', 10.5),
    ('webhook_allow_addresses', 'notices.webhook_allow_addresses', '["10.1.0.0/16", "::1"]', ['10.1.0.0/16', '::1']),
    ('smtp_host', 'smtp.host', 'x-smtp_host', 'x-smtp_host'),
    ('smtp_port', 'smtp.port', '1234', 1234),
    ('smtp_user', 'smtp.user', 'x-smtp_user', 'x-smtp_user'),
    ('smtp_password', 'smtp.password', 'x-smtp_password', 'x-smtp_password'),
    ('smtp_from', 'smtp.sender', 'x-smtp_from', 'x-smtp_from'),
    ('smtp_starttls', 'smtp.starttls', 'false', False),
    ('smtp_timeout_s', 'smtp.timeout_s', '30.5', 30.5),
    ('metrics_host', 'metrics.host', 'x-metrics_host', 'x-metrics_host'),
    ('metrics_port', 'metrics.port', '1234', 1234),
    ('backoff_initial_s', 'backoff.initial_s', '0.7', 0.7),
    ('backoff_max_s', 'backoff.max_s', '10.5', 10.5),
]


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _at(settings: Settings, path: str) -> object:
    value: object = settings
    for name in path.split("."):
        value = getattr(value, name)
    return value


def test_every_flat_field_has_a_row() -> None:
    assert len(FLAT_FIELDS) == 89
    assert len({name for name, *_ in FLAT_FIELDS}) == len({path for _, path, *_ in FLAT_FIELDS}) == 89


@pytest.mark.parametrize(("name", "path", "env", "expected"), FLAT_FIELDS, ids=[row[0] for row in FLAT_FIELDS])
def test_the_old_variable_sets_the_new_place(monkeypatch: pytest.MonkeyPatch, name: str, path: str, env: str,
                                             expected: object) -> None:
    assert _plain(_at(Settings(), path)) != expected  # the value differs from the default
    monkeypatch.setenv(f"SEMON_{name.upper()}", env)
    assert _plain(_at(Settings(), path)) == expected


def test_every_setting_is_covered() -> None:
    """A new setting needs a row here only if it had a flat name; this lists what there is now."""
    paths: set[str] = set()
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and hasattr(section, "model_fields"):
            paths.update(f"{name}.{inner}" for inner in section.model_fields)
        else:
            paths.add(name)
    assert paths == {path for _, path, *_ in FLAT_FIELDS}


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
    with pytest.raises(ValidationError, match="exceeds retention_days"):
        TelemetrySettings(retention_days=30, max_timestamp_age_days=31)
    monkeypatch.setenv("SEMON_RETENTION_DAYS", "30")
    monkeypatch.setenv("SEMON_MAX_TIMESTAMP_AGE_DAYS", "31")
    with pytest.raises(ValidationError, match="exceeds retention_days"):
        Settings()


def test_a_dump_is_taken_back_whole() -> None:
    """What ``semon up`` hands its parts: ``Settings(**settings.model_dump())``."""
    settings = Settings(rules=RulesSettings(client_id="r"),
                        incidents=IncidentSettings(check_interval_s=7.0), smtp=SmtpSettings(sender="a@b"))
    again = Settings(**settings.model_dump())
    assert again == settings
    assert again.incidents.check_interval_s == 7.0 and again.smtp.sender == "a@b"
