"""Scenarios: a timeline of faults per device, in a TOML file, with the alarms it must raise.

A scenario is deterministic under its seed. ``expected`` is checked against the ground truth
the devices record while they run (``Cause``), so a scenario file cannot claim an alarm its
timeline does not produce, nor leave one out.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from semon.alarm_types import AlarmType
from semon.protocol.topics import DEVICE_ID_PATTERN, Kind
from simulators.boiler import Boiler, BoilerSpec
from simulators.core import Cause, Output, Periods, SimDevice, SimError
from simulators.elevator import Elevator, ElevatorSpec
from simulators.faults import Action
from simulators.run import simulate

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class ScenarioError(ValueError):
    """The scenario file is malformed, or its declared alarms do not match its timeline."""


class DeviceDecl(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    kind: Kind
    idle_period: float = Field(default=5.0, gt=0)
    active_period: float = Field(default=1.0, gt=0)

    @field_validator("id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if not DEVICE_ID_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid device id (see docs/protocol.md)")
        return value

    def spec_fields(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str
    alarms: list[AlarmType]


class ScenarioFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    seed: int = 1
    duration: float = Field(gt=0, description="seconds of simulation time")
    start: datetime | None = Field(default=None, description="simulation time 0; default: chosen at run time")
    devices: list[DeviceDecl] = Field(alias="device", min_length=1)
    timeline: list[Action] = Field(default_factory=list)
    expect: list[Expectation] = Field(default_factory=list)


# Scenario devices do nothing unprompted unless the file says so: the timeline is the story.
_SCENARIO_ELEVATOR_DEFAULTS: dict[str, Any] = {"peak_calls_per_hour": 0.0}


def _build_spec(cls: type[Any], decl: DeviceDecl, defaults: dict[str, Any]) -> Any:
    known = {f.name for f in fields(cls)}
    given = decl.spec_fields()
    unknown = sorted(set(given) - known)
    if unknown:
        raise ScenarioError(f"device {decl.id}: unknown field(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known))}")
    try:
        return cls(**{**defaults, **given})
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"device {decl.id}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Scenario:
    file: ScenarioFile
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def duration(self) -> float:
        return self.file.duration

    def expected(self) -> set[tuple[str, AlarmType]]:
        return {(e.device, alarm) for e in self.file.expect for alarm in e.alarms}

    def build(self, origin_ms: int, *, seed: int | None = None) -> list[SimDevice]:
        """The scenario's devices with its timeline injected, time 0 at ``origin_ms``."""
        seed = self.file.seed if seed is None else seed
        devices: dict[str, SimDevice] = {}
        for decl in self.file.devices:
            if decl.id in devices:
                raise ScenarioError(f"device {decl.id} is declared twice")
            periods = Periods(decl.idle_period, decl.active_period)
            device: SimDevice
            if decl.kind is Kind.ELEVATOR:
                spec = _build_spec(ElevatorSpec, decl, _SCENARIO_ELEVATOR_DEFAULTS)
                device = Elevator(decl.id, spec, origin_ms=origin_ms, seed=seed, periods=periods)
            else:
                device = Boiler(decl.id, _build_spec(BoilerSpec, decl, {}), origin_ms=origin_ms, seed=seed,
                                periods=periods)
            devices[decl.id] = device
        for step in self.file.timeline:
            target = devices.get(step.device)
            if target is None:
                raise ScenarioError(f"timeline at {step.at} s: no device {step.device!r} in the scenario")
            if step.at > self.duration:
                raise ScenarioError(f"timeline at {step.at} s: after the scenario's end ({self.duration} s)")
            try:
                target.inject(step)
            except SimError as exc:
                raise ScenarioError(f"timeline at {step.at} s, {step.device}: {exc}") from exc
        for e in self.file.expect:
            if e.device not in devices:
                raise ScenarioError(f"expect: no device {e.device!r} in the scenario")
        return list(devices.values())

    def origin_ms(self, default_ms: int) -> int:
        """The file's ``start``, if it has one."""
        return int(self.file.start.timestamp() * 1000) if self.file.start is not None else default_ms

    def dry_run(self, origin_ms: int, *, seed: int | None = None) -> list[Output]:
        """Everything the scenario's devices do, without a broker: the reference output."""
        devices = self.build(origin_ms, seed=seed)
        return simulate(devices, self.duration)

    def verify(self, origin_ms: int) -> list[Output]:
        """Run it dry from the file's start (else ``origin_ms``) and check that the declared
        alarms are exactly those its timeline causes."""
        output = self.dry_run(self.origin_ms(origin_ms))
        caused = {(o.device_id, o.alarm) for o in output if isinstance(o, Cause)}
        expected = self.expected()
        problems = []
        if missing := expected - caused:
            problems.append("declared but not caused: " + _pairs(missing))
        if extra := caused - expected:
            problems.append("caused but not declared: " + _pairs(extra))
        if problems:
            raise ScenarioError(f"scenario {self.name}: " + "; ".join(problems))
        return output


def _pairs(pairs: set[tuple[str, AlarmType]]) -> str:
    return ", ".join(f"{device} {alarm}" for device, alarm in sorted(pairs))


def load_scenario(path: Path | str) -> Scenario:
    """Read a scenario file; a bare name is looked up among the bundled scenarios."""
    path = Path(path)
    if not path.exists() and not path.suffix and path.parent == Path():
        bundled = SCENARIO_DIR / f"{path}.toml"
        if not bundled.exists():
            names = ", ".join(p.stem for p in bundled_scenarios())
            raise ScenarioError(f"no scenario file {str(path)!r} and no bundled scenario of that name ({names})")
        path = bundled
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Scenario(ScenarioFile.model_validate(data), path)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")


def bundled_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.toml"))


__all__ = ["Scenario", "ScenarioError", "bundled_scenarios", "load_scenario"]
