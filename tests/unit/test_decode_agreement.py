"""The msgspec decoder, the reference model (semon/protocol/reference.py) and the rules
engine's decode describe one contract.

``decode`` validates with msgspec and asks the pydantic reference only about payloads msgspec
refuses. Here every payload is decoded twice, once as in production and once with msgspec
taken out (every payload goes to the reference): the outcome must be the same, accepted with
equal values, or refused with the same reason and detail. The payloads are valid frames with
fields dropped, retyped, set to values on and beyond their bounds, timestamps in every form,
vendor fields of any JSON, and bytes mangled at random. The rules engine's decode must give
each of them the ingester's verdict.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semon.protocol import decode as decode_module
from semon.protocol.decode import Decoded, Rejection, decode, decode_for_rules
from semon.protocol.models import BoilerTelemetry, DeviceEvent, ElevatorTelemetry, StatusMessage
from tests.unit.frames import (
    BOILER_ID,
    ELEVATOR_ID,
    LIMITS,
    NOW,
    NOW_MS,
    boiler_frame,
    elevator_frame,
    event_frame,
)


class _Refuses:
    """A decoder that refuses everything: the payload goes to the reference model."""

    def decode(self, document: bytes) -> Any:
        raise msgspec.ValidationError("refused to consult the reference")


@contextmanager
def reference_only() -> Iterator[None]:
    kept = dict(decode_module._DECODERS)
    decode_module._DECODERS.update({m: _Refuses() for m in kept})  # type: ignore[misc]
    logger = logging.getLogger(decode_module.__name__)
    level = logger.level
    logger.setLevel(logging.ERROR)  # every accepted payload "disagrees" here on purpose
    try:
        yield
    finally:
        decode_module._DECODERS.update(kept)
        logger.setLevel(level)


def assert_rules_agree(topic: str, payload: bytes, full: Decoded | Rejection) -> None:
    """The rules engine's decode accepts and refuses what the ingester's does, for the same reason."""
    lean = decode_for_rules(topic, payload, NOW, LIMITS)
    assert type(lean) is type(full), (payload, lean, full)
    if isinstance(lean, Rejection):
        assert isinstance(full, Rejection)
        assert (lean.reason, lean.detail) == (full.reason, full.detail), payload
        return
    assert isinstance(full, Decoded)
    assert (lean.document, lean.sanitised) == (None, ())
    # Equal, unless the ingester replaced what it cannot store (a string the rules do not read).
    assert lean.payload == full.payload or full.sanitised, payload


def both(topic: str, payload: bytes) -> tuple[Decoded | Rejection, Decoded | Rejection]:
    fast = decode(topic, payload, NOW, LIMITS)
    with reference_only():
        slow = decode(topic, payload, NOW, LIMITS)
    return fast, slow


def assert_agree(topic: str, payload: bytes) -> Decoded | Rejection:
    fast, slow = both(topic, payload)
    assert type(fast) is type(slow), (payload, fast, slow)
    if isinstance(fast, Decoded) and payload.strip() not in (b"online", b"offline"):
        # msgspec accepted it on its own: the reference was not needed
        decode_module._DECODERS[type(fast.payload)].decode(fast.document or payload.strip())
    if isinstance(fast, Rejection):
        assert isinstance(slow, Rejection)
        assert (fast.reason, fast.detail) == (slow.reason, slow.detail), payload
    else:
        assert isinstance(slow, Decoded)
        assert fast.payload == slow.payload, payload
        assert type(fast.payload) is type(slow.payload)
        assert (fast.document, fast.sanitised) == (slow.document, slow.sanitised), payload
        for name in fast.payload.__struct_fields__:
            a, b = getattr(fast.payload, name), getattr(slow.payload, name)
            assert type(a) is type(b) or (a == b and {type(a), type(b)} <= {int, float}), (name, a, b)
    assert_rules_agree(topic, payload, fast)
    return fast


TOPICS = {
    "elevator": f"se/elevator/{ELEVATOR_ID}/telemetry",
    "boiler": f"se/boiler/{BOILER_ID}/telemetry",
    "event": f"se/elevator/{ELEVATOR_ID}/event",
    "status": f"se/elevator/{ELEVATOR_ID}/status",
}
BASES: dict[str, dict[str, Any]] = {
    "elevator": elevator_frame(),
    "boiler": boiler_frame(),
    "event": event_frame(11, floor=3, detail="trapped"),
    "status": {"state": "offline", "ts": NOW_MS - 1000, "reason": "shutdown"},
}

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, -9, -10, 199, 200, 999, 1000, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64,
                     NOW_MS, NOW_MS + 301_000, 946_684_799_999, 32_503_680_000_001]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 20.0, 20.000001, 40.0, -40.0, -1000.0, 1000.5, 1e6, 1e5, 5.0, 1e-320, 1.5e308]),
    st.text(max_size=70),
    st.sampled_from(["up", "down", "stop", "Up", "normal", "inspection", "main", "battery", "off", "online",
                     "offline", "2025-06-01T09:30:15.250+08:00", "2025-06-01t01:30:15z", "2025-06-01T01:30:15Z",
                     "2025-06-01T09:30:15.1234567891+08:00", "2025-06-01T09:30:15+14:01", "2025-06-01T09:30:15+08:60",
                     "2025-06-01T09:30:15", "2025-02-30T09:30:15Z", "1999-12-31T23:59:59Z", "x" * 65, "x" * 201,
                     "\u56f0\u4eba" * 100]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)


def _edges(t: msgspec.inspect.Type) -> list[Any]:
    """Values on and just beyond the constraints msgspec enforces for a field of type ``t``."""
    if isinstance(t, msgspec.inspect.UnionType):
        return [v for member in t.types for v in _edges(member)]
    out: list[Any] = []
    if isinstance(t, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        step = 1 if isinstance(t, msgspec.inspect.IntType) else 1e-6
        for bound, beyond in ((t.ge, -step), (t.le, step)):
            if bound is not None:
                out += [bound, bound + beyond, bound - beyond, float(bound)]
    if isinstance(t, msgspec.inspect.StrType) and t.max_length is not None:
        out += ["x" * t.max_length, "x" * (t.max_length + 1), "\u56f0" * (t.max_length + 1)]
    if isinstance(t, msgspec.inspect.EnumType):
        out += [str(v.value) for v in t.cls] + [str(v.value).upper() for v in t.cls]
    return out


EDGES: dict[str, list[Any]] = {}
for _model in (ElevatorTelemetry, BoilerTelemetry, DeviceEvent, StatusMessage):
    _info = msgspec.inspect.type_info(_model)
    assert isinstance(_info, msgspec.inspect.StructType)
    for _field in _info.fields:
        EDGES.setdefault(_field.name, []).extend(_edges(_field.type))
assert EDGES["speed_mps"] and EDGES["detail"] and EDGES["mode"]  # the models' constraints were found


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(BASES)))
    frame = dict(BASES[kind])
    names = sorted(frame) * 2 + ["v", "ts", "seq", "device_id", "code", "floor", "detail", "x_vendor", "state"]
    for name in draw(st.lists(st.sampled_from(names), max_size=4)):
        action = draw(st.sampled_from(["drop", "set", "set"]))
        if action == "drop":
            frame.pop(name, None)
        elif EDGES.get(name) and draw(st.booleans()):
            frame[name] = draw(st.sampled_from(EDGES[name]))
        else:
            frame[name] = draw(json_values)
    text = json.dumps(frame, ensure_ascii=draw(st.booleans()))
    return TOPICS[kind], text.encode("utf-8", "surrogatepass")


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_generated_frames_get_the_same_outcome(case: tuple[str, bytes]) -> None:
    assert_agree(*case)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.lists(st.tuples(st.integers(min_value=0, max_value=400), st.binary(min_size=0, max_size=3)),
                           min_size=1, max_size=3))
def test_mangled_bytes_get_the_same_outcome(case: tuple[str, bytes], edits: list[tuple[int, bytes]]) -> None:
    topic, payload = case
    data = bytearray(payload)
    for where, replacement in edits:
        at = min(where, len(data))
        data[at:at + len(replacement)] = replacement
    assert_agree(topic, bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(TOPICS.values())), st.binary(max_size=64))
def test_garbage_gets_the_same_outcome(topic: str, payload: bytes) -> None:
    assert_agree(topic, payload)


@pytest.mark.parametrize("payload", [
    b'{"ts":1748741415250,"seq":1,"code":11,"x":"\xff"}',  # invalid UTF-8 in a field nobody reads
    b'{"ts":1748741415250,"seq":1,"code":11,"\xff":1}',  # and in a key
    b'{"ts":1748741415250,"seq":1,"code":11,"code":12}',  # a key given twice: the last counts
    b'{"ts":1748741415250,"seq":1,"code":11.0}',
    b'{"ts":1748741415250.0,"seq":1,"code":11}',
    b'{"ts":true,"seq":1,"code":11}',
    b'{"ts":null,"seq":1,"code":11}',
    b'{"ts":1748741415250,"seq":1,"code":11,"floor":null,"detail":null,"v":null,"device_id":null}',
    b'{"ts":1748741415250,"seq":1,"code":11,"x":1e5,"y":[1,{"z":null}]}',
    b'{"ts":1748741415250,"seq":-1,"code":1000}',
    b' {"ts":1748741415250,"seq":1,"code":11} ',
])
def test_edge_payloads_get_the_same_outcome(payload: bytes) -> None:
    assert_agree(TOPICS["event"], payload)


@pytest.mark.parametrize("extra", [
    b'"speed_mps":1e-400', b'"speed_mps":1E+400', b'"x_tiny":1e-400', b'"x_big":-1e400', b'"x_long":' + b"9" * 320,
    b'"x_nan":NaN', b'"x_inf":-Infinity', b'"speed_mps":NaN', b'"x_nul":"a\\u0000b"', b'"x_s":"\\ud800"',
    b'"mode":"\\u006eormal"', b'"x_deep":' + b"[" * 40 + b"]" * 40, b'"x_deep":' + b"[" * 31 + b"]" * 31,
    b'"x_str":"' + b"[" * 40 + b'"', b'"x_e":"1e999"', b'"x_ok":1.5e300', b'"x_ok":12e-30',
])
def test_values_postgresql_cannot_hold_get_the_same_outcome(extra: bytes) -> None:
    payload = json.dumps(BASES["elevator"]).encode()
    assert_agree(TOPICS["elevator"], payload[:-1] + b"," + extra + b"}")


def _constraints() -> Iterator[tuple[str, str, Any]]:
    models: dict[str, type[msgspec.Struct]] = {
        "elevator": ElevatorTelemetry, "boiler": BoilerTelemetry, "event": DeviceEvent, "status": StatusMessage}
    for kind, model in models.items():
        info = msgspec.inspect.type_info(model)
        assert isinstance(info, msgspec.inspect.StructType)
        for f in info.fields:
            for value in [*_edges(f.type), None, "1", True, 1.5, [], {}]:
                yield kind, f.name, value


@pytest.mark.parametrize(("kind", "name", "value"), list(_constraints()))
def test_every_constraint_on_and_beyond_its_bound(kind: str, name: str, value: Any) -> None:
    assert_agree(TOPICS[kind], json.dumps({**BASES[kind], name: value}).encode())


def test_the_fast_path_is_taken_for_a_valid_frame() -> None:
    """A test that could not fail would be worthless: the valid frame must not need the reference."""
    payload = json.dumps(BASES["elevator"]).encode()
    with reference_only():
        slow = decode(TOPICS["elevator"], payload, NOW, LIMITS)
    assert isinstance(slow, Decoded)
    refused = decode_module._DECODERS[type(slow.payload)]
    assert refused.decode(payload) == slow.payload
