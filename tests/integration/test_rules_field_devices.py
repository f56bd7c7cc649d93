"""The five inputs of issue "Rules that hear real devices", sent as field devices send them: by
third-party clients (paho-mqtt, ``mosquitto_pub``, and ``mosquitto_sub`` for a Last Will)
through a real Mosquitto to a running alerts service on a real PostgreSQL. Each asserts the
alarms and rescue incidents the database holds; the first also what the live stream shows.

Device time is what the frames' ``ts`` say, but never more than 2 s ahead of the engine's clock
at arrival: so a stretch of device time is sent as frames stamped in the recent past, published
in a burst, and the rules measure it by their own stamps (as they do for a device's backlog)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from assembly.alerts_service import AlertsService
from semon.mqtt.client import BrokerAddress
from semon.profile import DeviceProfile
from semon.stack import MosquittoServer
from tests.integration.helpers import add_users, ingest_settings, query
from tests.integration.test_alerts_engine import Live
from tests.integration.test_alerts_engine_bad_input import _paho, _pub
from web.users import Role

pytestmark = pytest.mark.integration

_ids = itertools.count(1)
Message = tuple[str, bytes]


@contextlib.asynccontextmanager
async def alerts(mosquitto: MosquittoServer, database_url: str,
                 **overrides: object) -> AsyncIterator[tuple[AlertsService, Live]]:
    """A running alerts service (settings ``overrides`` on the test defaults) and a console on
    its live stream."""
    settings = ingest_settings(api_port=0, rules_client_id=f"test-rules-field-{next(_ids)}",
                               rules_checkpoint_interval_s=0.2, **overrides)
    await add_users(database_url, (("op", Role.OPERATOR, None),))
    service = AlertsService(settings, mosquitto.url, database_url, lambda _device, kind: DeviceProfile(kind))
    task = asyncio.create_task(service.run())
    live = Live()
    follower: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(service.ready.wait(), 30)
        connected = asyncio.Event()
        follower = asyncio.create_task(live.follow(f"http://127.0.0.1:{service.api_port}/api", connected))
        await asyncio.wait_for(connected.wait(), 10)
        yield service, live
    finally:
        for t in (follower, task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError):
                    await t


class Elevator:
    """One elevator's messages as its firmware writes them: one ``seq`` counter for frames and
    events, ``ts`` in epoch milliseconds. ``t`` is seconds after ``origin_ms``."""

    def __init__(self, device_id: str, origin_ms: int) -> None:
        self.device_id = device_id
        self.origin_ms = origin_ms
        self.seq = 0

    def ms(self, t: float) -> int:
        return self.origin_ms + round(t * 1000)

    def frame(self, t: float, **overrides: Any) -> Message:
        """Idle at a landing, doors closed and locked, nobody detected, unless overridden."""
        self.seq += 1
        body: dict[str, Any] = {"ts": self.ms(t), "seq": self.seq, "running": False, "direction": "stop",
                                "floor": 7, "door_locked": True, "door_zone": True, "passenger": False,
                                "mode": "normal", "power": "main", "speed_mps": 0.0, "trip_count": 4711,
                                "run_hours": 812.5}
        body.update(overrides)
        return f"se/elevator/{self.device_id}/telemetry", orjson.dumps(body)

    def event(self, t: float, code: int) -> Message:
        self.seq += 1
        return f"se/elevator/{self.device_id}/event", orjson.dumps({"ts": self.ms(t), "seq": self.seq, "code": code})


def paho_paced(port: int, messages: list[Message], interval_s: float) -> None:
    """One paho-mqtt connection publishing at QoS 1 at the given pace, as a device does."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"paho-field-{next(_ids)}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(30)
            time.sleep(interval_s)
    finally:
        client.disconnect()
        client.loop_stop()


def now_ms() -> int:
    return int(time.time() * 1000)


def port_of(mosquitto: MosquittoServer) -> int:
    return BrokerAddress.from_url(mosquitto.url).port


async def until(check: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    """Poll the async ``check`` until it returns something true; return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        await asyncio.sleep(0.1)


async def alarms(database_url: str, device_id: str) -> list[tuple[Any, ...]]:
    """(type, state, source, raised_at, cleared_at, clear_reason, details) in the order raised."""
    return await query(database_url, "SELECT type, state, source, raised_at, cleared_at, clear_reason, details "
                                     "FROM alarms WHERE device_id = %s ORDER BY id", (device_id,))


async def incidents(database_url: str, device_id: str) -> list[tuple[Any, ...]]:
    return await query(database_url, "SELECT i.state, a.type FROM incidents i JOIN alarms a ON a.id = i.alarm_id "
                                     "WHERE i.device_id = %s ORDER BY i.id", (device_id,))


def ms_of(value: Any) -> int:
    assert isinstance(value, datetime)
    return round(value.timestamp() * 1000)


BETWEEN_FLOORS = {"door_zone": False}  # stopped outside the door zone, doors closed and locked
RUNNING = {"running": True, "direction": "up", "speed_mps": 1.0, "door_zone": False}


# --- 1. the alarm button stamped 1 ms before the frame it follows --------------------------------


async def test_a_button_stamped_before_the_frame_it_follows_is_an_entrapment_at_once(
        mosquitto: MosquittoServer, database_url: str) -> None:
    """Sent by ``mosquitto_pub``, as an integrator would try it: a frame at T (seq 3), the
    button stamped T - 1 ms (seq 4). One entrapment and one rescue incident, at once, on the
    live stream and in the database."""
    port = port_of(mosquitto)
    car = Elevator("E-FIELD-1", now_ms() - 1_000)
    car.seq = 2
    frame = car.frame(0, passenger=True)  # at a landing, doors closed, someone inside
    button = car.event(-0.001, 90)
    async with alerts(mosquitto, database_url) as (_, live):
        sent = time.monotonic()
        for topic, payload in (frame, button):
            await asyncio.to_thread(_pub, port, topic, payload)
        await live.wait_for(lambda: ("E-FIELD-1", "entrapment") in live.raised(), timeout=10)
        assert time.monotonic() - sent < 5  # at once: not after a window
        await asyncio.sleep(0.5)  # anything more would show by now
        assert live.raised() == [("E-FIELD-1", "entrapment")]
        incident_ops = [c["op"] for c in live.changes if c.get("topic") == "incident"]
    assert incident_ops == ["raised"]
    rows = await alarms(database_url, "E-FIELD-1")
    assert [(t, state, source) for t, state, source, *_ in rows] == [("entrapment", "open", "code")]
    assert rows[0][6]["trigger"] == "alarm button (passenger in the car)"
    assert await incidents(database_url, "E-FIELD-1") == [("raised", "entrapment")]


# --- 2. back after the Last Will, without ``online`` ---------------------------------------------


async def test_telemetry_after_the_last_will_clears_offline_without_an_online(
        mosquitto: MosquittoServer, database_url: str) -> None:
    """The device's connection (``mosquitto_sub`` holding a Last Will, killed) drops: the broker
    publishes ``offline``. The device reconnects (paho-mqtt) and sends telemetry every 0.3 s,
    never ``online``: the offline alarm clears at its first frame."""
    port = port_of(mosquitto)
    status = "se/elevator/E-FIELD-2/status"
    car = Elevator("E-FIELD-2", now_ms())
    async with alerts(mosquitto, database_url):
        await asyncio.to_thread(_paho, port, [car.frame(0)])
        holder = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-i", f"E-FIELD-2-{next(_ids)}", "-q", "1",
            "-t", "se/elevator/E-FIELD-2/config", "--will-topic", status, "--will-payload", "offline",
            "--will-qos", "1", "--will-retain", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.sleep(0.5)  # connected, its Will registered
        finally:
            holder.send_signal(signal.SIGKILL)  # the connection is lost: no DISCONNECT, the Will goes out
            await asyncio.wait_for(holder.wait(), 10)

        async def offline_open() -> bool:
            return any(r[0] == "offline" and r[1] == "open" for r in await alarms(database_url, "E-FIELD-2"))

        await until(offline_open, "the Last Will's offline alarm")
        back = (now_ms() - car.origin_ms) / 1000
        # Reconnected: a frame every 0.3 s, at real pace, stamped when sent (each stamped ahead of
        # its sending by at most the pace, well within the clock tolerance).
        await asyncio.to_thread(paho_paced, port, [car.frame(back + 0.3 * i) for i in range(8)], 0.3)

        async def offline_cleared() -> list[tuple[Any, ...]] | None:
            rows = [r for r in await alarms(database_url, "E-FIELD-2") if r[0] == "offline"]
            return rows if rows and all(r[1] == "cleared" for r in rows) else None

        rows = await until(offline_cleared, "offline cleared by telemetry")
    assert len(rows) == 1
    assert "heard again" in rows[0][5], rows[0][5]
    assert [r[0] for r in await alarms(database_url, "E-FIELD-2")] == ["offline"]  # and never silent


# --- 3. a technician in inspection mode ----------------------------------------------------------


async def test_inspection_mode_holds_entrapment_until_the_devices_own_code_11(
        mosquitto: MosquittoServer, database_url: str) -> None:
    """Inspection mode (检修, code 43), stopped outside the door zone, doors closed, a person
    detected for 30 s: no entrapment. Then the device's own trapped code 11: entrapment and a
    rescue incident."""
    port = port_of(mosquitto)
    car = Elevator("E-FIELD-3", now_ms() - 40_000)
    inspection = [car.frame(0, mode="inspection", passenger=True, door_locked=False), car.event(0.2, 43)]
    inspection += [car.frame(1 + i, mode="inspection", passenger=True, **BETWEEN_FLOORS) for i in range(31)]
    async with alerts(mosquitto, database_url) as (service, _):
        await asyncio.to_thread(_paho, port, inspection)
        last_seq = car.seq

        async def judged() -> bool:
            rules = service.engine.devices.get("E-FIELD-3") if service.engine is not None else None
            return rules is not None and rules.last_seq == last_seq

        await until(judged, "the 30 s in inspection mode judged")
        await asyncio.sleep(1.5)  # ticks: the window has long passed in device time
        assert await alarms(database_url, "E-FIELD-3") == []
        await asyncio.to_thread(_paho, port, [car.event(39.5, 11)])

        async def raised() -> list[tuple[Any, ...]]:
            return await alarms(database_url, "E-FIELD-3")

        rows = await until(raised, "the entrapment from code 11")
        await asyncio.sleep(0.5)
        rows = await alarms(database_url, "E-FIELD-3")
    assert [(t, state, source) for t, state, source, *_ in rows] == [("entrapment", "open", "code")]
    assert rows[0][6]["trigger"] == "device code 11"
    assert await incidents(database_url, "E-FIELD-3") == [("raised", "entrapment")]


# --- 4. a flickering presence sensor ---------------------------------------------------------------


async def test_a_flickering_presence_sensor_gives_the_entrapment_15_s_after_the_stop(
        mosquitto: MosquittoServer, database_url: str) -> None:
    """Stuck between floors, the sensor reporting a passenger except for one second in every ten
    (frames every second, 40 s of them): entrapment stamped 15 s after the stop."""
    port = port_of(mosquitto)
    car = Elevator("E-FIELD-4", now_ms() - 45_000)
    frames = [car.frame(0, passenger=True, **RUNNING)]
    frames += [car.frame(1 + i, passenger=i % 10 != 9, **BETWEEN_FLOORS) for i in range(40)]
    stop_ms = car.ms(1)
    async with alerts(mosquitto, database_url):
        await asyncio.to_thread(_paho, port, frames)

        async def raised() -> list[tuple[Any, ...]]:
            return await alarms(database_url, "E-FIELD-4")

        await until(raised, "the entrapment")
        await asyncio.sleep(0.5)
        rows = await alarms(database_url, "E-FIELD-4")
    assert [(t, state, source) for t, state, source, *_ in rows] == [("entrapment", "open", "telemetry")]
    assert ms_of(rows[0][3]) == stop_ms + 15_000
    assert rows[0][6]["trigger"] == "stopped outside the door zone"
    assert await incidents(database_url, "E-FIELD-4") == [("raised", "entrapment")]


# --- 5. the alarm button in a car stuck between floors, nobody detected -----------------------------


async def test_the_button_in_a_stuck_car_is_an_entrapment_that_does_not_lapse(
        mosquitto: MosquittoServer, database_url: str) -> None:
    """Stuck between floors, the sensor sees nobody, the button pressed 3 s after the stop: an
    entrapment, not a minor button alarm, still open well after the button's lapse (5 s here, 10
    minutes by default) while the car stays stuck; the same button in an idle car, with the same
    lapse, is a minor alarm that lapses."""
    port = port_of(mosquitto)
    origin = now_ms() - 30_000
    stuck, idle = Elevator("E-FIELD-5", origin), Elevator("E-FIELD-5-IDLE", origin)
    stuck_messages = [stuck.frame(0, **RUNNING), stuck.frame(1, **BETWEEN_FLOORS), stuck.frame(2, **BETWEEN_FLOORS),
                      stuck.event(3, 90)]
    stuck_messages += [stuck.frame(4 + i, **BETWEEN_FLOORS) for i in range(24)]  # 24 s more: stuck, empty
    idle_messages = [idle.frame(0), idle.frame(1), idle.frame(2), idle.event(3, 90)]
    idle_messages += [idle.frame(4 + i) for i in range(24)]  # idle at the landing, doors closed, empty
    async with alerts(mosquitto, database_url, rules_alarm_button_ttl_s=5.0):
        await asyncio.to_thread(_paho, port, stuck_messages + idle_messages)

        async def lapsed() -> list[tuple[Any, ...]] | None:
            rows = await alarms(database_url, "E-FIELD-5-IDLE")
            return rows if rows and rows[0][1] == "cleared" else None

        idle_rows = await until(lapsed, "the idle car's button alarm to lapse")
        await asyncio.sleep(6)  # real time too: the lapse would have passed on the engine's clock
        stuck_rows = await alarms(database_url, "E-FIELD-5")
    entrapment = [row for row in stuck_rows if row[0] == "entrapment"]
    assert [(t, state, source) for t, state, source, *_ in entrapment] == [("entrapment", "open", "code")]
    assert entrapment[0][6]["trigger"] == "alarm button (car stopped outside the door zone)"
    assert ms_of(entrapment[0][3]) == stuck.ms(3)
    # The press has a path of its own (docs/alerts.md, "The alarm path"): when it overtakes the
    # frames of the stop, it is a button alarm until they come, and then the entrapment. Either
    # way no lapse, and one incident.
    others = [(t, state, reason) for t, state, _s, _r, _c, reason, _d in stuck_rows if t != "entrapment"]
    assert others in ([], [("alarm_button", "cleared", "an entrapment now")])
    assert await incidents(database_url, "E-FIELD-5") == [("raised", "entrapment")]
    assert [(t, state, reason) for t, state, _s, _r, _c, reason, _d in idle_rows] == [
        ("alarm_button", "cleared", "lapsed")]
    assert ms_of(idle_rows[0][4]) == idle.ms(3) + 5_000
    assert await incidents(database_url, "E-FIELD-5-IDLE") == []
