"""semon.dead_letters: the key that makes a redelivery one dead letter, and the shape of a row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from semon.dead_letters import COLUMNS, TYPES, message_key, row
from semon.protocol.decode import RejectReason

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_the_key_is_sha256_of_the_topic_a_nul_and_the_payload() -> None:
    # The formula migration 0005 applies in SQL: sha256(convert_to(topic, 'UTF8') || '\x00' || payload).
    assert message_key("se/elevator/E-1/telemetry", b"{broken") == bytes.fromhex(
        "0595ba5af4b343adcda40f14d7392f76647c386b6c9f60c29323336519e650d1")


def test_the_separator_keeps_topic_and_payload_apart() -> None:
    assert message_key("se/a", b"bc") != message_key("se/ab", b"c")
    assert message_key("se/a", b"") != message_key("se/a", b"\x00")


def test_a_row_cuts_its_texts_and_keys_the_whole_payload() -> None:
    payload = b"p" * 100
    values: dict[str, Any] = dict(zip(COLUMNS, row(AT, "se/" + "t" * 300, "k" * 40, "d" * 70, RejectReason.NOT_JSON,
                                   "x\x00" * 300, payload, 10), strict=True))
    assert len(COLUMNS) == len(TYPES)
    assert values["received_at"] == AT
    assert (len(values["topic"]), len(values["kind"]), len(values["device_id"])) == (256, 32, 64)
    assert values["detail"] == "x\ufffd" * 250
    assert (values["reason"], type(values["reason"])) == ("not_json", str)
    assert (values["payload"], values["payload_size"]) == (b"p" * 10, 100)
    assert values["message_key"] == message_key("se/" + "t" * 300, payload)
