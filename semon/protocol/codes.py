"""Device event codes of wire protocol v1, per platform: code tables as data.

Platforms agree on the elevator codes GB/T 24476-2023 numbers (faults 01-08, back to automatic
mode 40, states 41-47, alarm button 90) and disagree beyond them: one provincial platform sends
09/10/11 for overrun top, overrun bottom and passengers trapped, Chongqing 91/92/93. So the
tables are data, one TOML file per table and kind in ``code_tables/{kind}/{name}.toml``, each
naming the standard or platform document it follows. A device's profile names its table
(default :data:`DEFAULT_TABLE`); the ingester accepts a code any shipped table of the kind
knows, and the rules judge it by the device's own table.

Each code says which alarm it raises and how that alarm clears (:class:`Recovery`): code 40
means "back to automatic mode", not "every fault cleared", so each fault clears by its own
rule, and its reason is written beside it in the file. A file that breaks a rule is an error
when this module is imported, naming the file and the entry.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from semon.alarm_types import AlarmType
from semon.protocol.models import ServiceMode
from semon.protocol.topics import Kind


class EventClass(StrEnum):
    FAULT = "fault"
    ENTRAPMENT = "entrapment"
    STATE = "state"
    ALARM_BUTTON = "alarm_button"
    RECOVERY = "recovery"


class Recovery(StrEnum):
    """How an alarm raised by a device code clears (besides an operator closing it)."""

    # the table's back-to-normal code (elevator 40 "back to automatic mode", boiler 140)
    BACK_TO_NORMAL = "back_to_normal"
    RUNNING = "running"  # telemetry: the car runs again (running true)
    DOORS_LOCKED = "doors_locked"  # telemetry: door_locked true
    DOORS_OPEN = "doors_open"  # telemetry: door_locked false while in the door zone
    IN_DOOR_ZONE = "in_door_zone"  # telemetry: door_zone true (stopped at a landing) or running
    MAINS_POWER = "mains_power"  # telemetry: power == "main"


# Recoveries read from elevator telemetry: a boiler's table cannot use them.
_ELEVATOR_TELEMETRY = frozenset(Recovery) - {Recovery.BACK_TO_NORMAL}


@dataclass(frozen=True, slots=True)
class EventCode:
    """One code of a table. ``alarm``: the alarm the code raises (faults, entrapment, 41 main
    power lost), or None. ``recovery``: how that alarm clears; empty means only an operator, or
    the car freed for an entrapment. ``mode``: the service mode a state code (42-47) or the
    elevator's recovery code (40: normal) puts the car in."""

    code: int
    name: str
    zh: str
    event_class: EventClass
    alarm: AlarmType | None = None
    recovery: frozenset[Recovery] = frozenset()
    mode: ServiceMode | None = None


@dataclass(frozen=True, slots=True)
class CodeTable:
    """The codes of one platform for one kind of equipment. ``source``: the standard or platform
    document the table follows. ``back_to_normal``: its recovery code (40, 140), or None."""

    name: str
    kind: Kind
    title: str
    source: str
    codes: Mapping[int, EventCode]
    back_to_normal: int | None

    def get(self, code: int) -> EventCode | None:
        return self.codes.get(code)

    def __hash__(self) -> int:  # the mapping is not hashable; a table is one (name, kind)
        return hash((self.name, self.kind))


class CodeTableError(ValueError):
    """A code table file that cannot be read or breaks a rule; the message names the file and the entry."""


class UnknownCodeTable(KeyError):
    """No shipped table of that name for the kind; the message names the known ones."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


DEFAULT_TABLE = "semon-v1"


# --- the file format ---------------------------------------------------------------------------


class _Entry(BaseModel):
    """One ``[[code]]`` entry of a table file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[int, Field(strict=True, ge=1, le=999)]  # the range of DeviceEvent.code on the wire
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
    zh: Annotated[str, Field(min_length=1, max_length=64)]
    event_class: EventClass = Field(alias="class")
    alarm: AlarmType | None = None
    recovery: list[Recovery] = []
    mode: ServiceMode | None = None
    reason: Annotated[str, Field(min_length=1)] | None = None  # why the code clears as it does

    @model_validator(mode="after")
    def _consistent(self) -> _Entry:
        cls = self.event_class
        if cls in (EventClass.FAULT, EventClass.ENTRAPMENT) and self.alarm is None:
            raise ValueError(f"a {cls} code raises an alarm: give `alarm`")
        if cls is EventClass.ENTRAPMENT and self.alarm is not AlarmType.ENTRAPMENT:
            raise ValueError(f"an entrapment code raises alarm 'entrapment', not {self.alarm!r}")
        if cls in (EventClass.ALARM_BUTTON, EventClass.RECOVERY) and self.alarm is not None:
            raise ValueError(f"a {cls} code raises no alarm of its own (the rules decide what the button means)"
                             if cls is EventClass.ALARM_BUTTON else f"a {cls} code raises no alarm")
        if cls is EventClass.STATE and self.mode is None and self.alarm is None:
            raise ValueError("a state code sets a service mode or raises an alarm: give `mode` or `alarm`")
        if self.mode is not None and cls not in (EventClass.STATE, EventClass.RECOVERY):
            raise ValueError(f"only state and recovery codes set a service mode, not a {cls} code")
        if self.recovery and self.alarm is None:
            raise ValueError("`recovery` says how an alarm clears: a code without `alarm` has none")
        if len(set(self.recovery)) != len(self.recovery):
            raise ValueError("`recovery` names a rule twice")
        if self.alarm is not None and self.reason is None:
            raise ValueError("a code that raises an alarm gives the `reason` it clears as `recovery` says")
        return self


class _TableFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
    kind: Kind
    title: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    back_to_normal: Annotated[int, Field(strict=True)] | None = None
    code: Annotated[list[_Entry], Field(min_length=1)]


def load_code_table(path: Path | Traversable) -> CodeTable:
    """Read and check one table file (TOML, the format of ``code_tables/*/*.toml``).

    Raises CodeTableError naming ``path`` and the offending entry when the file cannot be read,
    is not TOML, or breaks a rule: an entry's fields (a fault without an alarm, a recovery rule
    on a code without an alarm, a state code without a mode or alarm, an unknown alarm, mode or
    recovery), a code or name given twice, a ``back_to_normal`` that is not the table's one
    recovery code, a boiler table with service modes or telemetry recoveries.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CodeTableError(f"cannot read code table {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CodeTableError(f"code table {path}: not valid TOML: {exc}") from exc
    try:
        table = _TableFile.model_validate(data)
    except ValidationError as exc:
        raise CodeTableError(f"code table {path}: {_describe(exc, data)}") from exc
    try:
        return _build(table)
    except ValueError as exc:
        raise CodeTableError(f"code table {path}: {exc}") from exc


def _describe(exc: ValidationError, data: Any) -> str:
    """The first error, with its entry named by position and code: ``code[4] (code 5): recovery.0: ...``."""
    first = exc.errors(include_url=False)[0]
    loc = list(first["loc"])
    where = ".".join(str(p) for p in loc) or "table"
    if len(loc) >= 2 and loc[0] == "code" and isinstance(loc[1], int):
        entries = data.get("code") if isinstance(data, dict) else None
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        number = entry.get("code") if isinstance(entry, dict) else None
        label = f"entry {loc[1] + 1}" + (f" (code {number})" if number is not None else "")
        where = label + "".join(f": {p}" for p in loc[2:])
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}"


def _build(table: _TableFile) -> CodeTable:
    """The table-wide rules, then the frozen table."""
    codes: dict[int, EventCode] = {}
    names: dict[str, int] = {}
    for entry in table.code:
        label = f"entry code {entry.code} ({entry.name})"
        if entry.code in codes:
            raise ValueError(f"{label}: code {entry.code} is given twice")
        if entry.name in names:
            raise ValueError(f"{label}: name {entry.name!r} is already code {names[entry.name]}")
        if entry.event_class is EventClass.RECOVERY and entry.code != table.back_to_normal:
            raise ValueError(f"{label}: a recovery code must be the table's back_to_normal "
                             f"(back_to_normal = {table.back_to_normal})")
        if Recovery.BACK_TO_NORMAL in entry.recovery and table.back_to_normal is None:
            raise ValueError(f"{label}: recovery back_to_normal, but the table has no back_to_normal code")
        if table.kind is Kind.BOILER:
            if entry.mode is not None:
                raise ValueError(f"{label}: a boiler has no service mode")
            if telemetry := sorted(set(entry.recovery) & _ELEVATOR_TELEMETRY):
                raise ValueError(f"{label}: recovery {', '.join(telemetry)} reads elevator telemetry")
        elif entry.event_class is EventClass.RECOVERY and entry.mode is not ServiceMode.NORMAL:
            raise ValueError(f"{label}: an elevator's back-to-normal code puts the car in mode 'normal'")
        codes[entry.code] = EventCode(entry.code, entry.name, entry.zh, entry.event_class, entry.alarm,
                                      frozenset(entry.recovery), entry.mode)
        names[entry.name] = entry.code
    if table.back_to_normal is not None and table.back_to_normal not in codes:
        raise ValueError(f"back_to_normal: code {table.back_to_normal} is not in the table")
    return CodeTable(table.name, table.kind, table.title.strip(), table.source.strip(),
                     MappingProxyType(dict(sorted(codes.items()))), table.back_to_normal)


# --- the shipped tables ------------------------------------------------------------------------


def _shipped() -> dict[Kind, dict[str, CodeTable]]:
    """Every ``code_tables/{kind}/{name}.toml`` of the package; each kind has the default table."""
    folder = resources.files("semon") / "protocol" / "code_tables"
    tables: dict[Kind, dict[str, CodeTable]] = {}
    for kind in Kind:
        found: dict[str, CodeTable] = {}
        for file in sorted((f for f in (folder / kind.value).iterdir() if f.name.endswith(".toml")),
                           key=lambda f: f.name):
            table = load_code_table(file)
            if table.kind is not kind or f"{table.name}.toml" != file.name:
                raise CodeTableError(f"code table {file}: holds the {table.kind} table {table.name!r}; "
                                     f"it belongs in {table.kind}/{table.name}.toml")
            found[table.name] = table
        if DEFAULT_TABLE not in found:
            raise CodeTableError(f"no default {kind} code table {DEFAULT_TABLE!r} in {folder / kind.value}")
        tables[kind] = found
    return tables


def _union(tables: Mapping[str, CodeTable]) -> Mapping[int, EventCode]:
    merged: dict[int, EventCode] = dict(tables[DEFAULT_TABLE].codes)
    for name in sorted(tables):
        for code, entry in tables[name].codes.items():
            merged.setdefault(code, entry)
    return MappingProxyType(dict(sorted(merged.items())))


_TABLES = _shipped()
_KNOWN = {kind: _union(tables) for kind, tables in _TABLES.items()}


def code_table(name: str, kind: Kind) -> CodeTable:
    """The shipped table ``name`` for ``kind``; UnknownCodeTable (a KeyError) names the known ones."""
    try:
        return _TABLES[kind][name]
    except KeyError:
        known = ", ".join(table_names(kind))
        raise UnknownCodeTable(f"no {kind} code table {name!r} (known: {known})") from None


def table_names(kind: Kind) -> tuple[str, ...]:
    """The names of the shipped tables of ``kind``, the default first, then alphabetically."""
    return (DEFAULT_TABLE, *sorted(n for n in _TABLES[kind] if n != DEFAULT_TABLE))


def known_codes(kind: Kind) -> Mapping[int, EventCode]:
    """Every code any shipped table of ``kind`` defines (the default table's entry where tables
    differ on a code, else the first table by name): what the decoder accepts."""
    return _KNOWN[kind]


__all__ = [
    "DEFAULT_TABLE",
    "CodeTable",
    "CodeTableError",
    "EventClass",
    "EventCode",
    "Recovery",
    "UnknownCodeTable",
    "code_table",
    "known_codes",
    "load_code_table",
    "table_names",
]
