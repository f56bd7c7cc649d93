"""The settings by their flat names, for tests: ``flat_settings(rules_client_id="x", database_url=…)``
is ``Settings(rules=RulesSettings(client_id="x"), database_url=…)``. Before the settings had
sections each was a field of one class named by its variable (``SEMON_RULES_CLIENT_ID``:
``rules_client_id``); the tests still say what they set that way. ``FLAT_FIELDS`` lists every
one of those names (tests/unit/test_settings.py proves each variable sets its place)."""

from __future__ import annotations

from typing import Any

from semon.settings import Settings

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
    ('rules_entrapment_held_modes', 'rules.entrapment_held_modes', '["inspection", "seismic"]',
     ['inspection', 'seismic']),
    ('rules_alarm_button_ttl_s', 'rules.alarm_button_ttl_s', '600.5', 600.5),
    ('rules_clock_tolerance_s', 'rules.clock_tolerance_s', '2.5', 2.5),
    ('rules_reorder_window', 'rules.reorder_window', '33', 33),
    ('rules_code_table', 'rules.code_table', 'chongqing', 'chongqing'),
    ('incident_ack_deadline_s', 'incidents.ack_deadline_s', '120.5', 120.5),
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

PLACES = {name: path for name, path, *_ in FLAT_FIELDS}


def flat_settings(**flat: Any) -> Settings:
    """Settings with these fields set by their flat names; the rest of each section from the
    environment and the defaults, as ``Settings()`` reads them. KeyError for an unknown name."""
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        section, _, field = PLACES[name].rpartition(".")
        if section:
            sections.setdefault(section, {})[field] = value
        else:
            top[field] = value
    for section, fields in sections.items():
        kind = Settings.model_fields[section].annotation
        assert isinstance(kind, type)
        top[section] = kind(**fields)
    return Settings(**top)
