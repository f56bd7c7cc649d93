"""The rules engine: its own MQTT subscriptions → per-device rules → alarms in PostgreSQL → the
live stream.

Two persistent sessions, two paths (docs/alerts.md, "The alarm path"): events (the alarm
button, a trapped code, faults) on a session of their own, judged in the MQTT callback as they
arrive; telemetry and status on the other, queued and judged in bounded slices that yield to
the event loop, so an event never waits behind more than one slice of frames, however large
the telemetry backlog. Each path keeps its own order; the rules place an event that overtook
the frames sent before it by its ``seq``. Alarm changes go through one writer, calls for help
first, each change in its own transaction, and onto the live stream once committed. Messages
of both sessions are acknowledged to the broker only at a checkpoint, after the alarm changes
they caused have committed and the rule state they left is written: after a crash the broker
redelivers what came since on each session, and the restored state recognises what it has
already seen. So a restart neither forgets an open alarm nor raises one twice.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import re
import time
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
import psycopg
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import AsyncConnectionPool

from alerts.alarm_store import clear_alarm, open_alarms_readable, raise_alarm
from alerts.hub import LiveHub
from alerts.incident_store import RegisterLookup, note_alarm_cleared, open_incident
from alerts.incidents import incident_change
from alerts.live_notify import listen_operator_closes, notify_changes
from alerts.model import Alarm, Source
from alerts.rules import Change, DeviceRules, RuleSettings
from semon import dead_letters
from semon.alarm_types import AlarmType, EntrapmentThresholds
from semon.backoff import Backoff
from semon.db.errors import is_transient
from semon.metrics import exponential_buckets
from semon.mqtt.client import BrokerAddress, Message
from semon.mqtt.packets import ConnectOptions
from semon.mqtt.session import MqttSession
from semon.periodic import Failures, every, until_done
from semon.profile import DeviceProfile
from semon.protocol.decode import Decoded, RejectReason, decode_for_rules
from semon.protocol.models import BoilerTelemetry, DeviceEvent, ElevatorTelemetry, StatusMessage, parse
from semon.protocol.topics import Channel, Kind, TopicError, parse_topic
from semon.settings import BackoffSettings, IncidentSettings, MqttSettings, RulesSettings, TelemetrySettings
from semon.source import MessageSource, SourceFactory

log = logging.getLogger(__name__)

ProfileLookup = Callable[[str, Kind], DeviceProfile]

# PostgreSQL's jsonb and text refuse U+0000, and lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Which database errors are retried and which are a refusal of the row is the kernel's one rule
# (semon.db.errors.is_transient), the same as the ingester's.


def json_safe(value: Any) -> Any:
    """``value`` as JSON that PostgreSQL's jsonb accepts: non-finite floats become None, U+0000
    and lone surrogates in strings (keys too) become U+FFFD, tuples and sets lists, anything else
    its ``str``. Containers are copied; the input is not changed."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # beyond this, Python will not even print it as JSON
        return value if abs(value) < 10**300 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return json_safe(str(value))


def state_json(value: Any) -> str:
    """``value`` as JSON text that PostgreSQL's jsonb accepts (see ``json_safe``). orjson writes
    non-finite floats as null already; what it refuses (lone surrogates, integers beyond 64 bits,
    other types) or writes that jsonb would refuse (U+0000) takes the slow path through
    ``json_safe``."""
    try:
        data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        data = b""
    if not data or b"\\u0000" in data:
        return json.dumps(json_safe(value))
    return data.decode()


def rules_filters(subscription: str) -> tuple[list[str], list[str]]:
    """The topic filters of the telemetry path and of the event path for
    ``SEMON_RULES_SUBSCRIPTION``, the device topics the engine judges
    (``se/{kind}/{device_id}/{channel}``, ``+`` for any one level, a final ``#`` for the rest):
    events go to the event path, telemetry and status to the other. ``se/+/+/+`` gives
    (``["se/+/+/telemetry", "se/+/+/status"]``, ``["se/+/+/event"]``). Raises ValueError for a
    filter of another shape or an unknown channel."""
    levels = subscription.split("/")
    if levels[-1] == "#" and len(levels) <= 4:
        levels = levels[:-1] + ["+"] * (5 - len(levels))
    if len(levels) != 4 or "#" in levels or "" in levels:
        raise ValueError(f"rules subscription {subscription!r} is not se/{{kind}}/{{device_id}}/{{channel}}")
    prefix, channel = "/".join(levels[:3]), levels[3]
    try:
        channels = list(Channel) if channel == "+" else [Channel(channel)]
    except ValueError:
        raise ValueError(f"rules subscription {subscription!r}: unknown channel {channel!r}") from None
    telemetry = [f"{prefix}/{c}" for c in channels if c is not Channel.EVENT]
    events = [f"{prefix}/{c}" for c in channels if c is Channel.EVENT]
    return telemetry, events


_CALLS = frozenset({AlarmType.ENTRAPMENT, AlarmType.ALARM_BUTTON})
_CLOCK_REASONS = frozenset({RejectReason.BAD_TIMESTAMP, RejectReason.STALE_TIMESTAMP,
                            RejectReason.FUTURE_TIMESTAMP})


def _event_without_clock(payload: bytes, arrival: float) -> DeviceEvent | None:
    """The event in ``payload`` stamped with ``arrival`` instead of its own ``ts``, if it is
    one apart from its clock; None otherwise."""
    try:
        document = orjson.loads(payload)
        if not isinstance(document, dict):
            return None
        document["ts"] = round(arrival * 1000)
        return parse(DeviceEvent, orjson.dumps(document))
    except (orjson.JSONDecodeError, orjson.JSONEncodeError, msgspec.DecodeError, TypeError):
        return None


def instant(at: float) -> datetime:
    """Epoch seconds as an aware datetime; a value no datetime can hold (±inf, NaN, beyond year
    9999) is taken as now rather than refused."""
    try:
        return datetime.fromtimestamp(at, UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.now(UTC)


class EngineMetrics:
    """The engine's counters, for ``/metrics``, in a registry of their own (kept across the
    engine's restarts)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.messages = Counter("semon_rules_messages_total", "Messages the rules engine received", registry=r)
        self.message_errors = Counter(
            "semon_rules_message_errors_total",
            "Messages the rules could not judge (acknowledged and skipped), by reason", ("reason",), registry=r)
        self.checkpoints = Counter("semon_rules_checkpoints_total", "Checkpoints committed", registry=r)
        self.checkpoint_retries = Counter(
            "semon_rules_checkpoint_retries_total", "Checkpoints put off by a transient database error", registry=r)
        self.state_refused = Counter(
            "semon_rules_state_refused_total", "Rule-state rows the database refused (skipped, logged)", registry=r)
        self.changes_refused = Counter(
            "semon_rules_alarm_changes_refused_total",
            "Alarm changes the database refused (logged, dead-lettered, skipped)", registry=r)
        self.restore_skipped = Counter(
            "semon_rules_restore_skipped_total", "Stored rule-state rows that could not be read at start", registry=r)
        self.errors = Counter(
            "semon_rules_internal_errors_total", "Errors caught in the engine's background work, by where",
            ("where",), registry=r)
        # A call for help's time inside the engine (the alarm path's share of its latency).
        self.call_wait = Histogram(
            "semon_rules_call_wait_seconds",
            "From a call for help (entrapment, alarm button) judged to the start of its commit",
            buckets=exponential_buckets(0.001, 2, 14), registry=r)
        self.call_commit = Histogram(
            "semon_rules_call_commit_seconds",
            "The commit of a call for help's alarm change: the alarm, the incident, the notice to the live streams",
            buckets=exponential_buckets(0.001, 2, 14), registry=r)


def rule_settings(settings: RulesSettings) -> RuleSettings:
    return RuleSettings(
        entrapment=EntrapmentThresholds(settings.entrapment_outside_door_zone_s,
                                        settings.entrapment_in_door_zone_s,
                                        settings.entrapment_min_detections,
                                        frozenset(str(m) for m in settings.entrapment_held_modes)),
        silent_after_s=settings.silent_after_s,
        alarm_button_ttl_s=settings.alarm_button_ttl_s,
        clock_tolerance_s=settings.clock_tolerance_s,
        reorder_window=settings.reorder_window,
        code_table=settings.code_table,
    )


class RulesEngine:
    def __init__(self, settings: RulesSettings, mqtt: MqttSettings, mqtt_url: str, pool: AsyncConnectionPool,
                 hub: LiveHub, profiles: ProfileLookup | None = None, metrics: EngineMetrics | None = None, *,
                 incidents: IncidentSettings, telemetry: TelemetrySettings, backoff: BackoffSettings,
                 register: RegisterLookup | None = None, sources: tuple[SourceFactory, SourceFactory] | None = None,
                 owns: Callable[[str], bool] | None = None, listen_closes: bool = True) -> None:
        """``mqtt``: how to connect (keepalive, session expiry, TLS files) to ``mqtt_url``, the
        engine's own account; ``incidents``: the deadlines of the incidents it opens;
        ``telemetry``: what it accepts (the ingester's limits); ``register``: the register's entry
        of a unit, copied into the incidents it opens (``alerts.incident_store.RegisterLookup``).

        Cluster mode (docs/scale.md): ``sources`` makes the frames' and the events' sources
        (``semon.source``) instead of the two MQTT sessions; ``owns(device_id)`` says which
        devices are this engine's (its partition): only their state and open alarms are restored;
        ``listen_closes``: whether the engine listens for operators' closes itself (else its
        owner hands them to ``closed_by_operator``)."""
        self.settings = settings
        self.incidents = incidents
        self.register = register
        self.backoff_settings = backoff
        self._owns = owns
        self._listen_closes = listen_closes
        self.pool = pool
        self.hub = hub
        self.rules = rule_settings(settings)
        self.metrics = metrics or EngineMetrics()
        self._profiles = profiles or (lambda _device, kind: DeviceProfile(kind))
        self._limits = telemetry.decode_limits()
        self._loop = asyncio.get_running_loop()
        # The engine's clock for arrivals: epoch seconds that never step (wall time at start,
        # then the loop's monotonic clock), so a step of the host's clock is no device's silence.
        self._epoch_at_start = time.time() - self._loop.time()
        self.devices: dict[str, DeviceRules] = {}
        # Not capped, but bounded: a change is an alarm opening or closing, so the queue holds at
        # most a few per message in the receive window (acknowledged only once committed) plus
        # one per open alarm for the ticks. A cap would have to drop alarms.
        self._changes: asyncio.Queue[tuple[str, str, Change]] = asyncio.Queue()
        # Calls for help (entrapment, the alarm button) have a lane of their own, written first:
        # an entrapment never waits behind a wave of offline alarms. Each alarm type keeps to one
        # lane, so each alarm's raise and clear stay in order.
        # (device, kind, change, when it was judged on the loop's clock)
        self._calls: asyncio.Queue[tuple[str, str, Change, float]] = asyncio.Queue()
        self._change_ready = asyncio.Event()
        self._calls_enqueued = self._calls_committed = 0
        # Judged, awaiting the checkpoint: (connection generation, packet id), per session.
        self._acks: list[tuple[int, int]] = []
        self._event_acks: list[tuple[int, int]] = []
        # Telemetry and status received, not judged yet (at most the receive window: reading
        # pauses at the window until a checkpoint acknowledges).
        self._pending: deque[tuple[int, Message]] = deque()
        self._pending_ready = asyncio.Event()
        self._slice = settings.telemetry_slice
        self._checkpoint_due = asyncio.Event()
        # Silence is judged only while the engine hears the present: connected, reading, and the
        # freshest frame of the last tick no older than a third of the silence limit. Behind a
        # backlog (after a restart, under overload) every device would look silent.
        self._hearing_since = math.inf
        self._freshest_lag = math.inf
        self._checkpoint_early_at = max(1, settings.receive_maximum // 2)
        # Acknowledgements a checkpoint in progress holds (taken from _acks, given back if it
        # fails): still unacknowledged for the broker, so still part of the window.
        self._checkpointing = 0
        self._dirty: set[str] = set()
        # What a tick must visit, so that its cost follows the devices with something to judge,
        # not the fleet: those waiting on time (DeviceRules.waits_on_time), and those that can
        # fall silent in the order last heard (the quietest first: a tick stops at the first
        # heard within the silence limit).
        self._waiting: set[str] = set()
        self._by_heard: OrderedDict[str, float] = OrderedDict()  # device: its last_arrival
        self._enqueued = 0
        self._committed = 0
        self._progress = asyncio.Event()
        self.messages = 0
        self.raised = 0
        self.cleared = 0
        self.ready = asyncio.Event()
        frames, events = rules_filters(settings.subscription)
        options = ConnectOptions(client_id=settings.client_id, clean_start=False,
                                 keepalive=mqtt.keepalive_s, session_expiry=mqtt.session_expiry_s,
                                 receive_maximum=settings.receive_maximum)
        self._event_window = settings.events_receive_maximum
        self.session: MessageSource
        self.events_session: MessageSource | None = None
        if sources is not None:
            self.session = sources[0](self._on_received, self._on_connected)
            self.events_session = sources[1](self._on_event_message, self._on_events_connected)
            return
        self.session = MqttSession(BrokerAddress.from_settings(mqtt_url, mqtt), options,
                                   [(f, 1) for f in frames], self._on_received, self._backoff(),
                                   on_connected=self._on_connected)
        events_options = ConnectOptions(
            client_id=settings.events_client_id or f"{settings.client_id}-events", clean_start=False,
            keepalive=mqtt.keepalive_s, session_expiry=mqtt.session_expiry_s,
            receive_maximum=self._event_window)
        if events:
            self.events_session = MqttSession(
                BrokerAddress.from_settings(settings.events_mqtt_url or mqtt_url, mqtt), events_options,
                [(f, 1) for f in events], self._on_event_message, self._backoff(),
                on_connected=self._on_events_connected)

    def _backoff(self) -> Backoff:
        return self.backoff_settings.backoff()

    def now(self) -> float:
        """Epoch seconds on the engine's clock (see ``__init__``)."""
        return self._epoch_at_start + self._loop.time()

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
            tg.create_task(self._judge_telemetry(), name="rules-telemetry")
            if self.events_session is not None:
                tg.create_task(self.events_session.run(), name="rules-mqtt-events")
            tg.create_task(self.session.run(), name="rules-mqtt")
            if self._listen_closes:
                tg.create_task(listen_operator_closes(self.pool, self.closed_by_operator, self._backoff()),
                               name="rules-operator-closes")
            self.ready.set()

    async def _restore(self) -> None:
        """Open alarms and rule state from the database: nothing forgotten, nothing twice. A
        stored state that cannot be read is skipped with a log (that device starts afresh)."""
        async def read() -> tuple[list[Alarm], list[tuple[int, str, str]], list[tuple[Any, ...]],
                                  list[tuple[Any, ...]]]:
            async with self.pool.connection() as conn:
                alarms, unreadable = await open_alarms_readable(conn)
                cur = await conn.execute("SELECT device_id, state FROM rule_state")
                states = await cur.fetchall()
                # Closed by an operator after the device's state was last written: the
                # stored state does not know yet, and the replay must not raise it again.
                cur = await conn.execute(
                    """SELECT a.device_id, a.kind, a.type FROM alarms a
                       JOIN incidents i ON i.alarm_id = a.id
                       LEFT JOIN rule_state r ON r.device_id = a.device_id
                       WHERE a.state = 'cleared' AND i.state IN ('closed', 'false_alarm')
                         AND (r.updated_at IS NULL OR a.cleared_at >= r.updated_at)""")
                return alarms, unreadable, states, await cur.fetchall()

        alarms, unreadable, states, closed_since = await until_done("rules restore", read, log=log,
                                                                    backoff=self._backoff())
        owns = self._owns
        if owns is not None:  # cluster mode: this engine's partition only
            alarms = [a for a in alarms if owns(a.device_id)]
            unreadable = [u for u in unreadable if owns(u[1])]
            states = [row for row in states if owns(row[0])]
            closed_since = [row for row in closed_since if owns(row[0])]
        for alarm_id, device_id, why in unreadable:
            self.metrics.restore_skipped.inc()
            log.error("open alarm %s of %s not restored into the rules (%s); it stays open in the database",
                      alarm_id, device_id, why)
        by_device: dict[str, dict[AlarmType, Source]] = defaultdict(dict)
        raised_at: dict[str, dict[AlarmType, float]] = defaultdict(dict)
        kinds: dict[str, Kind] = {}
        for alarm in alarms:
            try:
                kinds[alarm.device_id] = Kind(alarm.kind)
            except ValueError:
                self.metrics.restore_skipped.inc()
                log.error("open alarm %d of %s has an unknown kind %r; not restored into the rules", alarm.id,
                          alarm.device_id, alarm.kind)
                continue
            by_device[alarm.device_id][alarm.type] = alarm.source
            raised_at[alarm.device_id][alarm.type] = alarm.raised_at.timestamp()
        now = self.now()
        restored = 0
        for device_id, state in states:
            try:
                if not isinstance(state, dict):
                    raise TypeError(f"a JSON {type(state).__name__}, not an object")
                kind = kinds.setdefault(device_id, Kind(state.get("kind", "elevator")))
                rules = DeviceRules(device_id, self._profiles(device_id, kind), self.rules)
                rules.restore(state.get("rules", {}), by_device.get(device_id, {}), now, raised_at.get(device_id))
            except Exception as exc:  # any corrupt row: skip it, start the rest
                self.metrics.restore_skipped.inc()
                log.error("rule state of %s not restored (%s: %s); it starts afresh", device_id,
                          type(exc).__name__, exc)
                continue
            self.devices[device_id] = rules
            restored += 1
        for device_id, open_ in by_device.items():  # the database's open alarms are the truth
            try:
                rules = self._device(device_id, kinds[device_id])
                rules.open, rules.raised_at = dict(open_), dict(raised_at[device_id])
            except Exception as exc:  # e.g. the profile lookup failing for this one
                self.metrics.restore_skipped.inc()
                log.error("open alarms of %s not restored into the rules (%s: %s); the database keeps them",
                          device_id, type(exc).__name__, exc)
        for device_id, kind_name, type_name in closed_since:
            try:
                self._device(device_id, Kind(kind_name)).closed_by_operator(AlarmType(type_name), while_away=True)
            except Exception as exc:  # an unknown kind or type, or the profile lookup failing
                self.metrics.restore_skipped.inc()
                log.error("the operator's closing of %s on %s not restored (%s: %s)", type_name, device_id,
                          type(exc).__name__, exc)
        for device_id, rules in sorted(self.devices.items(), key=lambda item: item[1].last_arrival):
            self._watch(device_id, rules, heard=True)
        log.info("rules: %d open alarms and the state of %d devices restored", len(alarms), restored)

    # --- receiving (in the MQTT callback: nothing awaits here) -------------------------------

    def _on_connected(self, generation: int, session_present: bool) -> None:
        # Unacknowledged messages of an earlier connection come again on this one, those not
        # judged yet too (with the session present): they are judged then, not twice. (Without
        # it the broker has lost them: those received are judged.)
        self._acks = [a for a in self._acks if a[0] == generation]
        if session_present:
            kept = [m for m in self._pending if m[0] == generation]
            self._pending.clear()
            self._pending.extend(kept)

    def _on_events_connected(self, generation: int, session_present: bool) -> None:
        self._event_acks = [a for a in self._event_acks if a[0] == generation]

    def _on_received(self, generation: int, message: Message) -> None:
        """Telemetry or status from the broker: queued for the telemetry path. Reading pauses
        when the window is taken (queued plus judged and not yet acknowledged)."""
        self._pending.append((generation, message))
        self._pending_ready.set()
        if self.window_taken() and not self.session.reading_paused:
            self.session.pause_reading()

    def window_taken(self) -> bool:
        """Whether the telemetry path holds its whole window (``receive_maximum``) of messages
        the broker has delivered and not had acknowledged: queued, judged and awaiting a
        checkpoint, or held by a checkpoint in progress. The broker sends nothing more until a
        checkpoint acknowledges some, so the engine then hears nothing of the present."""
        taken = len(self._pending) + len(self._acks) + self._checkpointing
        return taken >= self.settings.receive_maximum

    async def _judge_telemetry(self) -> None:
        """The telemetry path: queued messages judged in slices, yielding to the event loop after
        each, so an event (judged in its own callback) waits at most one slice. Not periodic
        work (``semon.periodic``): the hot path, paced by the queue; a message's error is
        handled per message (``_on_message``), never by backing off the whole stream."""
        pending, size = self._pending, self._slice
        while True:
            if not pending:
                self._pending_ready.clear()
                await self._pending_ready.wait()
            for _ in range(min(size, len(pending))):
                generation, message = pending.popleft()
                self._on_message(generation, message)
            await asyncio.sleep(0)

    def _on_event_message(self, generation: int, message: Message) -> None:
        """An event from its own session: judged at once, before any telemetry still queued."""
        if message.qos:
            acks = self._event_acks
            acks.append((generation, message.packet_id))
            if len(acks) >= max(1, self._event_window // 2):
                self._checkpoint_due.set()
                if (len(acks) >= self._event_window and self.events_session is not None
                        and not self.events_session.reading_paused):
                    self.events_session.pause_reading()
        self._judge_one(message)

    def _on_message(self, generation: int, message: Message) -> None:
        """Judge one message of the telemetry path now. Whatever it holds, it is acknowledged at
        the next checkpoint: one the rules cannot take is counted by reason and logged, and harms
        no other message."""
        if message.qos:
            self._acks.append((generation, message.packet_id))
            # Our own bound (the broker may not honour the receive maximum): read on after a checkpoint.
            if len(self._acks) >= self._checkpoint_early_at:
                self._checkpoint_due.set()  # half the window unacknowledged: don't wait for the timer
                if self.window_taken() and not self.session.reading_paused:
                    self.session.pause_reading()
        self._judge_one(message)

    def _judge_one(self, message: Message) -> None:
        self.messages += 1
        self.metrics.messages.inc()
        try:
            self._judge(message)
        except Exception as exc:  # one message never ends the engine
            self.metrics.message_errors.labels("rule_error").inc()
            log.exception("rules: message on %r not judged (%s: %s); acknowledged and skipped",
                      message.topic[:200], type(exc).__name__, exc)

    def _judge(self, message: Message) -> None:
        result = decode_for_rules(message.topic, message.payload, datetime.now(UTC), self._limits)
        if not isinstance(result, Decoded):
            # The ingester records why, with the payload; here only a count.
            self.metrics.message_errors.labels(str(result.reason)).inc()
            self._unjudged(message, result.reason)
            return
        topic, payload = result.topic, result.payload
        rules = self._device(topic.device_id, topic.kind)
        arrival = self.now()
        if isinstance(payload, ElevatorTelemetry | BoilerTelemetry):
            ts = payload.ts.timestamp()
            self._freshest_lag = min(self._freshest_lag, arrival - ts)
            changes = rules.on_telemetry(ts, payload.seq, payload, arrival)
        elif isinstance(payload, DeviceEvent):
            if rules.table.get(payload.code) is None:  # another platform's code: stored, not judged
                self.metrics.message_errors.labels("code_not_in_device_table").inc()
            changes = rules.on_event(payload.ts.timestamp(), payload.seq, payload.code, arrival)
        elif isinstance(payload, StatusMessage) and topic.channel is Channel.STATUS:
            at = payload.ts.timestamp() if payload.ts is not None else None
            changes = rules.on_status(payload.state == "online", at, arrival, orderly=payload.reason == "shutdown",
                                      retained=message.retain)
        else:
            self.metrics.message_errors.labels(str(RejectReason.BAD_TOPIC)).inc()
            return
        if rules.changed:
            rules.changed = False
            self._dirty.add(topic.device_id)
        self._watch(topic.device_id, rules, heard=True)
        for change in changes:
            self._enqueue(topic.device_id, str(topic.kind), change)

    def _unjudged(self, message: Message, reason: RejectReason) -> None:
        """An event the decoder refused only for its clock (a device whose clock was reset by a
        power loss: 1970, 2000, or far ahead) is judged at its arrival: an alarm button or a
        trapped code is never lost to a clock. The ingester keeps it in ``rejected_messages``
        with its reason; the alarm's details say the device's time was not used. Any other
        refused message is not judged, and is no sign of life either: it carries nothing the
        rules can place in the device's stream (a broker's redelivery of it would count again)."""
        if reason not in _CLOCK_REASONS:
            return
        try:
            topic = parse_topic(message.topic)
        except TopicError:
            return
        if topic.channel is not Channel.EVENT:
            return
        arrival = self.now()
        event = _event_without_clock(message.payload, arrival)
        if event is None:
            return
        rules = self._device(topic.device_id, topic.kind)
        changes = rules.on_event(arrival, event.seq, event.code, arrival)
        for change in changes:
            if change.raised:
                change.details["device_clock"] = f"ts refused ({reason}); judged at its arrival"
        if rules.changed:
            rules.changed = False
            self._dirty.add(topic.device_id)
        self._watch(topic.device_id, rules, heard=True)
        for change in changes:
            self._enqueue(topic.device_id, str(topic.kind), change)

    def _watch(self, device_id: str, rules: DeviceRules, *, heard: bool = False) -> None:
        """Keep what a tick visits up to date after ``rules`` changed; ``heard``: a message of
        the device was just taken (it goes to the end of the order last heard)."""
        if rules.waits_on_time():
            self._waiting.add(device_id)
        else:
            self._waiting.discard(device_id)
        if not rules.can_fall_silent():
            self._by_heard.pop(device_id, None)
        elif heard and self._by_heard.get(device_id) != rules.last_arrival:
            # Only a sign of life moves it: a duplicate, a stale status or a retained one
            # replayed leaves the device where its last arrival puts it.
            self._by_heard[device_id] = rules.last_arrival
            self._by_heard.move_to_end(device_id)

    def _enqueue(self, device_id: str, kind: str, change: Change) -> None:
        self._enqueued += 1
        if change.type in _CALLS:
            self._calls_enqueued += 1
            self._calls.put_nowait((device_id, kind, change, self._loop.time()))
        else:
            self._changes.put_nowait((device_id, kind, change))
        self._change_ready.set()

    def apply_profiles(self, profiles: dict[str, DeviceProfile]) -> None:
        """The register was re-read: devices whose profile changed are judged by the new one. A
        device whose rules refuse the new profile keeps the old one (logged)."""
        for device_id, profile in profiles.items():
            rules = self.devices.get(device_id)
            if rules is None or rules.profile == profile:
                continue
            try:
                changes = rules.update_profile(profile)
            except Exception as exc:  # one device's profile never stops the others
                self.metrics.errors.labels("profile").inc()
                log.exception("new register profile of %s not applied (%s: %s)", device_id,
                          type(exc).__name__, exc)
                continue
            for change in changes:
                self._enqueue(device_id, str(profile.kind), change)
            self._dirty.add(device_id)
            self._watch(device_id, rules)

    def closed_by_operator(self, alarm: Alarm) -> None:
        """An operator closed the incident and with it the alarm (already committed: an error
        here is logged, never returned to the operator)."""
        rules = self.devices.get(alarm.device_id)
        if rules is None:
            return
        try:
            rules.closed_by_operator(alarm.type)
        except Exception as exc:  # the database has it; the rules catch up at restart
            self.metrics.errors.labels("closed_by_operator").inc()
            log.exception("rules of %s did not take the operator's close of alarm %d (%s: %s)", alarm.device_id,
                      alarm.id, type(exc).__name__, exc)
            return
        self._dirty.add(alarm.device_id)
        self._watch(alarm.device_id, rules)

    # --- alarm changes, one transaction each, in order ----------------------------------------

    async def _write_changes(self) -> None:
        # One change after the other, each retried until written (or refused): not ``every``'s
        # shape, the queue sets the pace; ``until_done`` keeps the one policy for each change.
        failures = Failures("alarm change", log=log, backoff=self._backoff())
        while True:
            if not self._calls.empty():
                device_id, kind, change, judged = self._calls.get_nowait()
                call = True
                started = self._loop.time()
                self.metrics.call_wait.observe(started - judged)
            elif not self._changes.empty():
                device_id, kind, change = self._changes.get_nowait()
                call = False
            else:
                self._change_ready.clear()
                await self._change_ready.wait()
                continue
            published: list[dict[str, Any]] = []
            try:
                published = await until_done("alarm change", functools.partial(self._commit, device_id, kind, change),
                                             log=log, backoff=failures, retry=is_transient)
            except Exception as exc:  # not transient: a refusal, kept as a dead letter
                await self._refused(device_id, kind, change, exc)
            for message in published:
                self.hub.publish(message)
            self._committed += 1
            if call:
                self._calls_committed += 1
                self.metrics.call_commit.observe(self._loop.time() - started)
            self._progress.set()

    async def _refused(self, device_id: str, kind: str, change: Change, exc: Exception) -> None:
        """An alarm change the database refused: never lost in silence. Logged at error with
        the whole change, counted, and kept in ``rejected_messages`` (reason ``storage_error``,
        topic ``semon/rules/alarm``) when the database takes that."""
        self.metrics.changes_refused.inc()
        record = json_safe({"device_id": device_id, "kind": kind, "raised": change.raised,
                            "type": str(change.type), "source": str(change.source), "at": change.at,
                            "details": change.details})
        detail = f"alarm change refused: {type(exc).__name__}: {exc}"[:1000]
        log.error("rules: %s; the change is skipped: %s", detail, record, exc_info=exc)
        payload = json.dumps(record, ensure_ascii=False).encode()
        try:
            async with self.pool.connection() as conn, conn.transaction():
                await dead_letters.record(conn, topic="semon/rules/alarm", kind=kind, device_id=device_id,
                                          reason=RejectReason.STORAGE_ERROR, detail=json_safe(detail),
                                          payload=payload, keep_bytes=1024)
        except psycopg.Error as again:
            log.error("rules: the refused alarm change of %s not recorded either (%s); it is in this log only",
                      device_id, again)

    def _district(self, device_id: str, kind: str) -> str | None:
        """The district the register puts the device in (its profile's), None when unregistered."""
        rules = self.devices.get(device_id)
        profile = rules.profile if rules is not None else self._profiles(device_id, Kind(kind))
        return profile.district_code

    async def _commit(self, device_id: str, kind: str, change: Change) -> list[dict[str, Any]]:
        at = instant(change.at)
        details = json_safe(change.details)
        out: list[dict[str, Any]] = []
        async with self.pool.connection() as conn, conn.transaction():
            if change.raised:
                alarm = await raise_alarm(conn, device_id=device_id, kind=kind, type=change.type,
                                          source=change.source, raised_at=at, details=details, replay=True,
                                          district_code=self._district(device_id, kind))
                if alarm is None:
                    return []  # open already, or raised since (a replay after a restart)
                self.raised += 1
                out.append({"topic": "alarm", "op": "raised", "alarm": alarm.as_json()})
                if alarm.type is AlarmType.ENTRAPMENT:
                    opened = await open_incident(conn, alarm, self.incidents, self.register)
                    out.append(incident_change(str(opened.step.step), opened.incident, opened.step))
            else:
                reason = json_safe(str(details.get("reason", "condition gone")))
                alarm = await clear_alarm(conn, device_id=device_id, type=change.type, cleared_at=at, reason=reason)
                if alarm is None:
                    return []
                self.cleared += 1
                out.append({"topic": "alarm", "op": "cleared", "alarm": alarm.as_json()})
                if alarm.type is AlarmType.ENTRAPMENT:
                    noted = await note_alarm_cleared(conn, alarm, at)
                    if noted is not None:
                        out.append({"topic": "incident", "op": "alarm_cleared", "incident": noted.as_json()})
            await notify_changes(conn, out)  # to the live streams of other processes, at commit
        return out

    # --- checkpoints: rule state written, then messages acknowledged --------------------------

    async def _checkpoints(self) -> None:
        """A checkpoint every interval, or sooner when half the receive window waits for one:
        the broker sends no more than the window until we acknowledge, so waiting for the timer
        would cap the engine at one window per interval (500 messages a second with a window
        of 500) and let a backlog build behind a broker that honours it. A checkpoint the
        database could not take is retried after the backoff (``semon.periodic.every``)."""
        await every("rules checkpoint", self.settings.checkpoint_interval_s, self._checkpoint, log=log,
                    backoff=self._backoff(), wake=self._checkpoint_due)

    def _state_row(self, device_id: str) -> tuple[str, str] | None:
        """``(device_id, state as JSON text)``, or None (logged) for a state that cannot be taken."""
        rules = self.devices.get(device_id)
        if rules is None:
            return None
        try:
            return device_id, state_json({"kind": str(rules.profile.kind), "rules": rules.snapshot()})
        except Exception as exc:  # a state that cannot be taken is skipped like a refused row
            self.metrics.state_refused.inc()
            log.error("rule state of %s not taken (%s: %s); skipped", device_id, type(exc).__name__, exc)
            return None

    async def checkpoint(self) -> bool:
        """Write the rule state of the devices that changed, then acknowledge the messages that
        changed it. True if committed. A row the database refuses is logged, counted and skipped,
        the others written and the messages acknowledged; only a transient error (the database
        away) keeps them for the next checkpoint (logged here, False returned)."""
        try:
            await self._checkpoint()
        except Exception as exc:  # _checkpoint raises only what is transient
            log.warning("rule state not written (%s); keeping the messages unacknowledged", exc)
            return False
        return True

    async def _checkpoint(self) -> None:
        """``checkpoint``, raising the transient error that kept the messages for the next."""
        acks, self._acks = self._acks, []
        event_acks, self._event_acks = self._event_acks, []
        dirty, self._dirty = self._dirty, set()
        self._checkpointing = len(acks)
        try:
            # The alarms these messages caused are committed first (each lane is written in order).
            calls, others = self._calls_enqueued, self._enqueued - self._calls_enqueued
            while self._calls_committed < calls or self._committed - self._calls_committed < others:
                self._progress.clear()
                await self._progress.wait()
            rows = [row for d in sorted(dirty) if (row := self._state_row(d)) is not None]
            await self._write_states(rows)
        except BaseException as exc:  # _write_states raises only what is transient (or a cancel)
            if not isinstance(exc, asyncio.CancelledError):
                self.metrics.checkpoint_retries.inc()
            self._acks = acks + self._acks
            self._event_acks = event_acks + self._event_acks
            self._dirty |= dirty
            raise
        finally:
            self._checkpointing = 0
        self._ack(self.session, acks)
        if self.events_session is not None:
            self._ack(self.events_session, event_acks)
            if self.events_session.reading_paused and len(self._event_acks) < self._event_window:
                self.events_session.resume_reading()
        if (self.session.reading_paused
                and len(self._pending) + len(self._acks) < self.settings.receive_maximum):
            self.session.resume_reading()
        self.metrics.checkpoints.inc()

    def _ack(self, session: MessageSource, acks: list[tuple[int, int]]) -> None:
        by_generation: dict[int, list[int]] = defaultdict(list)
        for generation, packet_id in acks:
            by_generation[generation].append(packet_id)
        for generation, packet_ids in by_generation.items():
            try:
                session.ack(generation, packet_ids)
            except Exception as exc:  # the connection broke under us: the broker redelivers them
                self.metrics.errors.labels("ack").inc()
                log.warning("acknowledgements not sent (%s: %s); the broker will redeliver", type(exc).__name__, exc)

    async def _write_states(self, rows: list[tuple[str, str]]) -> None:
        """All rows in one transaction; if the database refuses that, each in its own, skipping
        the refused ones. Raises only transient errors."""
        if not rows:
            return
        try:
            await self._upsert_states(rows)
            return
        except Exception as exc:  # a refusal is sorted out row by row below
            if is_transient(exc):
                raise
            log.warning("rule state refused as a batch (%s); writing row by row", exc)
        for row in rows:
            try:
                await self._upsert_states([row])
            except Exception as exc:
                if is_transient(exc):
                    raise
                self.metrics.state_refused.inc()
                log.error("rule state of %s refused by the database (%s: %s); skipped: %s", row[0],
                          type(exc).__name__, exc, row[1][:2000])

    async def _upsert_states(self, rows: list[tuple[str, str]]) -> None:
        """One statement for the whole batch (the rows' device ids are distinct)."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                """INSERT INTO rule_state (device_id, state, updated_at)
                   SELECT d, s::jsonb, now() FROM unnest(%s::text[], %s::text[]) AS t(d, s)
                   ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, updated_at = now()""",
                ([d for d, _ in rows], [s for _, s in rows]),
            )

    async def _ticks(self) -> None:
        async def tick() -> None:
            self.tick(self.now())

        interval = self.settings.tick_interval_s
        await every("rules tick", interval, tick, log=log, backoff=self._backoff(), first_after_s=interval)

    def hears_the_present(self, now: float) -> bool:
        """Whether silence can be judged now (``now`` on the engine's clock): the engine has been
        connected, reading, with its window not taken whole (``window_taken``) and current (the
        freshest frame since the last tick, if any, at most a third of the silence limit old) for
        the whole silence limit. Resets the lag it measured."""
        limit = self.settings.silent_after_s
        # A tick without any frame says nothing of a backlog (a small fleet, a quiet hour): only
        # frames that arrive old do, and a window taken whole (checkpoints that cannot be written
        # while the database is away): the broker then holds every message back, however current
        # the last ones were.
        current = (self.session.connected.is_set() and not self.session.reading_paused
                   and not self.window_taken()
                   and (self._freshest_lag <= limit / 3 or self._freshest_lag == math.inf))
        self._freshest_lag = math.inf
        if not current:
            self._hearing_since = math.inf
        elif self._hearing_since == math.inf:
            self._hearing_since = now
        return now - self._hearing_since >= limit

    def tick(self, now: float) -> None:
        """Time passing (``now`` on the engine's clock) for every device it can change: those
        waiting on time, and (while the engine hears the present) those quiet for the silence
        limit. One device's error is logged and skips only that device."""
        current = self.hears_the_present(now)
        due = dict.fromkeys(self._waiting)
        if current:
            limit, by_heard, devices = self.settings.silent_after_s, self._by_heard, self.devices
            while by_heard:
                device_id = next(iter(by_heard))
                quiet = devices.get(device_id)
                if quiet is not None and now - quiet.last_arrival < limit:
                    break
                del by_heard[device_id]
                due[device_id] = None
        for device_id in due:
            rules = self.devices.get(device_id)
            if rules is None:
                continue
            try:
                changes = rules.tick(now, current=current)
            except Exception as exc:  # one device never stops the others' clocks
                self.metrics.errors.labels("tick").inc()
                log.exception("rules tick of %s failed (%s: %s)", device_id, type(exc).__name__, exc)
                continue
            if rules.changed:
                rules.changed = False
                self._dirty.add(device_id)
            self._watch(device_id, rules)
            for change in changes:
                self._enqueue(device_id, str(rules.profile.kind), change)
