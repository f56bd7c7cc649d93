"""What a running ``semon up`` tells the tools beside it: ``{data_dir}/running.json`` (its pid,
the URLs of its broker, database, API and metrics; 0600, the URLs carry passwords) and the demo
users' password. ``semon up`` (the composition root, ``assembly.up``) writes them; the benchmarks
and the CLI read them here."""

from __future__ import annotations

import json
import os
from pathlib import Path

from semon.settings import Settings
from semon.stack.process import load_secrets

STATE_FILE = "running.json"
DEMO_PASSWORD_FILE = "demo-password"


def state_path(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


def read_running(settings: Settings) -> dict[str, object] | None:
    """What a running ``semon up`` published about itself, if it is still alive."""
    path = state_path(settings)
    try:
        state: dict[str, object] = json.loads(path.read_text())
        pid = state.get("pid")
        if isinstance(pid, int):
            os.kill(pid, 0)
        return state
    except (OSError, ValueError):
        return None


def configured_or_running(settings: Settings, name: str) -> str | None:
    """``SEMON_MQTT_URL`` / ``SEMON_DATABASE_URL`` if set, else that of a running ``semon up``
    (``name``: ``mqtt_url`` or ``database_url``, as ``running.json`` names them)."""
    configured = {"mqtt_url": settings.mqtt.url, "database_url": settings.database_url}[name]
    if configured:
        return str(configured)
    running = read_running(settings)
    return str(running[name]) if running and running.get(name) else None


def demo_password_path(settings: Settings) -> Path:
    return settings.data_dir / DEMO_PASSWORD_FILE


def demo_password(settings: Settings) -> str:
    """``SEMON_AUTH_DEMO_PASSWORD`` if set; else the one generated at the first start.

    The generated one (``secrets``, 24 random bytes) is kept in ``{data_dir}/demo-password``
    (mode 0600) so that a restart with an existing database still knows it.
    """
    if settings.auth.demo_password is not None:
        return settings.auth.demo_password.get_secret_value()
    path = demo_password_path(settings)
    return load_secrets(path, ["password"])["password"]
