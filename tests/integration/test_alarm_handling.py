"""An operator's handling of an alarm that is not an entrapment (issue 15): acknowledge, shelve
for N minutes with a reason (it comes back by itself), unshelve; the desks' filter; each change
pushed on the live stream and announced to the other processes. Against a real PostgreSQL and a
real aiohttp server, logged in as operators (and one bureau user, who may only look)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.alarm_store import raise_alarm
from alerts.desks import ALARM_CLASSES, Desk
from alerts.live_notify import LIVE_CHANNEL, decode_change
from alerts.model import Alarm, Source
from semon.alarm_types import AlarmType
from tests.integration.helpers import add_users, http_client, login
from tests.integration.test_alerts_api import CITY, Api, device_in, receive_json, running_api
from web.users import Role

pytestmark = pytest.mark.integration

KINDS = {Desk.BOILER: "boiler"}


async def raised(api: Api, type_: AlarmType, district: str = CITY) -> Alarm:
    """What the rules engine does for a fault: the alarm, published on the hub."""
    kind = KINDS.get(ALARM_CLASSES[type_].desk, "elevator")
    async with api.pool.connection() as conn:
        alarm = await raise_alarm(conn, device_id=device_in(district), kind=kind, type=type_,
                                  source=Source.TELEMETRY, raised_at=datetime.now(UTC), district_code=district)
    assert alarm is not None
    api.hub.publish({"topic": "alarm", "op": "raised", "alarm": alarm.as_json()})
    return alarm


async def ids(api: Api, **params: str) -> list[int]:
    status, body = await api.get("/api/alarms", **params)
    assert status == 200, body
    return [a["id"] for a in body["alarms"]]


async def test_a_fault_is_acknowledged_once_and_everyone_hears_of_it(database_url: str) -> None:
    async with running_api(database_url) as api:
        fault = await raised(api, AlarmType.STOPPED_OUTSIDE_DOOR_ZONE)
        assert (await ids(api, acknowledged="false", desk="96333")) == [fault.id]
        async with api.http.ws_connect("/api/live") as ws:
            snapshot = await receive_json(ws)
            (shown,) = [a for a in snapshot["alarms"] if a["id"] == fault.id]
            assert shown["desk"] == "96333" and shown["sounds"] and shown["endangers"]
            assert shown["acknowledged_at"] is None

            status, body = await api.post(f"/api/alarms/{fault.id}/acknowledge", {"actor": "operator-2"})
            assert status == 200, body
            assert body["acknowledged_by"] == "operator-2" and body["acknowledged_at"] is not None
            change = await receive_json(ws)
            assert change["topic"] == "alarm" and change["op"] == "acknowledged"
            assert change["alarm"]["acknowledged_by"] == "operator-2"

            # Again: the first acknowledgement stands, and nothing new is pushed.
            status, again = await api.post(f"/api/alarms/{fault.id}/acknowledge", {"actor": "operator-3"})
            assert status == 200
            assert again["acknowledged_by"] == "operator-2" and again["acknowledged_at"] == body["acknowledged_at"]
            with pytest.raises(TimeoutError):
                await ws.receive(0.3)
        assert (await ids(api, acknowledged="true", desk="96333")) == [fault.id]
        assert (await ids(api, acknowledged="false", desk="96333")) == []


async def test_shelving_hides_a_fault_until_its_time_ends_or_it_is_unshelved(database_url: str) -> None:
    async with running_api(database_url) as api:
        fault = await raised(api, AlarmType.DOOR_CLOSE_FAULT)
        status, body = await api.post(f"/api/alarms/{fault.id}/shelve",
                                      {"minutes": 30, "reason": "维保单位已知，明早更换门机"})
        assert status == 200, body
        until = datetime.fromisoformat(body["shelved_until"])
        assert timedelta(minutes=29) < until - datetime.now(UTC) <= timedelta(minutes=30)
        assert body["shelved_by"] == "operator-1" and body["shelved_reason"] == "维保单位已知，明早更换门机"
        assert fault.id in await ids(api, shelved="true")
        assert fault.id not in await ids(api, shelved="false")
        assert (await ids(api, q="明早")) == [fault.id]  # the reason is searchable

        status, body = await api.post(f"/api/alarms/{fault.id}/unshelve", {})
        assert status == 200, body
        assert datetime.fromisoformat(body["shelved_until"]) <= datetime.now(UTC)
        assert body["shelved_reason"] == "维保单位已知，明早更换门机"  # the last shelving stays on record
        assert fault.id in await ids(api, shelved="false")
        # Unshelving what is not shelved changes nothing.
        status, same = await api.post(f"/api/alarms/{fault.id}/unshelve", {})
        assert status == 200 and same["shelved_until"] == body["shelved_until"]

        # Shelved again, and its time runs out: it is back without anyone doing anything.
        assert (await api.post(f"/api/alarms/{fault.id}/shelve", {"minutes": 15, "reason": "test"}))[0] == 200
        assert fault.id in await ids(api, shelved="true")
        async with api.pool.connection() as conn:
            await conn.execute("UPDATE alarms SET shelved_until = now() - interval '1 second' WHERE id = %s",
                               (fault.id,))
        assert fault.id in await ids(api, shelved="false")
        assert fault.id not in await ids(api, shelved="true")


async def test_an_entrapment_is_never_shelved_nor_acknowledged_as_an_alarm(database_url: str) -> None:
    async with running_api(database_url) as api:
        alarm, _ = await api.entrapment()
        for action, body in (("shelve", {"minutes": 15, "reason": "busy"}), ("acknowledge", {}), ("unshelve", {})):
            status, answer = await api.post(f"/api/alarms/{alarm.id}/{action}", body)
            assert status == 400, (action, answer)
            assert "entrapment" in answer["error"] and "incident" in answer["error"]
        async with api.pool.connection() as conn:
            cur = await conn.execute("SELECT acknowledged_at, shelved_until FROM alarms WHERE id = %s", (alarm.id,))
            assert await cur.fetchone() == (None, None)


async def test_bad_requests_are_refused_with_a_reason(database_url: str) -> None:
    async with running_api(database_url) as api:
        fault = await raised(api, AlarmType.OVERSPEED)
        # 15 minutes to a day, as the docs and the console's choices say: 1-14 are refused too.
        for body in ({"minutes": 0, "reason": "x"}, {"minutes": 1, "reason": "x"}, {"minutes": 14, "reason": "x"},
                     {"minutes": 30}, {"minutes": 30, "reason": ""}, {"minutes": 1441, "reason": "x"},
                     {"minutes": 100000, "reason": "x"}, {"minutes": "soon", "reason": "x"}):
            status, answer = await api.post(f"/api/alarms/{fault.id}/shelve", body)
            assert status == 400, (body, answer)
            assert answer["error"]
        status, answer = await api.post("/api/alarms/999999999/acknowledge", {})
        assert status == 404 and "999999999" in answer["error"]
        status, answer = await api.get("/api/alarms", desk="elevators")
        assert status == 400 and "desk" in answer["error"]

        async with api.pool.connection() as conn:
            await conn.execute("UPDATE alarms SET state = 'cleared', cleared_at = now() WHERE id = %s", (fault.id,))
        for action, body in (("shelve", {"minutes": 15, "reason": "x"}), ("acknowledge", {}), ("unshelve", {})):
            status, answer = await api.post(f"/api/alarms/{fault.id}/{action}", body)
            assert status == 409 and "cleared" in answer["error"], (action, answer)


async def test_the_bureau_may_look_but_not_handle(database_url: str) -> None:
    async with running_api(database_url) as api:
        fault = await raised(api, AlarmType.SAFETY_CIRCUIT_OPEN)
        await add_users(database_url, (("bureau-1", Role.BUREAU, None),))
        async with http_client(api.url) as bureau:
            await login(bureau, f"{api.url}/api", "bureau-1")
            async with bureau.get("/api/alarms", params={"desk": "96333"}) as resp:
                assert resp.status == 200
            async with bureau.post(f"/api/alarms/{fault.id}/shelve", json={"minutes": 5, "reason": "x"}) as resp:
                assert resp.status == 403
        async with api.pool.connection() as conn:
            cur = await conn.execute("SELECT shelved_until FROM alarms WHERE id = %s", (fault.id,))
            assert await cur.fetchone() == (None,)


async def test_each_desk_lists_its_own_alarms(database_url: str) -> None:
    async with running_api(database_url) as api:
        by_desk: dict[Desk, list[int]] = {desk: [] for desk in Desk}
        for type_ in (AlarmType.UNINTENDED_CAR_MOVEMENT, AlarmType.PREVENT_RESTART_FAULT, AlarmType.OVER_PRESSURE,
                      AlarmType.FLAME_FAILURE, AlarmType.OFFLINE, AlarmType.SILENT,
                      AlarmType.INSPECTION_EXPIRED_RUNNING):
            by_desk[ALARM_CLASSES[type_].desk].append((await raised(api, type_)).id)
        for desk, expected in by_desk.items():
            status, body = await api.get("/api/alarms", desk=str(desk), state="open", limit="1000")
            assert status == 200
            assert sorted(a["id"] for a in body["alarms"]) == sorted(expected), desk
            assert {a["desk"] for a in body["alarms"]} <= {str(desk)}

        status, table = await api.get("/api/alarms/types")
        assert status == 200
        assert {row["type"] for row in table["types"]} == {str(t) for t in AlarmType}
        shelvable = {row["type"] for row in table["types"] if row["shelvable"]}
        assert shelvable == {str(t) for t in AlarmType} - {"entrapment"}


async def test_a_handling_is_announced_to_the_other_processes_at_commit(database_url: str) -> None:
    async with running_api(database_url) as api, \
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        fault = await raised(api, AlarmType.FLOOR_POSITION_LOST)
        await listener.execute(f"LISTEN {LIVE_CHANNEL}")
        assert (await api.post(f"/api/alarms/{fault.id}/shelve", {"minutes": 15, "reason": "on it"}))[0] == 200
        received: list[Any] = []
        async with asyncio.timeout(10):
            async for notice in listener.notifies():
                received.append(decode_change(notice.payload)[1])
                break
        (change,) = received
        assert isinstance(change, dict)
        assert change["op"] == "shelved" and change["alarm"]["id"] == fault.id
        assert change["alarm"]["shelved_reason"] == "on it"
