"""The rules engine against a real Mosquitto and PostgreSQL: simulator scenarios raise exactly
their declared alarms on the live stream; a restart in the middle of an open incident neither
forgets nor repeats it; the incident is worked to the end through the API."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import psycopg
import pytest

from assembly.alerts_service import AlertsService
from semon.mqtt.client import BrokerAddress, MqttClient
from semon.mqtt.packets import ConnectOptions
from semon.profile import DeviceProfile
from semon.stack import MosquittoServer
from simulators.profiles import profile_for
from simulators.scenario import load_scenario
from simulators.service import Simulation, SimulationOptions
from tests.integration.helpers import add_users, http_client, ingest_settings, login, query
from web.users import Role

pytestmark = pytest.mark.integration

_engines = itertools.count(1)


class Live:
    """A console on the live stream: every change, in order."""

    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self._event = asyncio.Event()

    async def follow(self, api: str, connected: asyncio.Event) -> None:
        async with http_client() as http:
            await login(http, api, "op")
            async with http.ws_connect(f"{api}/live") as ws:
                connected.set()
                async for msg in ws:
                    self.changes.append(orjson.loads(msg.data))
                    self._event.set()

    def raised(self) -> list[tuple[str, str]]:
        return [(c["alarm"]["device_id"], c["alarm"]["type"]) for c in self.changes
                if c.get("topic") == "alarm" and c.get("op") == "raised"]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            self._event.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out; live stream so far: {self.raised()}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(remaining, 0.1))


@contextlib.asynccontextmanager
async def alerts(mqtt_url: str, database_url: str, profiles: dict[str, DeviceProfile] | None = None,
                 client_id: str | None = None) -> AsyncIterator[tuple[AlertsService, Live, str]]:
    settings = ingest_settings(api_port=0, rules_client_id=client_id or f"test-rules-{next(_engines)}",
                               rules_checkpoint_interval_s=0.2)
    known = profiles or {}
    await add_users(database_url, (("op", Role.OPERATOR, None),))
    service = AlertsService(settings, mqtt_url, database_url,
                            lambda device, kind: known.get(device) or DeviceProfile(kind))
    task = asyncio.create_task(service.run())
    live = Live()
    follower: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        api = f"http://127.0.0.1:{service.api_port}/api"
        connected = asyncio.Event()
        follower = asyncio.create_task(live.follow(api, connected))
        await asyncio.wait_for(connected.wait(), 10)
        yield service, live, api
    finally:
        for t in (follower, task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await t


@pytest.mark.parametrize(("name", "speed"), [("alarm-button", 20.0), ("entrapment-between-floors", 60.0)])
async def test_a_scenario_raises_exactly_its_alarms_on_the_live_stream(
        mosquitto: MosquittoServer, database_url: str, name: str, speed: float) -> None:
    scenario = load_scenario(name)
    profiles = {d.device_id: profile_for(d.spec) for d in scenario.build(0)}  # type: ignore[attr-defined]
    async with alerts(mosquitto.url, database_url, profiles) as (_, live, _api):
        report = await Simulation(mosquitto.url, SimulationOptions(scenario=scenario.path, speed=speed)).run()
        assert report.frames == report.acked
        await live.wait_for(lambda: set(live.raised()) >= scenario.expected())
        await asyncio.sleep(1.0)  # anything extra would show by now
    assert sorted(live.raised()) == sorted(scenario.expected())  # each once, nothing else
    rows = await query(database_url, "SELECT device_id, type FROM alarms")
    assert {(str(d), str(t)) for d, t in rows} == {(d, str(a)) for d, a in scenario.expected()}
    incidents = await query(database_url, "SELECT device_id, state FROM incidents")
    entrapped = {d for d, a in scenario.expected() if a == "entrapment"}
    assert {str(d) for d, _ in incidents} == entrapped


def trapped_frame(seq: int, ts_ms: int, **overrides: Any) -> bytes:
    frame: dict[str, Any] = {"ts": ts_ms, "seq": seq, "running": False, "direction": "stop", "floor": 5,
                             "door_locked": True, "door_zone": False, "passenger": True, "mode": "normal",
                             "power": "main", "speed_mps": 0.0, "trip_count": 1, "run_hours": 1.0}
    frame.update(overrides)
    return orjson.dumps(frame)


async def publish(url: str, messages: list[bytes], device: str = "E-TRAP") -> None:
    client = MqttClient(ConnectOptions(f"test-device-{next(_engines)}"))
    await client.connect(BrokerAddress.from_url(url))
    for payload in messages:
        await client.publish(f"se/elevator/{device}/telemetry", payload)
    await client.disconnect()


async def test_restart_in_the_middle_of_an_open_incident(mosquitto: MosquittoServer, database_url: str) -> None:
    t0 = int(time.time() * 1000) - 120_000
    client_id = "test-rules-restart"
    async with alerts(mosquitto.url, database_url, client_id=client_id) as (_, live, api):
        await publish(mosquitto.url, [trapped_frame(i + 1, t0 + i * 5_000) for i in range(4)])  # 0 … 15 s
        await live.wait_for(lambda: ("E-TRAP", "entrapment") in live.raised())
        async with http_client() as http:
            await login(http, api, "op")
            incident = (await (await http.get(f"{api}/incidents?active=true")).json())["incidents"][0]
            resp = await http.post(f"{api}/incidents/{incident['id']}/steps",
                                   json={"step": "acknowledged", "actor": "operator-1"})
            assert resp.status == 200
    # The engine is gone: meanwhile the device repeats a frame (a redelivery) and carries on.
    await publish(mosquitto.url, [trapped_frame(4, t0 + 15_000), trapped_frame(5, t0 + 20_000)])
    async with alerts(mosquitto.url, database_url, client_id=client_id) as (_, live, api):
        await publish(mosquitto.url, [trapped_frame(6, t0 + 25_000)])
        await asyncio.sleep(1.0)
        assert live.raised() == []  # not raised twice
        open_ = await query(database_url, "SELECT count(*) FROM alarms WHERE state = 'open'")
        assert open_[0][0] == 1
        # Freed: doors open at a landing, car empty. The restarted engine knew the alarm was open.
        await publish(mosquitto.url, [trapped_frame(7, t0 + 30_000, door_zone=True, door_locked=False,
                                                    passenger=False)])
        await live.wait_for(lambda: any(c.get("op") == "cleared" for c in live.changes))
        # Trapped again later, the incident still open: a new alarm, linked to the same incident
        # (one device, one open incident).
        await publish(mosquitto.url, [trapped_frame(8 + i, t0 + 40_000 + i * 6_000) for i in range(4)])
        await live.wait_for(lambda: ("E-TRAP", "entrapment") in live.raised())
        async with http_client() as http:
            await login(http, api, "op")
            detail = await (await http.get(f"{api}/incidents/{incident['id']}")).json()
    assert [s["step"] for s in detail["steps"]] == ["raised", "acknowledged", "alarm_cleared", "alarm_linked"]
    rows = await query(database_url, "SELECT id, state FROM alarms WHERE type = 'entrapment' ORDER BY id")
    assert [r[1] for r in rows] == ["cleared", "open"]
    assert detail["steps"][-1]["details"]["previous_alarm_id"] == rows[0][0]
    incidents = await query(database_url, "SELECT count(*), min(alarm_id) FROM incidents")
    assert incidents == [(1, rows[1][0])]


async def test_walk_an_entrapment_to_closed(mosquitto: MosquittoServer, database_url: str) -> None:
    t0 = int(time.time() * 1000) - 60_000
    async with alerts(mosquitto.url, database_url) as (_, live, api):
        await publish(mosquitto.url, [trapped_frame(i + 1, t0 + i * 8_000) for i in range(3)], device="E-WALK")
        await live.wait_for(lambda: ("E-WALK", "entrapment") in live.raised())
        async with http_client() as http:
            await login(http, api, "op")
            incident = (await (await http.get(f"{api}/incidents?active=true")).json())["incidents"][0]
            steps = [{"step": "acknowledged", "actor": "op"},
                     {"step": "dispatched", "actor": "op", "maintenance_unit": "西宁电梯维保有限公司",
                      "contact": "0971-1234567"},
                     {"step": "on_site", "actor": "op"},
                     {"step": "released", "actor": "op", "comment": "2 passengers out"},
                     {"step": "closed", "actor": "op", "cause": "safety circuit", "persons_released": 2,
                      "injuries": 0, "cause_class": "control_system", "self_release": False,
                      "callback_confirmed": True}]
            for body in steps:
                resp = await http.post(f"{api}/incidents/{incident['id']}/steps", json=body)
                assert resp.status == 200, await resp.text()
        await live.wait_for(lambda: any(c.get("topic") == "alarm" and c.get("op") == "cleared" for c in live.changes))
        # Closed by the operator while the car still looks trapped: not raised again at once.
        await publish(mosquitto.url, [trapped_frame(10, t0 + 40_000)], device="E-WALK")
        await asyncio.sleep(1.0)
        assert live.raised() == [("E-WALK", "entrapment")]
    states = await query(database_url, "SELECT state, maintenance_unit FROM incidents")
    assert states == [("closed", "西宁电梯维保有限公司")]


async def test_an_elevator_running_with_an_expired_inspection(mosquitto: MosquittoServer, database_url: str) -> None:
    from datetime import date

    from registry.due import Category
    from registry.model import Equipment
    from registry.store import upsert_equipment

    code = "31106301022019000777"
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_equipment(conn, Equipment(code, Category.ELEVATOR, "630102",
                                               last_inspected={"periodic": date(2024, 1, 10)}))  # due end Jan 2025
        await conn.commit()
    t0 = int(time.time() * 1000) - 30_000
    async with alerts(mosquitto.url, database_url) as (service, live, _):
        assert service.register.profiles[code].inspection_expired
        idle = {"door_zone": True, "passenger": False}
        await publish(mosquitto.url, [trapped_frame(1, t0, **idle), trapped_frame(2, t0 + 5_000, **idle)], device=code)
        await asyncio.sleep(0.5)
        assert live.raised() == []  # standing still is allowed
        await publish(mosquitto.url, [trapped_frame(3, t0 + 10_000, trip_count=2, **idle)], device=code)
        await live.wait_for(lambda: (code, "inspection_expired_running") in live.raised())


async def test_an_alarm_is_filed_under_the_register_s_district_never_the_code_s(
        mosquitto: MosquittoServer, database_url: str) -> None:
    """A 注册代码's digits 5–10 name the authority that registered the unit (here 大通县's code, a
    county: an hour to arrive); the register puts the unit in 城西区 (30 minutes). The alarm and
    its incident carry the register's district; a device the register does not know gets none,
    whatever its code says."""
    from registry.due import Category
    from registry.model import Equipment
    from registry.store import upsert_equipment

    registered, unregistered = "31106301212019000555", "31106301022019000556"
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await upsert_equipment(conn, Equipment(registered, Category.ELEVATOR, "630104"))
        await conn.commit()
    t0 = int(time.time() * 1000) - 60_000
    async with alerts(mosquitto.url, database_url) as (service, live, _):
        assert service.register.profiles[registered].district_code == "630104"
        for device in (registered, unregistered):
            await publish(mosquitto.url, [trapped_frame(i + 1, t0 + i * 8_000) for i in range(3)], device=device)
        await live.wait_for(lambda: {(registered, "entrapment"), (unregistered, "entrapment")} <= set(live.raised()))
        filed = {c["alarm"]["device_id"]: c["alarm"]["district_code"] for c in live.changes
                 if c.get("topic") == "alarm" and c.get("op") == "raised"}
        assert filed == {registered: "630104", unregistered: None}
    alarms = await query(database_url, "SELECT device_id, district_code FROM alarms ORDER BY device_id")
    assert alarms == [(unregistered, None), (registered, "630104")]
    incidents = await query(database_url, "SELECT device_id, district_code FROM incidents ORDER BY device_id")
    assert incidents == [(unregistered, None), (registered, "630104")]
