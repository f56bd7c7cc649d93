"""Browser tests: a whole ``semon up`` (small simulated city, no random faults) in its own
process, and Debian's Chromium driven by Playwright. Screenshots are kept as test artefacts in
``var/test-artifacts/``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from bench.up_process import semon_up_process
from semon.stack import free_port

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own network chatter is refused on a closed network; keep it quiet and fast.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEMO_PASSWORD = "semon-demo"


@dataclass(frozen=True, slots=True)
class System:
    base: str  # http://127.0.0.1:port
    mqtt_url: str
    database_url: str


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    port = free_port()
    settings = {"SEMON_API_PORT": str(port), "SEMON_METRICS_PORT": "0", "SEMON_CITY_ELEVATORS": "20",
                "SEMON_CITY_BOILERS": "2", "SEMON_CITY_FAULT_INTERVAL_S": "0", "SEMON_REGISTRY_DEMO_UNITS": "2000",
                "SEMON_AUTH_DEMO_PASSWORD": DEMO_PASSWORD, "SEMON_LOG_LEVEL": "WARNING"}
    async with semon_up_process(settings, prefix="semon-browser-") as state:
        yield System(f"http://127.0.0.1:{port}", state["mqtt_url"], state["database_url"])


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
