"""The pure pieces of `semon up`'s parts: live changes through NOTIFY payloads, the process
manager's configuration, the metrics of several processes as one exposition."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from alerts.live_notify import MAX_PAYLOAD_BYTES, Reference, decode_change, encode_change
from assembly.part_manager import ManagerOptions, Program, merge_expositions, render_config
from assembly.parts import PartsConfig, ingest_settings, program_names, settings_json
from assembly.up import programs_for
from semon.metrics import Snapshot, parse_text, render
from semon.settings import ClusterSettings, Settings
from tests.flat_settings import flat_settings

_text = st.text(st.characters(codec="utf-8"), max_size=3000)


@given(details=st.dictionaries(st.text(max_size=20), _text, max_size=8), step=st.none() | st.integers(1, 10**9))
def test_a_change_travels_whole_or_as_a_reference_always_under_the_limit(
        details: dict[str, str], step: int | None) -> None:
    change: dict[str, Any] = {"topic": "incident", "op": "ack", "incident": {"id": 7, "details": details}}
    if step is not None:
        change["step"] = {"id": step, "step": "ack"}
    payload = encode_change(change, origin="o1")
    assert len(payload.encode()) < MAX_PAYLOAD_BYTES
    origin, decoded = decode_change(payload)
    assert origin == "o1"
    if isinstance(decoded, Reference):
        assert decoded == Reference("incident", "ack", 7, step)
    else:
        assert decoded == change


def test_a_big_alarm_goes_as_its_id() -> None:
    change = {"topic": "alarm", "op": "raised", "alarm": {"id": 42, "details": {"x": "y" * 9000}}}
    assert decode_change(encode_change(change, origin="o")) == ("o", Reference("alarm", "raised", 42, None))


@pytest.mark.parametrize("payload", ["", "[]", '{"origin": 1}', '{"origin": "o"}', '{"origin": "o", "ref": {}}'])
def test_what_is_not_a_change_is_refused(payload: str) -> None:
    with pytest.raises(ValueError, match="not"):
        decode_change(payload)


def test_a_big_change_without_a_row_is_refused() -> None:
    with pytest.raises(ValueError, match="no row"):
        encode_change({"topic": "alarm", "op": "raised", "alarm": {"details": "x" * 9000}})


def test_the_configuration_starts_nothing_by_itself_and_names_no_password(tmp_path: Path) -> None:
    path = tmp_path / "run/parts/config.json"
    programs = [Program("ingest", ("part", "ingest", "--config", str(path))),
                Program("rules", ("part", "rules", "--config", str(path)))]
    text = render_config(tmp_path / "run", programs, ManagerOptions(startsecs=2, startretries=4),
                         python="/venv/bin/python", setpriv=["/usr/bin/setpriv", "--pdeathsig=SIGTERM", "--"])
    assert "secret" not in text and "@" not in text  # the URLs are in the parts' 0600 file only
    ini = configparser.RawConfigParser()
    ini.read_string(text)
    assert ini["supervisord"]["nodaemon"] == "true"
    assert ini["unix_http_server"]["chmod"] == "0700"
    for program in programs:
        section = ini[f"program:{program.name}"]
        assert section["command"] == ("/usr/bin/setpriv --pdeathsig=SIGTERM -- /venv/bin/python -m semon part "
                                      f"{program.name} --config {path}")
        assert (section["autostart"], section["autorestart"], section["stopsignal"], section["stopasgroup"],
                section["startsecs"], section["startretries"]) == ("false", "true", "INT", "true", "2", "4")


def test_a_percent_sign_is_escaped_for_supervisord(tmp_path: Path) -> None:
    text = render_config(tmp_path / "100%", [], ManagerOptions())
    assert "100%%" in text and "100%/" not in text


def test_settings_travel_to_the_parts_whole(tmp_path: Path) -> None:
    settings = flat_settings(auth_demo_password=SecretStr("s3cret"), ingest_processes=3, city_elevators=7)
    config = PartsConfig(settings_json(settings), "mqtt://d:pw@h:1", "mqtt://i:pw@h:1", "mqtt://r:pw@h:1",
                         "postgresql://u:pw@h:2/db", 3)
    path = tmp_path / "config.json"
    path.write_text(config.as_json())
    again = PartsConfig.read(path)
    assert again == config
    assert Settings(**again.settings) == settings  # as run_part takes them back
    assert again.settings["auth"]["demo_password"] == "s3cret"
    assert again.settings["ingest"]["processes"] == 3


def test_the_cluster_password_travels_to_the_parts(tmp_path: Path) -> None:
    settings = flat_settings().model_copy(update={"cluster": ClusterSettings(
        nats_urls="nats://127.0.0.1:4222", user="semon-services", password=SecretStr("n@ts"))})
    again = Settings(**settings_json(settings))
    assert again.cluster.password.get_secret_value() == "n@ts"


def test_several_rules_processes_share_the_partitions() -> None:
    assert program_names(2, 3) == ["ingest-1", "ingest-2", "rules-1", "rules-2", "rules-3", "api", "jobs", "city"]


def test_several_ingest_processes_share_one_subscription() -> None:
    assert program_names(1) == ["ingest", "rules", "api", "jobs", "city"]
    assert program_names(2)[:2] == ["ingest-1", "ingest-2"]
    settings = flat_settings(ingest_client_id="ing")
    one = ingest_settings(settings, 1, 1)
    assert (one.ingest.client_id, one.ingest.share_group) == ("ing", "")
    ids = {ingest_settings(settings, i, 3).ingest.client_id for i in (1, 2, 3)}
    assert len(ids) == 3
    assert {ingest_settings(settings, i, 3).ingest.share_group for i in (1, 2, 3)} == {"semon-up"}


def test_programs_leave_out_an_empty_city(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    names = [p.name for p in programs_for(flat_settings(city_elevators=0, city_boilers=0, ingest_processes=2), config)]
    assert names == ["ingest-1", "ingest-2", "rules", "api", "jobs"]
    second = programs_for(flat_settings(ingest_processes=2), config)[1]
    assert second.args == ("part", "ingest", "--config", str(config.resolve()), "--index", "2")


def test_the_parts_metrics_are_served_as_one_exposition(caplog: pytest.LogCaptureFixture) -> None:
    own = ("# HELP semon_part_up up\n# TYPE semon_part_up gauge\nsemon_part_up{part=\"rules\"} 1\n"
           "semon_part_up{part=\"api\"} 0\n")
    rules = ("# HELP semon_part_up up\n# TYPE semon_part_up gauge\nsemon_part_up{part=\"alerts/rules-engine\"} 1\n"
             "# HELP semon_rules_messages_total messages\n# TYPE semon_rules_messages_total counter\n"
             "semon_rules_messages_total 12\n"
             "# HELP semon_x_seconds h\n# TYPE semon_x_seconds histogram\n"
             "semon_x_seconds_bucket{le=\"0.1\"} 3\nsemon_x_seconds_count 3\n")
    api = "# HELP semon_rules_messages_total messages\n# TYPE semon_rules_messages_total counter\n" \
          "semon_rules_messages_total 0\n"
    text = render(merge_expositions(Snapshot.parse(own), {"rules": rules, "api": api, "jobs": "not metrics"}))
    assert parse_text(text) == {
        'semon_part_up{part="rules"}': 1, 'semon_part_up{part="api"}': 0,
        'semon_part_up{part="rules/alerts/rules-engine"}': 1,
        'semon_rules_messages_total{part="rules"}': 12, 'semon_rules_messages_total{part="api"}': 0,
        'semon_x_seconds_bucket{le="0.1",part="rules"}': 3, 'semon_x_seconds_count{part="rules"}': 3,
    }
    assert "metrics of part jobs left out" in caplog.text  # the others are served all the same
    lines = text.splitlines()
    for family in ("semon_part_up", "semon_rules_messages_total", "semon_x_seconds"):
        assert lines.count(next(line for line in lines if line.startswith(f"# TYPE {family} "))) == 1
        # a family's samples follow its header, together
        start = lines.index(next(line for line in lines if line.startswith(f"# TYPE {family} ")))
        samples = [i for i, line in enumerate(lines) if line.startswith(family) and not line.startswith("#")]
        assert samples == list(range(start + 1, start + 1 + len(samples)))
