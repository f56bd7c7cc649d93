"""The 96333 rescue workflow against a real PostgreSQL and the real API (issue 15, "The 96333
operator"): a phone-reported incident from the call to its record, a device's later alarm linked
to it, escalation through the three tiers on no response and on a late arrival, closing refused
without the record, operators acting at once, the shift's lists and its handover, and the KPIs."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection

from alerts.alarm_store import clear_alarm, raise_alarm
from alerts.api import alerts_part
from alerts.hub import LiveHub
from alerts.incident_store import escalate_overdue, get_incident, open_incident
from alerts.model import Source
from registry.api import registry_part
from registry.io import import_register
from registry.store import unit_entry
from semon.alarm_types import AlarmType
from semon.db.pool import open_pool
from semon.settings import SecondTierStation
from semon.stack.postgres import PostgresServer
from tests.integration.helpers import add_users, http_client, login
from tests.integration.test_alerts_api import CLOSE, Api, api_settings, running_api
from web.app import create_app, serve_app
from web.users import Role

pytestmark = pytest.mark.integration

UNIT = "31106301022015000777"  # a registered elevator
RURAL = "31106301212015000778"  # one outside the urban area
MAINTENANCE = "西宁甲电梯维保有限公司"
STATIONS: tuple[dict[str, Any], ...] = (
    {"name": "城东网格救援站", "phone": "0971-8100001", "district_code": "630102", "latitude": 36.616,
     "longitude": 101.806},
    {"name": "大通网格救援站", "phone": "0971-8100002", "district_code": "630121", "latitude": 36.928,
     "longitude": 101.685},
)
REGISTER: dict[str, dict[str, Any]] = {
    UNIT: {"district_code": "630102", "address": "城东区八一路12号3单元", "area": "urban", "place": "residential",
           "rescue_code": "100777", "latitude": 36.62, "longitude": 101.80,
           "maintenance_unit": {"code": "M1", "name": MAINTENANCE, "phone": "0971-6100000", "contact": "王",
                                "contacts": [{"name": "李师傅", "phone": "13900000001"},
                                             {"name": "赵师傅", "phone": "13900000002"}]}},
    RURAL: {"district_code": "630121", "address": "大通县黄家寨镇1号", "area": "other", "place": "school",
            "rescue_code": "100778", "latitude": 36.93, "longitude": 101.68,
            "maintenance_unit": {"code": "M1", "name": MAINTENANCE, "phone": "0971-6100000", "contact": "王",
                                 "contacts": []}},
}


async def register(conn: AsyncConnection, device_id: str) -> dict[str, Any] | None:
    """The register's entry (``registry.store.unit_entry``'s keys that incidents read)."""
    return REGISTER.get(device_id)


def settings(**incidents: Any) -> Any:
    return api_settings({"second_tier_stations": tuple(SecondTierStation(**s) for s in STATIONS), **incidents})


async def report(api: Api, device_id: str = UNIT, **fields: Any) -> tuple[int, Any]:
    return await api.post("/api/incidents", {"device_id": device_id, "caller": "张女士",
                                             "caller_phone": "13800000000", **fields})


async def device_alarm(api: Api, device_id: str) -> Any:
    """What the rules engine does when the device reports the entrapment."""
    async with api.pool.connection() as conn, conn.transaction():
        alarm = await raise_alarm(conn, device_id=device_id, kind="elevator", type=AlarmType.ENTRAPMENT,
                                  source=Source.CODE, raised_at=datetime.now(UTC), details={"code": 11},
                                  district_code=REGISTER.get(device_id, {}).get("district_code"))
        assert alarm is not None
        return alarm, await open_incident(conn, alarm, api.settings.incidents, register)


async def test_a_phone_call_from_the_report_to_its_record(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        status, opened = await report(api, comment="困在3楼与4楼之间, 两人")
        assert status == 201, opened
        assert (opened["source"], opened["alarm_id"], opened["state"], opened["registered"]) == (
            "phone", None, "acknowledged", True)
        assert (opened["caller"], opened["caller_phone"]) == ("张女士", "13800000000")
        # Copied from the register at opening.
        assert (opened["rescue_code"], opened["area"], opened["place"], opened["district_code"]) == (
            "100777", "urban", "residential", "630102")
        assert opened["maintenance_unit"] == MAINTENANCE and opened["maintenance_contact"] == "李师傅 13900000001"
        assert [(s["step"], s["actor"], s["comment"]) for s in opened["steps"]] == [
            ("raised", "operator-1", "困在3楼与4楼之间, 两人"), ("acknowledged", "operator-1", None)]
        incident_id = opened["id"]

        assert (await api.step(incident_id, "no_answer", contact="李师傅 13900000001"))[0] == 200
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("dispatched", "operator-1", {"maintenance_unit": MAINTENANCE, "contact": "赵师傅 13900000002"}),
            ("responded", "operator-2", {}), ("on_site", "operator-2", {}), ("released", "operator-2", {}),
            ("closed", "operator-1", {**CLOSE, "comment": "回访确认两人已安全离开"}),
        ]
        for step, actor, fields in steps:
            status, body = await api.step(incident_id, step, actor, **fields)
            assert status == 200, body
        status, got = await api.get(f"/api/incidents/{incident_id}")
        assert got["state"] == "closed" and got["tier"] == 1 and got["rescuer_contact"] == "赵师傅 13900000002"
        assert (got["persons_released"], got["cause_class"], got["callback_confirmed"]) == (1, "door_system", True)
        # The timeline: every step with who and when, the note of the unanswered call and the comments.
        timeline = [(s["step"], s["actor"]) for s in got["steps"]]
        assert timeline == [("raised", "operator-1"), ("acknowledged", "operator-1"), ("no_answer", "operator-1"),
                            *((step, actor) for step, actor, _ in steps)]
        assert all(s["at"] for s in got["steps"])
        assert got["steps"][2]["details"] == {"maintenance_unit": MAINTENANCE, "contact": "李师傅 13900000001",
                                              "tier": 1}  # before any dispatch the centre calls tier 1
        assert got["steps"][-1]["comment"] == "回访确认两人已安全离开"
        times = [datetime.fromisoformat(s["at"]) for s in got["steps"]]
        assert times == sorted(times)
        # The same unit is free for a new call once closed.
        assert (await report(api))[0] == 201


async def test_an_unregistered_unit_says_so_and_takes_the_maintenance_unit_at_dispatch(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        status, opened = await report(api, "NOT-IN-THE-REGISTER-1", address="南川东路 88号 3单元")
        assert status == 201 and opened["registered"] is False and opened["maintenance_unit"] is None
        assert opened["address"] == "南川东路 88号 3单元"
        # An address is no device id: refused, saying where it goes.
        status, body = await report(api, "南川东路 88号 3单元")
        assert status == 400 and "an address goes in address" in body["error"]
        status, body = await api.step(opened["id"], "dispatched")
        assert status == 400 and body["error"] == "dispatched needs the maintenance unit and its contact"
        # Nobody known to have not answered: asked for; given, the note names them at tier 1.
        status, body = await api.step(opened["id"], "no_answer")
        assert status == 400 and body["error"].startswith("no_answer needs who did not answer")
        status, body = await api.step(opened["id"], "no_answer", maintenance_unit="住户说的维保", contact="138")
        assert status == 200 and body["steps"][-1]["details"] == {"maintenance_unit": "住户说的维保", "contact": "138",
                                                                  "tier": 1}
        status, body = await api.step(opened["id"], "dispatched", maintenance_unit="临时维保公司", contact="139")
        assert status == 200 and (body["maintenance_unit"], body["tier"]) == ("临时维保公司", 1)
        # A device alarm on an unregistered device: the incident says so too.
        _, opened_by_alarm = await device_alarm(api, "NOT-IN-THE-REGISTER-2")
        assert opened_by_alarm.incident.registered is False and not opened_by_alarm.linked


async def test_a_device_alarm_after_the_call_links_to_the_open_incident(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        _, opened = await report(api)
        alarm, linked = await device_alarm(api, UNIT)
        assert linked.linked and linked.incident.id == opened["id"] and linked.incident.alarm_id == alarm.id
        assert linked.step.details["alarm_id"] == alarm.id and linked.step.actor == "system"
        async with api.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM incidents WHERE device_id = %s", (UNIT,))
            assert await cur.fetchone() == (1,)
        # The device's alarm clears; later it raises again: still the same incident.
        async with api.pool.connection() as conn, conn.transaction():
            assert await clear_alarm(conn, device_id=UNIT, type=AlarmType.ENTRAPMENT, cleared_at=datetime.now(UTC),
                                     reason="doors open, car empty") is not None
        again, relinked = await device_alarm(api, UNIT)
        assert relinked.linked and relinked.incident.id == opened["id"]
        assert relinked.step.details["previous_alarm_id"] == alarm.id
        # Closing the incident clears the alarm it holds now.
        assert (await api.step(opened["id"], "false_alarm"))[0] == 200
        status, got = await api.get(f"/api/alarms/{again.id}")
        assert got["state"] == "cleared" and got["clear_reason"] == "false alarm"
        status, got = await api.get(f"/api/incidents/{opened['id']}")
        assert [s["step"] for s in got["steps"]].count("alarm_linked") == 2
        # A phone call while the device's own incident is open: refused, naming that incident.
        _, by_device = await device_alarm(api, RURAL)
        status, body = await report(api, RURAL)
        assert status == 409 and body["error"] == (f"device {RURAL} has an open incident already: "
                                                   f"{by_device.incident.id}")


async def test_no_response_and_a_late_arrival_escalate_through_the_three_tiers(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        _, opened = await report(api)
        incident_id = opened["id"]
        _, body = await api.step(incident_id, "dispatched", maintenance_unit=MAINTENANCE, contact="李师傅")
        dispatched = datetime.fromisoformat(body["dispatched_at"])
        assert datetime.fromisoformat(body["response_deadline"]) == dispatched + timedelta(minutes=5)
        assert datetime.fromisoformat(body["arrival_deadline"]) == dispatched + timedelta(minutes=30)
        incidents = api.settings.incidents
        async with api.pool.connection() as conn:
            assert await escalate_overdue(conn, dispatched + timedelta(minutes=5), incidents) == []
            # Nobody confirms within 5 minutes: the nearest second-tier station goes.
            (first,) = await escalate_overdue(conn, dispatched + timedelta(minutes=5, seconds=1), incidents)
            assert [s.step for s in first.steps] == ["response_overdue", "escalated"]
            assert first.steps[1].details == {"from_tier": 1, "to_tier": 2, "reason": "no_response",
                                              "rescuer": "城东网格救援站", "contact": "0971-8100001"}
            assert (first.incident.tier, first.incident.state, first.incident.response_late) == (2, "dispatched", True)
            assert await escalate_overdue(conn, dispatched + timedelta(minutes=6), incidents) == []  # once
        # The station confirms, but does not arrive in time: the fire brigade.
        assert (await api.step(incident_id, "responded", "operator-2"))[0] == 200
        second_at = first.incident.escalated_at
        assert second_at is not None
        async with api.pool.connection() as conn:
            (second,) = await escalate_overdue(conn, second_at + timedelta(minutes=30, seconds=1), incidents)
            assert second.steps[1].details["reason"] == "late_arrival"
            assert (second.incident.tier, second.incident.rescuer, second.incident.rescuer_contact) == (
                3, "消防救援", "119")
            # At the last tier a miss is noted once, and nobody further is sent.
            (third,) = await escalate_overdue(conn, second_at + timedelta(minutes=36), incidents)
            assert [s.step for s in third.steps] == ["response_overdue"] and third.incident.tier == 3
            (fourth,) = await escalate_overdue(conn, second_at + timedelta(hours=5), incidents)
            assert [s.step for s in fourth.steps] == ["arrival_overdue"] and fourth.incident.tier == 3
            assert await escalate_overdue(conn, second_at + timedelta(hours=6), incidents) == []
            found = await get_incident(conn, incident_id)
        assert found is not None
        assert [(s.details["from_tier"], s.details["to_tier"]) for s in found[1] if s.step == "escalated"] == [
            (1, 2), (2, 3)]
        # A hand dispatch can never go back down a tier.
        status, body = await api.step(incident_id, "dispatched", tier=2)
        assert status == 409 and "cannot go back to tier 2" in body["error"]
        status, handover = await api.get("/api/incidents/handover",
                                         since=(dispatched - timedelta(hours=1)).isoformat(),
                                         until=(dispatched + timedelta(hours=6)).isoformat())
        assert status == 200
        assert [(e["from_tier"], e["to_tier"], e["reason"]) for e in handover["escalations"]] == [
            (1, 2, "no_response"), (2, 3, "late_arrival")]
        assert handover["late_responses"] == 1 and handover["late_arrivals"] == 1
        assert [i["id"] for i in handover["open"]] == [incident_id]
        status, kpis = await api.get("/api/kpis/rescue", by="district")
        (row,) = kpis["rows"]
        assert (row["tier_2"], row["tier_3"], row["response_rate_pct"], row["late_responses"]) == (1, 1, 0.0, 1)


async def test_the_operator_starts_tier_2_and_calls_119_by_hand(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        _, opened = await report(api, RURAL)
        status, body = await api.step(opened["id"], "dispatched", tier=2)
        assert status == 200 and (body["tier"], body["rescuer"]) == (2, "大通网格救援站")  # by coordinates
        assert (datetime.fromisoformat(body["arrival_deadline"]) - datetime.fromisoformat(body["dispatched_at"])
                == timedelta(hours=1))  # outside the urban area
        status, body = await api.step(opened["id"], "dispatched", tier=3)
        assert status == 200 and (body["tier"], body["rescuer_contact"], body["state"]) == (3, "119", "dispatched")
        details = [s["details"] for s in body["steps"] if s["step"] == "dispatched"]
        assert [(d["tier"], d["maintenance_unit"]) for d in details] == [(2, "大通网格救援站"), (3, "消防救援")]


async def test_closing_without_the_record_is_refused_naming_what_is_missing(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        _, opened = await report(api)
        for step, fields in [("dispatched", {"maintenance_unit": MAINTENANCE, "contact": "李"}), ("on_site", {}),
                             ("released", {})]:
            assert (await api.step(opened["id"], step, **fields))[0] == 200
        status, body = await api.step(opened["id"], "closed")
        assert status == 400 and body["error"] == (
            "closed needs persons_released, injuries, cause_class, self_release, callback_confirmed (missing)")
        status, body = await api.step(opened["id"], "closed", **{**CLOSE, "cause_class": None, "injuries": None})
        assert status == 400 and body["error"] == "closed needs injuries, cause_class (missing)"
        status, body = await api.step(opened["id"], "closed", **{**CLOSE, "cause_class": "gremlins"})
        assert status == 400 and body["error"].startswith("cause_class: Input should be 'human'")
        status, body = await api.step(opened["id"], "closed", **{**CLOSE, "persons_released": -1})
        assert status == 400 and "persons_released" in body["error"]
        status, body = await api.step(opened["id"], "closed", **{**CLOSE, "persons_released": 1.5})
        assert status == 400 and "persons_released" in body["error"] and "missing" not in body["error"]
        status, body = await api.step(opened["id"], "closed", **{**CLOSE, "persons_released": 1, "injuries": 5})
        assert status == 400 and body["error"] == (
            "injuries (5) cannot exceed persons_released (1): injuries count the released persons hurt")
        status, got = await api.get(f"/api/incidents/{opened['id']}")
        assert got["state"] == "released" and got["steps"][-1]["step"] == "released"
        status, causes = await api.get("/api/incidents/causes")
        assert [(c["cause_class"], c["zh"]) for c in causes["causes"]] == [
            ("human", "人为"), ("external", "外部/停电"), ("door_system", "门系统"), ("control_system", "控制系统"),
            ("other", "其他")]


async def test_operators_acting_at_once(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        # Two operators take the same call: one incident.
        results = await asyncio.gather(report(api), api.post("/api/incidents", {"device_id": UNIT,
                                                                                "actor": "operator-2"}))
        assert sorted(status for status, _ in results) == [201, 409]
        incident_id = next(body for status, body in results if status == 201)["id"]
        # Two dispatch at once from what they both saw (acknowledged): exactly one is taken; the
        # other is told who dispatched it and when, and nothing of its own is written.
        dispatches = await asyncio.gather(
            api.step(incident_id, "dispatched", "operator-1", maintenance_unit=MAINTENANCE, contact="李",
                     expected_state="acknowledged"),
            api.step(incident_id, "dispatched", "operator-2", maintenance_unit=MAINTENANCE, contact="赵",
                     expected_state="acknowledged"))
        assert sorted(status for status, _ in dispatches) == [200, 409]
        winner = next(body for status, body in dispatches if status == 200)
        refused = next(body for status, body in dispatches if status == 409)
        assert "already dispatched by" in refused["error"]
        assert winner["steps"][-1]["actor"] in refused["error"]
        _, got = await api.get(f"/api/incidents/{incident_id}")
        assert [s["step"] for s in got["steps"]].count("dispatched") == 1
        # A re-dispatch says it saw the dispatch; a client that says nothing is taken as before.
        assert (await api.step(incident_id, "dispatched", "operator-2", maintenance_unit=MAINTENANCE, contact="赵",
                               expected_state="dispatched"))[0] == 200
        assert (await api.step(incident_id, "dispatched", "operator-1", maintenance_unit=MAINTENANCE,
                               contact="李"))[0] == 200
        assert (await api.step(incident_id, "on_site", expected_state="acknowledged"))[0] == 409
        for step in ("on_site", "released"):
            assert (await api.step(incident_id, step))[0] == 200
        # Two close at once: exactly one wins; the other is told it is over.
        closes = await asyncio.gather(api.step(incident_id, "closed", "operator-1", **CLOSE),
                                      api.step(incident_id, "closed", "operator-2", **CLOSE))
        assert sorted(status for status, _ in closes) == [200, 409]
        _, got = await api.get(f"/api/incidents/{incident_id}")
        assert [s["step"] for s in got["steps"]].count("closed") == 1
        # A call and the device's own alarm at the same moment: one incident, the alarm linked or first.
        rural_call, (alarm, opened) = await asyncio.gather(report(api, RURAL), device_alarm(api, RURAL))
        async with api.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*), min(alarm_id) FROM incidents WHERE device_id = %s "
                                     "AND state NOT IN ('closed', 'false_alarm')", (RURAL,))
            assert await cur.fetchone() == (1, alarm.id)
        assert rural_call[0] in (201, 409) and opened.linked == (rural_call[0] == 201)


async def test_the_shift_lists_search_and_handover(database_url: str) -> None:
    async with running_api(database_url, settings(), register) as api:
        _, phone = await report(api, caller="王先生")
        _, device = await device_alarm(api, RURAL)
        start = datetime.fromisoformat(phone["raised_at"]) - timedelta(minutes=1)
        for step, fields in [("dispatched", {"maintenance_unit": MAINTENANCE, "contact": "李"}), ("on_site", {}),
                             ("released", {}), ("closed", {**CLOSE, "cause_class": "external"})]:
            assert (await api.step(phone["id"], step, **fields))[0] == 200

        async def ids(**params: str) -> tuple[list[int], int]:
            status, body = await api.get("/api/incidents", **params)
            assert status == 200, body
            return [i["id"] for i in body["incidents"]], body["total"]

        both = device.incident.id, phone["id"]
        assert await ids() == ([*both], 2)
        assert await ids(source="phone") == ([phone["id"]], 1)
        assert await ids(cause_class="external") == ([phone["id"]], 1)
        assert await ids(q="王先生") == ([phone["id"]], 1)
        assert await ids(q="黄家寨") == ([device.incident.id], 1)  # the address
        assert await ids(q="西宁甲") == ([*both], 2)  # the maintenance unit: both units have it
        assert await ids(q="31106301212015") == ([device.incident.id], 1)  # the device id
        assert await ids(q="100_77") == ([], 0)  # the pattern's characters are literal
        assert await ids(limit="1", offset="1") == ([phone["id"]], 2)
        assert await ids(limit="1", offset="5") == ([], 2)
        assert await ids(active="true", since=start.isoformat()) == ([device.incident.id], 1)
        status, _ = await api.get("/api/incidents", source="fax")
        assert status == 400

        status, handover = await api.get("/api/incidents/handover", since=start.isoformat())
        assert status == 200
        assert [i["id"] for i in handover["open"]] == [device.incident.id]
        assert [i["id"] for i in handover["closed"]] == [phone["id"]]
        assert handover["by_state"] == {"raised": 1, "closed": 1}
        assert (handover["late_acks"], handover["late_responses"], handover["late_arrivals"]) == (0, 0, 0)
        assert handover["escalations"] == []
        # A shift that ended before: the open incident still shows, the closed one does not.
        status, earlier = await api.get("/api/incidents/handover", since=(start - timedelta(hours=8)).isoformat(),
                                        until=start.isoformat())
        assert [i["id"] for i in earlier["open"]] == [device.incident.id] and earlier["closed"] == []
        status, _ = await api.get("/api/incidents/handover", since=start.isoformat(),
                                     until=(start - timedelta(hours=1)).isoformat())
        assert status == 400


async def test_a_call_found_in_the_real_register_by_its_rescue_code(database_url: str) -> None:
    """新建接警 end to end against the register itself: search by what the caller reads, open,
    and the register's facts on the incident (``registry.store.unit_entry`` as the composition
    root hands it over)."""
    csv = ("registration_code,category,district_code,address,rescue_code,area,place,latitude,longitude,"
           "maintenance_code,maintenance_name,maintenance_contacts\n"
           "31106301212015000901,电梯,630121,大通县桥头镇园林路8号,100901,urban,mall,36.93,101.68,WB9,青海丙电梯公司,"
           "王工 13800000009; 李工 13800000010\n"
           "31106301212015000902,电梯,630121,大通县桥头镇园林路10号,100902,other,school,36.95,101.70,WB9,青海丙电梯公司,\n"
           "11106301212015000903,锅炉,630121,大通县桥头镇园林路12号,,,industrial,36.95,101.70,,,\n")
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        report_ = await import_register(conn, csv.encode("utf-8"), "csv", today=datetime.now(UTC).date())
    assert [str(p) for p in report_.problems] == []
    settings_ = settings()
    await add_users(database_url, (("operator-1", Role.OPERATOR, None),))
    async with open_pool(database_url, max_size=4, name="test-rescue-register") as pool:
        parts = [alerts_part(pool, LiveHub(), settings_.incidents, register=unit_entry),
                 registry_part(pool, settings_.registry)]
        app = create_app(pool, settings_.auth, parts, backoff=settings_.backoff.backoff())
        async with serve_app(app, "127.0.0.1", 0) as port, http_client(f"http://127.0.0.1:{port}") as http:
            await login(http, f"http://127.0.0.1:{port}/api", "operator-1")

            async def search(q: str) -> list[tuple[str, str]]:
                async with http.get("/api/registry/search", params={"q": q}) as resp:
                    assert resp.status == 200, await resp.text()
                    body = await resp.json()
                return [(u["registration_code"], u["matched"]) for u in body["units"]]

            assert await search("１００９０１") == [("31106301212015000901", "rescue_code")]  # full-width digits
            assert await search("31106301212015000902") == [("31106301212015000902", "registration_code")]
            assert await search("3110630121") == [("31106301212015000901", "code_prefix"),
                                                  ("31106301212015000902", "code_prefix")]
            assert await search("园林路10") == [("31106301212015000902", "address")]
            # Every word, in any order: spaces as a caller's words come do not hide the unit.
            assert await search("园林路 8") == [("31106301212015000901", "address")]
            assert await search(" 10号　桥头镇 ") == [("31106301212015000902", "address")]
            assert await search("100%") == []
            async with http.get("/api/registry/search", params={"q": "100901"}) as resp:
                (unit,) = (await resp.json())["units"]
            assert unit["maintenance_unit"]["contacts"] == [{"name": "王工", "phone": "13800000009"},
                                                            {"name": "李工", "phone": "13800000010"}]
            async with http.get("/api/registry/search", params={"q": ""}) as resp:
                assert resp.status == 400

            async with http.post("/api/incidents", json={"device_id": unit["registration_code"],
                                                         "caller": "商场保安"}) as resp:
                assert resp.status == 201, await resp.text()
                opened = await resp.json()
            assert (opened["rescue_code"], opened["area"], opened["place"], opened["registered"]) == (
                "100901", "urban", "mall", True)  # a county seat is urban
            assert (opened["maintenance_unit"], opened["maintenance_contact"]) == ("青海丙电梯公司", "王工 13800000009")
            assert opened["address"] == "大通县桥头镇园林路8号"

            # A boiler is no lift: the desk's search (category=elevator) offers the lifts first and says
            # the category; a call on the boiler's code is refused, naming why.
            async with http.get("/api/registry/search", params={"q": "园林路", "category": "elevator"}) as resp:
                units = (await resp.json())["units"]
            assert [(u["registration_code"], u["category"]) for u in units] == [
                ("31106301212015000901", "elevator"), ("31106301212015000902", "elevator"),
                ("11106301212015000903", "boiler")]
            # A code typed full-width on the unregistered path is the registered unit: a second call on
            # the open one is refused (no second card), the other lift opens registered; the caller's
            # phone is stored as ASCII digits and the history finds it typed either way.
            wide = "".join(chr(ord(c) + 0xFEE0) for c in "31106301212015000901")
            async with http.post("/api/incidents", json={"device_id": f" {wide} "}) as resp:
                assert resp.status == 409 and "already" in (await resp.json())["error"]
            wide = "".join(chr(ord(c) + 0xFEE0) for c in "31106301212015000902")
            call = {"device_id": wide, "caller_phone": "１３９０００００１２３"}
            async with http.post("/api/incidents", json=call) as resp:
                assert resp.status == 201, await resp.text()
                second = await resp.json()
            assert (second["device_id"], second["registered"], second["caller_phone"]) == (
                "31106301212015000902", True, "13900000123")
            async with http.get("/api/incidents", params={"q": "１３９００００"}) as resp:
                assert [i["id"] for i in (await resp.json())["incidents"]] == [second["id"]]

            async with http.post("/api/incidents", json={"device_id": "11106301212015000903"}) as resp:
                assert resp.status == 400
                assert "registered as boiler, not an elevator" in (await resp.json())["error"]


async def test_the_migration_keeps_one_open_incident_per_device(postgres: PostgresServer) -> None:
    """A database from before the rule, with two open incidents of one lift (its alarm cleared and
    came again): migration 0010 closes the older one with a note, and from then on the database
    refuses a second open incident."""
    name = f"test_migration_0010_{os.getpid()}"
    async with await AsyncConnection.connect(postgres.url_for("postgres"), autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    folder = resources.files("semon.db") / "migrations"
    files = sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))
    before = [f for f in files if f < "0010"]
    async with await AsyncConnection.connect(postgres.url_for(name), autocommit=True) as conn:
        for file in before:
            await conn.execute((folder / file).read_text(encoding="utf-8").encode())
        now = datetime.now(UTC)
        for n, state in enumerate(("cleared", "open", "open")):
            await conn.execute("INSERT INTO alarms (device_id, kind, type, severity, source, state, raised_at) "
                               "VALUES (%s, 'elevator', 'entrapment', 'critical', 'code', %s, %s)",
                               ("E-OLD" if n < 2 else "E-OTHER", state, now + timedelta(seconds=n)))
        for alarm_id, device in ((1, "E-OLD"), (2, "E-OLD"), (3, "E-OTHER")):
            await conn.execute("INSERT INTO incidents (alarm_id, device_id, state, raised_at, ack_deadline, "
                               "dispatched_at, maintenance_unit) VALUES (%s, %s, 'dispatched', %s, %s, %s, 'M')",
                               (alarm_id, device, now + timedelta(seconds=alarm_id), now, now))
        await conn.execute((folder / "0010_rescue_workflow.sql").read_text(encoding="utf-8").encode())
        cur = await conn.execute("SELECT alarm_id, state, tier, rescuer, source FROM incidents ORDER BY id")
        assert await cur.fetchall() == [(1, "closed", 1, "M", "device"), (2, "dispatched", 1, "M", "device"),
                                        (3, "dispatched", 1, "M", "device")]
        cur = await conn.execute("SELECT incident_id, step, actor FROM incident_steps")
        assert await cur.fetchall() == [(1, "comment", "system")]
        with pytest.raises(psycopg.errors.UniqueViolation):
            await conn.execute("INSERT INTO incidents (device_id, source, raised_at, ack_deadline) "
                               "VALUES ('E-OLD', 'phone', now(), now())")
        with pytest.raises(psycopg.errors.CheckViolation):  # a device's incident has its alarm
            await conn.execute("INSERT INTO incidents (device_id, raised_at, ack_deadline) "
                               "VALUES ('E-NEW', now(), now())")
