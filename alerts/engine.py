"""The rules engine: its own MQTT subscription → per-device rules → alarms in PostgreSQL → the
live stream.

The rules run in the MQTT callback (a few microseconds a message). Alarm changes go through
one writer, in order, each in its own transaction, and onto the live stream once committed.
Messages are acknowledged to the broker only at a checkpoint, after the alarm changes they
caused have committed and the rule state they left is written: after a crash the broker
redelivers what came since, and the restored state recognises what it has already seen. So a
restart neither forgets an open alarm nor raises one twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_store import clear_alarm, open_alarms, raise_alarm
from alerts.hub import LiveHub
from alerts.incident_store import note_alarm_cleared, open_incident
from alerts.model import Alarm, Source
from alerts.rules import Change, DeviceProfile, DeviceRules, RuleSettings
from semon.alarm_types import AlarmType, EntrapmentThresholds
from semon.backoff import Backoff
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.session import MqttSession
from semon.protocol.decode import Decoded, decode
from semon.protocol.models import BoilerTelemetry, DeviceEvent, ElevatorTelemetry, StatusMessage
from semon.protocol.topics import Channel, Kind
from semon.settings import Settings

log = logging.getLogger(__name__)

ProfileLookup = Callable[[str, Kind], DeviceProfile]


def rule_settings(settings: Settings) -> RuleSettings:
    return RuleSettings(
        entrapment=EntrapmentThresholds(settings.rules_entrapment_outside_door_zone_s,
                                        settings.rules_entrapment_in_door_zone_s),
        silent_after_s=settings.rules_silent_after_s,
    )


class RulesEngine:
    def __init__(self, settings: Settings, mqtt_url: str, pool: AsyncConnectionPool, hub: LiveHub,
                 profiles: ProfileLookup | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.hub = hub
        self.rules = rule_settings(settings)
        self._profiles = profiles or (lambda _device, kind: DeviceProfile(kind))
        self._limits = settings.decode_limits()
        self._loop = asyncio.get_running_loop()
        self.devices: dict[str, DeviceRules] = {}
        # Not capped, but bounded: a change is an alarm opening or closing, so the queue holds at
        # most a few per message in the receive window (acknowledged only once committed) plus
        # one per open alarm for the ticks. A cap would have to drop alarms.
        self._changes: asyncio.Queue[tuple[str, str, Change]] = asyncio.Queue()
        self._acks: list[tuple[int, int]] = []  # (connection generation, packet id)
        self._dirty: set[str] = set()
        self._enqueued = 0
        self._committed = 0
        self._progress = asyncio.Event()
        self.messages = 0
        self.raised = 0
        self.cleared = 0
        self.ready = asyncio.Event()
        options = ConnectOptions(client_id=settings.rules_client_id, clean_start=False,
                                 keepalive=settings.mqtt_keepalive_s, session_expiry=settings.mqtt_session_expiry_s,
                                 receive_maximum=settings.rules_receive_maximum)
        self.session = MqttSession(BrokerAddress.from_settings(mqtt_url, settings), options,
                                   [(settings.rules_subscription, 1)], self._on_message, self._backoff(),
                                   on_connected=self._on_connected)

    def _backoff(self) -> Backoff:
        return Backoff(self.settings.backoff_initial_s, self.settings.backoff_max_s)

    def _device(self, device_id: str, kind: Kind) -> DeviceRules:
        rules = self.devices.get(device_id)
        if rules is None:
            rules = self.devices[device_id] = DeviceRules(device_id, self._profiles(device_id, kind), self.rules)
        return rules

    # --- the service -----------------------------------------------------------------------

    async def run(self) -> None:
        await self._restore()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._write_changes(), name="rules-writer")
            tg.create_task(self._checkpoints(), name="rules-checkpoint")
            tg.create_task(self._ticks(), name="rules-ticks")
            tg.create_task(self.session.run(), name="rules-mqtt")
            self.ready.set()

    async def _restore(self) -> None:
        """Open alarms and rule state from the database: nothing forgotten, nothing twice."""
        backoff = self._backoff()
        while True:
            try:
                async with self.pool.connection() as conn:
                    alarms = await open_alarms(conn)
                    cur = await conn.execute("SELECT device_id, state FROM rule_state")
                    states = await cur.fetchall()
                break
            except psycopg.OperationalError as exc:
                delay = backoff.next_delay()
                log.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
        by_device: dict[str, dict[AlarmType, Source]] = defaultdict(dict)
        kinds: dict[str, str] = {}
        for alarm in alarms:
            by_device[alarm.device_id][alarm.type] = alarm.source
            kinds[alarm.device_id] = alarm.kind
        now = self._loop.time()
        for device_id, state in states:
            kinds.setdefault(device_id, state.get("kind", "elevator"))
            rules = self._device(device_id, Kind(kinds[device_id]))
            rules.restore(state.get("rules", {}), by_device.get(device_id, {}), now)
        for device_id, open_ in by_device.items():  # the database's open alarms are the truth
            self._device(device_id, Kind(kinds[device_id])).open = dict(open_)
        log.info("rules: %d open alarms and the state of %d devices restored", len(alarms), len(states))

    # --- receiving (in the MQTT callback: nothing awaits here) -------------------------------

    def _on_connected(self, generation: int, session_present: bool) -> None:
        # Unacknowledged messages of an earlier connection come again on this one.
        self._acks = [a for a in self._acks if a[0] == generation]

    def _on_message(self, generation: int, message: Message) -> None:
        if message.qos:
            self._acks.append((generation, message.packet_id))
            # Our own bound (the broker may not honour the receive maximum): read on after a checkpoint.
            if len(self._acks) >= self.settings.rules_receive_maximum and not self.session.reading_paused:
                self.session.pause_reading()
        self.messages += 1
        result = decode(message.topic, message.payload, datetime.now(UTC), self._limits)
        if not isinstance(result, Decoded):
            return  # the ingester records why; nothing here to judge
        topic, payload = result.topic, result.payload
        rules = self._device(topic.device_id, topic.kind)
        arrival = self._loop.time()
        if isinstance(payload, ElevatorTelemetry | BoilerTelemetry):
            changes = rules.on_telemetry(payload.ts.timestamp(), payload.seq, payload, arrival)
        elif isinstance(payload, DeviceEvent):
            changes = rules.on_event(payload.ts.timestamp(), payload.seq, payload.code, arrival)
        else:
            assert isinstance(payload, StatusMessage) and topic.channel is Channel.STATUS
            at = payload.ts.timestamp() if payload.ts is not None else datetime.now(UTC).timestamp()
            changes = rules.on_status(payload.state == "online", at, orderly=payload.reason == "shutdown")
        if rules.changed:
            rules.changed = False
            self._dirty.add(topic.device_id)
        for change in changes:
            self._enqueue(topic.device_id, str(topic.kind), change)

    def _enqueue(self, device_id: str, kind: str, change: Change) -> None:
        self._enqueued += 1
        self._changes.put_nowait((device_id, kind, change))

    def apply_profiles(self, profiles: dict[str, DeviceProfile]) -> None:
        """The register was re-read: devices whose profile changed are judged by the new one."""
        for device_id, profile in profiles.items():
            rules = self.devices.get(device_id)
            if rules is None or rules.profile == profile:
                continue
            for change in rules.update_profile(profile):
                self._enqueue(device_id, str(profile.kind), change)
            self._dirty.add(device_id)

    def closed_by_operator(self, alarm: Alarm) -> None:
        """An operator closed the incident and with it the alarm."""
        rules = self.devices.get(alarm.device_id)
        if rules is not None:
            rules.closed_by_operator(alarm.type)
            self._dirty.add(alarm.device_id)

    # --- alarm changes, one transaction each, in order ----------------------------------------

    async def _write_changes(self) -> None:
        backoff = self._backoff()
        while True:
            device_id, kind, change = await self._changes.get()
            while True:
                try:
                    published = await self._commit(device_id, kind, change)
                    break
                except psycopg.OperationalError as exc:
                    delay = backoff.next_delay()
                    log.warning("database unavailable for an alarm change (%s); retrying in %.1fs", exc, delay)
                    await asyncio.sleep(delay)
            backoff.reset()
            for message in published:
                self.hub.publish(message)
            self._committed += 1
            self._progress.set()

    async def _commit(self, device_id: str, kind: str, change: Change) -> list[dict[str, Any]]:
        at = datetime.fromtimestamp(change.at, UTC)
        out: list[dict[str, Any]] = []
        async with self.pool.connection() as conn, conn.transaction():
            if change.raised:
                alarm = await raise_alarm(conn, device_id=device_id, kind=kind, type=change.type,
                                          source=change.source, raised_at=at, details=change.details)
                if alarm is None:
                    return []  # open already (a replay after a restart)
                self.raised += 1
                out.append({"topic": "alarm", "op": "raised", "alarm": alarm.as_json()})
                if alarm.type is AlarmType.ENTRAPMENT:
                    incident = await open_incident(conn, alarm, self.settings)
                    out.append({"topic": "incident", "op": "raised", "incident": incident.as_json()})
            else:
                reason = str(change.details.get("reason", "condition gone"))
                alarm = await clear_alarm(conn, device_id=device_id, type=change.type, cleared_at=at, reason=reason)
                if alarm is None:
                    return []
                self.cleared += 1
                out.append({"topic": "alarm", "op": "cleared", "alarm": alarm.as_json()})
                if alarm.type is AlarmType.ENTRAPMENT:
                    noted = await note_alarm_cleared(conn, alarm, at)
                    if noted is not None:
                        out.append({"topic": "incident", "op": "alarm_cleared", "incident": noted.as_json()})
        return out

    # --- checkpoints: rule state written, then messages acknowledged --------------------------

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rules_checkpoint_interval_s)
            await self.checkpoint()

    async def checkpoint(self) -> None:
        acks, self._acks = self._acks, []
        dirty, self._dirty = self._dirty, set()
        barrier = self._enqueued
        while self._committed < barrier:  # the alarms these messages caused are committed first
            self._progress.clear()
            await self._progress.wait()
        rows = [(d, Jsonb({"kind": str(self.devices[d].profile.kind), "rules": self.devices[d].snapshot()}))
                for d in dirty]
        try:
            if rows:
                async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                    await cur.executemany(
                        """INSERT INTO rule_state (device_id, state, updated_at) VALUES (%s, %s, now())
                               ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, updated_at = now()""",
                        rows,
                    )
        except psycopg.OperationalError as exc:
            log.warning("rule state not written (%s); keeping the messages unacknowledged", exc)
            self._acks = acks + self._acks
            self._dirty |= dirty
            return
        by_generation: dict[int, list[int]] = defaultdict(list)
        for generation, packet_id in acks:
            by_generation[generation].append(packet_id)
        for generation, packet_ids in by_generation.items():
            self.session.ack(generation, packet_ids)
        if self.session.reading_paused:
            self.session.resume_reading()

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rules_tick_interval_s)
            now = self._loop.time()
            for device_id, rules in self.devices.items():
                changes = rules.tick(now)
                if rules.changed:
                    rules.changed = False
                    self._dirty.add(device_id)
                    kind = str(rules.profile.kind)
                    for change in changes:
                        self._enqueue(device_id, kind, change)
