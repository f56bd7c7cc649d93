"""Secrets of the local stack: generated once, kept 0600, reused; URLs shown without them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from assembly.up import _without_password
from semon.stack.process import StackError, load_secrets, write_private


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "credentials.json"
    first = load_secrets(path, ["a", "b"])
    assert _mode(path) == 0o600 and len(first["a"]) >= 32 and first["a"] != first["b"]
    assert quote(first["a"], safe="") == first["a"]  # usable in a URL as it is
    assert load_secrets(path, ["a", "b"]) == first
    more = load_secrets(path, ["a", "c"])  # a new name gets a secret; the others stay
    assert more["a"] == first["a"] and more["b"] == first["b"] and "c" in more
    assert json.loads(path.read_text()) == more


def test_a_secrets_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"a": "kept"}))
    os.chmod(path, 0o644)
    assert load_secrets(path, ["a"]) == {"a": "kept"}
    assert _mode(path) == 0o600


@pytest.mark.parametrize("text", ["not json", "[]", '{"a": 1}', '{"a": ""}'])
def test_a_damaged_secrets_file_is_reported_not_replaced(tmp_path: Path, text: str) -> None:
    path = tmp_path / "credentials.json"
    path.write_text(text)
    with pytest.raises(StackError, match="remove it"):
        load_secrets(path, ["a"])
    assert path.read_text() == text


def test_write_private_replaces_a_wider_file(tmp_path: Path) -> None:
    path = tmp_path / "running.json"
    path.write_text("old")
    os.chmod(path, 0o666)
    write_private(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["running.json"]


@pytest.mark.parametrize("password", ["s3cret", "p@ss:w/rd%", "密码-ünï", "***", "a" * 200, "127.0.0.1"])
@pytest.mark.parametrize("scheme", ["mqtt", "mqtts", "postgresql"])
def test_a_shown_url_never_carries_the_password(scheme: str, password: str) -> None:
    url = f"{scheme}://semon-ingest:{quote(password, safe='')}@127.0.0.1:1883/db"
    shown = _without_password(url)
    assert shown == f"{scheme}://semon-ingest:***@127.0.0.1:1883/db"


def test_a_url_without_password_is_shown_as_it_is() -> None:
    assert _without_password("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"
    assert _without_password("postgresql://semon@h:5432/semon") == "postgresql://semon@h:5432/semon"
